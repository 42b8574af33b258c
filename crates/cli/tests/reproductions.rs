//! The reproductions of what users tripped over on the command line, as a
//! table: each is refused in one line starting `rewind: error:`, with exit
//! status 1, no panic and no abort, before any work (well under the time
//! the work would take), and leaves nothing behind in the directory it ran
//! in.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A fresh scratch directory holding one plain file, `afile`.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rewind-repro-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("afile"), b"not a directory").unwrap();
    d
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
            (&["assimilate", "--threads", "100000"], &["--threads 100000", "core"]),
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
