//! The registry: every model's default problem, built from what the
//! command line asked — one path for every model, ns2d included.
//!
//! A problem is a twin experiment: the objective is the terminal misfit
//! `½ w ‖xₙ − x̂ₙ‖²` to the state `x̂ₙ` reached from a "truth" `x̂₀`, at a
//! default initial state `x₀`, with a direction `v = (v_x, v_p)` of the
//! initial state and the parameters for `hvp` and `--check`. For ns2d it is
//! the spec's problem (`docs/specs/ns2d-periodic.md`: from field A, the
//! target reached from field B, the spec's direction); for the others the
//! truth is `x₀` plus a smooth shift of 5 % and the direction moves every
//! value and every parameter by about 1 %.
//!
//! `--n` sets every model's grid (each model's time step follows its own
//! stability bound), `--steps` its steps; ns2d also reads the
//! configuration's `[simulation]` physics and `--size`, which the others
//! refuse. Before anything of the requested size is built, [`footprint`]
//! says what it will hold, measured on the model's own recorded step at two
//! small sizes, so that the memory check and `--memory` work for every
//! model.

use anyhow::{Context, Result, bail};
use rewind_checkpoint::{SnapshotStore, StepError, Strategy};
use rewind_field::{Dual, Grid, Par};
use rewind_sim::{DerivativeCheck, Gradient, Layout, Model, ParamSet, Problem, SecondOrder, SimError, Terminal};

use crate::common::Common;
use crate::config::Config;
use crate::memory::{Footprint, Need};
use crate::sims::SimName;

/// A model's default problem, whatever the model.
pub(crate) trait AnyProblem: Send {
    /// What the objective is, in words.
    fn about(&self) -> &str;
    /// The state's layout.
    fn layout(&self) -> &Layout;
    /// The parameters and their values.
    fn param_set(&self) -> &ParamSet;
    /// The default initial state.
    fn x0(&self) -> &[f64];
    /// The default direction `(v_x, v_p)`.
    fn direction(&self) -> (&[f64], &[f64]);
    /// Steps of the run.
    fn steps(&self) -> usize;
    /// The time step.
    fn dt(&self) -> f64;
    /// The checkpoint schedule.
    fn strategy(&self) -> Strategy;
    /// Gradient at `x0` with the snapshots in `stores`, `tick` once per step.
    fn gradient_on(
        &mut self,
        x0: &[f64],
        stores: [&mut dyn SnapshotStore<f64>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<Gradient, SimError>;
    /// The same with the snapshots in `stores`, `tick` once per step.
    fn hvp_on(
        &mut self,
        x0: &[f64],
        v_x: &[f64],
        v_p: &[f64],
        stores: [&mut dyn SnapshotStore<Dual<f64>>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<SecondOrder, SimError>;
    /// The derivatives against central differences along the default
    /// direction, part by part, with the relative steps `fd_step × {10, 1,
    /// 0.1}` ([`rewind_sim::check`]).
    fn check(&mut self, fd_step: f64) -> Result<DerivativeCheck, SimError>;
    /// `xₙ` from `x0`, calling `each(step, state)` on every state from the
    /// initial one on.
    fn run(&mut self, x0: &[f64], steps: usize, each: &mut dyn FnMut(usize, &[f64]) -> Result<()>) -> Result<()>;
    /// The initial state of the twin run that made the target (what an
    /// optimisation from `x0` should recover).
    fn truth(&self) -> &[f64];
    /// The low-rank Laplace posterior at `x` with the background covariance
    /// `b`, its products spread over `e`.
    fn posterior(
        &mut self,
        x: &[f64],
        b: &mut rewind_field::Correlation,
        s: rewind_sim::Spectrum,
        e: &rewind_sim::Ensemble,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<rewind_sim::Posterior, SimError>;
}

struct Built<M> {
    about: String,
    problem: Problem<M, Terminal>,
    dt: f64,
    x0: Vec<f64>,
    truth: Vec<f64>,
    v_x: Vec<f64>,
    v_p: Vec<f64>,
}

impl<M: Model + Clone + Send> AnyProblem for Built<M> {
    fn about(&self) -> &str {
        &self.about
    }
    fn layout(&self) -> &Layout {
        self.problem.layout()
    }
    fn param_set(&self) -> &ParamSet {
        self.problem.param_set()
    }
    fn x0(&self) -> &[f64] {
        &self.x0
    }
    fn direction(&self) -> (&[f64], &[f64]) {
        (&self.v_x, &self.v_p)
    }
    fn steps(&self) -> usize {
        self.problem.steps()
    }
    fn dt(&self) -> f64 {
        self.dt
    }
    fn strategy(&self) -> Strategy {
        self.problem.strategy()
    }
    fn gradient_on(
        &mut self,
        x0: &[f64],
        stores: [&mut dyn SnapshotStore<f64>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<Gradient, SimError> {
        self.problem.gradient_on(x0, stores, tick)
    }
    fn hvp_on(
        &mut self,
        x0: &[f64],
        v_x: &[f64],
        v_p: &[f64],
        stores: [&mut dyn SnapshotStore<Dual<f64>>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<SecondOrder, SimError> {
        self.problem.hvp_on(x0, v_x, v_p, stores, tick)
    }
    fn check(&mut self, fd_step: f64) -> Result<DerivativeCheck, SimError> {
        let sweep = [10.0 * fd_step, fd_step, 0.1 * fd_step];
        rewind_sim::check(&mut self.problem, &self.x0, &self.v_x, &self.v_p, &sweep)
    }
    fn run(&mut self, x0: &[f64], steps: usize, each: &mut dyn FnMut(usize, &[f64]) -> Result<()>) -> Result<()> {
        self.problem.run(x0, steps, each)
    }
    fn truth(&self) -> &[f64] {
        &self.truth
    }
    fn posterior(
        &mut self,
        x: &[f64],
        b: &mut rewind_field::Correlation,
        s: rewind_sim::Spectrum,
        e: &rewind_sim::Ensemble,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<rewind_sim::Posterior, SimError> {
        rewind_sim::posterior(&mut self.problem, x, b, s, e, progress)
    }
}

/// A deterministic direction moving each value by about 1 % of the
/// largest magnitude in `x` (or by 0.01 where `x` is all zero).
fn direction(x: &[f64], phase: f64) -> Vec<f64> {
    let s = x.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    let s = if s > 0.0 { s } else { 1.0 };
    (0..x.len()).map(|k| 0.01 * s * (1.3 * k as f64 + phase).sin()).collect()
}

/// How a model's twin experiment is made.
pub(crate) struct Twin {
    /// The objective, in words.
    about: String,
    /// The default initial state.
    x0: Vec<f64>,
    /// The truth, `x̂₀` (default: [`Twin::truth`]).
    truth: Option<Vec<f64>>,
    /// Where an optimisation starts (default: `x₀`; ns2d: at rest).
    start: Option<Vec<f64>>,
    /// The state part of the direction (default: 1 % of the largest value).
    v_x: Option<Vec<f64>>,
    /// Whether the direction moves the parameters too (by 1 % each).
    move_params: bool,
    /// The misfit's weight (a cell's area or length).
    area: f64,
    /// The time step.
    dt: f64,
}

impl Twin {
    fn of(x0: Vec<f64>, area: f64, dt: f64) -> Self {
        Twin { about: String::new(), x0, truth: None, start: None, v_x: None, move_params: true, area, dt }
    }
    /// The truth `x̂₀` of a model of state `layout`: by default `x₀`
    /// plus a smooth, domain-scale shift of each field by 5 % of the
    /// field's largest value (one wave across the domain, a phase of its
    /// own per field) and of each scalar by 5 %.
    pub(crate) fn truth(&self, layout: &Layout) -> Vec<f64> {
        if let Some(t) = &self.truth {
            return t.clone();
        }
        let g = layout.grid();
        let (lx, ly) = (g.nx as f64 * g.dx, g.ny as f64 * g.dy);
        let tau = 2.0 * std::f64::consts::PI;
        let mut x = self.x0.clone();
        for (k, f) in layout.fields().iter().chain(layout.scalars()).enumerate() {
            let Ok(r) = layout.range(f) else { continue };
            let part = &mut x[r];
            let s = part.iter().fold(0.0f64, |m, a| m.max(a.abs()));
            let s = if s > 0.0 { s } else { 1.0 };
            if part.len() == 1 {
                part[0] += 0.05 * s;
                continue;
            }
            let phase = 0.7 * k as f64;
            let wave = g.sample(|x, y| (tau * x / lx + phase).sin() * (tau * y / ly - phase).cos());
            part.iter_mut().zip(wave).for_each(|(a, w)| *a += 0.05 * s * w);
        }
        x
    }
    /// Where an optimisation starts.
    pub(crate) fn start(&self) -> Vec<f64> {
        self.start.clone().unwrap_or_else(|| self.x0.clone())
    }
    /// A grid cell's area (or length, in 1D).
    pub(crate) fn cell(&self) -> f64 {
        self.area
    }
}

/// The problem of `model` made as `twin` says.
fn built<M: Model + Clone + Send + 'static>(
    model: M,
    twin: Twin,
    steps: usize,
    strategy: Strategy,
    par: Par,
    disk_dir: &std::path::Path,
) -> Result<Box<dyn AnyProblem>> {
    let mut sim = rewind_sim::Sim::<M, f64>::new(model.clone(), par)?;
    let truth = twin.truth(sim.layout());
    let x0 = twin.x0;
    let target = rewind_sim::advance(&mut sim, &truth, steps).context("the target run failed")?;
    let v_p = if twin.move_params {
        // each parameter moved by about 1 % of its own size (the phase keeps
        // a scalar parameter's direction off zero: sin(0) would leave it out)
        sim.param_set()
            .entries()
            .iter()
            .enumerate()
            .flat_map(|(k, (_, v))| direction(v.values(), k as f64 + 0.7))
            .collect()
    } else {
        vec![0.0; sim.param_set().len()]
    };
    let loss = Terminal::state(target).weight(twin.area);
    let problem = Problem::new(model, loss, strategy, steps, par)?.with_disk_dir(disk_dir);
    let v_x = twin.v_x.unwrap_or_else(|| direction(&x0, 0.4));
    let about = if twin.about.is_empty() {
        "the terminal misfit ½ w ‖xₙ − x̂ₙ‖² to the state reached from a shifted initial state".into()
    } else {
        twin.about
    };
    Ok(Box::new(Built { about, problem, dt: twin.dt, x0, truth, v_x, v_p }))
}

/// The model a command runs: `--sim`, or ns2d.
pub(crate) fn chosen(common: &Common) -> SimName {
    common.sim.unwrap_or(SimName::Ns2d)
}

/// Grid points per side (or values, in 1D) and steps of a model when the
/// command line does not say.
fn defaults(name: SimName) -> (usize, usize) {
    match name {
        SimName::Ns2d => (32, 100),
        SimName::Burgers => (128, 150),
        SimName::Cavity => (17, 40),
        SimName::Lorenz96 => (40, 100),
        SimName::ShallowWater => (32, 100),
        SimName::GrayScott => (32, 100),
    }
}

/// The grid size and steps a command asks of `name`: for ns2d the
/// configuration's (with `--size`, `--n` and `--steps` applied), for the
/// others `--n` and `--steps` or the model's defaults. Refuses what a
/// model does not take.
pub(crate) fn size_and_steps(name: SimName, c: &Config, common: &Common) -> Result<(usize, usize)> {
    if name == SimName::Ns2d {
        return Ok((c.simulation.n, c.simulation.steps));
    }
    if common.size.is_some() {
        bail!("--size is the ns2d spec's size preset; the {} model takes --n (grid points) and --steps", name.name());
    }
    if let Some(path) = &common.config {
        let set = crate::config::keys_set(path)?;
        let foreign: Vec<&String> =
            set.iter().filter(|k| k.starts_with("simulation.") && k.as_str() != "simulation.threads").collect();
        if !foreign.is_empty() {
            let keys: Vec<&str> = foreign.iter().map(|k| k.as_str()).collect();
            bail!(
                "{} sets {}, which only ns2d reads; the {} model takes --n and --steps",
                path.display(),
                keys.join(", "),
                name.name()
            );
        }
    }
    let (n, steps) = defaults(name);
    let n = common.n.unwrap_or(n);
    let least = match name {
        SimName::Lorenz96 => 4,
        SimName::Burgers | SimName::Cavity => 8,
        _ => 4,
    };
    if n < least {
        bail!("--n {n}: the {} model needs at least {least} points per side", name.name());
    }
    let steps = common.steps.unwrap_or(steps);
    if steps == 0 {
        bail!("--steps 0: the {} model needs at least one step", name.name());
    }
    Ok((n, steps))
}

/// What the problem of `name` at grid size `n` will hold, before it is
/// built: its state's size, and a recorded step's arena — per state value
/// and fixed — measured on one step of the model at its default size and
/// at four times as many values (small runs: a few milliseconds).
pub(crate) fn footprint(name: SimName, c: &Config, n: usize, steps: usize, strategy: Strategy) -> Result<Footprint> {
    let n2 = (n as u64).saturating_mul(n as u64);
    let (fields, points) = match name {
        SimName::Ns2d | SimName::Cavity => (1, n2),
        SimName::Burgers | SimName::Lorenz96 => (1, n as u64),
        SimName::ShallowWater => (3, n2),
        SimName::GrayScott => (2, n2),
    };
    // a recorded step's arena at the default size and at four times as
    // many values: its part that grows with the state, and the rest (the
    // arena's chunks double as it grows: it may hold twice what is used)
    let (small, _) = defaults(name);
    let larger = if matches!(name, SimName::Burgers | SimName::Lorenz96) { 4 * small } else { 2 * small };
    let measure = |m: usize| -> Result<(u64, u64)> {
        let mut at = c.clone();
        at.simulation.n = m;
        with_model(name, &at, m, ArenaBytes)
    };
    footprint_from(points, fields, steps, strategy, measure(small)?, measure(larger)?)
}

/// The footprint of a run of `fields × points` state values from a
/// recorded step's arena bytes and state values at two sizes (`(arena,
/// values)`): the part that grows with the state, and the rest (the
/// arena's chunks double as it grows: it may hold twice what is used).
pub(crate) fn footprint_from(
    points: u64,
    fields: u64,
    steps: usize,
    strategy: Strategy,
    (a1, v1): (u64, u64),
    (a2, v2): (u64, u64),
) -> Result<Footprint> {
    let slope = a2.saturating_sub(a1).div_ceil(v2.saturating_sub(v1).max(1));
    let fixed = a1.saturating_sub(slope * v1);
    let (slope, fixed) = (2 * slope, 2 * fixed);
    Ok(Footprint { points, fields, steps, strategy, arena_per_value: slope, arena_fixed: fixed })
}

/// Something done with a model, whatever its type.
pub(crate) trait WithModel {
    type Out;
    fn run<M: Model + Clone + Send + 'static>(self, model: M, twin: Twin) -> Result<Self::Out>;
}

/// The model `name` at grid size `n` (ns2d: the configuration's physics)
/// and the twin experiment that goes with it, handed to `f`.
pub(crate) fn with_model<F>(name: SimName, c: &Config, n: usize, f: F) -> Result<<F as WithModel>::Out>
where
    F: WithModel,
{
    let cell = |g: &Grid| g.dx * g.dy;
    // scaled so that the model's default stability margin holds at n
    let finer = |n0: usize, p: i32| (n0 as f64 / n as f64).powi(p).min(1.0);
    match name {
        SimName::Ns2d => {
            use rewind_ns2d::spec;
            let p = crate::common::params(c);
            let dt = p.dt;
            let m = rewind_ns2d::Ns2d::new(p)?;
            let mut t = Twin::of(spec::field_a(n), cell(m.grid()), dt);
            t.about = "the ns2d-periodic objective J = ½ h² Σ (Φ(ω₀) − Φ(ω_B))² at ω₀ = field A, \
                       direction v = sin(x + 2y) (docs/specs/ns2d-periodic.md)"
                .into();
            t.truth = Some(spec::field_b(n));
            t.start = Some(vec![0.0; n * n]);
            t.v_x = Some(spec::direction_v(n));
            t.move_params = false;
            f.run(m, t)
        }
        SimName::Burgers => {
            let dt = 0.01 * finer(128, 2);
            let m = rewind_burgers::Burgers::new(rewind_burgers::Params { n, dt, ..Default::default() })?;
            let t = Twin::of(m.initial(), m.grid().dx, dt);
            f.run(m, t)
        }
        SimName::Cavity => {
            let dt = rewind_cavity::Params::stable_dt(n, 100.0, 1.0);
            let m = rewind_cavity::CavityStep::new(rewind_cavity::Params { n, reynolds: 100.0, lid: 1.0, dt })?;
            let g = *m.grid();
            let t = Twin::of(g.sample(|x, y| 3.0 * (5.0 * x).sin() * (4.0 * y).sin()), cell(&g), dt);
            f.run(m, t)
        }
        SimName::Lorenz96 => {
            let l = rewind_lorenz96::Lorenz96 { n, ..Default::default() };
            let m = rewind_lorenz96::Lorenz96Field::new(l, 8.0)?;
            let t = Twin::of(rewind_lorenz96::on_attractor(l, 500), 1.0, l.dt);
            f.run(m, t)
        }
        SimName::ShallowWater => {
            let dt = 0.05 * finer(32, 1);
            let m =
                rewind_shallow_water::ShallowWater::new(rewind_shallow_water::Config { n, dt, ..Default::default() })?;
            let t = Twin::of(m.bump(0.1)?, cell(m.grid()), dt);
            f.run(m, t)
        }
        SimName::GrayScott => {
            let m = rewind_gray_scott::GrayScott::new(rewind_gray_scott::Config { n, ..Default::default() })?;
            let dt = m.config().dt;
            let t = Twin::of(m.initial()?, cell(m.grid()), dt);
            f.run(m, t)
        }
    }
}

/// The arena bytes of one recorded and swept step, and the state's values.
struct ArenaBytes;

impl WithModel for ArenaBytes {
    type Out = (u64, u64);
    fn run<M: Model + Clone + Send + 'static>(self, model: M, twin: Twin) -> Result<(u64, u64)> {
        step_arena_bytes(model, &twin.x0)
    }
}

/// The arena bytes of one step of `model` from `x` recorded and swept, and
/// the state's values.
pub(crate) fn step_arena_bytes<M: Model + Clone + Send + 'static>(model: M, x: &[f64]) -> Result<(u64, u64)> {
    let mut sim = rewind_sim::Sim::<M, f64>::new(model, Par::Seq)?;
    let (mut next, mut xbar, mut pbar) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; sim.param_set().len()]);
    let mut seed = |y: &[f64], yb: &mut [f64]| -> Result<(), StepError> {
        yb.copy_from_slice(y);
        Ok(())
    };
    use rewind_checkpoint::Stepper;
    sim.step_vjp(0, x, &mut next, &mut seed, &mut xbar, &mut pbar)
        .map_err(|source| SimError::At { step: 0, source })?;
    Ok((sim.arena_used_bytes() as u64, x.len() as u64))
}

/// The problem, built.
struct Build<'a> {
    steps: usize,
    strategy: Strategy,
    par: Par,
    disk_dir: &'a std::path::Path,
}

impl WithModel for Build<'_> {
    type Out = Box<dyn AnyProblem>;
    fn run<M: Model + Clone + Send + 'static>(self, model: M, twin: Twin) -> Result<Box<dyn AnyProblem>> {
        built(model, twin, self.steps, self.strategy, self.par, self.disk_dir)
    }
}

/// The default problem of `name` at grid size `n` over `steps` steps
/// under `strategy` (disk snapshots in the configuration's directory).
pub(crate) fn build(
    name: SimName,
    c: &Config,
    n: usize,
    steps: usize,
    strategy: Strategy,
    par: Par,
) -> Result<Box<dyn AnyProblem>> {
    let dir = c.gradient.snapshot_dir.clone().unwrap_or_else(std::env::temp_dir);
    let b = Build { steps, strategy, par, disk_dir: &dir };
    with_model(name, c, n, b).with_context(|| format!("cannot set up the {} model", name.name()))
}

/// The problem a command runs: the model of `--sim` at the size and steps
/// asked, checked against the memory available (with `--memory`, the
/// schedule is the fastest that fits it) before it is built; and the
/// configuration, its schedule the one chosen.
pub(crate) fn from_args(common: &Common, need: Need) -> Result<(Box<dyn AnyProblem>, Config)> {
    let (name, c, n, steps) = sized(common, need)?;
    let strategy = crate::common::strategy(&c)?;
    let p = build(name, &c, n, steps, strategy, crate::common::par(&c))?;
    Ok((p, c))
}

/// The model of `--sim`, the configuration, the grid size and the steps a
/// command asks for, checked against the memory available (with
/// `--memory`, the configuration's schedule becomes the fastest that
/// fits) before anything of that size is built.
pub(crate) fn sized(common: &Common, need: Need) -> Result<(SimName, Config, usize, usize)> {
    let mut c = common.config()?;
    let name = chosen(common);
    let (n, steps) = size_and_steps(name, &c, common)?;
    let f = footprint(name, &c, n, steps, crate::common::strategy(&c)?)?;
    crate::memory::check_fits(&mut c, &f, need)?;
    Ok((name, c, n, steps))
}

/// The footprint of the ns2d run of a configuration.
pub(crate) fn ns2d_footprint(c: &Config) -> Result<Footprint> {
    footprint(SimName::Ns2d, c, c.simulation.n, c.simulation.steps, crate::common::strategy(c)?)
}

/// `rewind sims`: every model, its state, parameters and default steps.
pub(crate) fn list(json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for s in SimName::ALL {
        let (n, steps) = defaults(s);
        let p = build(s, &Config::default(), n, steps, Strategy::StoreAll, Par::Seq)?;
        let l = p.layout();
        let params: Vec<String> = p
            .param_set()
            .entries()
            .iter()
            .map(|(n, v)| if v.is_field() { format!("{n} (field)") } else { n.clone() })
            .collect();
        rows.push(serde_json::json!({
            "name": s.name(), "about": s.about(),
            "state": l.fields().iter().chain(l.scalars()).collect::<Vec<_>>(),
            "grid": [l.grid().nx, l.grid().ny], "params": params, "default_steps": p.steps(),
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "models": rows }))?);
        return Ok(());
    }
    for r in &rows {
        println!("{:<14} {}", r["name"].as_str().unwrap_or(""), r["about"].as_str().unwrap_or(""));
        let join =
            |k: &str| r[k].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "));
        println!(
            "{:<14} state [{}] on {}x{}, parameters [{}], {} steps by default",
            "",
            join("state").unwrap_or_default(),
            r["grid"][0],
            r["grid"][1],
            join("params").unwrap_or_default(),
            r["default_steps"]
        );
    }
    Ok(())
}
