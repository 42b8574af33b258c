#![allow(dead_code)] // each test that includes it uses a part
//! Running a program under `mpirun` in a test (OpenMPI: allowed as root,
//! oversubscribed), killed if it outlives its limit — a hang fails the
//! test instead of stalling it. Shared by the MPI tests of every crate
//! (`#[path]`-included: tests of different crates share no module).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run gave.
pub(crate) struct Out {
    /// Whether it exited successfully.
    pub(crate) ok: bool,
    /// Its standard output and error.
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// Wall-clock seconds.
    pub(crate) secs: f64,
}

/// `mpirun -n ranks exe`, or `exe` alone for `ranks` = 0; `prepare` adds
/// arguments, a working directory or the environment.
pub(crate) fn mpirun(ranks: usize, exe: &str, prepare: impl FnOnce(&mut Command), limit: Duration) -> Out {
    let mut cmd = if ranks == 0 {
        Command::new(exe)
    } else {
        let mut c = Command::new("mpirun");
        c.args(["-n", &ranks.to_string(), exe]);
        c
    };
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    prepare(&mut cmd);
    let mut child = cmd.spawn().expect("mpirun (OpenMPI: scripts/setup.sh --mpi)");
    let t0 = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("{exe} on {ranks} ranks hung (killed after {limit:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let secs = t0.elapsed().as_secs_f64();
    let out = child.wait_with_output().expect("output");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        secs,
    }
}
