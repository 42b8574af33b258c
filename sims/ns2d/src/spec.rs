//! The benchmark problem `ns2d-periodic`, exactly as
//! `docs/specs/ns2d-periodic.md` defines it: sizes, fields A and B,
//! the target `Φ(ω_B)`, the direction `v`, the objective
//! `J(ω₀) = ½ h² Σ (Φ(ω₀) − ω_target)²` and the figures to report.

use std::time::Instant;

use rewind_checkpoint::{DriverError, Observed, Strategy, check, gradient, hvp};
use rewind_field::{Grid, Par};
use rewind_sim::Terminal;
use rewind_tape::Dual;
use thiserror::Error;

use crate::{Ns2dError, Params, stepper};

/// The three sizes of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// N = 32, 100 steps, dt = 0.02 (tests).
    S,
    /// N = 128, 1000 steps, dt = 0.01 (benchmark).
    M,
    /// N = 256, 10 000 steps, dt = 0.005 (memory benchmark).
    L,
}

impl Size {
    /// `(N, steps, dt)`.
    pub fn table(self) -> (usize, usize, f64) {
        match self {
            Size::S => (32, 100, 0.02),
            Size::M => (128, 1000, 0.01),
            Size::L => (256, 10_000, 0.005),
        }
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "S" | "s" => Ok(Size::S),
            "M" | "m" => Ok(Size::M),
            "L" | "l" => Ok(Size::L),
            _ => Err(format!("unknown size {s:?}: expected S, M or L")),
        }
    }
}

/// One run of the benchmark: a size's grid and time step, and a number of
/// steps — the size's own (`Case::from(Size::M)`) or another (the 256² grid
/// of size L for 1000 steps, say, to time it without the full run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// The grid and time step.
    pub size: Size,
    /// Steps of `Φ`.
    pub steps: usize,
}

impl From<Size> for Case {
    fn from(size: Size) -> Case {
        Case { size, steps: size.table().1 }
    }
}

/// The benchmark's parameters: `ν = 1e-3`, `α = 0.1`, `f = 0.1 sin 4y`.
pub fn params(size: Size) -> Params {
    let (n, _, dt) = size.table();
    let grid = grid(n);
    Params { n, dt, nu: 1e-3, alpha: 0.1, forcing: grid.sample(|_, y| 0.1 * (4.0 * y).sin()), max_cfl: 0.9 }
}

fn grid(n: usize) -> Grid {
    let h = 2.0 * std::f64::consts::PI / n as f64;
    Grid { nx: n, ny: n, nz: 1, dx: h, dy: h, dz: 1.0 }
}

/// Initial condition A, where derivatives are taken.
pub fn field_a(n: usize) -> Vec<f64> {
    grid(n).sample(|x, y| {
        x.cos() * y.cos()
            + 0.3 * (2.0 * x + 0.5).sin() * (3.0 * y).cos()
            + 0.2 * (5.0 * x).cos() * (4.0 * y + 1.0).sin()
    })
}

/// Initial condition B, which makes the target.
pub fn field_b(n: usize) -> Vec<f64> {
    grid(n).sample(|x, y| (2.0 * x).sin() * y.cos() - 0.5 * (x + y).cos() + 0.25 * (3.0 * x - 2.0 * y).sin())
}

/// The direction of the Hessian-vector product, `sin(x + 2y)`.
pub fn direction_v(n: usize) -> Vec<f64> {
    grid(n).sample(|x, y| (x + 2.0 * y).sin())
}

/// Errors of a benchmark run.
#[derive(Debug, Error)]
pub enum SpecError {
    /// The simulation's set-up.
    #[error(transparent)]
    Sim(#[from] Ns2dError),
    /// The driver (a step that blew up, a bad schedule).
    #[error(transparent)]
    Driver(#[from] DriverError),
}

pub use rewind_sim::advance;

/// The figures the spec asks for, and what they cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Grid points per direction.
    pub n: usize,
    /// Steps.
    pub steps: usize,
    /// Time step.
    pub dt: f64,
    /// `J(ω_A)`.
    pub jloss: f64,
    /// `‖∇J‖₂`.
    pub grad_norm: f64,
    /// `⟨∇J, v⟩`.
    pub grad_dot_v: f64,
    /// `‖H v‖₂`.
    pub hvp_norm: f64,
    /// `⟨v, H v⟩`.
    pub v_dot_hvp: f64,
    /// Seconds for `Φ(ω_A)` alone (the best of [`PRIMAL_RUNS`]).
    pub primal_s: f64,
    /// Seconds for the gradient (objective included).
    pub grad_s: f64,
    /// Seconds for the gradient and HVP by forward-over-reverse.
    pub hvp_s: f64,
    /// The schedule used.
    pub schedule: String,
    /// Single-step evaluations of the gradient run.
    pub forward_steps: u64,
    /// Snapshot bytes held at most by the gradient run.
    pub peak_snapshot_bytes: usize,
    /// The full gradient (for checks; not printed).
    pub gradient: Vec<f64>,
}

pub use rewind_sim::Phase;

/// Step evaluations a run at `size` under `strategy` makes (what
/// [`run_observed`] ticks): the target's sweep and [`PRIMAL_RUNS`] primal
/// sweeps, then the schedule's forward steps twice (gradient, HVP).
pub fn evaluations(case: impl Into<Case>, strategy: Strategy) -> Result<u64, DriverError> {
    let steps = case.into().steps;
    let schedule = strategy.schedule(steps)?;
    let counts = check(&schedule, strategy.budget(steps))?;
    Ok((1 + PRIMAL_RUNS as u64) * steps as u64 + 2 * counts.forward_steps)
}

/// Runs of the primal; its time is the best of them.
pub const PRIMAL_RUNS: usize = 3;

/// Runs the benchmark `case` (a [`Size`], or a size with another step
/// count) under `strategy`.
pub fn run(case: impl Into<Case>, strategy: Strategy, par: Par) -> Result<Report, SpecError> {
    run_observed(case, strategy, par, |_| {})
}

/// [`run`], calling `tick` with the phase before every step evaluation
/// ([`evaluations`] of them in all), e.g. for a progress bar; the ticks
/// cost nothing measurable next to a step.
pub fn run_observed(
    case: impl Into<Case>,
    strategy: Strategy,
    par: Par,
    mut tick: impl FnMut(Phase),
) -> Result<Report, SpecError> {
    let Case { size, steps } = case.into();
    let (n, _, dt) = size.table();
    let p = params(size);
    let mut primal = stepper::<f64>(p.clone(), par)?;
    let target = advance(&mut Observed { inner: &mut primal, tick: || tick(Phase::Target) }, &field_b(n), steps)?;
    let (wa, v) = (field_a(n), direction_v(n));
    let area = (2.0 * std::f64::consts::PI / n as f64).powi(2);

    // the best of PRIMAL_RUNS runs (a short run is noisy; the peer's figures
    // are the best of its repeats too)
    let mut primal_s = f64::INFINITY;
    for _ in 0..PRIMAL_RUNS {
        let t0 = Instant::now();
        let final_a = advance(&mut Observed { inner: &mut primal, tick: || tick(Phase::Primal) }, &wa, steps)?;
        primal_s = primal_s.min(t0.elapsed().as_secs_f64());
        std::hint::black_box(final_a);
    }

    let mut objective =
        primal.objective(Terminal::state(target.clone()).weight(area), steps).map_err(Ns2dError::from)?;
    let t0 = Instant::now();
    let mut observed = Observed { inner: &mut primal, tick: || tick(Phase::Gradient) };
    let g = gradient(&mut observed, &mut objective, strategy, steps, &wa)?;
    let grad_s = t0.elapsed().as_secs_f64();

    let mut dual = stepper::<Dual<f64>>(p, par)?;
    let mut objective = dual.objective(Terminal::state(target.clone()).weight(area), steps).map_err(Ns2dError::from)?;
    let t0 = Instant::now();
    let mut observed = Observed { inner: &mut dual, tick: || tick(Phase::Hvp) };
    let h = hvp(&mut observed, &mut objective, strategy, steps, &wa, &v)?;
    let hvp_s = t0.elapsed().as_secs_f64();

    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    Ok(Report {
        n,
        steps,
        dt,
        jloss: g.objective,
        grad_norm: dot(&g.grad_x0, &g.grad_x0).sqrt(),
        grad_dot_v: dot(&g.grad_x0, &v),
        hvp_norm: dot(&h.hvp, &h.hvp).sqrt(),
        v_dot_hvp: dot(&v, &h.hvp),
        primal_s,
        grad_s,
        hvp_s,
        schedule: strategy.to_string(),
        forward_steps: g.counters.forward_steps,
        peak_snapshot_bytes: g.counters.peak_snapshot_bytes,
        gradient: g.grad_x0,
    })
}
