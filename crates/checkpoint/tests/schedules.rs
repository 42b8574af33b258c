//! Every schedule is verified by the symbolic checker and its forward-step
//! count compared with the closed-form optimum.

use proptest::prelude::*;
use rewind_checkpoint::schedule::binomial::beta;
use rewind_checkpoint::{Action, Level, Plan, ScheduleError, Strategy, check, check_actions, optimal_forward_steps};

fn counts(strategy: Strategy, n: usize) -> rewind_checkpoint::Counts {
    let s = strategy.schedule(n).unwrap();
    check(&s, strategy.budget(n)).unwrap_or_else(|e| panic!("{strategy} n = {n}: {e}"))
}

#[test]
fn binomial_attains_the_optimum_for_every_small_case() {
    for s in 1..=12 {
        for n in 1..=400 {
            let c = counts(Strategy::Binomial { snapshots: s }, n);
            assert_eq!(c.forward_steps, optimal_forward_steps(n, s), "n = {n}, s = {s}");
            assert!(c.peak_snapshots[0] <= s);
        }
    }
}

#[test]
fn binomial_attains_the_optimum_for_large_cases() {
    for &(n, s) in &[(10_000, 4), (10_000, 10), (9_973, 32), (100_000, 10), (100_000, 100), (5_000, 64), (20_000, 2)] {
        let c = counts(Strategy::Binomial { snapshots: s }, n);
        assert_eq!(c.forward_steps, optimal_forward_steps(n, s), "n = {n}, s = {s}");
    }
}

#[test]
fn store_all_and_periodic_counts() {
    for n in 1..200 {
        let c = counts(Strategy::StoreAll, n);
        assert_eq!(c.forward_steps, 2 * n as u64 - 1);
        assert_eq!(c.recomputed_steps, 0);
        assert_eq!(c.peak_snapshots[0], (n - 1).max(1));
        for k in [1, 2, 3, 7, 10, 16] {
            let c = counts(Strategy::Periodic { every: k }, n);
            // first sweep to the last boundary, store-all inside each segment
            let nseg = n.div_ceil(k);
            let last_start = (nseg - 1) * k;
            assert_eq!(c.forward_steps, (last_start + (n - nseg) + n) as u64, "n = {n}, k = {k}");
        }
    }
}

#[test]
fn online_never_beats_the_offline_optimum_and_respects_its_budget() {
    for s in 1..=10 {
        for n in 1..=300 {
            let c = counts(Strategy::Online { snapshots: s }, n);
            // the online first sweep also computes step n − 1 without
            // recording, one more than an offline schedule needs
            assert!(c.forward_steps > optimal_forward_steps(n, s), "n = {n}, s = {s}");
            assert!(c.peak_snapshots[0] <= s);
        }
    }
    // with room for every state it is store-all plus the one extra step
    let c = counts(Strategy::Online { snapshots: 100 }, 50);
    assert_eq!(c.forward_steps, 2 * 50);
}

#[test]
fn online_is_within_26_percent_of_the_offline_optimum() {
    // the documented comparison (module docs of `schedule::online`)
    let mut worst = (0.0, 0, 0);
    for n in [100, 300, 1_000, 3_000, 10_000, 30_000, 100_000] {
        for s in [4, 6, 10, 20, 32, 64, 100] {
            let c = counts(Strategy::Online { snapshots: s }, n);
            let ratio = c.forward_steps as f64 / optimal_forward_steps(n, s) as f64;
            if ratio > worst.0 {
                worst = (ratio, n, s);
            }
        }
    }
    assert!(worst.0 < 1.26, "worst ratio {:.3} at n = {}, s = {}", worst.0, worst.1, worst.2);
}

#[test]
fn multilevel_uses_disk_when_it_pays_and_never_costs_more_than_ram_alone() {
    for &(n, ram, disk) in &[(1_000, 2, 10), (5_000, 4, 50), (300, 3, 0), (100, 1, 200)] {
        for &(w, r) in &[(0.0, 0.0), (5.0, 5.0), (100.0, 100.0), (1e6, 1e6)] {
            let st = Strategy::MultiLevel { ram, disk, write_cost: w, read_cost: r };
            let c = counts(st, n);
            assert!(c.peak_snapshots[0] <= ram && c.peak_snapshots[1] <= disk);
            let ram_only = optimal_forward_steps(n, ram) as f64;
            assert!(c.cost(w, r) <= ram_only + 1e-9, "{st}: {} > {ram_only}", c.cost(w, r));
            if w + r >= 1e6 {
                assert_eq!(c.writes[1], 0, "{st}: disk too expensive to use");
            }
        }
    }
    // cheap disk with little RAM: far fewer forward steps than RAM alone
    let c = counts(Strategy::MultiLevel { ram: 2, disk: 50, write_cost: 1.0, read_cost: 1.0 }, 5_000);
    assert!(c.writes[1] > 0 && (c.forward_steps as f64) < 0.2 * optimal_forward_steps(5_000, 2) as f64);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_plans_pass_the_checker(n in 1usize..3_000, s in 1usize..40, disk in 0usize..60, w in 0.0f64..50.0, r in 0.0f64..50.0) {
        for st in [
            Strategy::Binomial { snapshots: s },
            Strategy::Online { snapshots: s },
            Strategy::Periodic { every: s },
            Strategy::MultiLevel { ram: s, disk, write_cost: w, read_cost: r },
        ] {
            let sched = st.schedule(n).unwrap();
            let c = check(&sched, st.budget(n)).map_err(|e| TestCaseError::fail(format!("{st} n = {n}: {e}")))?;
            prop_assert!(c.forward_steps >= optimal_forward_steps(n, st.budget(n)[0] + st.budget(n)[1]).min(2 * n as u64 - 1));
        }
        let c = check(&Strategy::Binomial { snapshots: s }.schedule(n).unwrap(), [s, 0]).unwrap();
        prop_assert_eq!(c.forward_steps, optimal_forward_steps(n, s));
    }
}

#[test]
fn the_checker_rejects_broken_schedules() {
    let good = Strategy::Binomial { snapshots: 3 }.schedule(20).unwrap();
    assert!(check(&good, [3, 0]).is_ok());
    // too small a budget
    assert!(check(&good, [2, 0]).unwrap_err().why.contains("exceed"));
    // drop one reverse: a step is never reversed
    let reverse_at = good.actions.iter().position(|a| matches!(a, Action::Reverse { .. })).unwrap();
    let mut a = good.actions.clone();
    a.remove(reverse_at);
    assert!(check_actions(20, a, [3, 0]).is_err());
    // a restore of a state never stored
    let mut a = good.actions.clone();
    a.insert(1, Action::Restore { step: 7, level: Level::Ram });
    assert!(check_actions(20, a, [3, 0]).unwrap_err().why.contains("not stored"));
    // reverse from the wrong state: remove the advance before the first reverse
    let mut a = good.actions.clone();
    let adv = a.iter().position(|x| matches!(x, Action::Advance { .. })).unwrap();
    a.remove(adv);
    assert!(check_actions(20, a, [3, 0]).is_err());
    // leaking a snapshot
    let mut a = good.actions.clone();
    a.pop();
    assert!(check_actions(20, a, [3, 0]).unwrap_err().why.contains("still stored"));
}

#[test]
fn bad_plans_are_typed_errors() {
    assert_eq!(Strategy::StoreAll.schedule(0).unwrap_err(), ScheduleError::NoSteps);
    assert!(matches!(Strategy::Binomial { snapshots: 0 }.schedule(10), Err(ScheduleError::ZeroBudget { .. })));
    assert!(matches!(Strategy::Periodic { every: 0 }.schedule(10), Err(ScheduleError::ZeroBudget { .. })));
    assert!(matches!(Strategy::Online { snapshots: 0 }.schedule(10), Err(ScheduleError::ZeroBudget { .. })));
    let bad_cost = Strategy::MultiLevel { ram: 2, disk: 2, write_cost: f64::NAN, read_cost: 1.0 };
    assert!(matches!(bad_cost.schedule(10), Err(ScheduleError::BadCost { .. })));
    assert!(matches!(
        Plan { steps: 5, strategy: Strategy::MultiLevel { ram: 0, disk: 2, write_cost: 1.0, read_cost: 1.0 } }
            .schedule(),
        Err(ScheduleError::ZeroBudget { .. })
    ));
}

#[test]
fn strategies_parse_and_print() {
    for text in ["store-all", "periodic:10", "binomial:32", "online:8", "multilevel:4,20,5,7"] {
        let s: Strategy = text.parse().unwrap();
        assert_eq!(s.to_string(), text);
    }
    assert_eq!(
        "multilevel:4,20".parse::<Strategy>().unwrap(),
        Strategy::MultiLevel { ram: 4, disk: 20, write_cost: 10.0, read_cost: 10.0 }
    );
    for bad in ["", "binomial", "binomial:x", "periodic:-1", "magic:3", "store-all:2", "multilevel:1"] {
        assert!(bad.parse::<Strategy>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn beta_counts_reversible_steps() {
    // with s snapshots and r sweeps exactly β(s, r) steps reach repetition r
    assert_eq!(beta(2, 3), 10);
    assert_eq!(optimal_forward_steps(10, 2), 10 + 3 * 10 - 10); // r = 3, C(5, 3) = 10
}
