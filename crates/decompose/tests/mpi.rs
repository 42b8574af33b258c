//! Decomposed runs on real MPI ranks: `decompose_check` (src/bin) under
//! `mpirun -n 1…4`, oversubscribed. Built and run only with the feature
//! `mpi` (`scripts/mpi_tests.sh`, called by CI).

#![cfg(feature = "mpi")]

use std::time::Duration;

#[path = "../../ensemble/tests/support/mpirun.rs"]
mod support;

/// `mpirun -n ranks decompose_check args…`: (exit success, stdout,
/// stderr, seconds); a run that outlives `limit` fails the test (a hang).
fn mpirun(ranks: usize, args: &[&str], limit: Duration) -> (bool, String, String, f64) {
    let o = support::mpirun(
        ranks,
        env!("CARGO_BIN_EXE_decompose_check"),
        |c| {
            c.args(args);
        },
        limit,
    );
    (o.ok, o.stdout, o.stderr, o.secs)
}

#[test]
fn shallow_water_split_over_one_to_four_ranks_gives_one_process_s_bits() {
    // 34 planes: slabs of 34, 17, 11–12 and 8–9 (the halo is 8)
    for ranks in 1..=4 {
        let (ok, out, err, _) = mpirun(ranks, &["same", "34", "5"], Duration::from_secs(300));
        assert!(ok, "{ranks} ranks: {out}{err}");
        assert!(out.contains(&format!("same bits on {ranks} ranks")), "{out}{err}");
    }
}

#[test]
fn ns2d_with_its_poisson_solve_across_one_to_four_ranks_gives_one_process_s_bits() {
    // 32 planes: slabs of 32, 16, 10–11 and 8 (the halo is 8); each RK4
    // stage's Poisson solve transposes across the ranks (MPI all-to-all)
    for ranks in 1..=4 {
        let (ok, out, err, _) = mpirun(ranks, &["same", "32", "4", "ns2d"], Duration::from_secs(300));
        assert!(ok, "{ranks} ranks: {out}{err}");
        assert!(out.contains(&format!("same bits on {ranks} ranks (ns2d)")), "{out}{err}");
    }
}

#[test]
fn the_acoustic_model_between_walls_on_one_to_four_ranks_gives_one_process_s_bits() {
    // 34³, 8th order: the halo is 8 but beyond the walls at x's ends; the
    // sponge and the source laid out on the whole grid, taken by each box
    for ranks in 1..=4 {
        let (ok, out, err, _) = mpirun(ranks, &["same", "34", "4", "acoustic"], Duration::from_secs(300));
        assert!(ok, "{ranks} ranks: {out}{err}");
        assert!(out.contains(&format!("same bits on {ranks} ranks (acoustic)")), "{out}{err}");
    }
}

#[test]
fn a_failure_on_one_rank_stops_every_rank_with_one_message() {
    let (ok, out, err, secs) = mpirun(4, &["fault", "64", "2"], Duration::from_secs(120));
    assert!(!ok, "{out}{err}");
    // every rank reports the same failure, naming rank 2 and the step
    // (the ranks' lines may interleave on stderr)
    assert_eq!(err.matches("rank 2 of 4 failed at step 0: step 0: CFL number").count(), 4, "{err}");
    // the bound: every rank stopped within 10 s (mpirun's start included)
    assert!(secs < 10.0, "took {secs} s");
}

#[test]
fn a_check_failing_on_one_rank_between_two_solves_stops_every_rank_with_one_message() {
    // rank 1 stops in the middle of its step; the others are in their
    // second Poisson solve's exchanges, which it makes with zeros
    let (ok, out, err, secs) = mpirun(3, &["between", "30", "1"], Duration::from_secs(120));
    assert!(!ok, "{out}{err}");
    assert_eq!(err.matches("rank 1 of 3 failed at step 0: step 0: |w|").count(), 3, "{err}");
    assert!(secs < 10.0, "took {secs} s");
}

#[test]
fn a_check_failing_on_one_rank_in_the_probe_stops_every_rank_with_one_message() {
    // the same in the first step, recorded by Decomposed::new: without the
    // agreement before each of its exchanges the MPI run hangs
    let (ok, out, err, secs) = mpirun(3, &["between", "30", "1", "probe"], Duration::from_secs(120));
    assert!(!ok, "{out}{err}");
    assert_eq!(err.matches("rank 1 of 3 failed at step 0: step 0: |w|").count(), 3, "{err}");
    assert!(secs < 10.0, "took {secs} s");
}

#[test]
fn a_nan_in_one_rank_s_initial_slab_stops_every_rank_with_one_message() {
    // the driver's check of the initial state, made on each rank: agreed
    let (ok, out, err, secs) = mpirun(3, &["nan", "48", "1"], Duration::from_secs(120));
    assert!(!ok, "{out}{err}");
    assert_eq!(
        err.matches("rank 1 of 3 failed at step 0: the initial state (or its tangent) is not finite").count(),
        3,
        "{err}"
    );
    assert!(secs < 10.0, "took {secs} s");
}
