//! `rewind run|grad|hvp --decompose` in one process (one rank; the MPI
//! runs on 1–4 ranks are tests/mpi.rs): the split problem agrees with the
//! unsplit one to rounding, passes its derivative checks, and refuses what
//! it cannot do.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;
use common::Scratch;

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("rewind-split-{name}"))
}

/// `rewind args…` in `dir`: success, stdout, stderr.
fn rewind(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rewind")).args(args).current_dir(dir).output().expect("run rewind");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = rewind(dir, args);
    assert!(ok, "rewind {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn close(a: &Value, b: &Value, what: &str) {
    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    assert!((a - b).abs() <= 1e-12 * a.abs().max(b.abs()), "{what}: {a} split, {b} whole");
}

#[test]
fn a_split_gradient_and_hvp_agree_with_the_whole_problem_and_pass_their_checks() {
    let d = scratch("agree");
    // Gray–Scott: its feed rate is a field parameter, whose gradient and
    // H v part the split run reports; the kill rate (a scalar) is held fixed
    let base = ["--sim", "gray-scott", "--n", "16", "--steps", "6", "--json", "--no-files", "-q"];
    let split = json(&d, &[&["hvp", "--decompose", "--check"][..], &base].concat());
    assert_eq!(split["check"]["passed"], true, "{}", split["check"]);
    assert_eq!(split["decompose"]["ranks"], 1);
    let feed = &split["hvp_params"]["feed"]["norm"];
    assert!(feed.as_f64().is_some_and(|v| v > 0.0), "{split}");
    assert!(split["grad_params"].get("kill").is_none(), "a scalar parameter is held fixed: {split}");
    let whole = json(&d, &[&["grad"][..], &base].concat());
    close(&split["objective"], &whole["objective"], "objective");
    close(&split["grad_norm"], &whole["grad_norm"], "gradient norm");
    close(&split["grad_params"]["feed"]["norm"], &whole["grad_params"]["feed"]["norm"], "feed gradient");
    // a run gives the final state of the unsplit run
    let run = json(&d, &["run", "--decompose", "--sim", "gray-scott", "--n", "16", "--steps", "6", "--json", "-q"]);
    let plain = json(&d, &["run", "--sim", "gray-scott", "--n", "16", "--steps", "6", "--json", "--no-files", "-q"]);
    assert_eq!(run["final_bits"], plain["final_bits"]);
    assert!(d.join("rewind-out/run.h5").exists(), "rank 0 writes the run's file");
}

#[test]
fn what_a_split_run_cannot_do_is_refused_by_name() {
    let d = scratch("refused");
    let (ok, _, err) = rewind(&d, &["grad", "--decompose", "--sim", "cavity", "-q", "--no-files"]);
    assert!(!ok && err.contains("cannot be split over ranks") && err.contains("a sparse solve"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
