//! End-to-end test of `rewind fwi` on a small survey: both methods lower
//! the misfit and the model error, the memory is reported against
//! store-all, the files are written (the 3D velocities read back), and bad
//! settings are one line and exit code 1.

use std::path::Path;
use std::process::{Command, Output};

use rewind_io::{GridInfo, Input};

fn rewind(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rewind")).args(args).current_dir(dir).output().expect("run rewind")
}

mod common;
use common::Scratch;

fn scratch() -> Scratch {
    Scratch::new("rewind-cli-fwi")
}

#[test]
fn fwi_lowers_misfit_and_model_error_with_both_methods_and_writes_its_files() {
    let d = scratch();
    let small =
        ["fwi", "--n", "35", "--steps", "150", "--shots", "1", "--radius", "0.06", "--iterations", "2", "--cg", "3"];
    let o = rewind(&d, &[&small[..], &["--schedule", "binomial:6", "--threads", "1", "--json", "--out", "o"]].concat());
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{stderr}");
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    assert_eq!(r["observations"], 150 * 15 * 15);
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.iter().map(|m| m["method"].as_str().unwrap()).collect::<Vec<_>>(), ["lbfgs", "gauss-newton"]);
    for m in runs {
        let (j0, j) = (m["objective_at_start"].as_f64().unwrap(), m["objective"].as_f64().unwrap());
        let err = m["model_error"].as_f64().unwrap();
        assert!(j < 0.5 * j0 && err < 1.0, "{}: J {j0} → {j}, model error {err}", m["method"]);
        assert_eq!(m["history"].as_array().unwrap().len(), 3);
    }
    assert_eq!(runs[0]["products"], 0);
    assert!(runs[1]["products"].as_u64().unwrap() > 0);
    let (peak, all) = (r["peak_snapshot_bytes"].as_f64().unwrap(), r["store_all_bytes"].as_f64().unwrap());
    assert!(peak > 0.0 && peak < all, "snapshots {peak} against store-all {all}");
    for f in ["fwi-velocity.png", "fwi-gather.png", "fwi-misfit.png", "fwi-model-error.png", "fwi.h5", "fwi.xmf"] {
        assert!(d.join("o").join(f).is_file(), "{f}");
    }
    let input = Input::open(d.join("o/fwi.h5"), GridInfo::volume([35; 3], [10.0; 3])).unwrap();
    let truth = input.field("velocity_true").unwrap();
    let initial = input.field("velocity_initial").unwrap();
    assert_eq!(truth.len(), 35 * 35 * 35);
    assert!(initial.iter().all(|&c| c == 1500.0));
    assert!(truth.iter().any(|&c| c > 1600.0), "the sphere is in the true velocity");
    assert_eq!(input.column("history_gauss_newton", "misfit").unwrap().len(), 3);

    for (bad, needle) in [
        (vec!["fwi", "--n", "30"], "at least 31"),
        (vec!["fwi", "--method", "newton"], "--method"),
        (vec!["fwi", "--contrast", "0.5"], "contrast"),
        (vec!["fwi", "--iterations", "0"], "--iterations"),
        (vec!["fwi", "--schedule", "multilevel:2,4"], "in memory"),
        (vec!["fwi", "--schedule", "binomial:0"], "--schedule"),
        (vec!["fwi", "--threads", "0"], "--threads"),
        (vec!["fwi", "--n", "5000"], "available"),
        (vec!["fwi", "--radius", "0.3"], "inside the update region"),
        (vec!["fwi", "--method", "lbfgs", "--cg", "3"], "--cg is Gauss–Newton's"),
        (vec!["fwi", "--noise", "0", "--seed", "2"], "--noise 0"),
        (vec!["fwi", "--steps", "100000000000", "--schedule", "store-all"], "available"),
        (vec!["fwi", "--noise", "x"], "--noise"),
    ] {
        let o = rewind(&d, &bad);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{bad:?}: {err}");
        assert!(err.starts_with("rewind: error: ") && err.contains(needle), "{bad:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{bad:?}: {err}");
    }
}
