//! The adjoint driver: executes a schedule over a [`Stepper`].
//!
//! A stepper advances a state `xₜ ↦ xₜ₊₁` and, for the reverse sweep, runs
//! one step with recording and propagates an adjoint back through it
//! ([`Stepper::step_vjp`]). The objective is a sum of losses at any states,
//! `J = Σₜ ℓₜ(xₜ)`, `t = 0..=n` (a terminal loss, or observations spread
//! over time as in 4D-Var). The driver executes the actions of a
//! [`Schedule`] literally — advance, store, restore, free, reverse — so the
//! counters it reports are the schedule's, measured.
//!
//! **Second order through time.** Everything is generic over the scalar
//! type. Run with `T = Dual<f64>`, the initial state seeded with a
//! direction `v`, the same schedule gives the gradient in the values and
//! the Hessian-vector product `∇²J v` in the tangents (forward-over-reverse;
//! see [`hvp`]).
//!
//! Because steps are deterministic and the reverse sweep always visits them
//! in the same order, the gradient is bit-for-bit the same under every
//! schedule — the tests assert exactly that.

use std::fmt;

use rewind_tape::{Dual, Real};
use thiserror::Error;

use crate::check::check_actions;
use crate::schedule::online::Online;
use crate::{Action, CheckError, Schedule, ScheduleError, Strategy};

mod step;
mod store;

pub use step::{Objective, Observed, Seed, StepError, Stepper};
pub use store::{RamStore, SnapshotStore, StoreError};

/// Errors of a driver run; each names the step where it happened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The plan could not be turned into a schedule.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The schedule is inconsistent (only for hand-made schedules).
    #[error("invalid schedule: {0}")]
    Check(#[from] CheckError),
    /// The stepper failed.
    #[error("step {step} failed: {source}")]
    Step {
        /// The step (state `step` was its input).
        step: usize,
        /// The stepper's error.
        source: StepError,
    },
    /// The initial state handed in (or its tangent, for an HVP) is not
    /// finite: a bad input, not a blow-up.
    #[error("the initial state is not finite at index {index}: a bad input, not a blow-up of the simulation")]
    NonFiniteInput {
        /// First non-finite entry.
        index: usize,
    },
    /// A step produced a non-finite state: the simulation blew up.
    #[error("the state after step {step} is not finite (at index {index}): the simulation blew up")]
    NonFiniteState {
        /// The step that produced it.
        step: usize,
        /// First non-finite entry.
        index: usize,
    },
    /// A step produced a state whose value is finite but whose tangent
    /// (derivative part, in a forward-mode or forward-over-reverse run) is not.
    #[error(
        "the tangent of the state after step {step} is not finite (at index {index}) though its value is: \
         the derivative blew up"
    )]
    NonFiniteTangent {
        /// The step that produced it.
        step: usize,
        /// First entry with a non-finite tangent.
        index: usize,
    },
    /// The reverse sweep produced a non-finite adjoint.
    #[error("the adjoint of state {step} is not finite (at index {index})")]
    NonFiniteAdjoint {
        /// The state whose adjoint it is.
        step: usize,
        /// First non-finite entry.
        index: usize,
    },
    /// The loss at a state is not finite.
    #[error("the loss at state {step} is not finite")]
    NonFiniteLoss {
        /// The state.
        step: usize,
    },
    /// A snapshot store failed.
    #[error("snapshot of state {step}: {source}")]
    Store {
        /// The state.
        step: usize,
        /// The store's error.
        source: StoreError,
    },
    /// An input of the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Length {
        /// Which input.
        what: &'static str,
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
}

/// Costs measured during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Single-step primal evaluations, recorded or not.
    pub forward_steps: u64,
    /// Steps run with recording and reversed (VJPs).
    pub vjps: u64,
    /// Snapshot writes per level (RAM, disk).
    pub writes: [u64; 2],
    /// Snapshot reads per level.
    pub reads: [u64; 2],
    /// Most snapshots held at once per level.
    pub peak_snapshots: [usize; 2],
    /// Most bytes held in snapshots at once (both levels; with the kept
    /// copies of a reused run, [`kept_bytes`](Self::kept_bytes), included).
    pub peak_snapshot_bytes: usize,
    /// Primal steps not run because a kept first forward sweep was reused
    /// ([`crate::reuse`]).
    pub reused_steps: u64,
    /// Bytes of the kept copies of a reusable run's first snapshots.
    pub kept_bytes: usize,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<T> {
    /// Number of steps taken (`n`).
    pub steps: usize,
    /// `J = Σₜ ℓₜ(xₜ)`.
    pub objective: T,
    /// `∂J/∂x₀`.
    pub grad_x0: Vec<T>,
    /// `∂J/∂p`.
    pub grad_params: Vec<T>,
    /// `xₙ`.
    pub final_state: Vec<T>,
    /// What it cost.
    pub counters: Counters,
}

/// The index of the first entry of `v` that is not finite (in any part of
/// a dual number), by a scan the compiler vectorises.
pub fn first_non_finite<T: Real>(v: &[T]) -> Option<usize> {
    // a chunk at a time without a branch per entry (a loop the compiler
    // vectorises: this scan runs after every step), then the entry
    const CHUNK: usize = 64;
    let bad = |a: &T| !a.is_finite();
    let k = v.chunks(CHUNK).position(|c| c.iter().fold(false, |b, a| b | bad(a)))?;
    v[k * CHUNK..].iter().position(bad).map(|i| k * CHUNK + i)
}

/// `Ok` if the state after step `step` is finite in every part; else the
/// error naming the step and the first bad entry — a blow-up of the value,
/// or of a tangent alone (the value finite, a derivative part not). The
/// one blow-up check: every checkpointed run and every plain forward run
/// (`rewind_sim::run_from`) makes it.
pub fn check_state<T: Real>(step: usize, v: &[T]) -> Result<(), DriverError> {
    match first_non_finite(v) {
        None => Ok(()),
        Some(index) => Err(non_finite(step, v, index)),
    }
}

/// The error of a state `v` after step `step` whose entry `index` is not
/// finite: of the value, or of a tangent alone.
fn non_finite<T: Real>(step: usize, v: &[T], index: usize) -> DriverError {
    match v[index].value().is_finite() {
        true => DriverError::NonFiniteTangent { step, index },
        false => DriverError::NonFiniteState { step, index },
    }
}

/// The driver's error for step `step` of `stepper` failing with `source`,
/// `next` the state it was writing: a non-finite entry the stepper found
/// itself ([`Stepper::checks_finite`]) is the error [`check_state`] gives.
pub fn step_error<T: Real, S: Stepper<T> + ?Sized>(
    stepper: &S,
    step: usize,
    next: &[T],
    source: StepError,
) -> DriverError {
    match source {
        StepError::NonFinite { index } if stepper.checks_finite() && index < next.len() => {
            non_finite(step, next, index)
        }
        source => DriverError::Step { step, source },
    }
}

/// The executor shared by [`run`], [`run_online`] and the replays of
/// [`crate::reuse`].
pub(crate) struct Exec<'s, 'd, T, S: ?Sized, O: ?Sized> {
    stepper: &'s mut S,
    objective: &'s mut O,
    pub(crate) stores: [&'d mut dyn SnapshotStore<T>; 2],
    pub(crate) n: usize,
    x0: Vec<T>,
    pub(crate) cur: Vec<T>,
    tmp: Vec<T>,
    adj: Vec<T>,
    adj_prev: Vec<T>,
    pbar: Vec<T>,
    /// The objective's parameter adjoints (kept apart from `pbar`, which
    /// the stepper holds during a VJP; added at the end).
    loss_pbar: Vec<T>,
    value: T,
    final_state: Vec<T>,
    pub(crate) c: Counters,
}

impl<'s, 'd, T: Real, S: Stepper<T> + ?Sized, O: Objective<T> + ?Sized> Exec<'s, 'd, T, S, O> {
    pub(crate) fn new(
        stepper: &'s mut S,
        objective: &'s mut O,
        stores: [&'d mut dyn SnapshotStore<T>; 2],
        x0: &[T],
    ) -> Result<Self, DriverError> {
        let len = stepper.state_len();
        if x0.len() != len {
            return Err(DriverError::Length { what: "initial state", expected: len, got: x0.len() });
        }
        if let Some(index) = first_non_finite(x0) {
            return Err(DriverError::NonFiniteInput { index });
        }
        for (l, st) in stores.iter().enumerate() {
            if !st.is_empty() {
                return Err(DriverError::Store {
                    step: 0,
                    source: StoreError::Corrupt {
                        step: 0,
                        why: format!("store of level {l} is not empty at the start"),
                    },
                });
            }
        }
        let np = stepper.param_len();
        Ok(Exec {
            stepper,
            objective,
            stores,
            n: 0,
            x0: x0.to_vec(),
            cur: x0.to_vec(),
            tmp: vec![T::zero(); len],
            adj: vec![T::zero(); len],
            adj_prev: vec![T::zero(); len],
            pbar: vec![T::zero(); np],
            loss_pbar: vec![T::zero(); np],
            value: T::zero(),
            final_state: Vec::new(),
            c: Counters::default(),
        })
    }

    fn advance(&mut self, t: usize) -> Result<(), DriverError> {
        let stepper = &mut *self.stepper;
        if let Err(e) = stepper.step(t, &self.cur, &mut self.tmp) {
            return Err(step_error(stepper, t, &self.tmp, e));
        }
        self.c.forward_steps += 1;
        if !self.stepper.checks_finite() {
            check_state(t, &self.tmp)?;
        }
        std::mem::swap(&mut self.cur, &mut self.tmp);
        Ok(())
    }

    pub(crate) fn apply(&mut self, a: Action) -> Result<(), DriverError> {
        match a {
            Action::Advance { from, to } => {
                for t in from..to {
                    self.advance(t)?;
                }
            }
            Action::Store { step, level } => {
                let l = level.index();
                self.stores[l].put(step, &self.cur).map_err(|source| DriverError::Store { step, source })?;
                self.c.writes[l] += 1;
                self.c.peak_snapshots[l] = self.c.peak_snapshots[l].max(self.stores[l].len());
                let bytes = self.stores[0].bytes() + self.stores[1].bytes();
                self.c.peak_snapshot_bytes = self.c.peak_snapshot_bytes.max(bytes);
            }
            Action::Restore { step, level } => {
                let l = level.index();
                self.stores[l].get(step, &mut self.cur).map_err(|source| DriverError::Store { step, source })?;
                self.c.reads[l] += 1;
            }
            Action::Free { step, level } => {
                self.stores[level.index()].remove(step).map_err(|source| DriverError::Store { step, source })?;
            }
            Action::Reverse { step } => self.reverse(step)?,
        }
        Ok(())
    }

    /// Records step `t` from the current state `xₜ`, seeds `x̄ₜ₊₁` with the
    /// adjoint carried from later steps plus `∇ℓₜ₊₁`, and sweeps back to `x̄ₜ`.
    fn reverse(&mut self, t: usize) -> Result<(), DriverError> {
        let (n, last) = (self.n, t + 1 == self.n);
        let Exec { stepper, objective, cur, tmp, adj, adj_prev, pbar, loss_pbar, value, final_state, .. } = self;
        let mut failure: Option<DriverError> = None;
        let checked = stepper.checks_finite();
        let mut seed = |next: &[T], ybar: &mut [T]| -> Result<(), StepError> {
            // (a stepper that checks `next` itself has done so before the seed)
            if !checked && let Err(e) = check_state(t, next) {
                failure = Some(e);
                return Err(StepError::Stopped("non-finite state"));
            }
            if last {
                ybar.iter_mut().for_each(|v| *v = T::zero());
                final_state.clear();
                final_state.extend_from_slice(next);
            } else {
                ybar.copy_from_slice(adj);
            }
            let l = objective.loss(t + 1, n, next, ybar, loss_pbar)?;
            if !l.is_finite() {
                failure = Some(DriverError::NonFiniteLoss { step: t + 1 });
                return Err(StepError::Stopped("non-finite loss"));
            }
            *value += l;
            Ok(())
        };
        let r = stepper.step_vjp(t, cur, tmp, &mut seed, adj_prev, pbar);
        if let Some(e) = failure {
            return Err(e);
        }
        if let Err(e) = r {
            return Err(step_error(&**stepper, t, tmp, e));
        }
        self.c.forward_steps += 1;
        self.c.vjps += 1;
        if let Some(index) = first_non_finite(&self.adj_prev) {
            return Err(DriverError::NonFiniteAdjoint { step: t, index });
        }
        std::mem::swap(&mut self.adj, &mut self.adj_prev);
        Ok(())
    }

    /// Adds `ℓ₀(x₀)` and assembles the outcome.
    pub(crate) fn finish(mut self) -> Result<Outcome<T>, DriverError> {
        let l0 = self
            .objective
            .loss(0, self.n, &self.x0, &mut self.adj, &mut self.loss_pbar)
            .map_err(|source| DriverError::Step { step: 0, source })?;
        if !l0.is_finite() {
            return Err(DriverError::NonFiniteLoss { step: 0 });
        }
        self.value += l0;
        for (p, &l) in self.pbar.iter_mut().zip(&self.loss_pbar) {
            *p += l;
        }
        Ok(Outcome {
            steps: self.n,
            objective: self.value,
            grad_x0: self.adj,
            grad_params: self.pbar,
            final_state: self.final_state,
            counters: self.c,
        })
    }
}

/// Executes `schedule` over `stepper` from `x0` with the given RAM and disk
/// stores (both must start empty), and returns the objective, its gradient
/// with respect to `x0` and the parameters, the final state and the
/// measured costs. The schedule is checked symbolically first, so a
/// hand-made schedule that would read a missing state is refused before any
/// step is run.
pub fn run<T: Real, S: Stepper<T> + ?Sized, O: Objective<T> + ?Sized>(
    stepper: &mut S,
    objective: &mut O,
    schedule: &Schedule,
    x0: &[T],
    stores: [&mut dyn SnapshotStore<T>; 2],
) -> Result<Outcome<T>, DriverError> {
    check_actions(schedule.steps(), schedule.iter().copied(), [usize::MAX; 2])?;
    let mut ex = Exec::new(stepper, objective, stores, x0)?;
    ex.n = schedule.steps();
    for &a in schedule {
        ex.apply(a)?;
    }
    ex.finish()
}

/// Runs a simulation whose length is not known in advance: it advances
/// until `stop(t, xₜ)` returns true or `max_steps` steps are done, keeping
/// at most `snapshots` snapshots in `store` (the online schedule), then
/// reverses. `Outcome::steps` says how many steps were taken.
pub fn run_online<T: Real, S: Stepper<T> + ?Sized, O: Objective<T> + ?Sized>(
    stepper: &mut S,
    objective: &mut O,
    snapshots: usize,
    max_steps: usize,
    x0: &[T],
    store: &mut dyn SnapshotStore<T>,
    mut stop: impl FnMut(usize, &[T]) -> bool,
) -> Result<Outcome<T>, DriverError> {
    if snapshots == 0 {
        return Err(ScheduleError::ZeroBudget { what: "online snapshots" }.into());
    }
    if max_steps == 0 {
        return Err(ScheduleError::NoSteps.into());
    }
    let mut unused = RamStore::new();
    let mut ex = Exec::new(stepper, objective, [store, &mut unused], x0)?;
    let mut online = Online::new(snapshots);
    let mut actions = Vec::new();
    online.start(&mut actions);
    loop {
        for a in actions.drain(..) {
            ex.apply(a)?;
        }
        online.advanced(&mut actions);
        for a in actions.drain(..) {
            ex.apply(a)?;
        }
        let t = online.step();
        if t == max_steps || stop(t, &ex.cur) {
            break;
        }
        online.keep(&mut actions);
    }
    ex.n = online.step();
    online.finish(&mut actions);
    for a in actions.drain(..) {
        ex.apply(a)?;
    }
    ex.finish()
}

/// Runs `strategy` over `stepper` for `steps` steps from `x0` (values,
/// or duals for second order), with snapshots in RAM and, where the
/// strategy has a disk level, a [`DiskStore`](crate::DiskStore) in
/// `disk_dir` (its files removed afterwards).
pub fn run_strategy<T, S, O>(
    stepper: &mut S,
    objective: &mut O,
    strategy: Strategy,
    steps: usize,
    x0: &[T],
    disk_dir: &std::path::Path,
) -> Result<Outcome<T>, DriverError>
where
    T: crate::DiskScalar + Real + 'static,
    S: Stepper<T> + ?Sized,
    O: Objective<T> + ?Sized,
{
    let schedule = strategy.schedule(steps)?;
    let mut ram = RamStore::new();
    let mut disk: Box<dyn SnapshotStore<T>> = if strategy.budget(steps)[1] > 0 {
        Box::new(crate::DiskStore::new(disk_dir).map_err(|source| DriverError::Store { step: 0, source })?)
    } else {
        Box::new(RamStore::new())
    };
    run(stepper, objective, &schedule, x0, [&mut ram, &mut *disk])
}

/// Gradient of the objective through `steps` steps under `strategy`, with
/// snapshots in RAM; the disk level of a multi-level strategy is a
/// [`DiskStore`](crate::DiskStore) under the system's temporary directory
/// (removed afterwards). For another directory, call [`run_strategy`].
pub fn gradient<S: Stepper<f64> + ?Sized, O: Objective<f64> + ?Sized>(
    stepper: &mut S,
    objective: &mut O,
    strategy: Strategy,
    steps: usize,
    x0: &[f64],
) -> Result<Outcome<f64>, DriverError> {
    run_strategy(stepper, objective, strategy, steps, x0, &std::env::temp_dir())
}

/// The objective, its gradient and a Hessian-vector product with respect to
/// the initial state.
#[derive(Debug, Clone, PartialEq)]
pub struct HvpOutcome {
    /// `J(x₀)`.
    pub objective: f64,
    /// `∇J(x₀)`.
    pub gradient: Vec<f64>,
    /// `∇²J(x₀) v`.
    pub hvp: Vec<f64>,
    /// What it cost.
    pub counters: Counters,
}

/// Gradient and Hessian-vector product `∇²J(x₀) v` by forward-over-reverse:
/// the same schedule run over `Dual<f64>` states seeded with `v`.
/// Parameters enter as constants.
pub fn hvp<S: Stepper<Dual<f64>> + ?Sized, O: Objective<Dual<f64>> + ?Sized>(
    stepper: &mut S,
    objective: &mut O,
    strategy: Strategy,
    steps: usize,
    x0: &[f64],
    v: &[f64],
) -> Result<HvpOutcome, DriverError> {
    if v.len() != x0.len() {
        return Err(DriverError::Length { what: "direction v", expected: x0.len(), got: v.len() });
    }
    let xd: Vec<Dual<f64>> = x0.iter().zip(v).map(|(&a, &b)| Dual::new(a, b)).collect();
    let out = run_strategy(stepper, objective, strategy, steps, &xd, &std::env::temp_dir())?;
    Ok(HvpOutcome {
        objective: out.objective.re,
        gradient: out.grad_x0.iter().map(|d| d.re).collect(),
        hvp: out.grad_x0.iter().map(|d| d.eps).collect(),
        counters: out.counters,
    })
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} forward steps, {} VJPs, writes {:?}, reads {:?}, peak snapshots {:?} ({} bytes)",
            self.forward_steps, self.vjps, self.writes, self.reads, self.peak_snapshots, self.peak_snapshot_bytes
        )?;
        if self.reused_steps > 0 || self.kept_bytes > 0 {
            write!(f, "; {} steps reused, {} bytes kept", self.reused_steps, self.kept_bytes)?;
        }
        Ok(())
    }
}
