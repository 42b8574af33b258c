//! Schedule fuzzing: a million random plans (steps, snapshots, levels,
//! disk costs) through the symbolic checker. Each generated schedule must
//! reverse every step once, in order, from the right state, within its
//! budget; binomial ones must attain the closed-form optimum; and a
//! schedule with one reversal removed must be refused.

use rewind_checkpoint::{Action, Strategy, check, check_actions, optimal_forward_steps};

/// SplitMix64: a small, fast, reproducible generator (no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

fn random_plan(rng: &mut Rng) -> (Strategy, usize) {
    // mostly short runs, now and then a long one
    let n = if rng.next() % 200 == 0 { rng.range(1, 3000) } else { rng.range(1, 48) };
    let s = rng.range(1, n + 3);
    let strategy = match rng.next() % 5 {
        0 => Strategy::StoreAll,
        1 => Strategy::Periodic { every: rng.range(1, n + 2) },
        2 => Strategy::Binomial { snapshots: s },
        3 => Strategy::Online { snapshots: s },
        _ => Strategy::MultiLevel {
            ram: s,
            disk: rng.range(0, 12),
            write_cost: rng.range(0, 40) as f64 / 4.0,
            read_cost: rng.range(0, 40) as f64 / 4.0,
        },
    };
    (strategy, n)
}

#[test]
fn a_million_random_schedules_pass_the_symbolic_checker() {
    const CASES: usize = 1_000_000;
    let mut rng = Rng(0x005e_ed0f_2026);
    let (mut actions, mut refused) = (0usize, 0usize);
    for case in 0..CASES {
        let (strategy, n) = random_plan(&mut rng);
        let schedule = strategy.schedule(n).unwrap_or_else(|e| panic!("case {case}: {strategy}, n = {n}: {e}"));
        let counts =
            check(&schedule, strategy.budget(n)).unwrap_or_else(|e| panic!("case {case}: {strategy}, n = {n}: {e}"));
        assert_eq!(counts.steps, n);
        if let Strategy::Binomial { snapshots } = strategy {
            assert_eq!(counts.forward_steps, optimal_forward_steps(n, snapshots), "{strategy}, n = {n}");
        }
        actions += counts.actions;
        if case % 16 == 0 {
            // without one of its reversals no schedule is valid
            let reversals: Vec<usize> = (0..schedule.actions.len())
                .filter(|&i| matches!(schedule.actions[i], Action::Reverse { .. }))
                .collect();
            let drop = reversals[rng.range(0, reversals.len() - 1)];
            let mutated = schedule.actions.iter().enumerate().filter(|&(i, _)| i != drop).map(|(_, &a)| a);
            assert!(
                check_actions(n, mutated, strategy.budget(n)).is_err(),
                "{strategy}, n = {n}, without action {drop}"
            );
            refused += 1;
        }
    }
    assert!(actions > 10 * CASES, "{actions} actions checked");
    assert_eq!(refused, CASES.div_ceil(16));
}
