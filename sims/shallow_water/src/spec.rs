//! The benchmark problem `shallow-water` of `docs/specs/shallow-water.md`:
//! a geostrophic adjustment on an `N²` grid over `K` steps, the misfit of
//! its final state to the state reached from another bump, and the
//! gradient and a Hessian-vector product with respect to the initial state
//! and both parameters (`g`, `f`) jointly — the figures a peer
//! implementation (`scripts/jax_shallow_water.py`) reproduces to 1e-9.

use std::time::Instant;

use rewind_checkpoint::{DriverError, Observed, Strategy, check, run_strategy};
use rewind_field::{Dual, Par};
use rewind_sim::{Model, Phase, SimError, Terminal, advance};

use crate::{Config, ShallowWater};

/// One run of the benchmark: `n²` points, `steps` steps of `dt = 2.56 / n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Points per direction.
    pub n: usize,
    /// Steps of `Φ`.
    pub steps: usize,
}

/// The model of a case: `g = f = 1`, `dt = 2.56 / n` (a gravity-wave CFL
/// number of about 0.45 at unit depth).
pub fn model(case: Case) -> Result<ShallowWater, SimError> {
    ShallowWater::new(Config { n: case.n, dt: 2.56 / case.n as f64, g: 1.0, f: 1.0, max_cfl: 1.0 })
}

/// The direction of the Hessian-vector product: `(sin(x + 2y), cos(2x − y),
/// sin 3x cos y)` in `(h, u, v)` and `(0.5, −0.3)` in `(g, f)`.
pub fn direction(m: &ShallowWater) -> Result<(Vec<f64>, Vec<f64>), SimError> {
    let g = m.grid();
    let vh = g.sample(|x, y| (x + 2.0 * y).sin());
    let vu = g.sample(|x, y| (2.0 * x - y).cos());
    let vv = g.sample(|x, y| (3.0 * x).sin() * y.cos());
    Ok((m.layout().pack(&[("h", &vh), ("u", &vu), ("v", &vv)])?, vec![0.5, -0.3]))
}

/// The figures the spec asks for, and what they cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Points per direction.
    pub n: usize,
    /// Steps.
    pub steps: usize,
    /// Time step.
    pub dt: f64,
    /// `J(x_A)`.
    pub jloss: f64,
    /// `‖∇J‖₂` over the initial state and `(g, f)`.
    pub grad_norm: f64,
    /// `∂J/∂g`.
    pub grad_g: f64,
    /// `∂J/∂f`.
    pub grad_f: f64,
    /// `⟨∇J, v⟩`.
    pub grad_dot_v: f64,
    /// `‖H v‖₂`.
    pub hvp_norm: f64,
    /// `⟨v, H v⟩`.
    pub v_dot_hvp: f64,
    /// Seconds for `Φ(x_A)` alone (the best of [`PRIMAL_RUNS`]).
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
}

/// Step evaluations a run makes (what [`run_observed`] ticks): the target's
/// sweep and [`PRIMAL_RUNS`] primal sweeps, then the schedule's forward
/// steps twice (gradient, HVP).
pub fn evaluations(case: Case, strategy: Strategy) -> Result<u64, DriverError> {
    let schedule = strategy.schedule(case.steps)?;
    let counts = check(&schedule, strategy.budget(case.steps))?;
    Ok((1 + PRIMAL_RUNS as u64) * case.steps as u64 + 2 * counts.forward_steps)
}

/// Runs of the primal; its time is the best of them.
pub const PRIMAL_RUNS: usize = 3;

/// Errors of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The model's set-up.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The driver (a step that blew up, a bad schedule).
    #[error(transparent)]
    Driver(#[from] DriverError),
}

/// Runs the benchmark `case` under `strategy`, calling `tick` with the
/// phase before every step evaluation ([`evaluations`] of them in all).
pub fn run_observed(
    case: Case,
    strategy: Strategy,
    par: Par,
    mut tick: impl FnMut(Phase),
) -> Result<Report, SpecError> {
    let m = model(case)?;
    let steps = case.steps;
    let mut primal = rewind_sim::Sim::<_, f64>::new(m, par)?;
    let target = advance(&mut Observed { inner: &mut primal, tick: || tick(Phase::Target) }, &m.bump(0.12)?, steps)?;
    let xa = m.bump(0.1)?;
    let (vx, vp) = direction(&m)?;
    let area = m.grid().dx * m.grid().dy;
    let loss = Terminal::state(target).weight(area);

    // the best of PRIMAL_RUNS runs (a short run is noisy; the peer's figures
    // are the best of its repeats too)
    let mut primal_s = f64::INFINITY;
    for _ in 0..PRIMAL_RUNS {
        let t0 = Instant::now();
        let final_a = advance(&mut Observed { inner: &mut primal, tick: || tick(Phase::Primal) }, &xa, steps)?;
        primal_s = primal_s.min(t0.elapsed().as_secs_f64());
        std::hint::black_box(final_a);
    }

    let dir = std::env::temp_dir();
    let mut objective = primal.objective(loss.clone(), steps)?;
    let t0 = Instant::now();
    let mut observed = Observed { inner: &mut primal, tick: || tick(Phase::Gradient) };
    let g = run_strategy(&mut observed, &mut objective, strategy, steps, &xa, &dir)?;
    let grad_s = t0.elapsed().as_secs_f64();

    let mut dual = rewind_sim::Sim::<_, Dual<f64>>::new(m, par)?;
    let pd: Vec<Dual<f64>> = dual.param_values().iter().zip(&vp).map(|(a, &b)| Dual::new(a.re, b)).collect();
    dual.set_param_values(&pd)?;
    let mut objective = dual.objective(loss, steps)?;
    let xd: Vec<Dual<f64>> = xa.iter().zip(&vx).map(|(&a, &b)| Dual::new(a, b)).collect();
    let t0 = Instant::now();
    let mut observed = Observed { inner: &mut dual, tick: || tick(Phase::Hvp) };
    let h = run_strategy(&mut observed, &mut objective, strategy, steps, &xd, &dir)?;
    let hvp_s = t0.elapsed().as_secs_f64();

    // the flat vectors [state, g, f]
    let grad: Vec<f64> = g.grad_x0.iter().chain(&g.grad_params).copied().collect();
    let hv: Vec<f64> = h.grad_x0.iter().chain(&h.grad_params).map(|d| d.eps).collect();
    let v: Vec<f64> = vx.iter().chain(&vp).copied().collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    Ok(Report {
        n: case.n,
        steps,
        dt: m.config().dt,
        jloss: g.objective,
        grad_norm: dot(&grad, &grad).sqrt(),
        grad_g: g.grad_params[0],
        grad_f: g.grad_params[1],
        grad_dot_v: dot(&grad, &v),
        hvp_norm: dot(&hv, &hv).sqrt(),
        v_dot_hvp: dot(&v, &hv),
        primal_s,
        grad_s,
        hvp_s,
        schedule: strategy.to_string(),
        forward_steps: g.counters.forward_steps,
        peak_snapshot_bytes: g.counters.peak_snapshot_bytes,
    })
}
