//! `rewind assimilate`: the flagship twin experiment (`rewind_ns2d::twin`)
//! — recover the initial vorticity at 64² from 1024 noisy observations
//! with a right background covariance — by L-BFGS and by Newton-CG on
//! Gauss–Newton products, both on `J(χ)` in the control variable, by
//! incremental 4D-Var and by multi-incremental 4D-Var (inner loops on the
//! grid twice as coarse, `rewind_sim::Coarse`); then the Laplace posterior
//! at the analysis. Prints the table (iterations, gradients, products,
//! seconds, J, misfit, error vs truth) and the time each method takes to
//! reach L-BFGS's final J; draws
//! truth / background / analysis / error fields, convergence against wall
//! time and against gradient-equivalents, the eigenvalue decay and the
//! posterior standard deviation; writes `assimilate.h5`.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_io::plot::Curve;
use rewind_ns2d::twin::{Twin, TwinSettings};
use rewind_optim::{Hessian, Lbfgs, NewtonCg, OptimError, Options, Problem, minimize};
use rewind_sim::{Coarse, ControlProblem, Incremental, Spectrum, incremental, posterior};
use serde_json::{Value, json};

use crate::common::{Common, norm};

/// Arguments of `rewind assimilate`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// The common flags. Here `--n` defaults to 64 and `--out` to
    /// rewind-out/assimilate; the steps are observed after 1/4, 1/2, 3/4
    /// and all of them; a configuration file may set `[simulation]` n,
    /// steps and threads, `[gradient]` and `[output]`.
    #[command(flatten)]
    pub(crate) common: Common,
    /// Every STRIDE-th point along each axis is observed.
    #[arg(long, default_value_t = 4)]
    pub(crate) stride: usize,
    /// Observation noise (standard deviation).
    #[arg(long, default_value_t = 0.05)]
    pub(crate) sigma: f64,
    /// Correlation length of the Gaussian background covariance B.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) length: f64,
    /// Standard deviation of B.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) spread: f64,
    /// Methods, comma-separated: lbfgs, gauss-newton (Newton-CG on
    /// Gauss–Newton products), 4dvar (incremental), 4dvar-coarse
    /// (multi-incremental: the first --coarse-outer inner loops on a grid
    /// --coarse-factor times coarser).
    #[arg(long, value_delimiter = ',', default_value = "lbfgs,gauss-newton,4dvar,4dvar-coarse")]
    pub(crate) methods: Vec<String>,
    /// Outer iterations of incremental 4D-Var.
    #[arg(long, default_value_t = 10)]
    pub(crate) outer: usize,
    /// How many times coarser the grid of 4dvar-coarse's inner loops is.
    #[arg(long, default_value_t = 2)]
    pub(crate) coarse_factor: usize,
    /// Outer iterations of 4dvar-coarse whose inner loop is coarse, the
    /// first ones (default: all until they stall).
    #[arg(long)]
    pub(crate) coarse_outer: Option<usize>,
    /// Checkpoint schedule of the coarse inner loops (the default keeps
    /// every coarse state: at 32² and 100 steps, 0.8 MB).
    #[arg(long, default_value = "store-all")]
    pub(crate) coarse_schedule: String,
    /// Most CG iterations per inner loop (4D-Var) or Newton step.
    #[arg(long, default_value_t = 40)]
    pub(crate) inner: usize,
    /// Most iterations of each method (L-BFGS: 400, Newton-CG: 20 and
    /// 4D-Var: --outer unless given).
    #[arg(long)]
    pub(crate) max_iter: Option<usize>,
    /// Eigenpairs of the posterior (0: no posterior).
    #[arg(long, default_value_t = 40)]
    pub(crate) posterior: usize,
}

/// A problem that notes `(seconds since start, J)` at every gradient and
/// the work done by then (gradients + products).
struct Timed<'p, P: ?Sized> {
    inner: &'p mut P,
    start: Instant,
    trace: Vec<(f64, f64)>,
    work: Vec<f64>,
    products: usize,
}

impl<P: Problem + ?Sized> Problem for Timed<'_, P> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        self.inner.value(x)
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        let f = self.inner.value_grad(x, g)?;
        self.trace.push((self.start.elapsed().as_secs_f64(), f));
        self.work.push((self.trace.len() + self.products) as f64);
        Ok(f)
    }
}

impl<P: Hessian + ?Sized> Hessian for Timed<'_, P> {
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        self.products += 1;
        self.inner.hvp(x, v, hv)
    }
}

/// A method of `--methods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Analysis {
    Lbfgs,
    GaussNewton,
    Incremental,
    MultiIncremental,
}

impl Analysis {
    /// `(--methods name, table name)`.
    const ALL: [(Analysis, &'static str, &'static str); 4] = [
        (Analysis::Lbfgs, "lbfgs", "L-BFGS"),
        (Analysis::GaussNewton, "gauss-newton", "Newton-CG (GN)"),
        (Analysis::Incremental, "4dvar", "incremental 4D-Var"),
        (Analysis::MultiIncremental, "4dvar-coarse", "multi-incremental 4D-Var"),
    ];

    fn parse(s: &str) -> Result<Analysis> {
        match Analysis::ALL.iter().find(|(_, key, _)| *key == s) {
            Some(&(m, _, _)) => Ok(m),
            None => {
                let known: Vec<&str> = Analysis::ALL.iter().map(|(_, key, _)| *key).collect();
                bail!("unknown method {s:?} in --methods (known: {})", known.join(", "))
            }
        }
    }

    fn name(self) -> &'static str {
        Analysis::ALL.iter().find(|(m, _, _)| *m == self).map_or("", |(_, _, name)| name)
    }

    /// The name `--methods` takes (and the reports and files use).
    fn key(self) -> &'static str {
        Analysis::ALL.iter().find(|(m, _, _)| *m == self).map_or("", |(_, key, _)| key)
    }
}

/// One method's run.
struct Run {
    method: Analysis,
    iterations: usize,
    gradients: u64,
    products: u64,
    /// Gauss–Newton products on the coarse grid (multi-incremental).
    coarse_products: u64,
    seconds: f64,
    objective: f64,
    misfit: f64,
    error: f64,
    x0: Vec<f64>,
    /// `(seconds, J)` whenever J was known.
    trace: Vec<(f64, f64)>,
    /// Gradients + products done at each point of `trace`.
    work: Vec<f64>,
    /// 4D-Var's outer iterations.
    outer: Vec<Value>,
}

/// The first time `trace` reaches `j`.
fn time_to(trace: &[(f64, f64)], j: f64) -> Option<f64> {
    trace.iter().find(|(_, f)| *f <= j).map(|(t, _)| *t)
}

/// The common flags (and configuration) as this command reads them.
#[derive(Debug)]
pub(crate) struct Resolved {
    n: usize,
    steps: usize,
    strategy: Strategy,
    threads: usize,
    out: std::path::PathBuf,
    json: bool,
    quiet: bool,
    no_files: bool,
}

/// The grid, steps, schedule (a memory budget's if `--memory`), threads
/// and output directory of `a`, checked; what this flagship does not take
/// is refused with the reason.
fn resolve(a: &Args) -> Result<Resolved> {
    let common = &a.common;
    if common.sim.is_some_and(|s| s != rewind_models::ModelName::Ns2d) {
        bail!(
            "assimilate is the ns2d flagship; for another model, `rewind optimize --sim NAME` or `rewind hessian --sim NAME`"
        );
    }
    if common.size.is_some() {
        bail!("--size is the ns2d spec's preset; assimilate takes --n and --steps (its flow is the twin's own)");
    }
    let set = match &common.config {
        Some(path) => crate::config::keys_set(path)?,
        None => Vec::new(),
    };
    let taken = ["simulation.n", "simulation.steps", "simulation.threads"];
    let foreign: Vec<&String> = set
        .iter()
        .filter(|k| {
            (k.starts_with("simulation.") || k.starts_with("observations.") || k.starts_with("optimize."))
                && !taken.contains(&k.as_str())
        })
        .collect();
    if !foreign.is_empty() {
        let keys: Vec<&str> = foreign.iter().map(|k| k.as_str()).collect();
        bail!(
            "{} sets {}, which assimilate does not read: it takes --stride, --sigma, --methods and the rest as flags",
            common.config.as_ref().map_or(String::new(), |p| p.display().to_string()),
            keys.join(", ")
        );
    }
    let mut c = common.config()?;
    let given = |flag: bool, key: &str| flag || set.iter().any(|k| k == key);
    let n = if given(common.n.is_some(), "simulation.n") { c.simulation.n } else { 64 };
    let out = if given(common.out.is_some(), "output.dir") {
        c.output.dir.clone()
    } else {
        std::path::PathBuf::from("rewind-out/assimilate")
    };
    c.simulation.n = n;
    let steps = c.simulation.steps;
    let f = crate::models::footprint(
        rewind_models::ModelName::Ns2d,
        &Default::default(),
        n,
        steps,
        crate::common::strategy(&c)?,
    )?;
    crate::memory::check_fits(&mut c, &f, crate::memory::Need::Hvp)?;
    let strategy = crate::common::strategy(&c)?;
    if !common.no_files {
        crate::common::writable_dir(&out)?;
    }
    Ok(Resolved {
        n,
        steps,
        strategy,
        threads: crate::common::threads(&c),
        out,
        json: common.json,
        quiet: common.quiet,
        no_files: common.no_files,
    })
}

/// `rewind assimilate` (also part 2 of `rewind demo`): the figures as JSON.
pub(crate) fn solve(a: &Args) -> Result<Value> {
    let methods = a.methods.iter().map(|m| Analysis::parse(m)).collect::<Result<Vec<_>>>()?;
    if methods.is_empty() {
        bail!("--methods: at least one method");
    }
    let r = resolve(a)?;
    let strategy = r.strategy;
    check(a, &r)?;
    let settings = TwinSettings {
        n: r.n,
        steps: r.steps,
        stride: a.stride,
        sigma: a.sigma,
        length: a.length,
        spread: a.spread,
        strategy,
        ..TwinSettings::default()
    };
    let threads = r.threads;
    crate::common::global_pool(threads)?;
    let par = if threads == 1 { Par::Seq } else { Par::Pool };
    let say = |s: String| {
        if !r.quiet && !r.json {
            eprintln!("{s}");
        }
    };
    let mut twin = Twin::new(&settings, par).context("cannot set up the twin experiment")?;
    let (n, n_obs) = (r.n, twin.observations);
    let background = twin.background.clone();
    let chi0 = vec![0.0; background.len()];
    // the coarse copy for multi-incremental 4D-Var, made before any run so
    // that settings it cannot take fail at once (it runs nothing)
    let mut copy = if methods.contains(&Analysis::MultiIncremental) {
        let coarse: Strategy =
            a.coarse_schedule.parse().with_context(|| format!("bad --coarse-schedule {:?}", a.coarse_schedule))?;
        Some(twin.coarse(a.coarse_factor, coarse).context("cannot make the coarse twin for 4dvar-coarse")?)
    } else {
        None
    };
    let mut runs: Vec<Run> = Vec::new();
    for method in methods {
        say(format!("assimilate: {} ...", method.name()));
        if matches!(method, Analysis::Incremental | Analysis::MultiIncremental) {
            let multi = method == Analysis::MultiIncremental;
            let t0 = Instant::now();
            let outer = a.max_iter.unwrap_or(a.outer);
            let coarse_outer = if multi { a.coarse_outer.unwrap_or(usize::MAX) } else { 0 };
            let settings = Incremental { outer, inner: a.inner, inner_tol: 1e-3, tol: 1e-6, coarse_outer };
            let coarse = if multi { copy.as_mut().map(|(problem, b)| Coarse { problem, b }) } else { None };
            let an = incremental(&mut twin.problem, &background, &mut twin.b, coarse, settings)
                .with_context(|| format!("{} failed", method.name()))?;
            let seconds = t0.elapsed().as_secs_f64();
            // J at each linearisation, when it was reached; work = gradients
            // + products so far, a coarse product counted as its share of
            // the grid points
            let share = (a.coarse_factor as f64).powi(-2);
            let (mut trace, mut work, mut elapsed, mut done) = (Vec::new(), Vec::new(), 0.0, 0.0);
            for s in &an.outer {
                done += 1.0;
                trace.push((elapsed, s.objective));
                work.push(done);
                elapsed += s.seconds;
                done += s.cg_iterations as f64 * if s.coarse { share } else { 1.0 };
            }
            let error = twin.error(&an.x0);
            let steps = an
                .outer
                .iter()
                .map(|s| {
                    json!({"objective": s.objective, "grad_norm": s.grad_norm, "cg_iterations": s.cg_iterations,
                        "coarse": s.coarse, "halvings": s.halvings, "wall_s": s.seconds})
                })
                .collect();
            runs.push(Run {
                method,
                iterations: an.outer.len() - 1,
                gradients: an.gradients as u64,
                products: an.products as u64,
                coarse_products: an.coarse_products as u64,
                seconds,
                objective: an.objective,
                misfit: an.misfit,
                error,
                x0: an.x0,
                trace,
                work,
                outer: steps,
            });
            continue;
        }
        let mut cp = ControlProblem::new(&mut twin.problem, &background, &mut twin.b)?;
        let mut g = vec![0.0; chi0.len()];
        cp.value_grad(&chi0, &mut g)?;
        let lbfgs = method == Analysis::Lbfgs;
        let opts = Options { grad_tol: 1e-6 * norm(&g), max_iter: a.max_iter.unwrap_or(if lbfgs { 400 } else { 20 }) };
        let t0 = Instant::now();
        let mut timed = Timed { inner: &mut cp, start: t0, trace: Vec::new(), work: Vec::new(), products: 0 };
        let r = if lbfgs {
            minimize(&mut Lbfgs::new(10), &mut timed, &chi0, &opts)
        } else {
            minimize(&mut NewtonCg::new(a.inner), &mut timed, &chi0, &opts)
        }
        .with_context(|| format!("{} failed", method.name()))?;
        let seconds = t0.elapsed().as_secs_f64();
        let (trace, work) = (timed.trace, timed.work);
        let x0 = cp.state(&r.state.x)?;
        let misfit = twin.problem.value(&x0)?;
        runs.push(Run {
            method,
            iterations: r.state.iter,
            gradients: r.counts.grad,
            products: r.counts.hvp,
            coarse_products: 0,
            seconds,
            objective: r.state.f,
            misfit,
            error: twin.error(&x0),
            x0,
            trace,
            work,
            outer: Vec::new(),
        });
    }
    // time to reach L-BFGS's final J (relative 1e-5), when L-BFGS ran
    let reference = runs.iter().find(|r| r.method == Analysis::Lbfgs).map(|r| r.objective);
    let rows: Vec<Value> = runs
        .iter()
        .map(|r| {
            let to = reference.and_then(|j| time_to(&r.trace, j * (1.0 + 1e-5)));
            json!({
                "method": r.method.key(), "iterations": r.iterations, "gradients": r.gradients,
                "gauss_newton_products": r.products, "coarse_products": r.coarse_products,
                "wall_s": r.seconds, "objective": r.objective,
                "misfit": r.misfit, "error_vs_truth": r.error,
                "wall_s_to_lbfgs_objective": to, "outer_iterations": r.outer,
            })
        })
        .collect();
    // the posterior at the best analysis (least J)
    let best = runs.iter().min_by(|a, b| a.objective.total_cmp(&b.objective)).context("no run")?;
    let post = if a.posterior > 0 {
        say(format!("assimilate: posterior from {} eigenpairs ...", a.posterior));
        let t0 = Instant::now();
        let spectrum = Spectrum { k: a.posterior, oversample: 10, seed: 1 };
        let ens = rewind_sim::Ensemble::serial();
        let p = posterior(&mut twin.problem, &best.x0, &mut twin.b, spectrum, &ens, |_, _| {})
            .context("the posterior failed")?;
        Some((p, t0.elapsed().as_secs_f64()))
    } else {
        None
    };
    let rms = |v: &mut dyn Iterator<Item = f64>| -> f64 {
        let (s, c) = v.fold((0.0, 0usize), |(s, c), x| (s + x * x, c + 1));
        (s / c.max(1) as f64).sqrt()
    };
    let rms_error = rms(&mut best.x0.iter().zip(&twin.truth).map(|(x, t)| x - t));
    let posterior_json = post.as_ref().map(|(p, secs)| {
        json!({
            "eigenpairs": p.eigenvalues.len(), "products": p.products, "wall_s": secs,
            "eigenvalues": p.eigenvalues,
            "mean_std": p.std.iter().sum::<f64>() / p.std.len() as f64,
            "background_std": p.background_std[0],
            "rms_error_of_analysis": rms_error,
        })
    });
    let mut files = Vec::new();
    if !r.no_files {
        files = draw(a, &r, &twin, &runs, best, post.as_ref().map(|(p, _)| p))?;
    }
    Ok(json!({
        "problem": format!(
            "recover w0 on {n}x{n} ({} unknowns), {} steps, from {n_obs} observations (every {}th point at steps {:?}, sigma {}); B Gaussian, length {}, std {}; {strategy}",
            n * n, r.steps, a.stride, twin.times, a.sigma, a.length, a.spread
        ),
        "observations": n_obs,
        "expected_misfit_at_truth": n_obs as f64 / 2.0,
        "background_error": twin.error(&background),
        "runs": rows,
        "posterior": posterior_json,
        "files": files,
    }))
}

/// The pictures and `assimilate.h5`.
fn draw(
    a: &Args,
    r: &Resolved,
    twin: &Twin,
    runs: &[Run],
    best: &Run,
    post: Option<&rewind_sim::Posterior>,
) -> Result<Vec<String>> {
    let n = r.n;
    let grid = rewind_io::GridInfo::plane(n, n, twin.grid.dx, twin.grid.dy);
    std::fs::create_dir_all(&r.out).with_context(|| format!("cannot create {}", r.out.display()))?;
    let out = |name: &str| r.out.join(name);
    let mut files = Vec::new();
    let (truth, background) = (&twin.truth, &twin.background);
    let error_b: Vec<f64> = background.iter().zip(truth).map(|(x, t)| x - t).collect();
    let error_a: Vec<f64> = best.x0.iter().zip(truth).map(|(x, t)| x - t).collect();
    files.push(rewind_io::plot::fields(
        out("fields.png"),
        grid,
        rewind_io::plot::Axes::XY,
        &[("truth", truth), ("background", background), ("analysis", &best.x0)],
        true,
    )?);
    files.push(rewind_io::plot::fields(
        out("errors.png"),
        grid,
        rewind_io::plot::Axes::XY,
        &[("background - truth", &error_b), ("analysis - truth", &error_a)],
        true,
    )?);
    // convergence: J / J* − 1, J* just below the least final J
    let j_star = runs.iter().map(|r| r.objective).fold(f64::INFINITY, f64::min) * (1.0 - 1e-9);
    let curves = |by_work: bool| -> Vec<Curve> {
        runs.iter()
            .map(|r| Curve {
                label: r.method.name().to_string(),
                points: r
                    .trace
                    .iter()
                    .zip(&r.work)
                    .map(|(&(t, j), &w)| (if by_work { w } else { t }, j / j_star - 1.0))
                    .collect(),
            })
            .collect()
    };
    files.push(rewind_io::plot::decay(out("convergence-time.png"), "J / J* - 1", "wall seconds", &curves(false))?);
    files.push(rewind_io::plot::decay(
        out("convergence-work.png"),
        "J / J* - 1",
        "gradients + Gauss-Newton products (a coarse one counted as its share of the points)",
        &curves(true),
    )?);
    let path = out("assimilate.h5");
    let mut h5 = rewind_io::Output::create(&path, grid)?;
    h5.attr("command", "assimilate")?;
    h5.attr("settings", &format!("{a:?}"))?;
    h5.attr("rewind_version", env!("CARGO_PKG_VERSION"))?;
    h5.attr("hdf5_version", &rewind_io::hdf5_library_version())?;
    h5.field("truth", truth)?;
    h5.field("background", background)?;
    h5.describe("truth", "the true initial vorticity of the twin experiment", "1/time (vorticity)")?;
    h5.describe("background", "the background (prior mean) initial vorticity", "1/time (vorticity)")?;
    for r in runs {
        let key = r.method.key();
        h5.field(&format!("analysis_{key}"), &r.x0)?;
        let (t, j): (Vec<f64>, Vec<f64>) = r.trace.iter().copied().unzip();
        use rewind_io::Column::Float;
        h5.table(
            &format!("convergence_{key}"),
            &[("wall_s", Float(&t)), ("objective", Float(&j)), ("work", Float(&r.work))],
        )?;
        h5.describe(&format!("analysis_{key}"), &format!("the analysis of {}", r.method.name()), "1/time (vorticity)")?;
    }
    if let Some(p) = post {
        let abs_error: Vec<f64> = error_a.iter().map(|e| e.abs()).collect();
        files.push(rewind_io::plot::fields(
            out("posterior.png"),
            grid,
            rewind_io::plot::Axes::XY,
            &[("posterior std", &p.std), ("|analysis - truth|", &abs_error)],
            true,
        )?);
        let curve = Curve {
            label: format!("k = {}", p.eigenvalues.len()),
            points: p.eigenvalues.iter().enumerate().map(|(j, &v)| (j as f64, v)).collect(),
        };
        let title = "eigenvalues of the prior-preconditioned Gauss-Newton Hessian";
        files.push(rewind_io::plot::decay(out("eigenvalues.png"), title, "index", &[curve])?);
        h5.field("posterior_std", &p.std)?;
        h5.describe("posterior_std", "pointwise standard deviation of the Laplace posterior", "1/time (vorticity)")?;
        let index: Vec<u64> = (0..p.eigenvalues.len() as u64).collect();
        use rewind_io::Column::{Float, Int};
        h5.table("eigenvalues", &[("index", Int(&index)), ("value", Float(&p.eigenvalues))])?;
    }
    let h5 = h5.finish()?;
    files.push(h5.with_extension("xmf"));
    files.push(h5);
    Ok(files.iter().map(|f| f.display().to_string()).collect())
}

/// `rewind assimilate`.
pub(crate) fn main(a: &Args) -> Result<()> {
    let r = solve(a)?;
    print_report(&r, a.common.json)
}

/// What `assimilate` refuses before any work: settings that would run
/// without meaning, and a run that cannot fit in memory.
fn check(a: &Args, r: &Resolved) -> Result<()> {
    if a.inner == 0 {
        bail!("--inner 0: each inner loop and Newton step needs at least one CG iteration");
    }
    if a.outer == 0 {
        bail!("--outer 0: incremental 4D-Var needs at least one outer iteration");
    }
    let unknowns = r.n.saturating_mul(r.n);
    if a.posterior > unknowns {
        bail!("--posterior {}: at most the {unknowns} unknowns of the {n}² initial state", a.posterior, n = r.n);
    }
    Ok(())
}

/// The report as text (or JSON).
pub(crate) fn print_report(r: &Value, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!("{}", r["problem"].as_str().unwrap_or(""));
    println!(
        "background error {:.3}; misfit expected at the truth about {}",
        f(&r["background_error"]),
        r["expected_misfit_at_truth"]
    );
    println!(
        "{:>25} {:>6} {:>6} {:>6} {:>9} {:>9} {:>12} {:>12} {:>8} {:>14}",
        "method", "iters", "grads", "GN", "coarse GN", "time (s)", "J final", "misfit", "error", "to L-BFGS J (s)"
    );
    for row in r["runs"].as_array().into_iter().flatten() {
        let to = row["wall_s_to_lbfgs_objective"].as_f64().map_or("not reached".to_string(), |t| format!("{t:.2}"));
        println!(
            "{:>25} {:>6} {:>6} {:>6} {:>9} {:>9.2} {:>12.5e} {:>12.5e} {:>8.4} {:>14}",
            row["method"].as_str().and_then(|k| Analysis::parse(k).ok()).map_or("", Analysis::name),
            row["iterations"].as_u64().unwrap_or(0),
            row["gradients"].as_u64().unwrap_or(0),
            row["gauss_newton_products"].as_u64().unwrap_or(0),
            row["coarse_products"].as_u64().unwrap_or(0),
            f(&row["wall_s"]),
            f(&row["objective"]),
            f(&row["misfit"]),
            f(&row["error_vs_truth"]),
            to
        );
    }
    if let Some(p) = r["posterior"].as_object() {
        let ev: Vec<String> =
            p["eigenvalues"].as_array().into_iter().flatten().take(8).map(|v| format!("{:.3e}", f(v))).collect();
        println!(
            "posterior: {} eigenpairs from {} Gauss-Newton products in {:.1} s; eigenvalues {} ...",
            p["eigenpairs"],
            p["products"],
            f(&p["wall_s"]),
            ev.join(" ")
        );
        println!(
            "  mean pointwise posterior std {:.4} (background {:.4}); rms error of the analysis {:.4}",
            f(&p["mean_std"]),
            f(&p["background_std"]),
            f(&p["rms_error_of_analysis"])
        );
    }
    for file in r["files"].as_array().into_iter().flatten() {
        println!("wrote {}", file.as_str().unwrap_or(""));
    }
    Ok(())
}
