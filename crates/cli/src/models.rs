//! Every model the command line knows, each with a built-in default
//! problem: a twin experiment whose objective is the terminal misfit
//! `½ w ‖xₙ − x̂ₙ‖²` to the state reached from a perturbed initial state,
//! at a default initial state, with a joint direction `v = (v_x, v_p)` of
//! the initial state and every parameter for `hvp` and `--check`.
//!
//! `ns2d` keeps its own richer commands (the spec's fields A and B, the
//! assimilation problem); the other models run through [`AnyProblem`],
//! one trait object for any [`Model`].

use anyhow::{Context, Result};
use rewind_checkpoint::Strategy;
use rewind_field::{Grid, Par};
use rewind_sim::{DerivativeCheck, Gradient, Layout, Model, ParamSet, Problem, SecondOrder, SimError, TerminalMisfit};

/// The models, by command-line name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SimName {
    /// 2D Navier–Stokes, vorticity form, periodic (the spec's problem).
    Ns2d,
    /// Viscous Burgers on a periodic line (a steepening shock).
    Burgers,
    /// The lid-driven cavity (walls, a sparse Cholesky solve).
    Cavity,
    /// Lorenz-96 on a ring of 40 (chaotic), on the field tape.
    Lorenz96,
    /// Rotating shallow water (h, u, v) on a periodic C-grid.
    ShallowWater,
    /// Gray–Scott reaction–diffusion (u, v) with a feed-rate field.
    GrayScott,
}

impl SimName {
    /// Every model, in listing order.
    pub(crate) const ALL: [SimName; 6] = [
        SimName::Ns2d,
        SimName::Burgers,
        SimName::Cavity,
        SimName::Lorenz96,
        SimName::ShallowWater,
        SimName::GrayScott,
    ];

    /// The command-line name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SimName::Ns2d => "ns2d",
            SimName::Burgers => "burgers",
            SimName::Cavity => "cavity",
            SimName::Lorenz96 => "lorenz96",
            SimName::ShallowWater => "shallow-water",
            SimName::GrayScott => "gray-scott",
        }
    }

    /// One line on what it is.
    pub(crate) fn about(self) -> &'static str {
        match self {
            SimName::Ns2d => "2D Navier-Stokes, vorticity-streamfunction, periodic, RK4 (docs/specs/ns2d-periodic.md)",
            SimName::Burgers => "viscous Burgers on a periodic line, a steepening shock, RK4",
            SimName::Cavity => "lid-driven cavity, walls, sparse Cholesky streamfunction, RK4",
            SimName::Lorenz96 => "Lorenz-96 ring of 40 variables, F = 8 (chaotic), RK4 on the field tape",
            SimName::ShallowWater => {
                "rotating shallow water (h, u, v), periodic C-grid, Sadourny energy-conserving, RK4"
            }
            SimName::GrayScott => "Gray-Scott reaction-diffusion (u, v), feed-rate field parameter, SSP-RK3",
        }
    }
}

/// A model's default problem, whatever the model.
pub(crate) trait AnyProblem: Send {
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
    /// Gradient at `x0`.
    fn gradient(&mut self, x0: &[f64]) -> Result<Gradient, SimError>;
    /// Gradient and HVP at `x0` in the direction `(v_x, v_p)`.
    fn hvp(&mut self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<SecondOrder, SimError>;
    /// The derivatives against finite differences, at the defaults.
    fn check(&mut self) -> Result<DerivativeCheck, SimError>;
    /// `xₙ` from `x0`.
    fn run(&mut self, x0: &[f64], steps: usize) -> Result<Vec<f64>>;
    /// The initial state of the twin run that made the target (what an
    /// optimisation from `x0` should recover).
    fn truth(&self) -> &[f64];
    /// The problem over the initial state, for the optimizers.
    fn as_optim(&mut self) -> &mut dyn rewind_optim::Problem;
    /// The same with Gauss–Newton products as its Hessian products.
    fn as_gauss_newton(&mut self) -> Box<dyn rewind_optim::Problem + '_>;
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
    problem: Problem<M, TerminalMisfit>,
    x0: Vec<f64>,
    truth: Vec<f64>,
    v_x: Vec<f64>,
    v_p: Vec<f64>,
}

impl<M: Model + Clone + Send> AnyProblem for Built<M> {
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
    fn gradient(&mut self, x0: &[f64]) -> Result<Gradient, SimError> {
        self.problem.gradient(x0)
    }
    fn hvp(&mut self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<SecondOrder, SimError> {
        self.problem.hvp(x0, v_x, v_p)
    }
    fn check(&mut self) -> Result<DerivativeCheck, SimError> {
        // the direction moves every value by about 1 %: a step of 1e-4
        // balances round-off against the truncation error
        rewind_sim::check(&mut self.problem, &self.x0, &self.v_x, &self.v_p, 1e-4)
    }
    fn run(&mut self, x0: &[f64], steps: usize) -> Result<Vec<f64>> {
        Ok(rewind_sim::advance(self.problem.sim(), x0, steps)?)
    }
    fn truth(&self) -> &[f64] {
        &self.truth
    }
    fn as_optim(&mut self) -> &mut dyn rewind_optim::Problem {
        &mut self.problem
    }
    fn as_gauss_newton(&mut self) -> Box<dyn rewind_optim::Problem + '_> {
        Box::new(rewind_sim::GaussNewtonProblem(&mut self.problem))
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

/// The twin experiment for `model` from `x0`: the target is the state
/// reached after `steps` steps from `x0 + δ`, with weight `area`.
fn built<M: Model + Clone + Send + 'static>(
    model: M,
    x0: Vec<f64>,
    area: f64,
    steps: usize,
    strategy: Strategy,
    par: Par,
) -> Result<Box<dyn AnyProblem>> {
    let mut sim = rewind_sim::Sim::<M, f64>::new(model.clone(), par)?;
    let shifted: Vec<f64> = x0.iter().zip(direction(&x0, 0.9)).map(|(a, d)| a + 5.0 * d).collect();
    let target = rewind_sim::advance(&mut sim, &shifted, steps).context("the target run failed")?;
    // each parameter moved by about 1 % of its own size
    let v_p =
        sim.param_set().entries().iter().enumerate().flat_map(|(k, (_, v))| direction(v.values(), k as f64)).collect();
    let loss = TerminalMisfit { target, area };
    let problem = Problem::new(model, loss, strategy, steps, par)?;
    let v_x = direction(&x0, 0.4);
    Ok(Box::new(Built { problem, x0, truth: shifted, v_x, v_p }))
}

/// The default problem of model `name` (not ns2d) under `strategy`, with
/// `steps` steps if given.
pub(crate) fn build(name: SimName, strategy: Strategy, steps: Option<usize>, par: Par) -> Result<Box<dyn AnyProblem>> {
    let cell = |g: &Grid| g.dx * g.dy;
    Ok(match name {
        SimName::Ns2d => {
            let p = rewind_ns2d::spec::params(rewind_ns2d::spec::Size::S);
            let n = p.n;
            let m = rewind_ns2d::Ns2d::new(p)?;
            let area = cell(m.grid());
            built(m, rewind_ns2d::spec::field_a(n), area, steps.unwrap_or(100), strategy, par)?
        }
        SimName::Burgers => {
            let m = rewind_burgers::Burgers::new(rewind_burgers::Params::default())?;
            let (x0, area) = (m.initial(), m.grid().dx);
            built(m, x0, area, steps.unwrap_or(150), strategy, par)?
        }
        SimName::Cavity => {
            let n = 17;
            let p = rewind_cavity::Params {
                n,
                reynolds: 100.0,
                lid: 1.0,
                dt: rewind_cavity::Params::stable_dt(n, 100.0, 1.0),
            };
            let m = rewind_cavity::CavityStep::new(p)?;
            let g = *m.grid();
            let x0 = g.sample(|x, y| 3.0 * (5.0 * x).sin() * (4.0 * y).sin());
            built(m, x0, cell(&g), steps.unwrap_or(40), strategy, par)?
        }
        SimName::Lorenz96 => {
            let l = rewind_lorenz96::Lorenz96::default();
            let m = rewind_lorenz96::Lorenz96Field::new(l, 8.0)?;
            built(m, rewind_lorenz96::on_attractor(l, 500), 1.0, steps.unwrap_or(100), strategy, par)?
        }
        SimName::ShallowWater => {
            let m = rewind_shallow_water::ShallowWater::new(Default::default())?;
            let (x0, area) = (m.bump(0.1)?, cell(m.grid()));
            built(m, x0, area, steps.unwrap_or(100), strategy, par)?
        }
        SimName::GrayScott => {
            let m = rewind_gray_scott::GrayScott::new(Default::default())?;
            let (x0, area) = (m.initial()?, cell(m.grid()));
            built(m, x0, area, steps.unwrap_or(100), strategy, par)?
        }
    })
}

/// The model a command runs: `--sim`, or ns2d.
pub(crate) fn chosen(common: &crate::common::Common) -> SimName {
    common.sim.unwrap_or(SimName::Ns2d)
}

/// The default problem of `--sim` with the schedule, steps and threads of
/// the command line.
fn from_args(common: &crate::common::Common) -> Result<(Box<dyn AnyProblem>, crate::config::Config)> {
    let c = common.config()?;
    let strategy = crate::common::strategy(&c)?;
    let name = chosen(common);
    let p = build(name, strategy, common.steps, crate::common::par(&c))
        .with_context(|| format!("cannot set up the {} model", name.name()))?;
    Ok((p, c))
}

/// `rewind grad --sim NAME` and `rewind hvp --sim NAME` for the models
/// other than ns2d: the figures as JSON, with `check` if asked.
pub(crate) fn grad_figures(common: &crate::common::Common, second: bool, check: bool) -> Result<serde_json::Value> {
    use serde_json::json;
    let (mut p, c) = from_args(common)?;
    let name = chosen(common).name();
    crate::common::pool(&c)?.install(|| {
        let x0 = p.x0().to_vec();
        let (v_x, v_p) = (p.direction().0.to_vec(), p.direction().1.to_vec());
        let t0 = std::time::Instant::now();
        p.run(&x0, p.steps()).with_context(|| format!("the {name} primal run failed"))?;
        let primal_s = t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        let (g, hv) = if second {
            let h = p.hvp(&x0, &v_x, &v_p).with_context(|| format!("the {name} HVP failed"))?;
            (h.gradient.clone(), Some(h))
        } else {
            (p.gradient(&x0).with_context(|| format!("the {name} gradient failed"))?, None)
        };
        let secs = t0.elapsed().as_secs_f64();
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let params: serde_json::Map<String, serde_json::Value> = p
            .param_set()
            .entries()
            .iter()
            .map(|(n, v)| {
                let gp = g.param(n).unwrap_or(&[]);
                let shown = if v.is_field() { json!({ "norm": norm(gp) }) } else { json!(gp.first()) };
                (n.clone(), shown)
            })
            .collect();
        let mut report = json!({
            "model": name,
            "state": p.layout().fields().iter().chain(p.layout().scalars()).collect::<Vec<_>>(),
            "grid": [p.layout().grid().nx, p.layout().grid().ny],
            "steps": p.steps(),
            "schedule": c.gradient.schedule,
            "loss": g.objective,
            "grad_norm_x0": norm(&g.x0),
            "grad_params": params,
            "grad_norm": norm(&g.x0).hypot(norm(&g.params)),
            "primal_s": primal_s,
            if second { "hvp_s" } else { "grad_s" }: secs,
            if second { "hvp_over_primal" } else { "grad_over_primal" }: secs / primal_s,
            "cost": {
                "forward_steps": g.counters.forward_steps,
                "recomputation_factor": g.counters.forward_steps as f64 / p.steps().max(1) as f64,
                "peak_snapshots": g.counters.peak_snapshots,
                "peak_snapshot_bytes": g.counters.peak_snapshot_bytes,
            },
            "peak_rss_bytes": crate::common::peak_rss_bytes(),
            "threads": rayon::current_num_threads(),
        });
        if let Some(h) = &hv {
            report["hvp_norm"] = json!(norm(&h.x0).hypot(norm(&h.params)));
            report["v_dot_hvp"] =
                json!(h.x0.iter().zip(&v_x).chain(h.params.iter().zip(&v_p)).map(|(a, b)| a * b).sum::<f64>());
        }
        if check {
            let r = p.check().with_context(|| format!("the {name} check failed to run"))?;
            let (err, tol) = if second { (r.hvp_error, 1e-5) } else { (r.gradient_error, 1e-6) };
            report["check"] = json!({
                "what": if second {
                    "H v against central differences of gradients along v = (v_x, v_p)"
                } else {
                    "<grad J, v> against (J(z + eps v) - J(z - eps v)) / (2 eps), v = (v_x, v_p)"
                },
                "eps": r.eps, "relative_error": err, "tolerance": tol, "passed": err <= tol,
            });
        }
        Ok(report)
    })
}

/// `rewind run --sim NAME` for the models other than ns2d: advances the
/// default initial state and prints each part's range, the time per step;
/// writes the final state to `<out>/run-<model>.h5` unless `--no-files`.
pub(crate) fn run(common: &crate::common::Common) -> Result<()> {
    let (mut p, c) = from_args(common)?;
    let name = chosen(common).name();
    let steps = p.steps();
    let x0 = p.x0().to_vec();
    let t0 = std::time::Instant::now();
    let x = crate::common::pool(&c)?.install(|| p.run(&x0, steps)).with_context(|| format!("the {name} run failed"))?;
    let secs = t0.elapsed().as_secs_f64();
    let l = p.layout().clone();
    let mut parts = serde_json::Map::new();
    for part in l.fields().iter().chain(l.scalars()) {
        let v = l.part(&x, part)?;
        let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| (a.min(y), b.max(y)));
        parts.insert(part.clone(), serde_json::json!({ "min": lo, "max": hi }));
    }
    let report = serde_json::json!({
        "model": name, "steps": steps, "seconds": secs, "seconds_per_step": secs / steps.max(1) as f64,
        "final_state": parts,
    });
    if !common.no_files {
        let g = *l.grid();
        let dir = crate::common::out_dir(&c)?;
        let path = dir.join(format!("run-{name}.h5"));
        let mut out = rewind_io::Output::create(&path, rewind_io::GridInfo { nx: g.nx, ny: g.ny, dx: g.dx, dy: g.dy })?;
        out.attr("model", name)?;
        out.attr("report", &report.to_string())?;
        for f in l.fields() {
            out.field(f, l.part(&x, f)?)?;
        }
        out.finish()?;
    }
    if common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{name}: {steps} steps in {secs:.3} s");
        for (k, v) in &parts {
            println!(
                "  {k:<10} min {:>12.5e}  max {:>12.5e}",
                v["min"].as_f64().unwrap_or(f64::NAN),
                v["max"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}

/// `rewind hessian`: the dominant eigenpairs of the prior-preconditioned
/// Gauss–Newton Hessian of the model's twin experiment at its truth (the
/// minimiser), with a Gaussian background covariance of `length_cells`
/// cells and standard deviation `spread` × max|truth|, and the Laplace
/// posterior's pointwise standard deviation.
///
/// The eigensolver's blocks of products are spread over the ranks of
/// `ensemble`; every rank ends with the same figures, rank 0 reports them.
pub(crate) fn hessian(
    common: &crate::common::Common,
    a: &crate::hessian::Settings,
    ensemble: &rewind_sim::Ensemble,
) -> Result<()> {
    let (mut p, c) = from_args(common)?;
    let name = chosen(common).name();
    let l = p.layout().clone();
    a.check(l.len())?;
    let g = *l.grid();
    let truth = p.truth().to_vec();
    let scale = truth.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let spread = a.spread * if scale > 0.0 { scale } else { 1.0 };
    let cell = if g.nx > 1 { g.dx } else { g.dy };
    let kind = rewind_field::CorrelationKind::Gaussian;
    let mut b = rewind_field::Correlation::new(g, kind, a.length_cells * cell, spread * spread)
        .context("cannot make the background covariance")?;
    let spectrum = rewind_sim::Spectrum { k: a.k, oversample: a.oversample, seed: a.seed };
    let root = ensemble.is_root();
    let total = 2 * (a.k + a.oversample).min(l.len()) as u64;
    let bar = crate::common::progress_bar(total, "products", common.quiet || common.json || !root);
    let t0 = std::time::Instant::now();
    crate::common::global_pool(crate::common::threads(&c))?;
    let post = p
        .posterior(&truth, &mut b, spectrum, ensemble, &mut |d, _| bar.set_position(d as u64))
        .with_context(|| format!("the {name} eigensolver failed"))?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    if !root {
        return Ok(());
    }
    let mut std = serde_json::Map::new();
    for f in l.fields().iter().chain(l.scalars()) {
        let s = l.part(&post.std, f)?;
        std.insert(f.clone(), serde_json::json!(s.iter().sum::<f64>() / s.len().max(1) as f64));
    }
    let report = serde_json::json!({
        "model": name, "k": a.k, "oversample": a.oversample, "seed": a.seed, "products": post.products,
        "seconds": secs, "eigenvalues": post.eigenvalues, "background_std": spread,
        "length": a.length_cells * cell, "mean_posterior_std": std,
        "ranks": ensemble.size(), "threads_per_rank": crate::common::threads(&c),
        "exchange_s": ensemble.exchange_seconds(),
        "eigenvalue_bits": crate::common::bits(&post.eigenvalues),
        "posterior_std_bits": crate::common::bits(&post.std),
    });
    if !common.no_files {
        let dir = crate::common::out_dir(&c)?;
        let path = dir.join(format!("hessian-{name}.h5"));
        let mut out = rewind_io::Output::create(&path, rewind_io::GridInfo { nx: g.nx, ny: g.ny, dx: g.dx, dy: g.dy })?;
        out.attr("model", name)?;
        out.attr("report", &report.to_string())?;
        for f in l.fields() {
            out.field(&format!("posterior_std_{f}"), l.part(&post.std, f)?)?;
            for (j, u) in post.eigenvectors.iter().take(4).enumerate() {
                out.field(&format!("eigenvector_{j}_{f}"), l.part(u, f)?)?;
            }
        }
        let index: Vec<f64> = (0..post.eigenvalues.len()).map(|j| j as f64).collect();
        out.table("eigenvalues", &[("index", &index), ("value", &post.eigenvalues)])?;
        out.finish()?;
        let curve = rewind_io::plot::Curve {
            label: format!("{name}, k = {}", a.k),
            points: post.eigenvalues.iter().enumerate().map(|(j, &v)| (j as f64, v)).collect(),
        };
        let title = "eigenvalues of the prior-preconditioned Gauss–Newton Hessian";
        rewind_io::plot::decay(dir.join(format!("hessian-{name}-eigenvalues.png")), title, "index", &[curve])?;
        if g.nx > 1 && g.ny > 1 {
            let f = &l.fields()[0];
            let panels = [("truth", l.part(&truth, f)?), ("posterior std", l.part(&post.std, f)?)];
            rewind_io::plot::fields(dir.join(format!("hessian-{name}-std.png")), g.nx, g.ny, &panels, false)?;
        }
    }
    if common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{name}: {} eigenpairs from {} Gauss–Newton products in {secs:.2} s", a.k, post.products);
        let shown: Vec<String> = post.eigenvalues.iter().map(|v| format!("{v:.3e}")).collect();
        println!("  eigenvalues: {}", shown.join(" "));
        for (f, v) in &std {
            println!("  mean posterior std of {f}: {:.4e} (background {spread:.4e})", v.as_f64().unwrap_or(f64::NAN));
        }
    }
    Ok(())
}

/// `rewind sims`: every model, its state, parameters and default steps.
pub(crate) fn list(json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for s in SimName::ALL {
        let p = build(s, Strategy::StoreAll, None, Par::Seq)?;
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
        println!("{}", serde_json::to_string_pretty(&rows)?);
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

/// `rewind optimize --sim NAME` for the models other than ns2d: recover
/// the twin experiment's initial state from the default one with each
/// method, and print iterations, gradients, HVPs, time, final `J` and the
/// error against the truth.
pub(crate) fn optimize(
    common: &crate::common::Common,
    methods: &[crate::config::Method],
    max_iter: Option<usize>,
) -> Result<()> {
    use crate::config::Method;
    use rewind_optim::{Adam, FirstOrder, GradientDescent, Lbfgs, NewtonCg, Options, TrustRegionCg, minimize};
    let (mut p, c) = from_args(common)?;
    let name = chosen(common).name();
    let methods = if methods.is_empty() { c.optimize.methods.clone() } else { methods.to_vec() };
    let x0 = p.x0().to_vec();
    let truth = p.truth().to_vec();
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let err0 = norm(&x0.iter().zip(&truth).map(|(a, b)| a - b).collect::<Vec<_>>());
    let mut rows = Vec::new();
    crate::common::pool(&c)?.install(|| -> Result<()> {
        let mut g = vec![0.0; x0.len()];
        let j0 = p.as_optim().value_grad(&x0, &mut g).with_context(|| format!("the {name} gradient failed"))?;
        let g0 = norm(&g);
        let opts =
            Options { grad_tol: c.optimize.rel_grad_tol * g0, max_iter: max_iter.unwrap_or(c.optimize.max_iter) };
        for &m in &methods {
            let o = &c.optimize;
            let t0 = std::time::Instant::now();
            let r = match m {
                Method::Adam => minimize(&mut FirstOrder(Adam::new(o.learning_rate)), p.as_optim(), &x0, &opts),
                Method::Gd => minimize(&mut GradientDescent { step: 1.0 }, p.as_optim(), &x0, &opts),
                Method::Lbfgs => minimize(&mut Lbfgs::new(o.memory), p.as_optim(), &x0, &opts),
                Method::NewtonCg => minimize(&mut NewtonCg::new(o.max_cg), p.as_optim(), &x0, &opts),
                Method::TrustRegion => minimize(&mut TrustRegionCg::new(1.0, o.max_cg), p.as_optim(), &x0, &opts),
                Method::GaussNewton => minimize(&mut NewtonCg::new(o.max_cg), &mut *p.as_gauss_newton(), &x0, &opts),
            }
            .with_context(|| format!("{m} on {name} failed"))?;
            let secs = t0.elapsed().as_secs_f64();
            let err = norm(&r.state.x.iter().zip(&truth).map(|(a, b)| a - b).collect::<Vec<_>>());
            rows.push(serde_json::json!({
                "method": m.to_string(), "iterations": r.state.iter, "gradients": r.counts.grad, "hvps": r.counts.hvp,
                "seconds": secs, "initial_j": j0, "final_j": r.state.f, "error_vs_truth": err / err0.max(f64::MIN_POSITIVE),
            }));
        }
        Ok(())
    })?;
    let report =
        serde_json::json!({ "model": name, "steps": p.steps(), "schedule": c.gradient.schedule, "runs": rows });
    if common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{name}: recover the twin run's initial state ({} unknowns), {} steps, {}",
        x0.len(),
        p.steps(),
        c.gradient.schedule
    );
    println!(
        "{:>13} {:>6} {:>6} {:>6} {:>9} {:>12} {:>16}",
        "method", "iters", "grads", "HVPs", "time (s)", "J final", "error/initial"
    );
    for r in report["runs"].as_array().into_iter().flatten() {
        println!(
            "{:>13} {:>6} {:>6} {:>6} {:>9.3} {:>12.4e} {:>16.3e}",
            r["method"].as_str().unwrap_or(""),
            r["iterations"],
            r["gradients"],
            r["hvps"],
            r["seconds"].as_f64().unwrap_or(f64::NAN),
            r["final_j"].as_f64().unwrap_or(f64::NAN),
            r["error_vs_truth"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
