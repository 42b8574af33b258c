//! # rewind-checkpoint: checkpointed adjoints through many time steps
//!
//! Backpropagating through `n` time steps needs the state before every step,
//! in reverse order. Storing all of them costs `n` states of memory; storing
//! `s` snapshots and recomputing the rest trades memory for forward steps.
//! This crate makes the trade optimal and visible:
//!
//! * [`schedule`]: strategies (store-all, periodic, binomial/Revolve,
//!   online, multi-level RAM + disk) that produce a [`Schedule`] — a plain
//!   list of [`Action`]s — without running anything;
//! * [`check`]: a symbolic executor that proves a schedule correct and
//!   counts its forward steps, snapshot traffic and peak snapshots;
//! * [`driver`]: executes any schedule over a [`Stepper`] (a state, a primal
//!   step, the VJP of one step) with pluggable [`SnapshotStore`]s and
//!   returns the objective, the gradient with respect to the initial state
//!   and the parameters, and cost counters; run with dual numbers it gives
//!   Hessian-vector products (forward-over-reverse through time);
//! * [`disk`]: the disk level, one checksummed file per snapshot;
//! * [`leftovers`]: temporary names owned by a process, and the sweep of
//!   what a killed run left behind;
//! * [`reuse`]: a run's first forward sweep kept, so that products at a
//!   fixed point (Gauss–Newton, eigensolvers) replay only the reverse part.
//!
//! The crate knows nothing of fields or simulations: a state is a flat
//! slice of any [`Real`](rewind_tape::Real) scalar.

#![forbid(unsafe_code)]

mod action;
pub mod check;
pub mod disk;
pub mod driver;
mod error;
pub mod leftovers;
pub mod reuse;
pub mod schedule;
pub mod taped;

pub use action::{Action, Level};
pub use check::{Counts, check, check_actions};
pub use disk::{DiskScalar, DiskStore};
pub use driver::{
    Counters, DriverError, HvpOutcome, Objective, Observed, Outcome, RamStore, Seed, SnapshotStore, StepError, Stepper,
    StoreError, check_state, first_non_finite, gradient, hvp, run, run_online, run_strategy, step_error,
};
pub use error::{CheckError, ScheduleError};
pub use reuse::{Kept, replay, run_keeping};
pub use schedule::binomial::optimal_forward_steps;
pub use schedule::{Plan, Schedule, Strategy};
pub use taped::{LossFn, StepFn, TapedObjective, TapedStepper};
