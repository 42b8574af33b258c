//! Binomial checkpointing (Griewank & Walther's Revolve).
//!
//! With `s` snapshots (the one holding `x₀` included) and `r` recomputation
//! sweeps, at most `β(s, r) = C(s + r, s)` steps can be reversed. For `n`
//! steps let `r` be the smallest integer with `β(s, r) ≥ n`; then the least
//! possible number of single-step primal evaluations — first sweep, all
//! recomputation, and the recorded re-run of each step before it is
//! reversed — is
//!
//! ```text
//! n + r·n − C(s + r, s + 1)
//! ```
//!
//! ([`optimal_forward_steps`]). The schedule is built recursively: holding
//! `x_a` in a snapshot, advance to the split point `a + m`, store it,
//! reverse `[a + m, b)` with one snapshot fewer, free it, restore `x_a` and
//! reverse `[a, a + m)`. The split `m` is Revolve's (Algorithm 799, the
//! `bino1..bino5` rule); the tests prove every split optimal against the
//! closed form for all `n ≤ 10 000`, `s ≤ 64`.

use crate::Action;
use crate::action::Level;

/// `C(a, b)`, saturating at `u128::MAX`.
pub fn binomial(a: u64, b: u64) -> u128 {
    if b > a {
        return 0;
    }
    let b = b.min(a - b);
    let mut c: u128 = 1;
    for i in 0..b {
        // c · (a − i) / (i + 1) is exact: c = C(a, i) at this point.
        c = match c.checked_mul(u128::from(a - i)) {
            Some(p) => p / u128::from(i + 1),
            None => return u128::MAX,
        };
    }
    c
}

/// `β(s, r) = C(s + r, s)`: the most steps `s` snapshots can reverse with
/// `r` recomputation sweeps.
pub fn beta(s: usize, r: usize) -> u128 {
    binomial((s + r) as u64, s as u64)
}

/// The repetition number: the smallest `r` with `β(s, r) ≥ n` (`s ≥ 1`).
pub fn repetitions(n: usize, s: usize) -> usize {
    debug_assert!(s >= 1);
    let (mut r, mut range) = (0usize, 1u128);
    while range < n as u128 {
        r += 1;
        range = range * (r + s) as u128 / r as u128;
    }
    r
}

/// The least number of single-step primal evaluations that reverses `n`
/// steps with `s ≥ 1` snapshots (closed form; counting as described in the
/// module docs, so it is `2n − 1` when `s ≥ n − 1`).
pub fn optimal_forward_steps(n: usize, s: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    let r = repetitions(n, s);
    let c = binomial((s + r) as u64, (s + 1) as u64);
    (n as u128 + r as u128 * n as u128 - c) as u64
}

/// Revolve's choice of the next snapshot position: `m` steps past the
/// stored state, for `l ≥ 2` steps and `s ≥ 2` snapshots.
pub(crate) fn split(l: usize, s: usize) -> usize {
    let ds = s as u128;
    let (mut reps, mut range) = (0u128, 1u128);
    while range < l as u128 {
        reps += 1;
        range = range * (reps + ds) / reps;
    }
    let bino1 = range * reps / (ds + reps); // β(s, r − 1)
    let bino2 = if ds > 1 { bino1 * ds / (ds + reps - 1) } else { 1 }; // β(s − 1, r − 1)
    let bino3 = match ds {
        1 => 0,
        2 => 1,
        _ => bino2 * (ds - 1) / (ds + reps - 2), // β(s − 2, r − 1)
    };
    let bino4 = bino2 * (reps - 1) / ds; // β(s, r − 2)
    let bino5 = match ds {
        0..=2 => 0,
        3 => 1,
        _ => bino3 * (ds - 2) / reps, // β(s − 3, r)
    };
    let l128 = l as u128;
    let m = if l128 <= bino1 + bino3 {
        bino4
    } else if l128 >= range - bino5 {
        bino1
    } else {
        l128 - bino2 - bino3
    };
    (m as usize).clamp(1, l - 1)
}

/// Appends the actions that reverse steps `a..b` given that `x_a` is the
/// current state and is stored in RAM, using at most `s ≥ 1` RAM snapshots
/// in all (that one included). Leaves `x_a` stored.
pub(crate) fn reverse_segment(out: &mut Vec<Action>, a: usize, b: usize, s: usize) {
    let mut b = b;
    // Iterate on the left part (same `s`) instead of recursing on it, so
    // the recursion depth is bounded by `s`.
    loop {
        let l = b - a;
        if l == 1 {
            out.push(Action::Reverse { step: a });
            return;
        }
        if s == 1 {
            for i in (a..b).rev() {
                if i != b - 1 {
                    out.push(Action::Restore { step: a, level: Level::Ram });
                }
                if i > a {
                    out.push(Action::Advance { from: a, to: i });
                }
                out.push(Action::Reverse { step: i });
            }
            return;
        }
        let m = a + split(l, s);
        out.push(Action::Advance { from: a, to: m });
        out.push(Action::Store { step: m, level: Level::Ram });
        reverse_segment(out, m, b, s - 1);
        out.push(Action::Free { step: m, level: Level::Ram });
        out.push(Action::Restore { step: a, level: Level::Ram });
        b = m;
    }
}

/// The complete binomial schedule for `n ≥ 1` steps and `s ≥ 1` snapshots.
pub(crate) fn actions(n: usize, s: usize) -> Vec<Action> {
    let mut out = Vec::with_capacity(3 * n + 2);
    out.push(Action::Store { step: 0, level: Level::Ram });
    reverse_segment(&mut out, 0, n, s);
    out.push(Action::Free { step: 0, level: Level::Ram });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal unrecorded advances F(l, s) by brute-force dynamic
    /// programming over every split: F(1, s) = 0, F(l, 1) = l(l−1)/2,
    /// F(l, s) = min_m m + F(l − m, s − 1) + F(m, s).
    fn brute_force(nmax: usize, smax: usize) -> Vec<Vec<u64>> {
        let mut f = vec![vec![0u64; smax + 1]; nmax + 1];
        for s in 1..=smax {
            for l in 2..=nmax {
                f[l][s] = if s == 1 {
                    (l * (l - 1) / 2) as u64
                } else {
                    (1..l).map(|m| m as u64 + f[l - m][s - 1] + f[m][s]).min().unwrap()
                };
            }
        }
        f
    }

    #[test]
    fn closed_form_equals_brute_force() {
        let f = brute_force(120, 7);
        for s in 1..=7 {
            for n in 1..=120 {
                assert_eq!(optimal_forward_steps(n, s), n as u64 + f[n][s], "n = {n}, s = {s}");
            }
        }
    }

    #[test]
    fn every_split_is_optimal_up_to_10000_steps_and_64_snapshots() {
        // F(l, s) from the closed form; the schedule's count is optimal by
        // induction if each split attains the minimum of the recursion.
        let f = |l: usize, s: usize| optimal_forward_steps(l, s) - l as u64;
        for s in 2..=64 {
            for l in 2..=10_000 {
                let m = split(l, s);
                assert!((1..l).contains(&m), "split out of range: l = {l}, s = {s}, m = {m}");
                assert_eq!(
                    m as u64 + f(l - m, s - 1) + f(m, s),
                    f(l, s),
                    "suboptimal split: l = {l}, s = {s}, m = {m}"
                );
            }
        }
    }

    #[test]
    fn closed_form_special_cases() {
        for n in 1..50 {
            assert_eq!(optimal_forward_steps(n, n.saturating_sub(1).max(1)), if n == 1 { 1 } else { 2 * n as u64 - 1 });
            assert_eq!(optimal_forward_steps(n, 1), (n + n * (n - 1) / 2) as u64);
        }
        assert_eq!(beta(3, 2), 10);
        assert_eq!(repetitions(10, 3), 2);
        assert_eq!(repetitions(11, 3), 3);
    }
}
