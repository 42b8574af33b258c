//! The benchmark problem `acoustic` of `docs/specs/acoustic.md`: one
//! Ricker shot on an `N³` grid over `K` steps, the energy a plane of
//! receivers records, and its gradient with respect to the slowness
//! squared — what a peer (`scripts/devito_acoustic.py`, Devito;
//! `scripts/acoustic_reference.py`, numpy) reproduces number for number.

use std::time::Instant;

use rewind_checkpoint::{DriverError, Observed, RamStore, Strategy, check};
use rewind_field::Par;
use rewind_sim::{Observations, Phase, Problem, Sim, SimError};

use crate::{Acoustic, Config};

/// One run of the benchmark: `n³` points, `steps` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Points per axis.
    pub n: usize,
    /// Steps.
    pub steps: usize,
}

/// The sponge's width in points (on every face).
pub const SPONGE: usize = 10;

/// The depth index of the source and of the receivers' plane.
pub const DEPTH: usize = SPONGE + 2;

/// The smallest grid: the source and receivers outside the sponge.
pub const MIN_N: usize = 2 * SPONGE + 3;

/// The model of a case: h = 10 m, c = 1500 m/s, dt = 2 ms, 8th order, a
/// 10-point sponge, a 10 Hz Ricker source at `(N/2, N/2, DEPTH)`.
pub fn model(case: Case) -> Result<Acoustic, SimError> {
    if case.n < MIN_N {
        return Err(SimError::Layout(format!(
            "acoustic spec: {} points per axis; the source and receivers at depth {DEPTH} need at least {MIN_N}",
            case.n
        )));
    }
    let h = 10.0;
    let mid = (case.n / 2) as f64 * h;
    Acoustic::new(Config {
        n: [case.n; 3],
        h,
        dt: 0.002,
        velocity: 1500.0,
        order: 8,
        sponge: SPONGE,
        source: [mid, mid, DEPTH as f64 * h],
        f0: 10.0,
        free_surface: false,
    })
}

/// The receivers: `(i, j, DEPTH)` for `SPONGE ≤ i, j < N − SPONGE`, i-major.
pub fn receivers(m: &Acoustic) -> Vec<usize> {
    let g = m.grid();
    (SPONGE..g.nx - SPONGE).flat_map(|i| (SPONGE..g.ny - SPONGE).map(move |j| g.idx3(i, j, DEPTH))).collect()
}

/// Step evaluations a run makes (what [`run`] ticks): one primal sweep,
/// then the schedule's forward steps.
pub fn evaluations(case: Case, strategy: Strategy) -> Result<u64, DriverError> {
    let schedule = strategy.schedule(case.steps)?;
    let counts = check(&schedule, strategy.budget(case.steps))?;
    Ok(case.steps as u64 + counts.forward_steps)
}

/// The figures of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `J = ½ Σₜ Σᵣ u(xᵣ, t)²`.
    pub objective: f64,
    /// `‖∂J/∂m‖₂`.
    pub grad_norm: f64,
    /// The traces `[t][receiver]`, `t = 1..=K`.
    pub traces: Vec<f64>,
    /// `∂J/∂m` on the grid.
    pub gradient: Vec<f64>,
    /// Seconds for the `K` forward steps alone (the traces recorded).
    pub primal_s: f64,
    /// Seconds for the gradient (its forward sweeps included).
    pub grad_s: f64,
    /// Forward steps of the gradient run.
    pub forward_steps: u64,
    /// Snapshot bytes held at most by the gradient run.
    pub peak_snapshot_bytes: usize,
}

/// The benchmark's objective as a [`Problem`] of the model `m`.
fn problem(
    m: &Acoustic,
    case: Case,
    strategy: Strategy,
    par: Par,
) -> Result<Problem<Acoustic, Observations>, SimError> {
    let rec = receivers(m);
    let mut loss = Observations::of("u").points(rec.clone());
    let zeros = vec![0.0; rec.len()];
    for t in 1..=case.steps {
        loss = loss.at(t, zeros.clone());
    }
    Problem::new(m.clone(), loss, strategy, case.steps, par)
}

/// What `k` Gauss–Newton products at the benchmark's point cost, after a
/// gradient that keeps the point's linearisation.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussNewtonFigures {
    /// Seconds of the gradient that keeps the linearisation.
    pub linearise_s: f64,
    /// Seconds of each product.
    pub product_s: Vec<f64>,
    /// Seconds of each product's tangent-linear run.
    pub tangent_s: Vec<f64>,
    /// Primal steps each product did not run (the kept forward sweep).
    pub reused_steps: u64,
    /// Primal steps each product ran (recomputation in the sweep).
    pub forward_steps: u64,
    /// `⟨δm, G δm⟩` of the last product (positive: a check that it is one).
    pub curvature: f64,
}

/// Times `k` Gauss–Newton products `G δm` at the benchmark's point, `δm`
/// a smooth 1 % change of the slowness squared rolled by whole planes
/// from one product to the next.
pub fn gauss_newton(case: Case, strategy: Strategy, par: Par, k: usize) -> Result<GaussNewtonFigures, SimError> {
    let m = model(case)?;
    let x0 = m.at_rest();
    let mut p = problem(&m, case, strategy, par)?;
    let g = *m.grid();
    let m0 = 1.0 / (m.config().velocity * m.config().velocity);
    let l = g.nx as f64 * g.dx;
    let dm = g.sample3(|x, y, z| 0.01 * m0 * (6.0 * x / l).sin() * (5.0 * y / l).cos() * (4.0 * z / l).sin());
    let t0 = Instant::now();
    p.linearise(&x0)?;
    let linearise_s = t0.elapsed().as_secs_f64();
    let no_x = vec![0.0; x0.len()];
    let mut f = GaussNewtonFigures {
        linearise_s,
        product_s: Vec::new(),
        tangent_s: Vec::new(),
        reused_steps: 0,
        forward_steps: 0,
        curvature: 0.0,
    };
    for j in 0..k {
        let mut d = dm.clone();
        let by = (j * g.ny * g.nz) % d.len();
        d.rotate_left(by);
        let v_p = p.param_direction(&[("m", &d)])?;
        let t0 = Instant::now();
        let gv = p.gauss_newton(&x0, &no_x, &v_p)?;
        f.product_s.push(t0.elapsed().as_secs_f64());
        f.tangent_s.push(gv.tangent_seconds);
        f.reused_steps = gv.counters.reused_steps;
        f.forward_steps = gv.counters.forward_steps;
        f.curvature = gv.param("m")?.iter().zip(&d).map(|(a, b)| a * b).sum();
    }
    Ok(f)
}

/// Runs the benchmark `case` under `strategy`, calling `tick` with the
/// phase before every step evaluation ([`evaluations`] of them).
pub fn run(case: Case, strategy: Strategy, par: Par, mut tick: impl FnMut(Phase)) -> Result<Report, SimError> {
    let m = model(case)?;
    let rec = receivers(&m);
    let x0 = m.at_rest();
    let mut sim = Sim::<_, f64>::new(m.clone(), par)?;
    let mut traces = Vec::with_capacity(case.steps * rec.len());
    let t0 = Instant::now();
    rewind_sim::run_from(&mut Observed { inner: &mut sim, tick: || tick(Phase::Primal) }, &x0, case.steps, |t, x| {
        if t > 0 {
            traces.extend(rec.iter().map(|&p| x[p]));
        }
        Ok::<_, SimError>(())
    })?;
    let primal_s = t0.elapsed().as_secs_f64();
    drop(sim);
    let mut p = problem(&m, case, strategy, par)?;
    let t0 = Instant::now();
    // snapshots in memory (the schedule's disk level, if it has one, too)
    let (mut ram, mut second) = (RamStore::new(), RamStore::new());
    let g = p.gradient_on(&x0, [&mut ram, &mut second], &mut || tick(Phase::Gradient))?;
    let grad_s = t0.elapsed().as_secs_f64();
    let gradient = g.param("m")?.to_vec();
    Ok(Report {
        objective: g.objective,
        grad_norm: gradient.iter().map(|x| x * x).sum::<f64>().sqrt(),
        traces,
        gradient,
        primal_s,
        grad_s,
        forward_steps: g.counters.forward_steps,
        peak_snapshot_bytes: g.counters.peak_snapshot_bytes,
    })
}
