//! Reusing a run's first forward sweep at a fixed point.
//!
//! Every checkpointed reverse sweep begins with a forward sweep from `x₀`
//! that places the first snapshots: the schedule's actions up to its first
//! `Reverse`. Products at a fixed linearisation point — the Gauss–Newton
//! products of a CG solve, the block of an eigensolver — run the same
//! primal trajectory every time with different adjoint seeds. A run made
//! with [`run_keeping`] keeps copies of the snapshots that this first sweep
//! leaves behind and the state it ends in (a [`Kept`]); [`replay`] then
//! starts the same schedule at its first reverse step, with any objective.
//! The result is bit-for-bit that of a full run (the same steps from the
//! same states), and [`Counters::reused_steps`] says how many primal steps
//! were not run.
//!
//! Memory: the copies are at most the strategy's snapshot budget per level
//! (those of the disk level in a disk store of their own), reported as
//! [`Counters::kept_bytes`] and included in the peak snapshot bytes — so a
//! reused run holds at most twice the snapshots of a plain one.

use std::path::{Path, PathBuf};

use rewind_tape::Real;

use crate::check::check_actions;
use crate::driver::Exec;
use crate::{
    Action, Counters, DiskScalar, DiskStore, DriverError, Level, Objective, Outcome, RamStore, Schedule, SnapshotStore,
    Stepper, Strategy,
};

/// The first forward sweep of a run from `x₀`, kept for [`replay`].
pub struct Kept<T> {
    strategy: Strategy,
    schedule: Schedule,
    /// Index of the schedule's first `Reverse` action.
    split: usize,
    x0: Vec<T>,
    /// The state the first sweep ends in.
    cur: Vec<T>,
    /// The snapshots live at the split, in the order they were stored.
    live: Vec<(Level, usize)>,
    stores: [Box<dyn SnapshotStore<T> + Send>; 2],
    /// Primal steps of the first sweep.
    saved: u64,
    disk_dir: PathBuf,
}

impl<T> std::fmt::Debug for Kept<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("strategy", &self.strategy)
            .field("steps", &self.schedule.steps())
            .field("snapshots", &self.live.len())
            .field("saved", &self.saved)
            .finish_non_exhaustive()
    }
}

impl<T> Kept<T> {
    /// The strategy of the kept run.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }
    /// Its number of steps.
    pub fn steps(&self) -> usize {
        self.schedule.steps()
    }
    /// The initial state it started from.
    pub fn x0(&self) -> &[T] {
        &self.x0
    }
    /// Primal steps a replay does not run.
    pub fn saved_steps(&self) -> u64 {
        self.saved
    }
    /// Bytes held by the kept copies.
    pub fn bytes(&self) -> usize {
        self.stores[0].bytes() + self.stores[1].bytes()
    }
}

/// The snapshots left live by `prefix`.
fn live_after(prefix: &[Action]) -> Vec<(Level, usize)> {
    let mut live = Vec::new();
    for a in prefix {
        match *a {
            Action::Store { step, level } => {
                live.retain(|&(l, s)| (l, s) != (level, step));
                live.push((level, step));
            }
            Action::Free { step, level } => live.retain(|&(l, s)| (l, s) != (level, step)),
            _ => {}
        }
    }
    live
}

/// A store for the disk level: a checksummed disk store under `dir` if
/// the level is used, else an (unused) RAM store.
fn disk_store<T: DiskScalar + Copy + Send + 'static>(
    used: bool,
    dir: &Path,
) -> Result<Box<dyn SnapshotStore<T> + Send>, DriverError> {
    if used {
        Ok(Box::new(DiskStore::new(dir).map_err(|source| DriverError::Store { step: 0, source })?))
    } else {
        Ok(Box::new(RamStore::new()))
    }
}

/// Copies the snapshots `live` from `from` into `to`.
fn copy_live<T: Real>(
    live: &[(Level, usize)],
    from: &mut [&mut dyn SnapshotStore<T>; 2],
    to: &mut [&mut dyn SnapshotStore<T>; 2],
    len: usize,
) -> Result<(), DriverError> {
    let mut buf = vec![T::zero(); len];
    for &(level, step) in live {
        let l = level.index();
        from[l].get(step, &mut buf).map_err(|source| DriverError::Store { step, source })?;
        to[l].put(step, &buf).map_err(|source| DriverError::Store { step, source })?;
    }
    Ok(())
}

/// Runs `strategy` like [`run_strategy`](crate::run_strategy) and keeps its
/// first forward sweep for [`replay`]. Costs the copies of at most the
/// strategy's budget of snapshots.
pub fn run_keeping<T, S, O>(
    stepper: &mut S,
    objective: &mut O,
    strategy: Strategy,
    steps: usize,
    x0: &[T],
    disk_dir: &Path,
) -> Result<(Outcome<T>, Kept<T>), DriverError>
where
    T: DiskScalar + Real + Send + 'static,
    S: Stepper<T> + ?Sized,
    O: Objective<T> + ?Sized,
{
    let schedule = strategy.schedule(steps)?;
    check_actions(schedule.steps(), schedule.iter().copied(), [usize::MAX; 2])?;
    let actions: Vec<Action> = schedule.iter().copied().collect();
    let split = actions.iter().position(|a| matches!(a, Action::Reverse { .. })).unwrap_or(actions.len());
    let live = live_after(&actions[..split]);
    let disk_used = strategy.budget(steps)[1] > 0;
    let (mut ram, mut disk) = (RamStore::new(), disk_store::<T>(disk_used, disk_dir)?);
    let mut kept_stores: [Box<dyn SnapshotStore<T> + Send>; 2] =
        [Box::new(RamStore::new()), disk_store::<T>(disk_used, disk_dir)?];
    let mut ex = Exec::new(stepper, objective, [&mut ram, &mut *disk], x0)?;
    ex.n = steps;
    for &a in &actions[..split] {
        ex.apply(a)?;
    }
    let saved = ex.c.forward_steps;
    let cur = ex.cur.clone();
    {
        let [k0, k1] = &mut kept_stores;
        copy_live(&live, &mut ex.stores, &mut [&mut **k0, &mut **k1], x0.len())?;
    }
    let kept_bytes = kept_stores[0].bytes() + kept_stores[1].bytes();
    ex.c.kept_bytes = kept_bytes;
    for &a in &actions[split..] {
        ex.apply(a)?;
    }
    let mut out = ex.finish()?;
    out.counters.peak_snapshot_bytes += kept_bytes;
    let kept = Kept {
        strategy,
        schedule,
        split,
        x0: x0.to_vec(),
        cur,
        live,
        stores: kept_stores,
        saved,
        disk_dir: disk_dir.to_path_buf(),
    };
    Ok((out, kept))
}

/// Runs the kept schedule again from its first reverse step, with
/// `objective` (any losses: the adjoint seeds may differ from the kept
/// run's) and `stepper` (which must step exactly as the kept run's did:
/// the same model at the same parameters). The counters are those of the
/// replay; [`Counters::reused_steps`] holds the primal steps skipped.
pub fn replay<T, S, O>(stepper: &mut S, objective: &mut O, kept: &mut Kept<T>) -> Result<Outcome<T>, DriverError>
where
    T: DiskScalar + Real + Send + 'static,
    S: Stepper<T> + ?Sized,
    O: Objective<T> + ?Sized,
{
    let disk_used = kept.strategy.budget(kept.schedule.steps())[1] > 0;
    let (mut ram, mut disk) = (RamStore::new(), disk_store::<T>(disk_used, &kept.disk_dir)?);
    let mut ex = Exec::new(stepper, objective, [&mut ram, &mut *disk], &kept.x0)?;
    ex.n = kept.schedule.steps();
    {
        let [k0, k1] = &mut kept.stores;
        copy_live(&kept.live, &mut [&mut **k0, &mut **k1], &mut ex.stores, kept.x0.len())?;
    }
    let kept_bytes = kept.bytes();
    ex.c = Counters { reused_steps: kept.saved, kept_bytes, ..Counters::default() };
    for l in 0..2 {
        ex.c.peak_snapshots[l] = ex.stores[l].len();
    }
    ex.c.peak_snapshot_bytes = ex.stores[0].bytes() + ex.stores[1].bytes();
    ex.cur.copy_from_slice(&kept.cur);
    for &a in kept.schedule.iter().skip(kept.split) {
        ex.apply(a)?;
    }
    let mut out = ex.finish()?;
    out.counters.peak_snapshot_bytes += kept_bytes;
    Ok(out)
}
