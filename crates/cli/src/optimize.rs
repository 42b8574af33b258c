//! `rewind optimize`: recover a model's initial state from sparse noisy
//! observations at several times (the shape of 4D-Var; ns2d's is the
//! flagship), with gradients and HVPs through the checkpoint driver — with
//! one or several methods. The problem is the registry's
//! ([`crate::inverse`]): one path for every model.
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
use rewind_io::Output;
use rewind_io::plot::Curve;
use rewind_optim::solver::terminate;
use rewind_optim::{
    Adam, Counted, Counts, FirstOrder, GradientDescent, Hessian, Lbfgs, NewtonCg, OptimError, Options, Record, Solver,
    State, Termination, TrustRegionCg,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::common::{self, Common, norm};
use crate::config::{Config, Optimizer};
use crate::inverse::AnyInverse;

/// Arguments of `rewind optimize`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Methods, comma-separated (overrides optimize.methods): adam, gd,
    /// lbfgs, newton-cg, trust-region.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub(crate) method: Vec<Optimizer>,
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
    fn new(m: Optimizer, c: &Config) -> Self {
        let o = &c.optimize;
        match m {
            Optimizer::Adam => AnySolver::Adam(FirstOrder(Adam::new(o.learning_rate))),
            Optimizer::Gd => AnySolver::Gd(GradientDescent { step: 1.0 }),
            Optimizer::Lbfgs => AnySolver::Lbfgs(Lbfgs::new(o.memory)),
            Optimizer::NewtonCg => AnySolver::NewtonCg(NewtonCg::new(o.max_cg)),
            Optimizer::TrustRegion => AnySolver::TrustRegion(TrustRegionCg::new(1.0, o.max_cg)),
            Optimizer::GaussNewton => AnySolver::GaussNewton(NewtonCg::new(o.max_cg)),
        }
    }

    fn next_iter<P: Hessian + ?Sized>(&mut self, p: &mut Counted<'_, P>, s: &mut State) -> Result<(), OptimError> {
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
    method: Optimizer,
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

/// Runs (or resumes) one method to its end.
fn one_method(
    a: &Args,
    c: &Config,
    inverse: &mut dyn AnyInverse,
    identity: &str,
    method: Optimizer,
    dir: &Path,
    ensemble: &rewind_ensemble::Ensemble,
) -> Result<Saved> {
    let config = identity.to_string();
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
        let x0 = inverse.start().to_vec();
        let mut objective = inverse.objective(ensemble, false)?;
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
            let mut objective = inverse.objective(ensemble, method == Optimizer::GaussNewton)?;
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

/// `rewind optimize`: every method on the model's inverse problem, then
/// the report.
pub(crate) fn main(a: &Args, ensemble: &rewind_ensemble::Ensemble) -> Result<()> {
    let report = solve(a, ensemble)?;
    if ensemble.is_root() {
        print_report(&report, a.common.json)?;
    }
    Ok(())
}

pub(crate) fn solve(a: &Args, ensemble: &rewind_ensemble::Ensemble) -> Result<serde_json::Value> {
    let (mut inverse, mut c) = crate::inverse::from_args(&a.common, a.members, a.member_spread)?;
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
    let dir = if a.common.no_files || !root { c.output.dir.clone() } else { common::out_dir(&c)? };
    let (model, steps) = (inverse.model(), inverse.steps());
    let layout = inverse.layout().clone();
    let grid = *layout.grid();
    // a saved run resumes only for the same model, grid, steps and configuration
    let identity = format!("{}\n# model {model}, grid {}x{}, {steps} steps\n", c.to_toml(), grid.nx, grid.ny);
    let mut runs = Vec::new();
    for &m in &c.optimize.methods {
        runs.push(one_method(a, &c, inverse.as_mut(), &identity, m, &dir, ensemble)?);
    }
    let (start, truth) = (inverse.start().to_vec(), inverse.truth().to_vec());
    let error = |x: &[f64]| norm(&x.iter().zip(&truth).map(|(a, b)| a - b).collect::<Vec<_>>()) / norm(&truth);
    let mut rows = Vec::new();
    for s in &runs {
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
            "error_vs_truth": error(&s.state.x),
            "error_vs_truth_at_start": error(&start),
            "x_bits": common::bits(&s.state.x),
        }));
    }
    let obs = inverse.observations();
    let (nobs, ntimes, field) = (obs.count(), obs.data().len(), obs.part().to_string());
    let npoints = obs.observed_points().map_or(0, <[usize]>::len);
    let problem = format!(
        "{model}: recover x0 ({} unknowns) from {nobs} noisy observations of {field} ({npoints} points x {ntimes} times, sigma = {}), smoothness beta = {}",
        start.len(),
        c.observations.sigma,
        c.optimize.beta
    );
    let mut files = Vec::new();
    if !a.common.no_files && root {
        files = write_files(&dir, &c, inverse.as_ref(), &runs, &problem)?;
    }
    Ok(json!({
        "model": model,
        "problem": problem,
        "schedule": c.gradient.schedule,
        "steps": steps,
        "expected_misfit_at_truth": nobs as f64 / 2.0,
        "members": inverse.member_nus().len().max(1),
        "member_nu": inverse.member_nus(),
        "ranks": ensemble.size(),
        "runs": rows,
        "files": files,
        "peak_rss_bytes": common::peak_rss_bytes(),
    }))
}

/// `optimize.h5` (truth, start, observations, each method's result field
/// by field, and its history), `convergence.png` and, for 2D models,
/// `fields.png` (the first field).
fn write_files(dir: &Path, c: &Config, inverse: &dyn AnyInverse, runs: &[Saved], problem: &str) -> Result<Vec<String>> {
    let l = inverse.layout();
    let g = *l.grid();
    let info = common::grid_info(&g);
    let path = dir.join("optimize.h5");
    let mut out = Output::create(&path, info)?;
    common::metadata(&out, c, "optimize", problem)?;
    out.attr("model", inverse.model())?;
    let obs = inverse.observations();
    let mut observed = vec![f64::NAN; g.len()];
    if let (Some((_, y)), Some(points)) = (obs.data().first(), obs.observed_points()) {
        for (&k, &v) in points.iter().zip(y) {
            observed[k] = v;
        }
    }
    out.field("observed_first_time", &observed)?;
    let what = format!(
        "the noisy observations of {} at the first observation time; NaN where the point is not observed",
        obs.part()
    );
    out.describe("observed_first_time", &what, &format!("model units of {}", obs.part()))?;
    for f in l.fields() {
        let units = format!("model units of {f}");
        for (name, what, x) in
            [("truth", "the true initial state", inverse.truth()), ("start", "the starting point", inverse.start())]
        {
            out.field(&format!("{name}_{f}"), l.part(x, f)?)?;
            out.describe(&format!("{name}_{f}"), &format!("{what}, field {f}"), &units)?;
        }
        for s in runs {
            let name = format!("recovered_{}_{f}", s.method);
            out.field(&name, l.part(&s.state.x, f)?)?;
            out.describe(&name, &format!("the initial state {} recovered, field {f}", s.method), &units)?;
        }
    }
    for s in runs {
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
    let mut files = vec![p.display().to_string(), p.with_extension("xmf").display().to_string()];
    if c.output.plots {
        let f0 = &l.fields()[0];
        let titles: Vec<String> = runs.iter().map(|s| format!("recovered {f0} ({})", s.method)).collect();
        let (truth_title, observed_title) = (format!("true {f0}"), format!("{f0} observed (first time)"));
        let mut panels: Vec<(&str, &[f64])> =
            vec![(&truth_title, l.part(inverse.truth(), f0)?), (&observed_title, &observed)];
        for (t, s) in titles.iter().zip(runs) {
            panels.push((t, l.part(&s.state.x, f0)?));
        }
        if let Some(fp) = common::plot_fields(&dir.join("fields.png"), &g, &panels, true)? {
            files.push(fp.display().to_string());
        }
    }
    if c.output.plots {
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
        files.push(cp.display().to_string());
    }
    Ok(files)
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
