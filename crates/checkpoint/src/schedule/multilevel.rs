//! Two-level checkpointing: a few snapshots in RAM, more on disk, where a
//! write costs `w` and a read `ρ` (in units of one primal step).
//!
//! The run is cut into `k` segments. The first sweep writes the start of
//! every segment but the last to disk; the segments are then reversed from
//! last to first, each by reading its start back and running the binomial
//! schedule with the RAM snapshots. The total cost,
//!
//! ```text
//! (n − L_last) + (k − 1)(w + ρ) + Σⱼ binomial(Lⱼ, s_ram)
//! ```
//!
//! is minimised over `k ≤ disk + 1` (segments as equal as possible, the
//! remainder on the last ones, which the first sweep does not pay for).
//! This is the two-level family of multistage/disk-Revolve schedules in its
//! simplest form: disk snapshots are used only at the outer level, which is
//! where their cost is paid least often.

use crate::Action;
use crate::action::Level;
use crate::schedule::binomial;

/// Segment lengths for `n` steps in `k` segments (longer ones last).
fn segments(n: usize, k: usize) -> impl Iterator<Item = usize> {
    let (q, rem) = (n / k, n % k);
    (0..k).map(move |j| if j >= k - rem { q + 1 } else { q })
}

/// The modelled cost of `k` segments.
pub(crate) fn cost(n: usize, k: usize, ram: usize, write: f64, read: f64) -> f64 {
    let lens: Vec<usize> = segments(n, k).collect();
    let sweep = n - lens[k - 1];
    let steps: u64 = lens.iter().map(|&l| binomial::optimal_forward_steps(l, ram)).sum();
    (sweep as u64 + steps) as f64 + (k - 1) as f64 * (write + read)
}

/// The number of segments that minimises [`cost`].
pub(crate) fn best_segments(n: usize, ram: usize, disk: usize, write: f64, read: f64) -> usize {
    let kmax = (disk + 1).min(n);
    (1..=kmax)
        .map(|k| (k, cost(n, k, ram, write, read)))
        .fold((1, f64::INFINITY), |best, (k, c)| if c < best.1 { (k, c) } else { best })
        .0
}

/// The schedule for `n` steps, `ram ≥ 1` RAM and `disk` disk snapshots.
pub(crate) fn actions(n: usize, ram: usize, disk: usize, write: f64, read: f64) -> Vec<Action> {
    let k = best_segments(n, ram, disk, write, read);
    let mut starts = Vec::with_capacity(k + 1);
    let mut a = 0;
    for l in segments(n, k) {
        starts.push(a);
        a += l;
    }
    starts.push(n);
    let table = binomial::BetaTable::new(n, ram);
    let mut out = Vec::with_capacity(5 * n + 4 * k);
    for j in 0..k - 1 {
        out.push(Action::Store { step: starts[j], level: Level::Disk });
        out.push(Action::Advance { from: starts[j], to: starts[j + 1] });
    }
    for j in (0..k).rev() {
        if j != k - 1 {
            out.push(Action::Restore { step: starts[j], level: Level::Disk });
        }
        out.push(Action::Store { step: starts[j], level: Level::Ram });
        binomial::reverse_segment(&mut out, &table, starts[j], starts[j + 1], ram);
        out.push(Action::Free { step: starts[j], level: Level::Ram });
        if j != k - 1 {
            out.push(Action::Free { step: starts[j], level: Level::Disk });
        }
    }
    out
}
