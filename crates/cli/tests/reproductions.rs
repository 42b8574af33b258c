//! The reproductions of what users tripped over on the command line, as a
//! table: each is refused in one line starting `rewind: error:`, with exit
//! status 1, no panic and no abort, before any work (well under the time
//! the work would take), and leaves nothing behind in the directory it ran
//! in.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A fresh scratch directory holding a plain file, `afile`, and two
/// configurations.
mod common;
use common::Scratch;

fn scratch(name: &str) -> Scratch {
    let d = Scratch::new(&format!("rewind-repro-{name}"));
    std::fs::write(d.join("afile"), b"not a directory").unwrap();
    std::fs::write(d.join("nu.toml"), b"[simulation]\nnu = 0.01\n").unwrap();
    std::fs::write(d.join("stride.toml"), b"[observations]\nstride = 12\n").unwrap();
    d
}

fn rewind(d: &Path, argv: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rewind")).args(argv).current_dir(d).output().expect("run rewind");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{argv:?}: {err}");
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.success(), v, err)
}

fn entries(d: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Runs each command line in `d` and checks the refusal.
fn refused(d: &Path, cases: &[(&[&str], &[&str])]) {
    let before = entries(d);
    for &(argv, needles) in cases {
        let t0 = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_rewind")).args(argv).current_dir(d).output().expect("run rewind");
        let took = t0.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{argv:?}: exit {:?}: {err}", out.status.code());
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{argv:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{argv:?}: not one line: {err}");
        assert!(err.starts_with("rewind: error: "), "{argv:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{argv:?}: {n:?} not in {err}");
        }
        // a hang guard, not a timing: every case is refused before its work
        assert!(took < Duration::from_secs(10), "{argv:?} took {took:?}");
        assert_eq!(entries(d), before, "{argv:?} left something behind");
    }
}

#[test]
fn argument_errors_are_one_line_with_where_to_look() {
    let d = scratch("args");
    refused(
        &d,
        &[
            (&[], &["no subcommand", "rewind demo"]),
            (&["bogus"], &["unrecognized subcommand 'bogus'", "rewind --help"]),
            (&["grad", "--bogus"], &["unexpected argument '--bogus'", "`rewind grad --help`"]),
            // a negative value is refused for its value, not taken for a flag
            (&["grad", "--memory", "-5GiB"], &["\"-5GiB\" is not a positive size"]),
            (&["hvp", "--n", "-3"], &["invalid value '-3' for '--n <N>'", "`rewind hvp --help`"]),
            (&["run", "--steps", "many"], &["invalid value 'many'"]),
            (&["grad", "--out"], &["a value is required for '--out <DIR>'"]),
            (&["hvp", "--sim", "nope"], &["invalid value 'nope'", "[possible values: ns2d, burgers"]),
            (&["schedule", "--kind", "x"], &["[possible values: binomial"]),
            // a file that cannot be read is said as such, not as a key `-`
            (&["grad", "--config", "no-such.toml"], &["no-such.toml: cannot read the configuration"]),
            // a plot that cannot be written names its file, not plotters' debug form
            (&["schedule", "--steps", "10", "--plot", "afile/x.png"], &["afile/x.png"]),
        ],
    );
}

#[test]
fn nonsense_settings_are_refused_not_rounded() {
    let d = scratch("nonsense");
    refused(
        &d,
        &[
            (&["optimize", "--members", "0"], &["--members 0"]),
            (&["optimize", "--sim", "gray-scott", "--members", "2"], &["--members 2", "viscosity nu", "gray-scott"]),
            (&["optimize", "--sim", "acoustic", "--n", "12"], &["its medium", "rewind fwi"]),
            (
                &["optimize", "--sim", "cavity", "--n", "8", "--config", "stride.toml"],
                &["observations.stride = 12", "points per side"],
            ),
            (&["assimilate", "--threads", "100000"], &["simulation.threads", "100000", "core"]),
            (&["assimilate", "--inner", "0"], &["--inner 0"]),
            (&["assimilate", "--outer", "0"], &["--outer 0"]),
            (&["assimilate", "--posterior", "100000"], &["--posterior 100000", "4096 unknowns"]),
            (&["hessian", "--oversample", "18446744073709551615"], &["--oversample 18446744073709551615", "unknowns"]),
            (&["hessian", "--k", "0"], &["--k 0"]),
        ],
    );
}

#[test]
fn what_cannot_fit_is_refused_before_allocating() {
    let d = scratch("fit");
    refused(&d, &[(&["assimilate", "--n", "100000"], &["100000² grid does not fit", "GiB"])]);
}

#[test]
fn an_unusable_output_directory_is_refused_before_the_work() {
    let d = scratch("out");
    refused(
        &d,
        &[
            // 128² over 600 steps would take seconds: refused at once
            (&["grad", "--out", "afile", "--n", "128", "--steps", "600"], &["output directory afile is a file"]),
            (&["hvp", "--out", "afile/sub"], &["output directory afile/sub", "Not a directory"]),
            (&["run", "--out", "afile"], &["is a file"]),
            (&["hessian", "--out", "afile"], &["is a file"]),
            (&["optimize", "--out", "afile"], &["is a file"]),
            (&["assimilate", "--out", "afile"], &["is a file"]),
            (&["grad", "--sim", "burgers", "--out", "afile"], &["is a file"]),
        ],
    );
}

#[test]
fn runs_that_cannot_fit_are_refused_for_every_command_and_model() {
    let d = scratch("fit-all");
    refused(
        &d,
        &[
            (&["schedule", "--steps", "1000000000", "--kind", "store-all"], &["of actions", "available"]),
            (&["schedule", "--steps", "18446744073709551615"], &["of actions", "available"]),
            (&["spec", "--hvp-ensemble", "1000000000"], &["--hvp-ensemble 1000000000", "available"]),
            (&["spec", "--size", "L", "--steps", "100000000", "--schedule", "store-all"], &["does not fit"]),
            (&["grad", "--sim", "lorenz96", "--steps", "100000000", "--schedule", "store-all"], &["does not fit"]),
            (&["grad", "--steps", "18446744073709551615"], &["does not fit"]),
            (&["hvp", "--sim", "cavity", "--n", "50000"], &["50000² grid does not fit"]),
            (&["grad", "--sim", "acoustic", "--n", "5000"], &["5000³ grid does not fit"]),
            (&["run", "--sim", "burgers", "--n", "100000000000"], &["does not fit"]),
            (&["hessian", "--sim", "shallow-water", "--n", "100000"], &["does not fit"]),
            (&["optimize", "--sim", "gray-scott", "--n", "100000"], &["does not fit"]),
            (&["tradeoff", "--sim", "burgers", "--n", "100000000000"], &["does not fit"]),
        ],
    );
}

#[test]
fn flags_a_model_does_not_take_are_refused_with_the_reason() {
    let d = scratch("foreign");
    refused(
        &d,
        &[
            (&["grad", "--sim", "burgers", "--size", "L"], &["--size is the ns2d spec's", "--n"]),
            (&["run", "--sim", "gray-scott", "--config", "nu.toml"], &["simulation.nu", "only ns2d reads"]),
            (&["grad", "--sim", "burgers", "--memory", "1B"], &["memory budget 1 B is too small"]),
            (&["demo", "--sim", "burgers"], &["ns2d flagship", "--sim burgers"]),
            (&["hvp", "--sim", "lorenz96", "--n", "2"], &["--n 2", "lorenz96 model needs at least 4"]),
            (&["grad", "--sim", "burgers", "--steps", "0"], &["--steps 0", "at least one step"]),
            (
                &[
                    "tradeoff",
                    "--n",
                    "16",
                    "--steps",
                    "40",
                    "--memory",
                    "100KiB",
                    "--schedules",
                    "store-all;binomial:2",
                ],
                &["picks one schedule"],
            ),
            (&["tradeoff", "--schedule", "binomial:3"], &["--schedules"]),
            (&["assimilate", "--sim", "burgers"], &["ns2d flagship"]),
            (&["assimilate", "--size", "M"], &["--size", "--n and --steps"]),
            (&["assimilate", "--config", "nu.toml"], &["simulation.nu", "does not read"]),
        ],
    );
}

#[test]
fn every_common_flag_is_honoured_by_every_model() {
    let d = scratch("honoured");
    for (model, n) in [
        ("ns2d", 16),
        ("burgers", 64),
        ("cavity", 9),
        ("lorenz96", 20),
        ("shallow-water", 16),
        ("gray-scott", 16),
        ("acoustic", 12),
    ] {
        let out = format!("out-{model}");
        let n_text = n.to_string();
        let argv = [
            "grad",
            "--sim",
            model,
            "--n",
            &n_text,
            "--steps",
            "3",
            "--schedule",
            "binomial:2",
            "--threads",
            "1",
            "--out",
            &out,
            "--json",
            "--quiet",
        ];
        let (ok, r, err) = rewind(&d, &argv);
        assert!(ok, "{model}: {err}");
        let nx = r["grid"][0].as_u64().unwrap() as usize;
        // a cavity's state is its interior, n - 2 points per side
        assert!(nx == n || (model == "cavity" && nx == n - 2), "{model}: grid {}", r["grid"]);
        assert_eq!((r["steps"].as_u64(), r["threads"].as_u64()), (Some(3), Some(1)), "{model}: {r}");
        assert_eq!(r["cost"]["schedule"], "binomial:2", "{model}");
        assert_eq!(r["model"], model);
        assert!(d.join(&out).join("grad.h5").exists(), "{model}: --out not honoured");
        // a memory budget chooses the schedule
        let (ok, r, err) =
            rewind(&d, &["hvp", "--sim", model, "--steps", "3", "--memory", "64MiB", "--json", "--no-files"]);
        assert!(ok && err.contains("memory budget 64.0 MiB: schedule"), "{model}: {err}");
        assert_eq!(r["cost"]["schedule"], "store-all", "{model}: 3 steps fit in 64 MiB");
        // run, optimize and hessian take --n and --out too
        let (ok, r, err) =
            rewind(&d, &["run", "--sim", model, "--n", &n_text, "--steps", "2", "--out", &out, "--json"]);
        assert!(ok && r["grid"][0].as_u64().unwrap() as usize + 2 >= n, "{model}: {err}");
        assert!(d.join(&out).join("run.h5").exists(), "{model}");
        if model == "acoustic" {
            continue; // its twin is another medium: optimize refuses it (above)
        }
        let argv = ["optimize", "--sim", model, "--n", &n_text, "--steps", "3", "--method", "lbfgs", "--max-iter", "2"];
        let (ok, _, err) = rewind(&d, &[&argv[..], &["--out", &out, "--json"]].concat());
        assert!(ok, "{model}: {err}");
        assert!(d.join(&out).join("optimize.h5").exists(), "{model}: optimize wrote nothing");
    }
    // assimilate takes the common flags too: --n, --steps, --memory, --out
    let argv =
        ["assimilate", "--n", "16", "--steps", "8", "--memory", "64MiB", "--methods", "lbfgs", "--max-iter", "1"];
    let (ok, r, err) = rewind(&d, &[&argv[..], &["--posterior", "0", "--out", "assim", "--json"]].concat());
    assert!(ok && err.contains("memory budget 64.0 MiB: schedule"), "{err}");
    assert!(r["problem"].as_str().unwrap().contains("16x16"), "{r}");
    assert!(d.join("assim/assimilate.h5").exists());
    // the ns2d spec's preset is ns2d's
    let (ok, r, err) = rewind(&d, &["grad", "--size", "S", "--steps", "2", "--json", "--no-files"]);
    assert!(ok && r["grid"][0] == 32, "{err}");
    // hessian honours the grid, even for ns2d
    let argv = ["hessian", "--n", "16", "--steps", "4", "--k", "2", "--oversample", "2", "--json", "--no-files"];
    let (ok, r, err) = rewind(&d, &argv);
    assert!(ok && r["grid"][0] == 16 && r["steps"] == 4, "{err}");
}

#[test]
fn tradeoff_runs_each_schedule_it_names() {
    let d = scratch("tradeoff");
    let argv = [
        "tradeoff",
        "--n",
        "16",
        "--steps",
        "40",
        "--schedules",
        "store-all;binomial:2;periodic:8",
        "--json",
        "--no-files",
    ];
    let (ok, r, err) = rewind(&d, &argv);
    assert!(ok, "{err}");
    let runs = r["runs"].as_array().unwrap();
    let steps: Vec<u64> = runs.iter().map(|x| x["forward_steps"].as_u64().unwrap()).collect();
    // store-all: 2n - 1; binomial with 2 snapshots and periodic:8 recompute more, differently
    assert_eq!(steps[0], 79, "{r}");
    assert!(steps[1] > steps[2] && steps[2] > steps[0], "{steps:?}");
    assert_eq!(r["gradients_identical"], true);
    // another model is described as itself
    let argv = [
        "tradeoff",
        "--sim",
        "burgers",
        "--steps",
        "20",
        "--schedules",
        "store-all;binomial:3",
        "--json",
        "--no-files",
    ];
    let (ok, r, err) = rewind(&d, &argv);
    assert!(ok, "{err}");
    assert_eq!((r["model"].as_str(), r["grid"][0].as_u64()), (Some("burgers"), Some(128)), "{r}");
    assert!(!r["problem"].as_str().unwrap().contains("ns2d"), "{r}");
}

#[test]
fn what_a_killed_run_leaves_behind_is_swept_by_the_next() {
    let d = scratch("killed");
    let snaps = d.join("snaps");
    std::fs::create_dir_all(&snaps).unwrap();
    std::fs::write(d.join("disk.toml"), format!("[gradient]\nsnapshot_dir = {:?}\n", snaps.display().to_string()))
        .unwrap();
    // a run with a disk level, killed while it works
    let argv = ["grad", "--config", "disk.toml", "--n", "32", "--steps", "800", "--schedule", "multilevel:2,40,1,1"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_rewind"))
        .args(argv)
        .args(["--quiet", "--no-files"])
        .current_dir(&d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let left =
        || -> Vec<String> { entries(&snaps).into_iter().filter(|n| n.starts_with("rewind-snapshots-")).collect() };
    while left().is_empty() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(left().len(), 1, "the killed run's snapshot directory");
    // and a half-written file of a killed writer in the output directory
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let host = if host.is_empty() { "host".to_string() } else { host };
    std::fs::create_dir_all(d.join("out")).unwrap();
    let tmp = d.join("out").join(format!(".grad.h5.tmp-{host}-4294967295-0.h5"));
    std::fs::write(&tmp, b"half a file").unwrap();
    let (ok, _, err) = rewind(&d, &["grad", "--config", "disk.toml", "--n", "16", "--steps", "4", "--out", "out"]);
    assert!(ok, "{err}");
    assert_eq!(left(), Vec::<String>::new(), "swept at the next start");
    assert!(!tmp.exists(), "the dead writer's temporary is swept");
    assert!(d.join("out/grad.h5").exists());
}

#[test]
fn an_interrupted_run_removes_its_snapshots_and_says_so() {
    let d = scratch("interrupted");
    let snaps = d.join("snaps");
    std::fs::create_dir_all(&snaps).unwrap();
    std::fs::write(d.join("disk.toml"), format!("[gradient]\nsnapshot_dir = {:?}\n", snaps.display().to_string()))
        .unwrap();
    let left =
        || -> Vec<String> { entries(&snaps).into_iter().filter(|n| n.starts_with("rewind-snapshots-")).collect() };
    for signal in ["INT", "TERM"] {
        let argv =
            ["grad", "--config", "disk.toml", "--n", "32", "--steps", "800", "--schedule", "multilevel:2,40,1,1"];
        let child = Command::new(env!("CARGO_BIN_EXE_rewind"))
            .args(argv)
            .args(["--quiet", "--no-files"])
            .current_dir(&d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while left().is_empty() && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(left().len(), 1, "SIG{signal}: the run's snapshot directory while it works");
        let sent = Command::new("kill").args([format!("-{signal}"), child.id().to_string()]).status().unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "SIG{signal}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "SIG{signal}: {err}");
        assert!(err.starts_with("rewind: error: interrupted"), "SIG{signal}: {err}");
        assert_eq!(left(), Vec::<String>::new(), "SIG{signal}: the snapshots are removed at once");
    }
}

#[test]
fn every_models_optimisation_resumes_and_is_not_mixed_with_another_models() {
    let d = scratch("resume");
    let argv = ["optimize", "--sim", "burgers", "--steps", "10", "--method", "lbfgs", "--max-iter", "3", "--json"];
    let (ok, first, err) = rewind(&d, &argv);
    assert!(ok, "{err}");
    assert!(d.join("rewind-out/optimize-lbfgs.json").exists(), "the run is saved as it goes");
    // the same command again: the finished run is read back, not redone
    let (ok, again, err) = rewind(&d, &argv);
    assert!(ok && err.contains("resuming from iteration 3"), "{err}");
    assert_eq!(first["runs"][0]["objective"], again["runs"][0]["objective"]);
    // another model's saved run is not taken for this one's
    let other = ["optimize", "--sim", "gray-scott", "--steps", "10", "--method", "lbfgs", "--max-iter", "3"];
    let (ok, _, err) = rewind(&d, &other);
    assert!(!ok && err.contains("another configuration"), "{err}");
    let (ok, _, err) = rewind(&d, &[&other[..], &["--restart"]].concat());
    assert!(ok, "--restart starts it afresh: {err}");
}
