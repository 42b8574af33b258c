//! Periodic checkpointing: keep every `k`-th state on the first sweep, then
//! reverse each segment of `k` steps by storing all of its states — the
//! `√n` scheme of common deep-learning tools (`k ≈ √n` gives about `2√n`
//! snapshots and about `3n` step evaluations). Store-all is the case
//! `k ≥ n`: no recomputation, `2n − 1` evaluations, `n − 1` snapshots.

use crate::Action;
use crate::action::Level;

/// The periodic schedule for `n ≥ 1` steps with period `k ≥ 1`.
pub(crate) fn actions(n: usize, k: usize) -> Vec<Action> {
    let mut out = Vec::with_capacity(4 * n + 2);
    let bounds: Vec<usize> = (0..n).step_by(k).collect();
    out.push(Action::Store { step: 0, level: Level::Ram });
    for w in bounds.windows(2) {
        out.push(Action::Advance { from: w[0], to: w[1] });
        out.push(Action::Store { step: w[1], level: Level::Ram });
    }
    let last = bounds.len() - 1;
    for (j, &b) in bounds.iter().enumerate().rev() {
        let e = if j == last { n } else { bounds[j + 1] };
        if j != last {
            out.push(Action::Restore { step: b, level: Level::Ram });
        }
        // store x_{b+1} .. x_{e−2}; x_{e−1} is current when it is reversed
        for t in b + 1..e {
            out.push(Action::Advance { from: t - 1, to: t });
            if t + 1 < e {
                out.push(Action::Store { step: t, level: Level::Ram });
            }
        }
        for t in (b..e).rev() {
            if t + 1 < e {
                out.push(Action::Restore { step: t, level: Level::Ram });
            }
            out.push(Action::Reverse { step: t });
            if t + 1 < e || t == b {
                out.push(Action::Free { step: t, level: Level::Ram });
            }
        }
    }
    out
}
