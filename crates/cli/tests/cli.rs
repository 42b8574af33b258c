//! End-to-end tests of the `rewind` subcommands on small problems: each
//! runs the real binary in a scratch directory and checks its figures and
//! its files (HDF5 read back, PNGs, CSV), bad configurations, a corrupted
//! snapshot, and an interrupted optimisation that resumes.

use std::path::Path;
use std::process::Command;

use rewind_io::{GridInfo, Input};
use serde_json::Value;

/// A fresh scratch directory for one test.
mod common;
use common::Scratch;

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("rewind-cli-{name}"))
}

struct Out {
    ok: bool,
    /// The exit code (None if a signal ended the process).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn rewind(dir: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_rewind")).args(args).current_dir(dir).output().expect("run rewind");
    Out {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(o: &Out) -> Value {
    assert!(o.ok, "rewind failed: {}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", o.stdout))
}

/// A small flow: 16², 20 steps (observation times scale to 5, 10, 15, 20).
const SMALL: [&str; 4] = ["--n", "16", "--steps", "20"];

fn args<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![cmd];
    v.extend_from_slice(&SMALL);
    v.extend_from_slice(extra);
    v
}

#[test]
fn every_subcommand_has_help() {
    let d = scratch("help");
    for cmd in
        ["demo", "run", "grad", "hvp", "optimize", "assimilate", "hessian", "schedule", "tradeoff", "spec", "fwi"]
    {
        let o = rewind(&d, &[cmd, "--help"]);
        assert!(o.ok && o.stdout.contains("Usage: rewind"), "{cmd}: {}", o.stderr);
    }
    let o = rewind(&d, &["--help"]);
    assert!(o.stdout.contains("tradeoff") && o.stdout.contains("optimize"));
}

#[test]
fn run_writes_the_fields_it_computed() {
    let d = scratch("run");
    let r = json(&rewind(&d, &args("run", &["--json", "--out", "o"])));
    assert_eq!(r["frames"], 3, "{r}"); // steps 0, 10, 20
    for f in ["o/run.h5", "o/run.xmf", "o/run.png"] {
        assert!(d.join(f).exists(), "{f} missing");
    }
    // the last frame is exactly the library's primal run from field A
    let params = {
        let g = rewind_field::Grid::periodic_square(16, 2.0 * std::f64::consts::PI).unwrap();
        let mut p = rewind_ns2d::spec::params(rewind_ns2d::spec::Size::S);
        p.n = 16;
        p.forcing = g.sample(|_, y| 0.1 * (4.0 * y).sin());
        p
    };
    let mut sim = rewind_ns2d::stepper::<f64>(params, rewind_field::Par::Seq).unwrap();
    let expected = rewind_ns2d::spec::advance(&mut sim, &rewind_ns2d::spec::field_a(16), 20).unwrap();
    let h = 2.0 * std::f64::consts::PI / 16.0;
    let input = Input::open(d.join("o/run.h5"), GridInfo::plane(16, 16, h, h)).unwrap();
    let rewind_io::Series { steps, times, frames } = input.series("vorticity").unwrap();
    assert_eq!(steps, vec![0, 10, 20]);
    assert_eq!(times[2], 20.0 * 0.02);
    assert_eq!(frames[0], rewind_ns2d::spec::field_a(16));
    assert_eq!(frames[2], expected);
    assert!(input.attr("config").unwrap().contains("n = 16"));
    assert_eq!(input.attr("rewind_version").unwrap(), env!("CARGO_PKG_VERSION"));
    let hdf5 = input.attr("hdf5_version").unwrap();
    assert!(hdf5.starts_with("1.") && hdf5 == rewind_io::hdf5_library_version(), "{hdf5}");
}

#[test]
fn grad_and_hvp_pass_their_checks_and_agree_across_schedules() {
    let d = scratch("grad");
    let mut norms = Vec::new();
    for s in ["store-all", "binomial:3", "periodic:4", "online:3", "multilevel:1,4,1,1"] {
        let r = json(&rewind(&d, &args("grad", &["--json", "--check", "--no-files", "--schedule", s])));
        assert_eq!(r["check"]["passed"], true, "{s}: {r}");
        assert!(r["check"]["relative_error"].as_f64().unwrap() < 1e-6);
        norms.push((s, r["grad_norm"].clone(), r["objective"].clone()));
        if s == "binomial:3" {
            assert_eq!(r["cost"]["forward_steps"], r["cost"]["optimal_forward_steps"]);
        }
        if s.starts_with("multilevel") {
            assert!(r["cost"]["snapshot_writes"][1].as_u64().unwrap() > 0, "disk level used: {r}");
        }
    }
    for w in norms.windows(2) {
        assert_eq!((&w[0].1, &w[0].2), (&w[1].1, &w[1].2), "{} vs {}", w[0].0, w[1].0);
    }
    let r = json(&rewind(&d, &args("hvp", &["--json", "--check", "--schedule", "multilevel:1,4,1,1", "--out", "o"])));
    assert_eq!(r["check"]["passed"], true, "{r}");
    assert_eq!(r["grad_norm"], norms[0].1, "the HVP run's gradient is the gradient");
    let h = 2.0 * std::f64::consts::PI / 16.0;
    let input = Input::open(d.join("o/hvp.h5"), GridInfo::plane(16, 16, h, h)).unwrap();
    let hv = input.field("hvp_vorticity").unwrap();
    let norm = hv.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert_eq!(norm, r["hvp_norm"].as_f64().unwrap(), "the file holds the reported H v");
    // text output names the figures
    let o = rewind(&d, &args("grad", &["--no-files"]));
    assert!(o.ok && o.stdout.contains("grad_norm") && o.stdout.contains("forward_steps"), "{}", o.stdout);
}

#[test]
fn a_corrupted_disk_snapshot_is_reported_not_used() {
    let d = scratch("corrupt");
    // a state the multilevel schedule stores on disk
    let s = json(&rewind(
        &d,
        &[
            "schedule",
            "--kind",
            "multilevel",
            "--steps",
            "20",
            "--snapshots",
            "1",
            "--disk",
            "4",
            "--write-cost",
            "1",
            "--read-cost",
            "1",
            "--actions",
            "--json",
            "--no-plot",
        ],
    ));
    let on_disk: usize = s["action_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("store ")?.strip_suffix(" (disk)")?.parse().ok())
        .next()
        .expect("a disk store");
    let step = on_disk.to_string();
    let o = rewind(&d, &args("grad", &["--schedule", "multilevel:1,4,1,1", "--no-files", "--corrupt-snapshot", &step]));
    assert!(!o.ok, "a corrupted snapshot must fail the run");
    let line = o.stderr.trim();
    assert!(line.starts_with("rewind: error:"), "{line}");
    assert!(line.contains(&format!("snapshot of state {on_disk} is corrupt")) && line.contains("checksum"), "{line}");
    assert_eq!(line.lines().count(), 1, "one readable line: {line}");
    // the same run without the damage succeeds
    assert!(rewind(&d, &args("grad", &["--schedule", "multilevel:1,4,1,1", "--no-files"])).ok);
}

#[test]
fn bad_configurations_name_file_key_and_value() {
    let d = scratch("config");
    let cases = [
        (
            "unknown.toml",
            "[simulation]\nviscosity = 0.1\n",
            vec!["unknown.toml", "simulation.viscosity", "unknown field"],
        ),
        (
            "type.toml",
            "[simulation]\nnu = \"small\"\n",
            vec!["type.toml", "simulation.nu", "\"small\"", "invalid type"],
        ),
        ("range.toml", "[simulation]\nn = 4\n", vec!["range.toml", "simulation.n", "= 4", "at least 8"]),
        (
            "schedule.toml",
            "[gradient]\nschedule = \"bogus:3\"\n",
            vec!["schedule.toml", "gradient.schedule", "bogus:3"],
        ),
        ("method.toml", "[optimize]\nmethods = [\"bfgs\"]\n", vec!["method.toml", "optimize.methods", "bfgs"]),
        ("syntax.toml", "[simulation\n", vec!["syntax.toml", "TOML syntax"]),
    ];
    for (file, text, needles) in cases {
        std::fs::write(d.join(file), text).unwrap();
        for cmd in ["run", "grad", "hvp", "optimize", "tradeoff", "demo"] {
            let o = rewind(&d, &[cmd, "--config", file, "--no-files"]);
            assert!(!o.ok, "{cmd} accepted {file}");
            for n in &needles {
                assert!(o.stderr.contains(n), "{cmd} {file}: {n:?} not in {}", o.stderr);
            }
        }
    }
    let o = rewind(&d, &["run", "--config", "missing.toml"]);
    assert!(!o.ok && o.stderr.contains("missing.toml") && o.stderr.contains("cannot read"), "{}", o.stderr);
    // flags are checked too
    let o = rewind(&d, &["grad", "--schedule", "binomial:0", "--no-files"]);
    assert!(!o.ok && o.stderr.contains("gradient.schedule"), "{}", o.stderr);
    // and a good file is used
    std::fs::write(d.join("good.toml"), "[simulation]\nn = 16\nsteps = 20\n[observations]\ntimes = [10, 20]\n")
        .unwrap();
    let r = json(&rewind(&d, &["run", "--config", "good.toml", "--json", "--no-files"]));
    assert_eq!((r["grid"][0].as_u64(), r["steps"].as_u64()), (Some(16), Some(20)));
}

#[test]
fn an_interrupted_optimisation_resumes_with_nothing_lost() {
    let d = scratch("resume");
    let base = args("optimize", &["--method", "lbfgs,newton-cg", "--max-iter", "4", "--json"]);
    let with = |extra: &[&'static str]| -> Vec<&str> {
        let mut v = base.clone();
        v.extend_from_slice(extra);
        v
    };
    let whole = json(&rewind(&d, &with(&["--out", "whole"])));
    // killed right after saving iteration 2 of L-BFGS, then run again
    let o = rewind(&d, &with(&["--out", "cut", "--abort-after", "2"]));
    assert!(!o.ok, "the abort must look like a crash");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("cut/optimize-lbfgs.json")).unwrap()).unwrap();
    assert_eq!(saved["state"]["iter"], 2);
    let o = rewind(&d, &with(&["--out", "cut"]));
    assert!(o.stderr.contains("lbfgs: resuming from iteration 2"), "{}", o.stderr);
    let resumed = json(&o);
    for (a, b) in whole["runs"].as_array().unwrap().iter().zip(resumed["runs"].as_array().unwrap()) {
        for k in ["iterations", "gradients", "hvps", "objective", "misfit", "grad_norm_relative", "error_vs_truth"] {
            assert_eq!(a[k], b[k], "{k} of {}", a["method"]);
        }
    }
    // the histories in the HDF5 files are identical too
    let h = 2.0 * std::f64::consts::PI / 16.0;
    let g = GridInfo::plane(16, 16, h, h);
    let (a, b) =
        (Input::open(d.join("whole/optimize.h5"), g).unwrap(), Input::open(d.join("cut/optimize.h5"), g).unwrap());
    for m in ["lbfgs", "newton-cg"] {
        let group = format!("history_{m}");
        assert_eq!(a.column(&group, "objective").unwrap(), b.column(&group, "objective").unwrap(), "{m}");
        assert_eq!(a.column(&group, "objective").unwrap().len(), 5);
        assert_eq!(
            a.field(&format!("recovered_{m}_vorticity")).unwrap(),
            b.field(&format!("recovered_{m}_vorticity")).unwrap()
        );
    }
    for f in ["fields.png", "convergence.png", "optimize.xmf"] {
        assert!(d.join("cut").join(f).exists(), "{f}");
    }
    // a finished run is not redone; another configuration is refused
    let again = json(&rewind(&d, &with(&["--out", "cut"])));
    assert_eq!(again["runs"], resumed["runs"], "wall times too come from the saved runs");
    let o = rewind(&d, &with(&["--out", "cut", "--schedule", "binomial:5"]));
    assert!(!o.ok && o.stderr.contains("another configuration") && o.stderr.contains("--restart"), "{}", o.stderr);
    assert!(rewind(&d, &with(&["--out", "cut", "--schedule", "binomial:5", "--restart"])).ok);
}

#[test]
fn tradeoff_writes_its_table_and_plot() {
    let d = scratch("tradeoff");
    let r = json(&rewind(
        &d,
        &args("tradeoff", &["--json", "--out", "o", "--schedules", "store-all;binomial:2;online:3;multilevel:1,2"]),
    ));
    assert_eq!(r["gradients_identical"], true, "{r}");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|x| x["peak_rss_bytes"].as_u64().unwrap() > 0));
    // fewer snapshots, more forward steps
    assert!(runs[1]["forward_steps"].as_u64() > runs[0]["forward_steps"].as_u64());
    assert!(runs[1]["peak_snapshot_bytes"].as_u64() < runs[0]["peak_snapshot_bytes"].as_u64());
    let csv = std::fs::read_to_string(d.join("o/tradeoff.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    assert!(csv.lines().nth(4).unwrap().starts_with("multilevel:1,2,"));
    assert!(d.join("o/tradeoff.png").exists() && d.join("o/tradeoff.json").exists());
    assert!(!d.join("o/.tradeoff-config.toml").exists());
    let o = rewind(&d, &["tradeoff", "--schedules", "binomial:two"]);
    assert!(!o.ok && o.stderr.contains("binomial:two"), "{}", o.stderr);
}

#[test]
fn schedule_draws_its_diagram() {
    let d = scratch("schedule");
    let r = json(&rewind(&d, &["schedule", "--steps", "50", "--snapshots", "4", "--json", "--plot", "s.png"]));
    assert_eq!(r["plot"], "s.png");
    let png = std::fs::read(d.join("s.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
}

#[test]
fn demo_runs_end_to_end() {
    let d = scratch("demo");
    std::fs::write(
        d.join("c.toml"),
        "[simulation]\nn = 16\nsteps = 20\n[observations]\ntimes = [10, 20]\n[optimize]\nmax_iter = 3\n",
    )
    .unwrap();
    let r = json(&rewind(&d, &["demo", "--config", "c.toml", "--json"]));
    assert_eq!(r["gradient"]["check"]["passed"], true);
    assert_eq!(r["hvp"]["check"]["passed"], true);
    // the flagship at 32² (twice the grid), four methods of 3 iterations
    let a = &r["assimilation"];
    let runs = a["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|x| x["method"].as_str().unwrap()).collect();
    assert_eq!(names, ["lbfgs", "gauss-newton", "4dvar", "4dvar-coarse"]);
    assert!(runs.iter().all(|x| x["iterations"] == 3), "{a}");
    // every method improves on the background
    let background = a["background_error"].as_f64().unwrap();
    assert!(runs.iter().all(|x| x["error_vs_truth"].as_f64().unwrap() < background), "{a}");
    assert_eq!(a["posterior"]["eigenpairs"], 20);
    for f in ["assimilate.h5", "fields.png", "errors.png", "convergence-time.png", "eigenvalues.png", "posterior.png"] {
        assert!(d.join("rewind-out/assimilate").join(f).exists(), "{f}");
    }
}

#[test]
fn assimilate_recovers_the_truth_and_refuses_bad_settings() {
    let d = scratch("assimilate");
    let r = json(&rewind(
        &d,
        &["assimilate", "--n", "16", "--steps", "8", "--stride", "2", "--methods", "4dvar,4dvar-coarse"]
            .into_iter()
            .chain(["--outer", "6", "--posterior", "0", "--json", "--no-files"])
            .collect::<Vec<_>>(),
    ));
    let names: Vec<&Value> = r["runs"].as_array().unwrap().iter().map(|x| &x["method"]).collect();
    assert_eq!(names, ["4dvar", "4dvar-coarse"]);
    for run in r["runs"].as_array().unwrap() {
        // 256 observations of 256 unknowns with a right prior: the analysis
        // is far better than the background, its misfit near the noise floor
        let (e, eb) = (run["error_vs_truth"].as_f64().unwrap(), r["background_error"].as_f64().unwrap());
        assert!(e < 0.5 * eb, "error {e} vs background {eb}");
        let misfit = run["misfit"].as_f64().unwrap();
        assert!(misfit < 2.0 * r["expected_misfit_at_truth"].as_f64().unwrap(), "{r}");
    }
    // the first multi-incremental inner loops ran on the 8² grid, which
    // lacks scales of B: once they stalled, the rest ran on 16²
    let outer = r["runs"][1]["outer_iterations"].as_array().unwrap();
    assert!(r["runs"][1]["coarse_products"].as_u64().unwrap() > 0);
    assert_eq!(outer[0]["coarse"], true);
    assert!(outer.iter().any(|o| o["coarse"] == false), "{outer:?}");
    for bad in [
        &["--methods", "sgd"][..],
        &["--steps", "2"],
        &["--schedule", "binomial:0"],
        &["--sigma", "0"],
        &["--stride", "3"],
        &["--coarse-factor", "3"],
        &["--coarse-schedule", "binomial:x"],
    ] {
        let mut a = vec!["assimilate", "--n", "16", "--no-files", "-q"];
        a.extend_from_slice(bad);
        let o = rewind(&d, &a);
        assert!(
            !o.ok && o.stderr.starts_with("rewind: error:") && o.stderr.trim().lines().count() == 1,
            "{bad:?}: {}",
            o.stderr
        );
    }
}

/// `rewind spec ns2d-periodic --size S`: the benchmark's report. Its figures
/// are the same under two schedules (bit for bit: the recomputed steps are
/// the same arithmetic) and agree to 1e-8 with an independent implementation
/// of the spec: `scripts/jax_ns2d.py --size S` (JAX 0.10.2, float64, CPU),
/// whose output is copied below.
#[test]
fn spec_reports_the_benchmark_figures() {
    let d = scratch("spec");
    let jax = [
        ("objective", 12.387182769247858),
        ("grad_norm", 0.82623022001039),
        ("grad_dot_v", 2.7299622561649457),
        ("hvp_norm", 0.7068249998107649),
        ("v_dot_hvp", 12.515715518836345),
    ];
    let a = json(&rewind(&d, &["spec", "ns2d-periodic", "--size", "S", "--schedule", "binomial:10", "--threads", "1"]));
    let b = json(&rewind(&d, &["spec", "ns2d-periodic", "--size", "S", "--schedule", "store-all", "--threads", "2"]));
    assert_eq!((a["grid"][0].as_u64(), a["steps"].as_u64(), a["dt"].as_f64()), (Some(32), Some(100), Some(0.02)));
    for (key, reference) in jax {
        let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
        assert_eq!(x, y, "{key}: binomial:10 vs store-all");
        assert!((x - reference).abs() <= 1e-8 * reference.abs(), "{key}: rewind {x} vs JAX {reference}");
    }
    // Griewank–Walther counting: the binomial optimum for 100 steps, 10 snapshots
    assert_eq!(a["forward_steps"], a["optimal_forward_steps"]);
    assert_eq!(a["forward_steps"].as_u64(), Some(322));
    assert_eq!(b["forward_steps"].as_u64(), Some(199));
    for key in ["primal_s", "grad_s", "hvp_s", "peak_rss_bytes"] {
        assert!(a[key].as_f64().is_some_and(|t| t > 0.0), "{key}: {}", a[key]);
    }
    // bad input: one readable line, non-zero exit
    for (bad, needle) in [
        (vec!["spec", "ns2d-other"], "unknown problem"),
        (vec!["spec", "ns2d-periodic", "--size", "XL"], "XL"),
        (vec!["spec", "ns2d-periodic", "--schedule", "binomial:0"], "binomial:0"),
        (vec!["spec", "ns2d-periodic", "--threads", "0"], "--threads"),
    ] {
        let o = rewind(&d, &bad);
        assert!(!o.ok && o.stderr.contains(needle), "{bad:?}: {}", o.stderr);
    }
}

#[test]
fn spec_shallow_water_reports_its_figures_and_refuses_what_is_not_its_own() {
    let d = scratch("spec-sw");
    // the JAX reference (scripts/jax_shallow_water.py) at N = 32, K = 100
    let jax = [
        ("objective", 0.0001882756462272073),
        ("grad_norm", 0.0038908715814491676),
        ("grad_g", -0.0007650349273029499),
        ("grad_f", -6.527042100981863e-05),
        ("grad_dot_v", -0.01786437859780554),
        ("hvp_norm", 1.4810769924629168),
        ("v_dot_hvp", 50.121815363835545),
    ];
    let argv = ["spec", "shallow-water", "--n", "32", "--steps", "100", "--schedule", "binomial:8", "--threads", "2"];
    let a = json(&rewind(&d, &argv));
    assert_eq!((a["grid"][0].as_u64(), a["steps"].as_u64(), a["dt"].as_f64()), (Some(32), Some(100), Some(0.08)));
    for (key, reference) in jax {
        let x = a[key].as_f64().unwrap();
        assert!((x - reference).abs() <= 1e-9 * reference.abs(), "{key}: rewind {x} vs JAX {reference}");
    }
    for key in ["primal_s", "grad_s", "hvp_s", "peak_rss_bytes"] {
        assert!(a[key].as_f64().is_some_and(|t| t > 0.0), "{key}: {}", a[key]);
    }
    for (bad, needle) in [
        (vec!["spec", "shallow-water", "--size", "M"], "--size is ns2d-periodic's"),
        (vec!["spec", "ns2d-periodic", "--n", "64"], "--n is shallow-water's"),
        (vec!["spec", "shallow-water", "--n", "3"], "at least 4"),
        (vec!["spec", "shallow-water", "--steps", "0"], "--steps"),
        (vec!["spec", "shallow-water", "--gauss-newton", "2"], "ns2d-periodic's"),
        (vec!["spec", "shallow-water", "--n", "100000"], "available"),
    ] {
        let o = rewind(&d, &bad);
        assert_eq!(o.code, Some(1), "{bad:?}: {}", o.stderr);
        assert!(o.stderr.starts_with("rewind: error: ") && o.stderr.contains(needle), "{bad:?}: {}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{bad:?}: {}", o.stderr);
    }
}

#[test]
fn bad_input_is_one_line_and_exit_code_1_never_a_panic_a_hang_or_an_abort() {
    let d = scratch("bad-input");
    let cases: [(&[&str], &[&str]); 8] = [
        (&["grad", "--steps", "0"], &["simulation.steps", "at least one step"]),
        (&["hvp", "--steps", "0", "--size", "S"], &["simulation.steps"]),
        (&["grad", "--threads", "100000"], &["simulation.threads", "100000", "core"]),
        (&["spec", "--threads", "100000"], &["--threads 100000", "core"]),
        // snapshots that cannot fit: refused up front, with the numbers and a schedule that fits
        (
            &["grad", "--steps", "100000000", "--schedule", "store-all"],
            &["store-all over 100000000 steps does not fit", "RAM snapshots", "available", "binomial:"],
        ),
        (&["hvp", "--steps", "100000000", "--schedule", "store-all"], &["does not fit", "binomial:"]),
        // a grid whose one state cannot fit
        (
            &["grad", "--n", "100000", "--schedule", "store-all"],
            &["100000² grid does not fit", "one state is 74.5 GiB"],
        ),
        (&["run", "--n", "100000"], &["100000² grid does not fit"]),
    ];
    for (argv, needles) in cases {
        let t0 = std::time::Instant::now();
        let o = rewind(&d, argv);
        assert_eq!(o.code, Some(1), "{argv:?}: exit {:?}: {}", o.code, o.stderr);
        assert!(!o.stderr.contains("panicked") && !o.stderr.contains("backtrace"), "{argv:?}: {}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{argv:?}: not one line: {}", o.stderr);
        assert!(o.stderr.starts_with("rewind: error: "), "{argv:?}: {}", o.stderr);
        for n in needles {
            assert!(o.stderr.contains(n), "{argv:?}: {n:?} not in {}", o.stderr);
        }
        // refused up front, not after starting the work
        assert!(t0.elapsed().as_secs() < 20, "{argv:?} took {:?}", t0.elapsed());
    }
}

/// Every file under its final name in `dir` is complete: JSON parses, HDF5
/// opens and reads, PNG ends with its IEND chunk, XDMF with its closing tag.
/// (Temporaries are `.name.tmp-…`; a killed writer may leave one behind.)
fn every_final_file_is_whole(dir: &Path, g: GridInfo) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        match path.extension().and_then(|x| x.to_str()) {
            Some("json") => {
                serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| panic!("{name} is partial: {e}"));
            }
            Some("h5") => {
                let f = Input::open(&path, g).unwrap_or_else(|e| panic!("{name} does not open: {e}"));
                assert!(f.attr("config").is_ok(), "{name} has no metadata");
            }
            Some("png") => assert!(
                bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.ends_with(&[0xae, 0x42, 0x60, 0x82]),
                "{name} is partial"
            ),
            Some("xmf") => {
                assert!(String::from_utf8_lossy(&bytes).trim_end().ends_with("</Xdmf>"), "{name} is partial")
            }
            _ => {}
        }
    }
}

#[test]
fn an_optimisation_killed_at_twenty_random_moments_ends_on_the_same_bits() {
    let d = scratch("kill");
    let base = args("optimize", &["--method", "lbfgs,newton-cg", "--max-iter", "4", "--json"]);
    let with = |out: &'static str| -> Vec<&str> {
        let mut v = base.clone();
        v.extend_from_slice(&["--out", out]);
        v
    };
    let t0 = std::time::Instant::now();
    let whole = json(&rewind(&d, &with("whole")));
    let total = t0.elapsed();
    let h = 2.0 * std::f64::consts::PI / 16.0;
    let g = GridInfo::plane(16, 16, h, h);
    // 20 kills (SIGKILL), each at a pseudo-random moment within a twelfth of
    // a whole run's time: every run resumes where the last saved state left
    // it, so the kills fall at moments spread over the whole optimisation
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut kills = 0;
    for _ in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = total.mul_f64((seed % 1000) as f64 / 12_000.0);
        let mut child = Command::new(env!("CARGO_BIN_EXE_rewind"))
            .args(with("cut"))
            .current_dir(&d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no destructor, no flush
            kills += 1;
        }
        child.wait().unwrap();
        every_final_file_is_whole(&d.join("cut"), g);
    }
    assert!(kills >= 10, "only {kills} of the 20 runs were still running when killed");
    let resumed = json(&rewind(&d, &with("cut")));
    for (a, b) in whole["runs"].as_array().unwrap().iter().zip(resumed["runs"].as_array().unwrap()) {
        for k in ["iterations", "gradients", "hvps", "objective", "misfit", "grad_norm_relative", "error_vs_truth"] {
            assert_eq!(a[k], b[k], "{k} of {}", a["method"]);
        }
    }
    let (a, b) =
        (Input::open(d.join("whole/optimize.h5"), g).unwrap(), Input::open(d.join("cut/optimize.h5"), g).unwrap());
    for m in ["lbfgs", "newton-cg"] {
        assert_eq!(
            a.field(&format!("recovered_{m}_vorticity")).unwrap(),
            b.field(&format!("recovered_{m}_vorticity")).unwrap(),
            "{m}"
        );
    }
    every_final_file_is_whole(&d.join("cut"), g);
}

#[test]
fn a_memory_budget_chooses_the_schedule() {
    let d = scratch("memory");
    // 16²: 2 KiB per state; a step's arena is measured on the model, and
    // said when a budget is too small; 20 steps
    let o = rewind(&d, &args("grad", &["--json", "--no-files", "--memory", "1MiB"]));
    assert!(o.stderr.contains("memory budget 1.0 MiB: schedule store-all"), "{}", o.stderr);
    assert_eq!(json(&o)["cost"]["schedule"], "store-all");
    let o = rewind(&d, &args("grad", &["--memory", "1KiB"]));
    let step: f64 = o
        .stderr
        .split("a step works in about ")
        .nth(1)
        .and_then(|t| t.split(" KiB").next())
        .map_or_else(|| panic!("no step size in {}", o.stderr), |t| t.parse().unwrap());
    // room for about 10 of the 19 snapshots beside the step and the actions
    let budget = format!("{}KiB", (step + 3.0 + 20.0).ceil());
    let o = rewind(&d, &args("grad", &["--json", "--no-files", "--memory", &budget]));
    let r = json(&o);
    let s = r["cost"]["schedule"].as_str().unwrap().to_string();
    assert!(s.starts_with("binomial:") || s.starts_with("multilevel:"), "{s}");
    assert!(o.stderr.contains(&format!("schedule {s}")), "{}", o.stderr);
    for (bad, needle) in [("10KiB", "too small"), ("lots", "gradient.memory")] {
        let o = rewind(&d, &args("grad", &["--memory", bad]));
        assert_eq!(o.code, Some(1), "{bad}: {}", o.stderr);
        assert!(o.stderr.contains(needle), "{bad}: {}", o.stderr);
    }
}

#[test]
fn a_3d_model_writes_volumes_and_pictures_their_middle_section() {
    let d = scratch("volume");
    // the acoustic model, 16³: its run's frames and its gradient in m = 1/c²
    let base = ["--sim", "acoustic", "--n", "16", "--steps", "24", "--json"];
    let r = json(&rewind(&d, &[&["run"][..], &base].concat()));
    assert_eq!(r["grid"], serde_json::json!([16, 16, 16]), "{r}");
    let out = d.join("rewind-out");
    let grid = GridInfo::volume([16; 3], [10.0; 3]);
    let u = Input::open(out.join("run.h5"), grid).unwrap().series("u").unwrap();
    assert_eq!(u.steps.last(), Some(&24));
    assert!(u.frames.last().unwrap().iter().any(|&v| v != 0.0), "the source makes a wave");
    assert!(out.join("run.png").exists() && out.join("run.xmf").exists());
    let r = json(&rewind(&d, &[&["grad"][..], &base].concat()));
    let m = Input::open(out.join("grad.h5"), grid).unwrap().field("gradient_m").unwrap();
    let norm = m.iter().map(|v| v * v).sum::<f64>().sqrt();
    let reported = r["grad_params"]["m"]["norm"].as_f64().unwrap();
    assert!(norm > 0.0 && (norm - reported).abs() <= 1e-12 * norm, "{norm} written, {reported} reported");
    assert!(out.join("grad.png").exists());
}

#[test]
fn every_model_runs_and_passes_grad_check_and_hvp_check() {
    let d = scratch("sims");
    let o = rewind(&d, &["sims", "--json"]);
    let list = json(&o);
    let names: Vec<&str> = list["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ns2d", "burgers", "cavity", "lorenz96", "shallow-water", "gray-scott", "acoustic"]);
    for name in names {
        // the models' own defaults (ns2d's is the 32² spec problem)
        let steps = if name == "ns2d" { "20" } else { "30" };
        let base = ["--sim", name, "--steps", steps, "--schedule", "binomial:4", "--json", "--no-files", "--check"];
        for cmd in ["grad", "hvp"] {
            let r = json(&rewind(&d, &[&[cmd][..], &base[..]].concat()));
            assert_eq!(r["check"]["passed"], Value::Bool(true), "{name} {cmd}: {r}");
        }
        if name != "ns2d" {
            let r = json(&rewind(&d, &["run", "--sim", name, "--steps", steps, "--json"]));
            assert_eq!(r["steps"], 30, "{name}");
            assert!(d.join("rewind-out").join("run.h5").exists(), "{name}: no run file");
        }
    }
    // the optimizers and the trade-off study on another model
    let r = json(&rewind(&d, &["optimize", "--sim", "burgers", "--method", "lbfgs", "--max-iter", "5", "--json"]));
    assert!(
        r["runs"][0]["objective"].as_f64().unwrap()
            < r["runs"][0]["objective_at_start"].as_f64().unwrap_or(f64::INFINITY)
    );
    // a Gauss–Newton method: Newton-CG on Gauss–Newton products
    let r =
        json(&rewind(&d, &["optimize", "--sim", "burgers", "--method", "gauss-newton", "--max-iter", "3", "--json"]));
    let run = &r["runs"][0];
    assert_eq!(run["method"], "gauss-newton", "{r}");
    assert!(
        run["objective"].as_f64().unwrap() < run["objective_at_start"].as_f64().unwrap()
            && run["hvps"].as_u64().unwrap() > 0
    );
    let o = rewind(
        &d,
        &["tradeoff", "--sim", "gray-scott", "--steps", "20", "--schedules", "store-all;binomial:3", "--quiet"],
    );
    assert!(o.ok, "{}", o.stderr);
    let o = rewind(&d, &["grad", "--sim", "no-such-model"]);
    assert!(!o.ok && o.stderr.contains("no-such-model"), "{}", o.stderr);
}

#[test]
fn hessian_prints_a_decaying_spectrum_and_writes_the_posterior() {
    let d = scratch("hessian");
    let r = json(&rewind(
        &d,
        &["hessian", "--sim", "gray-scott", "--steps", "20", "--k", "5", "--oversample", "3", "--json"],
    ));
    assert_eq!(r["products"], 16, "{r}");
    let l: Vec<f64> = r["eigenvalues"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(l.len(), 5);
    assert!(l.windows(2).all(|w| w[0] >= w[1]) && l[4] > 0.0, "{l:?}");
    let background = r["background_std"].as_f64().unwrap();
    for f in ["u", "v"] {
        let s = r["mean_posterior_std"][f].as_f64().unwrap();
        assert!(s > 0.0 && s <= background, "{f}: {s} vs {background}");
    }
    let out = d.join("rewind-out");
    for f in ["hessian-gray-scott.h5", "hessian-gray-scott-eigenvalues.png", "hessian-gray-scott-std.png"] {
        assert!(out.join(f).exists(), "no {f}");
    }
    let o = rewind(&d, &["hessian", "--sim", "burgers", "--length-cells=-1"]);
    assert!(!o.ok && o.stderr.contains("correlation length"), "{}", o.stderr);
}

#[test]
fn optimize_over_an_ensemble_of_models_sums_their_objectives() {
    let d = scratch("members");
    let run = |extra: &[&str]| {
        let mut a = args("optimize", &["--method", "lbfgs", "--max-iter", "1", "--json", "--no-files", "-q"]);
        a.extend_from_slice(extra);
        json(&rewind(&d, &a))
    };
    let one = run(&[]);
    // two members with the configured viscosity: exactly twice the objective
    let two = run(&["--members", "2", "--member-spread", "0"]);
    assert_eq!(two["members"], 2);
    let j = |r: &Value| r["runs"][0]["objective_at_start"].as_f64().unwrap();
    assert_eq!(j(&two), 2.0 * j(&one));
    // spread viscosities: a different objective, the members' ν listed
    let three = run(&["--members", "3", "--member-spread", "0.5"]);
    let nu: Vec<f64> = three["member_nu"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(nu.len(), 3);
    assert!((nu[0] - 0.5e-3).abs() < 1e-15 && (nu[1] - 1e-3).abs() < 1e-15 && (nu[2] - 1.5e-3).abs() < 1e-15, "{nu:?}");
    // the models differ: after one step the objective is not the one of
    // three copies of the configured model
    let same = run(&["--members", "3", "--member-spread", "0"]);
    let end = |r: &Value| r["runs"][0]["objective"].as_f64().unwrap();
    assert_ne!(end(&three), end(&same));
    let bad = rewind(&d, &args("optimize", &["--members", "2", "--member-spread", "1.5", "--no-files", "-q"]));
    assert!(!bad.ok && bad.stderr.contains("--member-spread 1.5"), "{}", bad.stderr);
}

#[test]
fn spec_acoustic_agrees_with_the_numpy_reference_and_refuses_what_is_not_its_own() {
    let d = scratch("spec-acoustic");
    // scripts/acoustic_reference.py --n 23 --steps 30 (numpy, its adjoint
    // checked against finite differences)
    let reference = [("objective", 354.79346459811023), ("grad_norm", 22147997.217066262)];
    let traces = d.join("traces.f64");
    let gradient = d.join("gradient.f64");
    let argv = [
        "spec",
        "acoustic",
        "--n",
        "23",
        "--steps",
        "30",
        "--schedule",
        "binomial:4",
        "--traces",
        traces.to_str().unwrap(),
        "--gradient",
        gradient.to_str().unwrap(),
        "--gauss-newton",
        "1",
    ];
    let a = json(&rewind(&d, &argv));
    // one Gauss–Newton product at the kept point: ⟨δm, G δm⟩ > 0 (G is
    // positive semidefinite for this misfit), the kept sweep reused
    let gn = &a["gauss_newton"];
    assert!(gn["curvature"].as_f64().is_some_and(|c| c > 0.0), "{gn}");
    assert_eq!(gn["product_s"].as_array().map(Vec::len), Some(1), "{gn}");
    assert!(gn["reused_steps"].as_u64().is_some_and(|r| r > 0), "{gn}");
    assert_eq!((a["grid"][2].as_u64(), a["steps"].as_u64()), (Some(23), Some(30)));
    // the forward against the copy bandwidth measured in the same process
    let positive = |k: &str| a[k].as_f64().is_some_and(|x| x.is_finite() && x > 0.0);
    assert!(positive("copy_bytes_per_s") && positive("copy_bandwidth_fraction"), "{a}");
    let implied = a["step_bytes_per_point"].as_f64().unwrap() * a["points_steps_per_s"].as_f64().unwrap()
        / a["copy_bytes_per_s"].as_f64().unwrap();
    assert!((implied - a["copy_bandwidth_fraction"].as_f64().unwrap()).abs() <= 1e-12 * implied, "{a}");
    for (key, reference) in reference {
        let x = a[key].as_f64().unwrap();
        assert!((x - reference).abs() <= 1e-12 * reference.abs(), "{key}: rewind {x} vs numpy {reference}");
    }
    // the raw files: 30 steps × 3² receivers, and 23³ gradient values
    assert_eq!(std::fs::metadata(&traces).unwrap().len(), 8 * 30 * 9);
    assert_eq!(std::fs::metadata(&gradient).unwrap().len(), 8 * 23 * 23 * 23);
    for (bad, needle) in [
        (vec!["spec", "acoustic", "--n", "22"], "at least 23"),
        (vec!["spec", "acoustic", "--steps", "0"], "--steps"),
        (vec!["spec", "acoustic", "--size", "M"], "--size is ns2d-periodic's"),
        (vec!["spec", "acoustic", "--hvp-ensemble", "2"], "ns2d-periodic's"),
        (vec!["spec", "acoustic", "--schedule", "multilevel:2,4"], "in memory"),
        (vec!["spec", "shallow-water", "--traces", "x.f64"], "acoustic's"),
        (vec!["spec", "acoustic", "--n", "100000"], "available"),
        (vec!["spec", "acoustic", "--n", "200", "--steps", "3000000", "--gauss-newton", "1"], "tangent seeds"),
    ] {
        let o = rewind(&d, &bad);
        assert_eq!(o.code, Some(1), "{bad:?}: {}", o.stderr);
        assert!(o.stderr.starts_with("rewind: error: ") && o.stderr.contains(needle), "{bad:?}: {}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{bad:?}: {}", o.stderr);
    }
}
