//! Every subcommand's `--json` output is one JSON object whose keys all
//! come from the documented vocabulary, `docs/json.md`.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

mod common;
use common::Scratch;

/// The keys `docs/json.md` lists (first column of its table; a cell may
/// list several, comma-separated).
fn documented() -> BTreeSet<String> {
    let doc = include_str!("../../../docs/json.md");
    let mut keys = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap_or("");
        for k in cell.split(',') {
            keys.insert(k.trim().trim_matches('`').to_string());
        }
    }
    keys
}

/// Under these keys the keys are a model's own names (parameters, fields).
const NAMED_BY_THE_MODEL: [&str; 4] = ["grad_params", "hvp_params", "state", "mean_posterior_std"];

fn keys(v: &Value, parent: Option<&str>, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            let named = parent.is_some_and(|p| NAMED_BY_THE_MODEL.contains(&p));
            for (k, x) in m {
                if !named {
                    out.insert(k.clone());
                }
                keys(x, if named { None } else { Some(k.as_str()) }, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys(x, parent, out)),
        _ => {}
    }
}

#[test]
fn every_subcommand_prints_one_object_in_the_documented_vocabulary() {
    let d = Scratch::new("rewind-json");
    let small = ["--n", "16", "--steps", "8", "--no-files", "--json"];
    let with =
        |cmd: &[&'static str]| -> Vec<String> { cmd.iter().chain(small.iter()).map(|s| s.to_string()).collect() };
    let runs: Vec<Vec<String>> = vec![
        with(&["grad", "--check"]),
        with(&["hvp", "--check"]),
        with(&["grad", "--sim", "shallow-water"]),
        with(&["run"]),
        with(&["hvp", "--decompose"]),
        with(&["optimize", "--max-iter", "2"]),
        with(&["optimize", "--sim", "burgers", "--method", "lbfgs", "--max-iter", "2"]),
        with(&["hessian", "--k", "2", "--oversample", "2"]),
        with(&["tradeoff", "--schedules", "store-all;binomial:2"]),
        with(&["assimilate", "--posterior", "2", "--max-iter", "2", "--outer", "1"]),
        with(&["demo", "--max-iter", "2"]).into_iter().filter(|a| a != "--max-iter" && a != "2").collect(),
        ["schedule", "--steps", "20", "--json", "--no-plot"].map(String::from).to_vec(),
        ["schedule", "--table", "--json", "--no-plot"].map(String::from).to_vec(),
        ["sims", "--json"].map(String::from).to_vec(),
        ["spec", "--gauss-newton", "2"].map(String::from).to_vec(),
        ["spec", "--hvp-ensemble", "2"].map(String::from).to_vec(),
        ["spec", "shallow-water", "--n", "16", "--steps", "5"].map(String::from).to_vec(),
        ["fwi", "--n", "35", "--steps", "60", "--shots", "1", "--radius", "0.06", "--iterations", "1", "--cg", "1"]
            .into_iter()
            .chain(["--no-files", "--json"])
            .map(String::from)
            .collect(),
    ];
    let allowed = documented();
    let mut seen = BTreeSet::new();
    for argv in runs {
        let out = Command::new(env!("CARGO_BIN_EXE_rewind")).args(&argv).current_dir(&d).output().expect("run rewind");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{argv:?}: {err}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{argv:?}: not one JSON object ({e}): {}", String::from_utf8_lossy(&out.stdout))
        });
        assert!(v.is_object(), "{argv:?}: not an object");
        let mut found = BTreeSet::new();
        keys(&v, None, &mut found);
        let unknown: Vec<&String> = found.iter().filter(|k| !allowed.contains(*k)).collect();
        assert!(unknown.is_empty(), "{argv:?}: keys not in docs/json.md: {unknown:?}");
        seen.extend(found);
    }
    // and the document lists nothing that no command says
    let unused: Vec<&String> = allowed.iter().filter(|k| !seen.contains(*k)).collect();
    assert!(unused.is_empty(), "docs/json.md lists keys no command printed: {unused:?}");
}
