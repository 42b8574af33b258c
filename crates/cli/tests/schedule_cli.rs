//! End-to-end tests of `rewind schedule`.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;
use common::Scratch;

fn rewind(args: &[&str]) -> (bool, String, String) {
    // in a scratch directory of its own: `rewind schedule` draws
    // rewind-out/schedule.png
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let d = Scratch::new(&format!("rewind-schedule-{}", CALLS.fetch_add(1, Ordering::Relaxed)));
    let out = Command::new(env!("CARGO_BIN_EXE_rewind")).args(args).current_dir(&*d).output().expect("run rewind");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field(json: &str, key: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    v[key].as_f64().unwrap_or_else(|| panic!("no number {key} in {json}"))
}

#[test]
fn binomial_json_reports_the_optimum() {
    let (ok, out, err) = rewind(&["schedule", "--steps", "1000", "--snapshots", "10", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(field(&out, "forward_steps"), 4636.0);
    assert_eq!(field(&out, "optimal_forward_steps"), 4636.0);
    assert_eq!(field(&out, "recomputed_steps"), 4636.0 - 1999.0);
    assert!(field(&out, "peak_snapshots") <= 10.0);
}

#[test]
fn every_kind_runs_with_text_output() {
    for kind in ["binomial", "periodic", "online", "store-all", "multilevel"] {
        let (ok, out, err) = rewind(&["schedule", "--steps", "200", "--snapshots", "5", "--disk", "8", "--kind", kind]);
        assert!(ok, "{kind}: {err}");
        assert!(out.contains("forward steps"), "{kind}: {out}");
    }
    let (ok, out, _) = rewind(&["schedule", "--steps", "5", "--snapshots", "2", "--actions"]);
    assert!(ok && out.contains("reverse 0"), "{out}");
}

#[test]
fn bad_input_is_one_line_and_a_nonzero_exit() {
    for args in [
        &["schedule", "--steps", "0"][..],
        &["schedule", "--snapshots", "0"][..],
        &["schedule", "--kind", "multilevel", "--snapshots", "2", "--write-cost=-1"][..],
    ] {
        let (ok, _, err) = rewind(args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.starts_with("rewind: error:") && err.trim_end().lines().count() == 1, "{args:?}: {err}");
    }
}
