//! The ensemble on real MPI ranks: `mpi_check` (src/bin) under `mpirun -n
//! 1…4`, oversubscribed. Built and run only with the feature `mpi`
//! (`scripts/mpi_tests.sh`, called by CI).

#![cfg(feature = "mpi")]

use std::time::Duration;

#[path = "support/mpirun.rs"]
mod support;

/// `mpirun -n ranks mpi_check args…`: (exit success, stdout, stderr).
fn mpirun(ranks: usize, args: &[&str], limit: Duration) -> (bool, String, String) {
    let o = support::mpirun(
        ranks,
        env!("CARGO_BIN_EXE_mpi_check"),
        |c| {
            c.args(args);
        },
        limit,
    );
    (o.ok, o.stdout, o.stderr)
}

const LIMIT: Duration = Duration::from_secs(120);

/// The bits rank 0 printed (the line's last hexadecimal word after "bits").
fn bits_of(line: &str) -> String {
    line.split("bits ").nth(1).and_then(|s| s.split([' ', ',', '\n']).next()).unwrap_or("").to_string()
}

#[test]
fn sums_and_a_replicated_lbfgs_are_bit_identical_on_one_to_four_ranks() {
    for mode in ["sum", "lbfgs"] {
        let mut seen = Vec::new();
        for ranks in 1..=4 {
            let (ok, out, err) = mpirun(ranks, &[mode, "11"], LIMIT);
            assert!(ok, "{mode} on {ranks} ranks failed: {err}");
            assert!(out.contains(&format!("on {ranks} rank(s)")), "{out}");
            seen.push(bits_of(&out));
        }
        assert!(seen[0].len() == 16 && seen.iter().all(|b| *b == seen[0]), "{mode}: bits by rank count {seen:?}");
    }
}

#[test]
fn a_failing_member_stops_every_rank_with_one_message_and_nothing_hangs() {
    for (mode, member) in [("fail", 5usize), ("panic", 2)] {
        for ranks in [2usize, 3] {
            // the check passes on a rank only if the ensemble returned the
            // error naming the member and its rank there
            let (ok, out, err) = mpirun(ranks, &[mode, &member.to_string()], LIMIT);
            assert!(ok, "{mode} {member} on {ranks} ranks: {err}");
            let want = format!("ensemble member {member} (on rank {} of {ranks}) failed", member % ranks);
            assert!(out.contains(&want), "{out}");
        }
    }
    let (ok, out, err) = mpirun(3, &["everywhere", "2"], LIMIT);
    assert!(ok, "{err}");
    assert!(out.contains("rank 2 of 3 failed: cannot read snapshot 3"), "{out}");
}
