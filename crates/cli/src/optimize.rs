//! `rewind optimize`: the flagship inverse problem — recover the initial
//! vorticity of the periodic flow from sparse noisy observations at
//! several times (the shape of 4D-Var), with gradients and HVPs through
//! the checkpoint driver — with one or several methods.
//!
//! **Resumable.** After every iteration the whole run — iterate, gradient,
//! the solver's memory (L-BFGS pairs, Adam moments, trust radius), history
//! and counts — is saved atomically to `optimize-<method>.json` in the
//! output directory. Running the same command again continues from the last
//! saved iteration with nothing lost: the resumed run is bit-for-bit the
//! run that was not interrupted. `--restart` discards saved runs.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rewind_field::Grid;
use rewind_io::Output;
use rewind_io::plot::Curve;
use rewind_ns2d::Ns2d;
use rewind_ns2d::spec;
use rewind_optim::solver::terminate;
use rewind_optim::{
    Adam, Counted, Counts, FirstOrder, GradientDescent, Lbfgs, NewtonCg, OptimError, Options, Problem, Record, Solver,
    State, Termination, TrustRegionCg,
};
use rewind_sim::{Background, Covariance, Noise, Observations, Sum};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::common::{self, Common, norm};
use crate::config::{Config, Method};

/// Arguments of `rewind optimize`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Methods, comma-separated (overrides optimize.methods): adam, gd,
    /// lbfgs, newton-cg, trust-region.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub(crate) method: Vec<Method>,
    /// Most iterations per method (overrides optimize.max_iter).
    #[arg(long)]
    pub(crate) max_iter: Option<usize>,
    /// Discard saved runs and start again.
    #[arg(long)]
    pub(crate) restart: bool,
    /// Kill the process right after saving this iteration (simulates an
    /// interruption, for tests).
    #[arg(long, hide = true)]
    pub(crate) abort_after: Option<usize>,
    /// Fit one initial state to the observations under an ensemble of K
    /// models whose viscosities spread around the configured one (the
    /// objective is the sum of the members' objectives); under `mpirun` the
    /// members run on different ranks.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub(crate) members: usize,
    /// The members' viscosities span ν (1 ± SPREAD), evenly.
    #[arg(long, default_value_t = 0.5, value_name = "SPREAD")]
    pub(crate) member_spread: f64,
}

/// The inverse problem: the simulation as an optimisation problem over
/// `ω₀` ([`rewind_sim::Problem`]), and the truth it should recover.
pub(crate) struct Inverse {
    pub(crate) problem: rewind_sim::Problem<Ns2d, Loss>,
    pub(crate) truth: Vec<f64>,
    /// With `--members K > 1`: the ensemble's models (the same loss, each
    /// its own viscosity); the objective is their sum ([`rewind_ensemble::Sum`]).
    pub(crate) members: Vec<rewind_sim::Problem<Ns2d, Loss>>,
}

/// The observations and a smoothness regulariser on `ω₀`,
/// `½ β h² Σ |∇ω₀|²` (weight 0 without `optimize.beta`).
type Loss = Sum<Observations, Background>;

impl Inverse {
    /// The problem of the configuration: the truth is field B; it is
    /// observed at every `stride`-th point after each of `times` steps,
    /// with Gaussian noise.
    pub(crate) fn new(c: &Config) -> Result<Self> {
        let s = &c.simulation;
        let o = &c.observations;
        let grid: Grid = common::grid(c);
        let truth = spec::field_b(s.n);
        let mut sim = common::ns2d::<f64>(c)?;
        let states =
            rewind_sim::states_at(&mut sim, &truth, &o.times).context("the true flow (from field B) failed")?;
        let observations = Observations::of("vorticity").points(grid.strided(o.stride)).sigma(o.sigma).noisy(
            sim.layout(),
            &o.times,
            &states,
            &mut Noise::new(o.seed),
        )?;
        let smooth = Background::state("vorticity", vec![0.0; grid.len()])
            .covariance(Covariance::Smoothness(grid.dx * grid.dy))
            .weight(c.optimize.beta);
        let loss = Sum(observations, smooth);
        let problem = rewind_sim::Problem::new(sim.model().clone(), loss, common::strategy(c)?, s.steps, sim.par())
            .context("cannot set up the inverse problem")?
            .with_disk_dir(c.gradient.snapshot_dir.clone().unwrap_or_else(std::env::temp_dir));
        Ok(Inverse { problem, truth, members: Vec::new() })
    }

    /// The same observations under `k` models with viscosities spread
    /// evenly over `ν (1 ± spread)` (`k > 1`; cheap: nothing runs yet).
    pub(crate) fn with_members(mut self, c: &Config, k: usize, spread: f64) -> Result<Self> {
        if k < 2 {
            return Ok(self);
        }
        if !(0.0..1.0).contains(&spread) {
            bail!("--member-spread {spread}: must be in [0, 1) (the viscosities ν (1 ± spread) stay positive)");
        }
        let nu = c.simulation.nu;
        for m in 0..k {
            let nu_m = nu * (1.0 + spread * (2.0 * m as f64 / (k - 1) as f64 - 1.0));
            let mut p = rewind_sim::Problem::new(
                self.problem.model().clone(),
                self.problem.loss().clone(),
                common::strategy(c)?,
                c.simulation.steps,
                self.problem.sim().par(),
            )?
            .with_disk_dir(c.gradient.snapshot_dir.clone().unwrap_or_else(std::env::temp_dir));
            p.set_param("nu", &[nu_m])?;
            self.members.push(p);
        }
        Ok(self)
    }

    /// The members' viscosities (empty without members).
    fn member_nus(&self) -> Vec<f64> {
        self.members.iter().filter_map(|p| p.param_set().range("nu").ok().map(|r| p.param_values()[r.start])).collect()
    }

    /// The misfit part of `J` at `x` (primal runs only).
    pub(crate) fn misfit(&mut self, x: &[f64]) -> Result<f64> {
        let observations = self.problem.loss().0.clone();
        Ok(self.problem.value_of(x, observations)?)
    }

    /// The observations at the first time as a field (NaN where unobserved).
    pub(crate) fn observed_field(&self) -> Vec<f64> {
        let obs = &self.problem.loss().0;
        let mut f = vec![f64::NAN; self.problem.layout().grid().len()];
        if let (Some((_, y)), Some(points)) = (obs.data().first(), obs.observed_points()) {
            for (&k, &v) in points.iter().zip(y) {
                f[k] = v;
            }
        }
        f
    }
}

/// A solver of any method, as plain data (saved with the run).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum AnySolver {
    Adam(FirstOrder<Adam>),
    Gd(GradientDescent),
    Lbfgs(Lbfgs),
    NewtonCg(NewtonCg),
    TrustRegion(TrustRegionCg),
    /// Newton-CG run on the Gauss–Newton view of the problem.
    GaussNewton(NewtonCg),
}

impl AnySolver {
    fn new(m: Method, c: &Config) -> Self {
        let o = &c.optimize;
        match m {
            Method::Adam => AnySolver::Adam(FirstOrder(Adam::new(o.learning_rate))),
            Method::Gd => AnySolver::Gd(GradientDescent { step: 1.0 }),
            Method::Lbfgs => AnySolver::Lbfgs(Lbfgs::new(o.memory)),
            Method::NewtonCg => AnySolver::NewtonCg(NewtonCg::new(o.max_cg)),
            Method::TrustRegion => AnySolver::TrustRegion(TrustRegionCg::new(1.0, o.max_cg)),
            Method::GaussNewton => AnySolver::GaussNewton(NewtonCg::new(o.max_cg)),
        }
    }

    fn next_iter<P: Problem + ?Sized>(&mut self, p: &mut Counted<'_, P>, s: &mut State) -> Result<(), OptimError> {
        match self {
            AnySolver::Adam(x) => x.next_iter(p, s),
            AnySolver::Gd(x) => x.next_iter(p, s),
            AnySolver::Lbfgs(x) => x.next_iter(p, s),
            AnySolver::NewtonCg(x) => x.next_iter(p, s),
            AnySolver::TrustRegion(x) => x.next_iter(p, s),
            AnySolver::GaussNewton(x) => x.next_iter(p, s),
        }
    }
}

/// One method's run, saved after every iteration.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    /// Layout version of this file.
    format: u32,
    /// The configuration it was started with (TOML).
    config: String,
    method: Method,
    solver: AnySolver,
    state: State,
    history: Vec<Record>,
    counts: Counts,
    /// `‖∇J(0)‖`, the scale of the stopping test.
    g0: f64,
    /// Why it ended, once it has.
    termination: Option<Termination>,
    /// Wall time spent iterating, over all sessions.
    seconds: f64,
}

const FORMAT: u32 = 1;

/// What the ns2d inverse problem is, for the files.
const PROBLEM: &str = "recover the initial vorticity of the ns2d periodic flow from sparse noisy observations (docs/specs/ns2d-periodic.md)";

fn load(path: &Path, config: &str) -> Result<Saved> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let saved: Saved = serde_json::from_str(&text).with_context(|| {
        format!("{} is not a saved rewind optimisation (use --restart to discard it)", path.display())
    })?;
    if saved.format != FORMAT {
        bail!("{} has format {}, this rewind reads {FORMAT}; use --restart", path.display(), saved.format);
    }
    if saved.config != config {
        bail!(
            "{} was started with another configuration; run with the same configuration to resume, or --restart",
            path.display()
        );
    }
    Ok(saved)
}

/// What one method's resumable run works on: a first guess, an identity
/// (a saved run resumes only under the same one), and the objective the
/// solvers see.
trait Source {
    /// The first guess.
    fn start(&self) -> Vec<f64>;
    /// What a saved run must have been started with to be resumed.
    fn identity(&self) -> String;
    /// The objective, with Gauss–Newton products as its Hessian products
    /// if `gauss_newton`.
    fn objective(&mut self, gauss_newton: bool) -> Result<Box<dyn Problem + '_>>;
}

/// ns2d's inverse problem (and its ensemble of members).
struct Ns2dSource<'a> {
    inverse: &'a mut Inverse,
    ensemble: &'a rewind_ensemble::Ensemble,
    config: String,
}

impl Source for Ns2dSource<'_> {
    fn start(&self) -> Vec<f64> {
        vec![0.0; self.inverse.problem.dim()]
    }
    fn identity(&self) -> String {
        self.config.clone()
    }
    fn objective(&mut self, gauss_newton: bool) -> Result<Box<dyn Problem + '_>> {
        objective(self.inverse, self.ensemble, gauss_newton)
    }
}

/// Another model's twin experiment, from its default state.
struct TwinSource<'a> {
    problem: &'a mut dyn crate::models::AnyProblem,
    identity: String,
}

impl Source for TwinSource<'_> {
    fn start(&self) -> Vec<f64> {
        self.problem.x0().to_vec()
    }
    fn identity(&self) -> String {
        self.identity.clone()
    }
    fn objective(&mut self, gauss_newton: bool) -> Result<Box<dyn Problem + '_>> {
        Ok(if gauss_newton { self.problem.as_gauss_newton() } else { Box::new(self.problem.as_optim()) })
    }
}

/// Runs (or resumes) one method to its end.
fn one_method(
    a: &Args,
    c: &Config,
    source: &mut dyn Source,
    method: Method,
    dir: &Path,
    ensemble: &rewind_ensemble::Ensemble,
) -> Result<Saved> {
    let config = source.identity();
    let root = ensemble.is_root();
    let path = dir.join(format!("optimize-{method}.json"));
    let save = |s: &Saved| -> Result<()> {
        // rank 0 saves; a resumed run reads it on every rank
        if !a.common.no_files && root {
            rewind_io::write_atomic(&path, serde_json::to_string(s)?.as_bytes())?;
        }
        Ok(())
    };
    let mut saved = if !a.restart && !a.common.no_files && path.exists() {
        let s = load(&path, &config)?;
        if !a.common.quiet && root {
            // on stderr, so that --json output stays one object
            eprintln!("{method}: resuming from iteration {} ({})", s.state.iter, path.display());
        }
        s
    } else {
        let x0 = source.start();
        let mut objective = source.objective(false)?;
        let mut p = Counted::new(&mut *objective);
        let mut g = vec![0.0; x0.len()];
        let f = p.value_grad(&x0, &mut g).context("the objective failed at the first guess")?;
        let g0 = norm(&g);
        let state = State { x: x0, f, g, iter: 0, stalled: false };
        let history = vec![Record { iter: 0, f, grad_norm: g0, counts: p.counts }];
        let s = Saved {
            format: FORMAT,
            config: config.clone(),
            method,
            solver: AnySolver::new(method, c),
            state,
            history,
            counts: p.counts,
            g0,
            termination: None,
            seconds: 0.0,
        };
        save(&s)?;
        s
    };
    let opts = Options { grad_tol: c.optimize.rel_grad_tol * saved.g0, max_iter: c.optimize.max_iter };
    let bar = common::progress_bar(opts.max_iter as u64, &method.to_string(), a.common.quiet || a.common.json || !root);
    bar.set_position(saved.state.iter as u64);
    while saved.termination.is_none() {
        if let Some(t) = terminate(&saved.state, &opts) {
            saved.termination = Some(t);
            save(&saved)?;
            break;
        }
        let t0 = Instant::now();
        let step = {
            let mut objective = source.objective(method == Method::GaussNewton)?;
            let mut p = Counted { inner: &mut *objective, counts: saved.counts };
            let r = saved.solver.next_iter(&mut p, &mut saved.state);
            saved.counts = p.counts;
            r
        };
        step.with_context(|| format!("{method} failed in iteration {}", saved.state.iter + 1))?;
        saved.state.iter += 1;
        saved.seconds += t0.elapsed().as_secs_f64();
        saved.history.push(Record {
            iter: saved.state.iter,
            f: saved.state.f,
            grad_norm: norm(&saved.state.g),
            counts: saved.counts,
        });
        save(&saved)?;
        bar.set_position(saved.state.iter as u64);
        bar.set_message(format!("{method} J={:.3e}", saved.state.f));
        if a.abort_after == Some(saved.state.iter) {
            eprintln!("{method}: aborting after iteration {} as asked (--abort-after)", saved.state.iter);
            std::process::abort();
        }
    }
    bar.finish_and_clear();
    Ok(saved)
}

/// The objective the solvers see: the problem, or the sum over the
/// members spread over `ensemble`; with Gauss–Newton products as its
/// Hessian products if `gauss_newton`.
fn objective<'a>(
    inverse: &'a mut Inverse,
    ensemble: &'a rewind_ensemble::Ensemble,
    gauss_newton: bool,
) -> Result<Box<dyn Problem + 'a>> {
    Ok(match (inverse.members.is_empty(), gauss_newton) {
        (true, false) => Box::new(&mut inverse.problem),
        (true, true) => Box::new(rewind_sim::GaussNewtonProblem(&mut inverse.problem)),
        (false, false) => Box::new(rewind_ensemble::Sum::new(ensemble, inverse.members.iter_mut().collect())?),
        (false, true) => Box::new(rewind_ensemble::Sum::new(
            ensemble,
            inverse.members.iter_mut().map(rewind_sim::GaussNewtonProblem).collect(),
        )?),
    })
}

/// `rewind optimize` (and the optimisation part of `rewind demo`).
pub(crate) fn main(a: &Args, ensemble: &rewind_ensemble::Ensemble) -> Result<()> {
    if a.members == 0 {
        bail!("--members 0: at least one model (1, the default, is no ensemble)");
    }
    if crate::models::chosen(&a.common) != crate::sims::SimName::Ns2d {
        if a.members > 1 {
            bail!("--members is for the ns2d problem (the viscosity ensemble)");
        }
        return twin(a, ensemble);
    }
    let report = solve(a, ensemble)?;
    if ensemble.is_root() {
        print_report(&report, a.common.json)?;
    }
    Ok(())
}

pub(crate) fn solve(a: &Args, ensemble: &rewind_ensemble::Ensemble) -> Result<serde_json::Value> {
    let mut c = a.common.config()?;
    let f = crate::models::ns2d_footprint(&c)?;
    crate::memory::check_fits(&mut c, &f, crate::memory::Need::Hvp)?;
    if !a.method.is_empty() {
        c.optimize.methods = a.method.clone();
    }
    if let Some(m) = a.max_iter {
        c.optimize.max_iter = m;
    }
    c.validate("command line").map_err(|e| anyhow::anyhow!("{e}"))?;
    // the kernels in the global pool, so that an ensemble's exchanges
    // stay on the main thread
    common::global_pool(common::threads(&c))?;
    let root = ensemble.is_root();
    {
        let dir = if a.common.no_files || !root { c.output.dir.clone() } else { common::out_dir(&c)? };
        let mut inverse = Inverse::new(&c)?.with_members(&c, a.members, a.member_spread)?;
        let mut runs = Vec::new();
        for &m in &c.optimize.methods {
            let mut source = Ns2dSource { inverse: &mut inverse, ensemble, config: c.to_toml() };
            runs.push(one_method(a, &c, &mut source, m, &dir, ensemble)?);
        }
        let truth = inverse.truth.clone();
        let mut rows = Vec::new();
        for s in &runs {
            let err: Vec<f64> = s.state.x.iter().zip(&truth).map(|(a, b)| a - b).collect();
            rows.push(json!({
                "method": s.method.to_string(),
                "iterations": s.state.iter,
                "termination": format!("{:?}", s.termination.unwrap_or(Termination::MaxIterations)),
                "values": s.counts.f,
                "gradients": s.counts.grad,
                "hvps": s.counts.hvp,
                "wall_s": s.seconds,
                "objective": s.state.f,
                "objective_at_start": s.history.first().map_or(f64::NAN, |r| r.f),
                "misfit": inverse.misfit(&s.state.x)?,
                "grad_norm_relative": norm(&s.state.g) / s.g0,
                "error_vs_truth": norm(&err) / norm(&truth),
                "x_bits": common::bits(&s.state.x),
            }));
        }
        let obs = &inverse.problem.loss().0;
        let (nobs, ntimes) = (obs.count(), obs.data().len());
        let npoints = obs.observed_points().map_or(0, <[usize]>::len);
        let mut files = Vec::new();
        if !a.common.no_files && root {
            let path = dir.join("optimize.h5");
            let mut out = Output::create(&path, common::grid_info(&c))?;
            common::metadata(&out, &c, "optimize", PROBLEM)?;
            let observed = inverse.observed_field();
            out.field("truth", &truth)?;
            out.field("observed_first_time", &observed)?;
            out.describe("truth", "the true initial vorticity", "1/time (vorticity)")?;
            out.describe(
                "observed_first_time",
                "the noisy observations of the vorticity at the first observation time; NaN where the point is not observed",
                "1/time (vorticity)",
            )?;
            for s in &runs {
                out.field(&format!("recovered_{}", s.method), &s.state.x)?;
                let what = format!("the initial vorticity {} recovered", s.method);
                out.describe(&format!("recovered_{}", s.method), &what, "1/time (vorticity)")?;
                let col = |f: &dyn Fn(&Record) -> f64| s.history.iter().map(f).collect::<Vec<f64>>();
                let count = |f: &dyn Fn(&Record) -> u64| s.history.iter().map(f).collect::<Vec<u64>>();
                let (f, gn) = (col(&|r| r.f), col(&|r| r.grad_norm));
                let (it, ng, nh) = (count(&|r| r.iter as u64), count(&|r| r.counts.grad), count(&|r| r.counts.hvp));
                use rewind_io::Column::{Float, Int};
                out.table(
                    &format!("history_{}", s.method),
                    &[
                        ("iter", Int(&it)),
                        ("objective", Float(&f)),
                        ("grad_norm", Float(&gn)),
                        ("gradients", Int(&ng)),
                        ("hvps", Int(&nh)),
                    ],
                )?;
            }
            let p = out.finish()?;
            files.push(p.display().to_string());
            files.push(p.with_extension("xmf").display().to_string());
            if c.output.plots {
                let titles: Vec<String> = runs.iter().map(|s| format!("recovered ({})", s.method)).collect();
                let mut panels: Vec<(&str, &[f64])> = vec![("true ω₀", &truth), ("observed (first time)", &observed)];
                for (t, s) in titles.iter().zip(&runs) {
                    panels.push((t, &s.state.x));
                }
                let fp = dir.join("fields.png");
                rewind_io::plot::fields(&fp, common::grid_info(&c), &panels, true)?;
                let curves = |f: &dyn Fn(&Record) -> f64| -> Vec<Curve> {
                    runs.iter()
                        .map(|s| Curve {
                            label: s.method.to_string(),
                            points: s.history.iter().map(|r| (r.iter as f64, f(r))).collect(),
                        })
                        .collect()
                };
                let cp = dir.join("convergence.png");
                rewind_io::plot::convergence(&cp, &curves(&|r| r.f), &curves(&|r| r.grad_norm))?;
                files.push(fp.display().to_string());
                files.push(cp.display().to_string());
            }
        }
        Ok(json!({
            "problem": format!(
                "recover w0 on {n}x{n} from {nobs} noisy observations ({npoints} points x {} times, sigma = {}), beta = {}",
                ntimes, c.observations.sigma, c.optimize.beta, n = c.simulation.n
            ),
            "schedule": c.gradient.schedule,
            "steps": c.simulation.steps,
            "expected_misfit_at_truth": nobs as f64 / 2.0,
            "members": inverse.members.len().max(1),
            "member_nu": inverse.member_nus(),
            "ranks": ensemble.size(),
            "runs": rows,
            "files": files,
            "peak_rss_bytes": common::peak_rss_bytes(),
        }))
    }
}

pub(crate) fn print_report(r: &serde_json::Value, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!("{}", r["problem"].as_str().unwrap_or(""));
    println!("schedule {}, {} steps", r["schedule"].as_str().unwrap_or(""), r["steps"]);
    println!(
        "{:>12} {:>6} {:>14} {:>6} {:>5} {:>9} {:>12} {:>12} {:>10} {:>8}",
        "method", "iters", "stopped", "grads", "HVPs", "time (s)", "J final", "misfit", "|g|/|g0|", "error"
    );
    for row in r["runs"].as_array().into_iter().flatten() {
        let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:>12} {:>6} {:>14} {:>6} {:>5} {:>9.2} {:>12.4e} {:>12.4e} {:>10.2e} {:>8.4}",
            row["method"].as_str().unwrap_or(""),
            row["iterations"].as_u64().unwrap_or(0),
            row["termination"].as_str().unwrap_or(""),
            row["gradients"].as_u64().unwrap_or(0),
            row["hvps"].as_u64().unwrap_or(0),
            f("wall_s"),
            f("objective"),
            f("misfit"),
            f("grad_norm_relative"),
            f("error_vs_truth"),
        );
    }
    println!("(misfit expected at the truth from the noise alone: about {})", r["expected_misfit_at_truth"]);
    for f in r["files"].as_array().into_iter().flatten() {
        println!("wrote {}", f.as_str().unwrap_or(""));
    }
    Ok(())
}

/// `rewind optimize --sim NAME` for the models other than ns2d: recover
/// the twin experiment's initial state from the default one with each
/// method — resumable as ns2d's runs are — and print iterations,
/// gradients, HVPs, time, final `J` and the error against the truth.
pub(crate) fn twin(a: &Args, ensemble: &rewind_ensemble::Ensemble) -> Result<()> {
    let common = &a.common;
    let (mut p, mut c) = crate::models::from_args(common, crate::memory::Need::Hvp)?;
    let name = crate::models::chosen(common).name();
    if !a.method.is_empty() {
        c.optimize.methods = a.method.clone();
    }
    if let Some(m) = a.max_iter {
        c.optimize.max_iter = m;
    }
    let methods = c.optimize.methods.clone();
    let x0 = p.x0().to_vec();
    let truth = p.truth().to_vec();
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let err0 = norm(&x0.iter().zip(&truth).map(|(a, b)| a - b).collect::<Vec<_>>());
    // errors relative to the truth's size, as the ns2d problem and assimilate report them
    let tnorm = norm(&truth).max(f64::MIN_POSITIVE);
    let grid = *p.layout().grid();
    // a saved run resumes only for the same model, grid, steps and configuration
    let identity = format!("{}\n# model {name}, grid {}x{}, {} steps\n", c.to_toml(), grid.nx, grid.ny, p.steps());
    let dir = if common.no_files { c.output.dir.clone() } else { common::out_dir(&c)? };
    // the kernels in the global pool, as for ns2d (the runner may talk to
    // the other ranks from the main thread)
    common::global_pool(common::threads(&c))?;
    let mut runs = Vec::new();
    for &m in &methods {
        let mut source = TwinSource { problem: p.as_mut(), identity: identity.clone() };
        runs.push(one_method(a, &c, &mut source, m, &dir, ensemble)?);
    }
    let mut rows = Vec::new();
    let mut recovered: Vec<(String, Vec<f64>)> = Vec::new();
    for s in &runs {
        let err = norm(&s.state.x.iter().zip(&truth).map(|(a, b)| a - b).collect::<Vec<_>>());
        recovered.push((s.method.to_string(), s.state.x.clone()));
        rows.push(serde_json::json!({
            "method": s.method.to_string(), "iterations": s.state.iter, "gradients": s.counts.grad, "hvps": s.counts.hvp,
            "termination": format!("{:?}", s.termination.unwrap_or(Termination::MaxIterations)),
            "wall_s": s.seconds, "objective_at_start": s.history.first().map_or(f64::NAN, |r| r.f), "objective": s.state.f,
            "error_vs_truth": err / tnorm, "error_vs_truth_at_start": err0 / tnorm,
        }));
    }
    let report =
        serde_json::json!({ "model": name, "steps": p.steps(), "schedule": c.gradient.schedule, "runs": rows });
    if !common.no_files {
        // the truth, the start and each method's result, field by field
        let l = p.layout();
        let g = *l.grid();
        let dir = common::out_dir(&c)?;
        let mut out =
            Output::create(dir.join("optimize.h5"), rewind_io::GridInfo { nx: g.nx, ny: g.ny, dx: g.dx, dy: g.dy })?;
        common::metadata(&out, &c, "optimize", p.about())?;
        out.attr("model", name)?;
        out.attr("report", &report.to_string())?;
        for f in l.fields() {
            let units = format!("model units of {f}");
            for (name, what, x) in
                [("truth", "the twin run's true initial state", &truth), ("initial", "the starting point", &x0)]
            {
                out.field(&format!("{name}_{f}"), l.part(x, f)?)?;
                out.describe(&format!("{name}_{f}"), &format!("{what}, field {f}"), &units)?;
            }
            for (m, x) in &recovered {
                out.field(&format!("recovered_{m}_{f}"), l.part(x, f)?)?;
                out.describe(
                    &format!("recovered_{m}_{f}"),
                    &format!("the initial state {m} recovered, field {f}"),
                    &units,
                )?;
            }
        }
        out.finish()?;
    }
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
        "method", "iters", "grads", "HVPs", "time (s)", "J final", "error/|truth|"
    );
    for r in report["runs"].as_array().into_iter().flatten() {
        println!(
            "{:>13} {:>6} {:>6} {:>6} {:>9.3} {:>12.4e} {:>16.3e}",
            r["method"].as_str().unwrap_or(""),
            r["iterations"],
            r["gradients"],
            r["hvps"],
            r["wall_s"].as_f64().unwrap_or(f64::NAN),
            r["objective"].as_f64().unwrap_or(f64::NAN),
            r["error_vs_truth"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
