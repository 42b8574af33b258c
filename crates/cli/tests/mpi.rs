//! `mpirun -n K rewind …` (feature `mpi`; run by `scripts/mpi_tests.sh`,
//! which CI calls): the spread subcommands give the same bits on 1, 2 and
//! 3 ranks (oversubscribed on a 2-core machine) as the plain binary
//! alone, rank 0 alone prints and writes, and a member that fails stops
//! every rank with one message naming the member, its rank and the step —
//! nothing hangs.

#![cfg(feature = "mpi")]

use std::path::Path;
use std::time::Duration;

#[path = "../../ensemble/tests/support/mpirun.rs"]
mod support;
use support::Out;

use serde_json::Value;

mod common;
use common::Scratch;

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("rewind-mpi-{name}"))
}

const LIMIT: Duration = Duration::from_secs(300);

/// `rewind args…` under `mpirun -n ranks`, or alone (`ranks` = 0, and
/// MPI not started); a run that outlives [`LIMIT`] fails the test (a hang).
fn rewind(dir: &Path, ranks: usize, args: &[&str]) -> Out {
    support::mpirun(
        ranks,
        env!("CARGO_BIN_EXE_rewind"),
        |c| {
            c.args(args).current_dir(dir).env_remove("RUST_BACKTRACE");
            if ranks == 0 {
                c.env("REWIND_NO_MPI", "1");
            }
        },
        LIMIT,
    )
}

fn json(o: &Out) -> Value {
    assert!(o.ok, "rewind failed: {}", o.stderr);
    // one object: rank 0 alone printed
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", o.stdout))
}

#[test]
fn the_hessian_spectrum_and_posterior_are_the_same_bits_on_any_number_of_ranks() {
    let d = scratch("hessian");
    let args = ["hessian", "--sim", "burgers", "--k", "5", "--oversample", "3", "--json", "--no-files", "-q"];
    let alone = json(&rewind(&d, 0, &args));
    assert_eq!(alone["ranks"], 1);
    for ranks in 1..=3 {
        let r = json(&rewind(&d, ranks, &args));
        assert_eq!(r["ranks"], ranks, "{r}");
        assert_eq!(r["products"], 16);
        for key in ["eigenvalue_bits", "posterior_std_bits"] {
            assert_eq!(r[key], alone[key], "{key} on {ranks} ranks");
        }
    }
}

#[test]
fn an_ensemble_of_hvps_sums_to_the_same_bits_on_any_number_of_ranks() {
    let d = scratch("hvps");
    let args = ["spec", "--size", "S", "--steps", "12", "--hvp-ensemble", "5", "-q"];
    let alone = json(&rewind(&d, 0, &args));
    for ranks in 1..=3 {
        let r = json(&rewind(&d, ranks, &args));
        assert_eq!(r["ranks"], ranks);
        assert_eq!(r["sum_bits"], alone["sum_bits"], "on {ranks} ranks");
        assert_eq!(r["hvp_norms"], alone["hvp_norms"]);
        assert_eq!(r["member_s"].as_array().map(Vec::len), Some(5));
    }
}

#[test]
fn an_optimizer_on_an_ensemble_of_models_takes_the_same_steps_on_any_number_of_ranks() {
    let d = scratch("optimize");
    let out = d.join("out");
    let args = ["optimize", "--n", "16", "--steps", "20", "--method", "lbfgs,gauss-newton", "--max-iter", "3"];
    let mut args = args.to_vec();
    args.extend(["--members", "3", "--json", "-q", "--restart", "--out", out.to_str().unwrap()]);
    let alone = json(&rewind(&d, 0, &args));
    assert_eq!(alone["members"], 3);
    for ranks in [1, 2, 3] {
        let r = json(&rewind(&d, ranks, &args));
        assert_eq!(r["ranks"], ranks);
        for (a, b) in r["runs"].as_array().unwrap().iter().zip(alone["runs"].as_array().unwrap()) {
            for key in ["x_bits", "objective", "iterations", "gradients", "hvps", "misfit"] {
                assert_eq!(a[key], b[key], "{key} of {} on {ranks} ranks", a["method"]);
            }
        }
        // rank 0 saved the resumable run
        assert!(out.join("optimize-lbfgs.json").exists() && out.join("optimize.h5").exists());
    }
}

#[test]
fn tradeoff_spreads_its_schedules_and_rank_0_writes_the_files() {
    let d = scratch("tradeoff");
    let out = d.join("out");
    let out_s = out.to_str().unwrap();
    let args =
        ["tradeoff", "--n", "16", "--steps", "24", "--schedules", "store-all;binomial:3;online:4", "--out", out_s];
    let mut one = args.to_vec();
    one.extend(["--json", "-q"]);
    let alone = json(&rewind(&d, 1, &one));
    let two = json(&rewind(&d, 2, &one));
    assert_eq!(two["ranks"], 2);
    assert_eq!(two["gradients_identical"], true);
    let norms =
        |r: &Value| -> Vec<Value> { r["runs"].as_array().unwrap().iter().map(|x| x["grad_norm"].clone()).collect() };
    assert_eq!(norms(&two), norms(&alone));
    let written: Value = serde_json::from_slice(&std::fs::read(out.join("tradeoff.json")).unwrap()).unwrap();
    assert_eq!(written["ranks"], 2);
    assert!(out.join("tradeoff.csv").exists() && out.join("tradeoff.png").exists());
    // no rank left its configuration copy behind
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(!left.iter().any(|f| f.to_string_lossy().starts_with(".tradeoff-config")), "{left:?}");
}

#[test]
fn a_member_that_blows_up_stops_every_rank_with_one_message() {
    let d = scratch("faults");
    let base = ["spec", "--size", "S", "--steps", "12", "--hvp-ensemble", "6", "-q"];
    for (ranks, fault, member, words) in [
        (3usize, "4:blowup", 4usize, "CFL number"),
        (2, "3:nan", 3, "direction v_x (value 33) has a non-finite value"),
        (3, "2:panic", 2, "panicked: fault injected"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--fault", fault]);
        let o = rewind(&d, ranks, &args);
        assert!(!o.ok, "{fault} on {ranks} ranks succeeded: {}", o.stdout);
        let errors: Vec<&str> = o.stderr.lines().filter(|l| l.starts_with("rewind: error:")).collect();
        assert_eq!(errors.len(), 1, "one message, from rank 0: {}", o.stderr);
        let want = format!("ensemble member {member} (on rank {} of {ranks}) failed", member % ranks);
        assert!(errors[0].contains(&want) && errors[0].contains(words), "{fault}: {}", errors[0]);
        assert!(o.stdout.trim().is_empty(), "no figures after a failure: {}", o.stdout);
    }
    // the blow-up names the step
    let mut args = base.to_vec();
    args.extend(["--fault", "1:blowup"]);
    let o = rewind(&d, 2, &args);
    assert!(o.stderr.contains("step 0"), "{}", o.stderr);
}

#[test]
fn a_corrupted_snapshot_in_one_ranks_run_stops_every_rank() {
    let d = scratch("corrupt");
    // a state that multilevel:1,4,1,1 over 24 steps keeps on disk
    let s = json(&rewind(
        &d,
        0,
        &["schedule", "--kind", "multilevel", "--steps", "24", "--snapshots", "1", "--disk", "4"]
            .into_iter()
            .chain(["--write-cost", "1", "--read-cost", "1", "--actions", "--json", "--no-plot"])
            .collect::<Vec<_>>(),
    ));
    let on_disk: usize = s["action_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("store ")?.strip_suffix(" (disk)")?.parse().ok())
        .next()
        .expect("a disk store");
    let out = d.join("out");
    let fault = format!("1:{on_disk}");
    let o = rewind(
        &d,
        2,
        &["tradeoff", "--n", "16", "--steps", "24", "--schedules", "store-all;multilevel:1,4,1,1;binomial:3"]
            .into_iter()
            .chain(["--out", out.to_str().unwrap(), "-q", "--fault", &fault])
            .collect::<Vec<_>>(),
    );
    assert!(!o.ok);
    let errors: Vec<&str> = o.stderr.lines().filter(|l| l.starts_with("rewind: error:")).collect();
    assert_eq!(errors.len(), 1, "{}", o.stderr);
    assert!(
        errors[0].contains("ensemble member 1 (on rank 1 of 2) failed")
            && errors[0].contains(&format!("snapshot of state {on_disk} is corrupt")),
        "{}",
        errors[0]
    );
    // nothing half-written: the failed study wrote no table
    assert!(!out.join("tradeoff.json").exists() && !out.join("tradeoff.csv").exists());
}

#[test]
fn a_subcommand_without_independent_work_runs_on_rank_0_alone() {
    let d = scratch("root");
    let o = rewind(&d, 2, &["grad", "--n", "16", "--steps", "10", "--json", "--no-files", "-q"]);
    let r = json(&o);
    assert!(r["grad_norm"].as_f64().is_some_and(|g| g > 0.0), "{r}");
    assert!(o.stderr.contains("rank 0 runs it alone"), "{}", o.stderr);
}

/// `rewind <cmd> --decompose …` under `mpirun -n ranks`, as JSON.
fn split(d: &Path, ranks: usize, cmd: &str, extra: &[&str]) -> Value {
    let mut args = vec![cmd, "--decompose", "--json", "--no-files", "-q", "--threads", "1"];
    args.extend_from_slice(extra);
    json(&rewind(d, ranks, &args))
}

#[test]
fn a_simulation_split_over_one_to_four_ranks_gives_the_same_bits_as_the_plain_binary() {
    let d = scratch("decompose");
    // shallow water 34²: slabs of 34, 17, 11–12 and 8–9 planes (halo 8);
    // ns2d 32² with its Poisson solve across the ranks; the acoustic model
    // 32³ (walls along x, a source on one rank, a sponge as fixed data,
    // its truth another medium)
    for (sim, n) in [("shallow-water", "34"), ("ns2d", "32"), ("acoustic", "32")] {
        let extra = ["--sim", sim, "--n", n, "--steps", "8", "--schedule", "binomial:3"];
        let alone = split(&d, 0, "hvp", &extra);
        let run_alone = split(&d, 0, "run", &extra);
        assert_eq!(alone["decompose"]["ranks"], 1);
        for ranks in 1..=4 {
            let r = split(&d, ranks, "hvp", &extra);
            assert_eq!(r["decompose"]["ranks"], ranks, "{r}");
            for key in ["objective", "grad_bits", "hvp_bits", "grad_params", "hvp_params"] {
                assert_eq!(r[key], alone[key], "{sim}: {key} on {ranks} ranks");
            }
            assert_eq!(r["peak_rss_bytes_per_rank"].as_array().map(Vec::len), Some(ranks));
            let run = split(&d, ranks, "run", &extra);
            assert_eq!(run["final_bits"], run_alone["final_bits"], "{sim}: the run on {ranks} ranks");
        }
    }
}

#[test]
fn a_gradient_that_does_not_fit_one_ranks_memory_runs_split_over_four() {
    let d = scratch("decompose-memory");
    // shallow water 128² over 20 steps: a recorded step alone takes about
    // 12.5 MiB in one process, 5 MiB per rank on four (a slab of 32 planes
    // and 8 ghost planes each side); every rank also holds eight whole
    // states (3 MiB) and four boxes
    let extra = ["--sim", "shallow-water", "--n", "128", "--steps", "20"];
    let budget = ["--memory", "12MiB"];
    let one = rewind(&d, 1, &[&["grad", "--decompose", "-q", "--no-files"][..], &extra, &budget].concat());
    assert!(!one.ok, "one rank fits 12 MiB: {}", one.stdout);
    assert!(one.stderr.contains("per rank: memory budget 12.0 MiB is too small"), "{}", one.stderr);
    let four = split(&d, 4, "grad", &[&extra[..], &budget].concat());
    let whole = split(&d, 0, "grad", &extra);
    assert_eq!(four["grad_bits"], whole["grad_bits"]);
    assert_eq!(four["objective"], whole["objective"]);
    // the schedule the budget chose is said once, by rank 0
    let o =
        rewind(&d, 4, &[&["grad", "--decompose", "-q", "--no-files", "--threads", "1"][..], &extra, &budget].concat());
    assert_eq!(o.stderr.matches("memory budget 12.0 MiB: schedule").count(), 1, "{}", o.stderr);
}

#[test]
fn a_model_that_cannot_be_split_is_refused_by_every_rank_with_one_message() {
    let d = scratch("decompose-refused");
    let cases: [(usize, &str, &[&str], &str); 3] = [
        (3, "cavity", &["--no-files"], "a sparse solve"),
        (4, "shallow-water", &["--n", "16", "--no-files"], "use at most 2 rank(s)"),
        // a check each rank makes before the work (its output directory)
        (2, "shallow-water", &["--out", "/proc/rewind-cannot-write-here"], "output directory"),
    ];
    for (ranks, sim, extra, words) in cases {
        let args = [&["run", "--decompose", "--sim", sim, "-q"][..], extra].concat();
        let o = rewind(&d, ranks, &args);
        assert!(!o.ok);
        let errors: Vec<&str> = o.stderr.lines().filter(|l| l.starts_with("rewind: error:")).collect();
        assert_eq!(errors.len(), 1, "one message, from rank 0: {}", o.stderr);
        assert!(errors[0].contains(words), "{}", errors[0]);
    }
}
