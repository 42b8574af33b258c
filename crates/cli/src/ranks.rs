//! The ranks this process runs among: `mpirun -n K rewind …` (built with
//! the cargo feature `mpi`) makes `K` processes of one ensemble; without
//! it, or outside `mpirun`, the ensemble is this process alone.
//!
//! Subcommands with independent work (`hessian`'s blocks of Gauss–Newton
//! products, `tradeoff`'s schedules, `optimize --members`' models, `spec
//! --hvp-ensemble`'s products)
//! spread it over the ranks and reduce it in member order, so every rank
//! holds the same figures; rank 0 alone prints and writes files. The
//! others run on rank 0 alone. A rank's thread pool gets the cores of its
//! machine divided by the ranks on that machine.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use rewind_sim::Ensemble;

/// Set in the environment of child processes (`rewind tradeoff`'s runs),
/// which must not join the parent's MPI job.
const NO_MPI: &str = "REWIND_NO_MPI";

/// Ranks on this machine (set once by [`init`]).
static LOCAL_RANKS: AtomicUsize = AtomicUsize::new(1);

/// The ensemble of this process (see the [module](self) docs).
pub(crate) fn init() -> Result<Ensemble> {
    #[cfg(feature = "mpi")]
    let e = if std::env::var_os(NO_MPI).is_none() {
        Ensemble::mpi().map_err(|e| anyhow::anyhow!("cannot start MPI: {e}"))?
    } else {
        Ensemble::serial()
    };
    #[cfg(not(feature = "mpi"))]
    let e = {
        if std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some_and(|s| s != "1") {
            eprintln!(
                "rewind: warning: started by mpirun, but this build has no MPI: every rank runs the whole job (build with `--features mpi`)"
            );
        }
        Ensemble::serial()
    };
    LOCAL_RANKS.store(e.local_size().max(1), Ordering::Relaxed);
    Ok(e)
}

/// Threads for "one per core" on this rank: the machine's cores over the
/// ranks sharing it, at least one.
pub(crate) fn cores_per_rank() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / LOCAL_RANKS.load(Ordering::Relaxed)).max(1)
}

/// A command running this same binary as a plain process outside the MPI
/// job (the launcher's variables removed, MPI not started).
pub(crate) fn child(exe: &std::path::Path) -> Command {
    let mut cmd = Command::new(exe);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("OMPI_") || k.starts_with("PMIX_") || k.starts_with("PMI_") {
            cmd.env_remove(&*k);
        }
    }
    cmd.env(NO_MPI, "1");
    cmd
}
