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

use std::error::Error as StdError;
use std::fmt;

use rewind_tape::{Dual, Real, Tape, Var};
use thiserror::Error;

use crate::check::check_actions;
use crate::schedule::online::Online;
use crate::{Action, CheckError, Schedule, ScheduleError, Strategy};

/// An error raised by a stepper or an objective (a time step beyond its
/// stability bound, an input that does not fit the model, a tape or solver
/// that failed); the driver wraps it in [`DriverError::Step`] with the step
/// number. Match on the variants; a model's own error types travel in
/// [`StepError::Model`] and are recovered with [`StepError::model_error`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StepError {
    /// A time step beyond a stability bound (a CFL number, a diffusion
    /// number): reduce the time step.
    #[error("step {step}: {what} number {value:.3} exceeds {max} (reduce dt)")]
    Unstable {
        /// The step.
        step: usize,
        /// Which bound.
        what: &'static str,
        /// Its value.
        value: f64,
        /// The bound.
        max: f64,
    },
    /// A state of the model holds a non-finite value.
    #[error("non-finite value at index {index}")]
    NonFinite {
        /// The first such entry.
        index: usize,
    },
    /// An input that does not fit the model (observations for the wrong
    /// number of points, a point outside the grid, a state of the wrong
    /// length).
    #[error("{0}")]
    BadInput(String),
    /// The driver stopped the sweep from its seed callback; the reason is
    /// the [`DriverError`] it returns.
    #[error("stopped by the driver: {0}")]
    Stopped(&'static str),
    /// The scalar tape refused a recording.
    #[error(transparent)]
    Tape(#[from] rewind_tape::TapeError),
    /// An error of the model's own type (a field-tape or linear-solver
    /// error, say).
    #[error(transparent)]
    Model(Box<dyn StdError + Send + Sync>),
}

impl StepError {
    /// Wraps an error of the model's own type.
    pub fn model(e: impl StdError + Send + Sync + 'static) -> Self {
        StepError::Model(Box::new(e))
    }

    /// The model's own error of type `E`, if this is one.
    pub fn model_error<E: StdError + 'static>(&self) -> Option<&E> {
        match self {
            StepError::Model(e) => e.downcast_ref::<E>(),
            _ => None,
        }
    }
}

/// The adjoint seed callback of [`Stepper::step_vjp`]: given `xₜ₊₁`, it
/// writes `x̄ₜ₊₁`.
pub type Seed<'a, T> = dyn FnMut(&[T], &mut [T]) -> Result<(), StepError> + 'a;

/// One differentiable time step, over scalars `T`.
///
/// Implement it once generically (`impl<T: Real> Stepper<T> for MySim`) to
/// get gradients (`T = f64`) and Hessian-vector products
/// (`T = Dual<f64>`) from the same code. For a step written as a generic
/// function, [`TapedStepper`] supplies the VJP from the scalar tape.
pub trait Stepper<T> {
    /// Length of the state vector.
    fn state_len(&self) -> usize;
    /// Number of parameters whose adjoints are accumulated (0 if none).
    fn param_len(&self) -> usize {
        0
    }
    /// `next = xₜ₊₁ = Φₜ(xₜ)`, without recording.
    fn step(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError>;
    /// One step with its vector-Jacobian product: compute `next = xₜ₊₁`,
    /// then call `seed(next, ybar)` to obtain the adjoint `x̄ₜ₊₁` in `ybar`,
    /// then write `x̄ₜ = (∂Φₜ/∂x)ᵀ x̄ₜ₊₁` into `xbar` and add
    /// `(∂Φₜ/∂p)ᵀ x̄ₜ₊₁` to `pbar`. (The callback lets a tape-based stepper
    /// record and sweep within one recording.)
    fn step_vjp(
        &mut self,
        t: usize,
        x: &[T],
        next: &mut [T],
        seed: &mut Seed<'_, T>,
        xbar: &mut [T],
        pbar: &mut [T],
    ) -> Result<(), StepError>;
}

/// The objective `J = Σₜ ℓₜ(xₜ, p)` over the states `t = 0..=n` of a run.
///
/// The driver calls `loss` exactly once for each state of a run (however
/// often the schedule recomputes it), so an objective may accumulate.
pub trait Objective<T> {
    /// The loss `ℓₜ(xₜ, p)` at state `t` of a run of `n` steps (zero where
    /// there is none), adding `∂ℓₜ/∂xₜ` to `xbar` and `∂ℓₜ/∂p` to `pbar`
    /// (the stepper's parameters, [`Stepper::param_len`] of them; a loss
    /// that does not depend on them leaves `pbar` alone).
    fn loss(&mut self, t: usize, n: usize, x: &[T], xbar: &mut [T], pbar: &mut [T]) -> Result<T, StepError>;
}

/// Storage for snapshots of one level (RAM here; a disk store on HDF5 comes
/// with the I/O crate).
pub trait SnapshotStore<T> {
    /// Keeps a copy of `state` under `step`.
    fn put(&mut self, step: usize, state: &[T]) -> Result<(), StoreError>;
    /// Copies the snapshot `step` into `out`.
    fn get(&mut self, step: usize, out: &mut [T]) -> Result<(), StoreError>;
    /// Drops the snapshot `step`.
    fn remove(&mut self, step: usize) -> Result<(), StoreError>;
    /// Snapshots held.
    fn len(&self) -> usize;
    /// Whether no snapshot is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes held by the snapshots.
    fn bytes(&self) -> usize;
}

/// What can go wrong in a snapshot store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No snapshot under this step.
    #[error("no snapshot of state {step}")]
    Missing {
        /// The step asked for.
        step: usize,
    },
    /// A snapshot of another length than the state.
    #[error("snapshot of state {step} has {got} values, expected {expected}")]
    Length {
        /// The step.
        step: usize,
        /// Values expected.
        expected: usize,
        /// Values found.
        got: usize,
    },
    /// Corrupted or truncated data (detected by a checksum).
    #[error("snapshot of state {step} is corrupt: {why}")]
    Corrupt {
        /// The step.
        step: usize,
        /// What was detected.
        why: String,
    },
    /// An I/O failure.
    #[error("snapshot I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// An I/O failure on a snapshot's file.
    #[error("snapshot file {}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// A [`Stepper`] that calls `tick` before every single-step evaluation,
/// primal or recorded (the counting of `Counters::forward_steps`), and is
/// `inner` otherwise: for progress bars over a schedule whose
/// forward-step count is known in advance
/// ([`check`](crate::check())'s `Counts`).
pub struct Observed<'a, S: ?Sized, F> {
    /// The stepper.
    pub inner: &'a mut S,
    /// Called once per step evaluation.
    pub tick: F,
}

impl<S: ?Sized, F> std::fmt::Debug for Observed<'_, S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

impl<T, S: Stepper<T> + ?Sized, F: FnMut()> Stepper<T> for Observed<'_, S, F> {
    fn state_len(&self) -> usize {
        self.inner.state_len()
    }
    fn param_len(&self) -> usize {
        self.inner.param_len()
    }
    fn step(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError> {
        (self.tick)();
        self.inner.step(t, x, next)
    }
    fn step_vjp(
        &mut self,
        t: usize,
        x: &[T],
        next: &mut [T],
        seed: &mut Seed<'_, T>,
        xbar: &mut [T],
        pbar: &mut [T],
    ) -> Result<(), StepError> {
        (self.tick)();
        self.inner.step_vjp(t, x, next, seed, xbar, pbar)
    }
}

/// Snapshots in memory. Freed buffers are kept for reuse, so a run
/// allocates only while its number of live snapshots grows.
#[derive(Debug, Default)]
pub struct RamStore<T> {
    live: Vec<(usize, Vec<T>)>,
    spare: Vec<Vec<T>>,
}

impl<T: Copy> RamStore<T> {
    /// An empty store.
    pub fn new() -> Self {
        RamStore { live: Vec::new(), spare: Vec::new() }
    }
}

impl<T: Copy> SnapshotStore<T> for RamStore<T> {
    fn put(&mut self, step: usize, state: &[T]) -> Result<(), StoreError> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(state);
        match self.live.iter_mut().find(|(s, _)| *s == step) {
            Some(slot) => self.spare.push(std::mem::replace(&mut slot.1, buf)),
            None => self.live.push((step, buf)),
        }
        Ok(())
    }
    fn get(&mut self, step: usize, out: &mut [T]) -> Result<(), StoreError> {
        let (_, buf) = self.live.iter().find(|(s, _)| *s == step).ok_or(StoreError::Missing { step })?;
        if buf.len() != out.len() {
            return Err(StoreError::Length { step, expected: out.len(), got: buf.len() });
        }
        out.copy_from_slice(buf);
        Ok(())
    }
    fn remove(&mut self, step: usize) -> Result<(), StoreError> {
        let i = self.live.iter().position(|(s, _)| *s == step).ok_or(StoreError::Missing { step })?;
        let (_, buf) = self.live.swap_remove(i);
        self.spare.push(buf);
        Ok(())
    }
    fn len(&self) -> usize {
        self.live.len()
    }
    fn bytes(&self) -> usize {
        self.live.iter().map(|(_, b)| std::mem::size_of_val(b.as_slice())).sum()
    }
}

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

/// The first entry of `v` that is not finite in every part ([`Real::is_finite`]).
fn first_non_finite<T: Real>(v: &[T]) -> Option<usize> {
    v.iter().position(|a| !a.is_finite())
}

/// `Ok` if the state after step `step` is finite in every part; else the
/// error naming the step and the first bad entry — a blow-up of the value,
/// or of a tangent alone (the value finite, a derivative part not). The
/// one blow-up check: every checkpointed run and every plain forward run
/// (`rewind_sim::run_from`) makes it.
pub fn check_state<T: Real>(step: usize, v: &[T]) -> Result<(), DriverError> {
    match first_non_finite(v) {
        None => Ok(()),
        Some(index) if v[index].value().is_finite() => Err(DriverError::NonFiniteTangent { step, index }),
        Some(index) => Err(DriverError::NonFiniteState { step, index }),
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
        self.stepper.step(t, &self.cur, &mut self.tmp).map_err(|source| DriverError::Step { step: t, source })?;
        self.c.forward_steps += 1;
        check_state(t, &self.tmp)?;
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
        let mut seed = |next: &[T], ybar: &mut [T]| -> Result<(), StepError> {
            if let Err(e) = check_state(t, next) {
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
        r.map_err(|source| DriverError::Step { step: t, source })?;
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

/// A time step written once as a generic function, for [`TapedStepper`].
pub trait StepFn {
    /// Length of the state.
    fn state_len(&self) -> usize;
    /// `out = Φₜ(x; p)`.
    fn step<T: Real>(&self, t: usize, x: &[T], p: &[T], out: &mut [T]);
}

/// A loss written once as a generic function, for [`TapedObjective`].
pub trait LossFn {
    /// `ℓₜ(x)` at state `t` of `n`, or `None` where there is no loss.
    fn loss<T: Real>(&self, t: usize, n: usize, x: &[T]) -> Option<T>;
}

/// A [`Stepper`] over any scalar `T` whose VJP comes from recording the
/// generic step on a reused scalar tape — for small states (ODEs, test
/// problems); field-sized states use the array-level tape instead.
#[derive(Debug)]
pub struct TapedStepper<F, T> {
    /// The step function.
    pub f: F,
    /// Parameters `p` (their adjoints are returned).
    params: Vec<f64>,
    /// The parameters as constants of type `T`, made once.
    params_t: Vec<T>,
    tape: Tape<T>,
    scratch: Vec<T>,
}

impl<F: StepFn, T: Real> TapedStepper<F, T> {
    /// A stepper for `f` with parameters `params`.
    pub fn new(f: F, params: Vec<f64>) -> Self {
        let params_t = params.iter().map(|&v| T::from_f64(v)).collect();
        TapedStepper { f, params, params_t, tape: Tape::new(), scratch: Vec::new() }
    }

    /// The parameters.
    pub fn params(&self) -> &[f64] {
        &self.params
    }
}

impl<F: StepFn, T: Real> Stepper<T> for TapedStepper<F, T> {
    fn state_len(&self) -> usize {
        self.f.state_len()
    }
    fn param_len(&self) -> usize {
        self.params.len()
    }
    fn step(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError> {
        self.f.step(t, x, &self.params_t, next);
        Ok(())
    }
    fn step_vjp(
        &mut self,
        t: usize,
        x: &[T],
        next: &mut [T],
        seed: &mut Seed<'_, T>,
        xbar: &mut [T],
        pbar: &mut [T],
    ) -> Result<(), StepError> {
        let TapedStepper { f, params_t, tape, scratch, .. } = self;
        scratch.clear();
        scratch.resize(next.len(), T::zero());
        tape.record(|r| {
            let xs = r.vars(x);
            let ps = r.vars(params_t);
            let mut out = vec![Var::constant(T::zero()); next.len()];
            f.step(t, xs, ps, &mut out);
            for (o, v) in next.iter_mut().zip(&out) {
                *o = v.value_inner();
            }
            seed(next, scratch)?;
            let seeds: Vec<(Var<'_, T>, T)> = out.iter().copied().zip(scratch.iter().copied()).collect();
            let g = r.backward(&seeds)?;
            for (b, &xi) in xbar.iter_mut().zip(xs) {
                *b = g.wrt(xi);
            }
            for (b, &pi) in pbar.iter_mut().zip(ps) {
                *b += g.wrt(pi);
            }
            Ok(())
        })
    }
}

/// An [`Objective`] from a generic [`LossFn`], differentiated on a scalar tape.
#[derive(Debug)]
pub struct TapedObjective<L, T> {
    /// The loss function.
    pub l: L,
    tape: Tape<T>,
}

impl<L: LossFn, T: Real> TapedObjective<L, T> {
    /// An objective for `l`.
    pub fn new(l: L) -> Self {
        TapedObjective { l, tape: Tape::new() }
    }
}

impl<L: LossFn, T: Real> Objective<T> for TapedObjective<L, T> {
    fn loss(&mut self, t: usize, n: usize, x: &[T], xbar: &mut [T], _pbar: &mut [T]) -> Result<T, StepError> {
        let TapedObjective { l, tape } = self;
        tape.record(|r| {
            let xs = r.vars(x);
            let Some(y) = l.loss(t, n, xs) else { return Ok(T::zero()) };
            let g = r.gradient(y)?;
            for (b, &xi) in xbar.iter_mut().zip(xs) {
                *b += g.wrt(xi);
            }
            Ok(y.value_inner())
        })
    }
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
