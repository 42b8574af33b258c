//! `rewind fwi`: full-waveform inversion of a 3D velocity anomaly
//! (`rewind_acoustic::fwi`) by L-BFGS and by Gauss–Newton (Newton-CG on
//! Gauss–Newton products at the shots' kept linearisations), every
//! gradient and product through the checkpointed loop; per method the
//! iterations, gradients, products, seconds, misfit and model error, the
//! memory against store-all, and pictures: velocity slices, a shot gather
//! (observed, predicted, residual) and convergence against wall time.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use rewind_acoustic::fwi::{Fwi, GaussNewtonFwi, Survey};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_io::plot::{Axes, Curve};
use rewind_optim::{Counted, Lbfgs, NewtonCg, Options, Problem, Solver, State, Termination};
use serde_json::json;

use crate::memory::Need;

/// Arguments of `rewind fwi`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Points per axis (10 m apart).
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Steps of every shot.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Sources per side: shots² shots on the source plane.
    #[arg(long, default_value_t = 2)]
    shots: usize,
    /// The sphere's velocity relative to the background (|contrast| < 0.3).
    #[arg(long, default_value_t = 0.1)]
    contrast: f64,
    /// The sphere's radius as a fraction of the side.
    #[arg(long, default_value_t = 0.125)]
    radius: f64,
    /// Noise standard deviation as a fraction of the data's RMS.
    #[arg(long, default_value_t = 0.01)]
    noise: f64,
    /// Seed of the noise (default 1).
    #[arg(long)]
    seed: Option<u64>,
    /// lbfgs, gauss-newton or both.
    #[arg(long, default_value = "both")]
    method: String,
    /// Iterations of each method.
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// Most CG iterations (Gauss–Newton products) per Gauss–Newton step (default 5).
    #[arg(long)]
    cg: Option<usize>,
    /// Checkpoint schedule of every shot: store-all, periodic:K, binomial:S or online:S.
    #[arg(long, default_value = "binomial:32")]
    schedule: String,
    /// Threads for the field kernels (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Directory for the pictures and the HDF5 file.
    #[arg(long, default_value = "rewind-out/fwi")]
    out: std::path::PathBuf,
    /// Write no files.
    #[arg(long)]
    no_files: bool,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

/// The methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Lbfgs,
    GaussNewton,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Lbfgs => "L-BFGS",
            Method::GaussNewton => "Gauss-Newton",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Method::Lbfgs => "lbfgs",
            Method::GaussNewton => "gauss-newton",
        }
    }
}

/// One iteration's figures.
#[derive(Debug, Clone, Copy)]
struct Point {
    seconds: f64,
    misfit: f64,
    model_error: f64,
    grad_norm: f64,
    gradients: u64,
    products: u64,
    solves: u64,
}

/// One method's run.
struct Run {
    method: Method,
    history: Vec<Point>,
    termination: Termination,
    x: Vec<f64>,
}

fn methods(s: &str) -> Result<Vec<Method>> {
    Ok(match s {
        "lbfgs" => vec![Method::Lbfgs],
        "gauss-newton" => vec![Method::GaussNewton],
        "both" => vec![Method::Lbfgs, Method::GaussNewton],
        other => bail!("--method {other:?}: lbfgs, gauss-newton or both"),
    })
}

/// Drives `solver` on `p` from `x0` for `iterations`, recording time,
/// misfit and model error at the start and after every iteration.
fn drive<P: Problem + ?Sized, S: Solver<P>>(
    solver: &mut S,
    p: &mut P,
    x0: &[f64],
    iterations: usize,
    watch: &mut dyn FnMut(&mut P, &State, f64) -> Point,
) -> Result<(Vec<Point>, Termination, Vec<f64>)> {
    let t0 = Instant::now();
    let mut c = Counted::new(p);
    let mut g = vec![0.0; x0.len()];
    let f = c.value_grad(x0, &mut g)?;
    let mut st = State { x: x0.to_vec(), f, g, iter: 0, stalled: false };
    let opts = Options { grad_tol: 0.0, max_iter: iterations };
    let mut record = |c: &mut Counted<'_, P>, st: &State| -> Point {
        let mut pt = watch(c.inner, st, t0.elapsed().as_secs_f64());
        (pt.gradients, pt.products) = (c.counts.grad, c.counts.hvp);
        pt
    };
    let mut history = vec![record(&mut c, &st)];
    let termination = loop {
        if let Some(t) = rewind_optim::solver::terminate(&st, &opts) {
            break t;
        }
        solver.next_iter(&mut c, &mut st)?;
        st.iter += 1;
        history.push(record(&mut c, &st));
    };
    Ok((history, termination, st.x))
}

/// `rewind fwi`.
pub(crate) fn main(a: &Args) -> Result<()> {
    let survey = Survey {
        n: a.n,
        steps: a.steps,
        shots: a.shots,
        contrast: a.contrast,
        radius: a.radius,
        noise: a.noise,
        seed: a.seed.unwrap_or(1),
    };
    survey.check()?;
    let methods = methods(&a.method)?;
    let cg = a.cg.unwrap_or(5);
    if a.iterations == 0 || cg == 0 {
        bail!("--iterations and --cg must be at least 1");
    }
    if a.cg.is_some() && !methods.contains(&Method::GaussNewton) {
        bail!("--cg is Gauss–Newton's; --method {} makes no Gauss–Newton step", a.method);
    }
    if a.seed.is_some() && a.noise == 0.0 {
        bail!("--seed draws the noise; --noise 0 has none");
    }
    let strategy: Strategy = a.schedule.parse().with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    if matches!(strategy, Strategy::MultiLevel { .. }) {
        bail!("--schedule {strategy}: fwi keeps its snapshots in memory (binomial, online, periodic or store-all)");
    }
    rewind_checkpoint::Plan { steps: a.steps, strategy }
        .validate()
        .with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    check_memory(&survey, strategy, methods.contains(&Method::GaussNewton))?;
    let threads = crate::spec::threads_of(a.threads)?;
    if !a.no_files {
        crate::common::writable_dir(&a.out)?;
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start the thread pool")?;
    let say = |line: String| {
        if !a.quiet && !a.json {
            eprintln!("{line}");
        }
    };
    let shots = a.shots * a.shots;
    say(format!(
        "fwi: {n}³ points, {steps} steps, {shots} shots, schedule {strategy}, {threads} thread(s): recording the data",
        n = a.n,
        steps = a.steps
    ));
    let t0 = Instant::now();
    let mut fwi =
        pool.install(|| Fwi::new(survey.clone(), strategy, Par::Pool)).context("recording the data failed")?;
    let record_s = t0.elapsed().as_secs_f64();
    let s0 = vec![0.0; fwi.dim()];
    let mut runs = Vec::new();
    for &method in &methods {
        say(format!("{}: iteration, seconds, misfit J, model error, |∇J|", method.name()));
        let mut watch = |f: &mut Fwi, st: &State, secs: f64| {
            let pt = Point {
                seconds: secs,
                misfit: st.f,
                model_error: f.model_error(&st.x),
                grad_norm: crate::common::norm(&st.g),
                gradients: 0,
                products: 0,
                solves: f.solves(),
            };
            say(format!(
                "  {:>9.1} s  J {:.6e}  error {:.4}  |g| {:.3e}",
                pt.seconds, pt.misfit, pt.model_error, pt.grad_norm
            ));
            pt
        };
        let solves0 = fwi.solves();
        let (mut history, termination, x) = pool
            .install(|| match method {
                Method::Lbfgs => drive(&mut Lbfgs::new(10), &mut fwi, &s0, a.iterations, &mut watch),
                Method::GaussNewton => {
                    let mut gn = GaussNewtonFwi(&mut fwi);
                    let mut w = |g: &mut GaussNewtonFwi<'_>, st: &State, secs: f64| watch(g.0, st, secs);
                    drive(&mut NewtonCg::new(cg), &mut gn, &s0, a.iterations, &mut w)
                }
            })
            .with_context(|| format!("{} failed", method.name()))?;
        for p in &mut history {
            p.solves -= solves0;
        }
        runs.push(Run { method, history, termination, x });
    }
    // the gather of shot 0 at the start and at the best result
    let best = runs.iter().min_by(|a, b| last(a).misfit.total_cmp(&last(b).misfit)).map(|r| r.x.clone());
    let (start_pred, observed) = pool.install(|| fwi.gather(0, &s0))?;
    let best_pred = match &best {
        Some(x) => pool.install(|| fwi.gather(0, x))?.0,
        None => start_pred.clone(),
    };
    let g = *fwi.model().grid();
    let state_bytes = 16 * g.len() as u64;
    let report = json!({
        "grid": [a.n, a.n, a.n],
        "steps": a.steps,
        "dt": fwi.model().config().dt,
        "shots": shots,
        "receivers": (a.n - 2 * rewind_acoustic::spec::SPONGE).pow(2),
        "observations": fwi.data_count(),
        "sigma": fwi.sigma(),
        "unknowns": fwi.dim(),
        "contrast": a.contrast,
        "noise": a.noise,
        "schedule": strategy.to_string(),
        "threads": threads,
        "record_s": record_s,
        "peak_snapshot_bytes": fwi.peak_snapshot_bytes(),
        "store_all_bytes": state_bytes * a.steps as u64,
        "peak_rss_bytes": crate::common::peak_rss_bytes(),
        "runs": runs.iter().map(|r| {
            let (first, end) = (r.history[0], last(r));
            json!({
                "method": r.method.key(),
                "iterations": r.history.len() - 1,
                "termination": format!("{:?}", r.termination),
                "gradients": end.gradients,
                "products": end.products,
                "solves": end.solves,
                "wall_s": end.seconds,
                "objective_at_start": first.misfit,
                "objective": end.misfit,
                "model_error": end.model_error,
                "history": r.history.iter().map(|p| [p.seconds, p.misfit, p.model_error]).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    });
    if !a.no_files {
        let files = write_files(a, &fwi, &runs, &s0, (&observed, &start_pred, &best_pred), &report)?;
        for f in files {
            say(format!("wrote {}", f.display()));
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{:<13} {:>5} {:>9} {:>8} {:>9} {:>13} {:>13} {:>11}",
            "method", "iters", "gradients", "products", "seconds", "misfit start", "misfit end", "model error"
        );
        for r in &runs {
            let (first, end) = (r.history[0], last(r));
            println!(
                "{:<13} {:>5} {:>9} {:>8} {:>9.1} {:>13.4e} {:>13.4e} {:>11.4}",
                r.method.name(),
                r.history.len() - 1,
                end.gradients,
                end.products,
                end.seconds,
                first.misfit,
                end.misfit,
                end.model_error
            );
        }
        println!(
            "memory: snapshots at most {} per solve against {} for store-all ({:.0}×); peak RSS {}",
            rewind_models::units::bytes(fwi.peak_snapshot_bytes() as u64),
            rewind_models::units::bytes(state_bytes * a.steps as u64),
            (state_bytes * a.steps as u64) as f64 / fwi.peak_snapshot_bytes().max(1) as f64,
            crate::common::peak_rss_bytes().map_or("unknown".into(), rewind_models::units::bytes)
        );
    }
    Ok(())
}

fn last(r: &Run) -> Point {
    r.history[r.history.len() - 1]
}

/// Refuses, before anything is allocated, a survey that cannot fit: the
/// shots' observations (twice: the loss over `f64` and over dual numbers)
/// and models (each shot's primal and dual simulations: the model's
/// damping, `m` in both, the losses' copies of it, a step's arena each),
/// one gradient's snapshots and taped step, and for Gauss–Newton every
/// shot's kept linearisation and one product's tangent seeds.
fn check_memory(s: &Survey, strategy: Strategy, gauss_newton: bool) -> Result<()> {
    let points = (s.n as u64).saturating_pow(3);
    let receivers = (s.n.saturating_sub(2 * rewind_acoustic::spec::SPONGE) as u64).saturating_pow(2);
    let shots = (s.shots as u64).saturating_pow(2);
    let data = receivers.saturating_mul(s.steps as u64);
    let f = crate::spec::acoustic_footprint(points, s.steps, strategy)?;
    let arena = points.saturating_mul(2).saturating_mul(f.arena_per_value).saturating_add(f.arena_fixed);
    let per_shot =
        data.saturating_mul(24).saturating_add(points.saturating_mul(64)).saturating_add(arena.saturating_mul(3));
    let mut need = f.bytes(Need::Gradient).saturating_add(shots.saturating_mul(per_shot));
    if gauss_newton {
        let kept = (strategy.budget(s.steps)[0] as u64).saturating_mul(points).saturating_mul(16);
        need = need.saturating_add(shots.saturating_mul(kept)).saturating_add(data.saturating_mul(16));
    }
    if let Some(available) = rewind_models::memory::available_memory_bytes()
        && need > available
    {
        bail!(
            "{}³ points × {} steps × {} shots need about {} ({} a shot for its observations and models{}), but {} of memory are available; \
             fewer --steps, --shots or a smaller --n",
            s.n,
            s.steps,
            shots,
            rewind_models::units::bytes(need),
            rewind_models::units::bytes(per_shot),
            if gauss_newton { ", and Gauss–Newton's kept linearisations" } else { "" },
            rewind_models::units::bytes(available)
        );
    }
    Ok(())
}

/// The pictures and the HDF5 file; their paths.
fn write_files(
    a: &Args,
    fwi: &Fwi,
    runs: &[Run],
    s0: &[f64],
    (observed, start, best): (&[f64], &[f64], &[f64]),
    report: &serde_json::Value,
) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let g = *fwi.model().grid();
    let (n, mid) = (g.nx, g.ny / 2);
    let mut files = Vec::new();
    // x–z slices through the sphere's centre
    let slice = |c: &[f64]| crate::common::middle_section(&g, c);
    let mut panels = vec![
        ("true velocity (m/s)".to_string(), slice(fwi.true_velocity())),
        ("initial".to_string(), slice(&fwi.velocity(s0))),
    ];
    for r in runs {
        panels.push((format!("{} ({} iterations)", r.method.name(), r.history.len() - 1), slice(&fwi.velocity(&r.x))));
    }
    let refs: Vec<(&str, &[f64])> = panels.iter().map(|(t, d)| (t.as_str(), d.as_slice())).collect();
    let info = rewind_io::GridInfo::plane(g.nx, g.nz, g.dx, g.dz);
    let axes = Axes { across: "x (m)", second: "depth z (m)", down: true };
    files.push(rewind_io::plot::fields(a.out.join("fwi-velocity.png"), info, axes, &refs, true)?);
    // shot 0's gather along the receiver line y = centre
    let side = n - 2 * rewind_acoustic::spec::SPONGE;
    let jc = mid - rewind_acoustic::spec::SPONGE;
    let steps = fwi.survey().steps;
    let line = |d: &[f64]| -> Vec<f64> {
        (0..side).flat_map(|i| (0..steps).map(move |t| d[t * side * side + i * side + jc])).collect()
    };
    let residual = |p: &[f64]| -> Vec<f64> { line(p).iter().zip(line(observed)).map(|(a, b)| a - b).collect() };
    let (obs, pred, res0, res) = (line(observed), line(best), residual(start), residual(best));
    let gather = rewind_io::GridInfo::plane(side, steps, g.dx, fwi.model().config().dt);
    let axes = Axes { across: "receiver offset along x (m)", second: "time (s)", down: true };
    files.push(rewind_io::plot::fields(
        a.out.join("fwi-gather.png"),
        gather,
        axes,
        &[("observed", &obs), ("predicted (best)", &pred), ("residual at the start", &res0), ("residual (best)", &res)],
        false,
    )?);
    // convergence against wall time
    let curves = |y: fn(&Point) -> f64| -> Vec<Curve> {
        runs.iter()
            .map(|r| Curve {
                label: r.method.name().into(),
                points: r.history.iter().map(|p| (p.seconds, y(p))).collect(),
            })
            .collect()
    };
    files.push(rewind_io::plot::decay(
        a.out.join("fwi-misfit.png"),
        "misfit J against wall time",
        "seconds",
        &curves(|p| p.misfit),
    )?);
    files.push(rewind_io::plot::decay(
        a.out.join("fwi-model-error.png"),
        "model error |c - c_true| / |c0 - c_true|",
        "seconds",
        &curves(|p| p.model_error),
    )?);
    // the velocities in 3D, the histories and the gather: fwi.h5
    let volume = rewind_io::GridInfo::volume([g.nx, g.ny, g.nz], [g.dx, g.dy, g.dz]);
    let mut h5 = rewind_io::Output::create(a.out.join("fwi.h5"), volume)?;
    h5.attr("command", "fwi")?;
    h5.attr("rewind_version", env!("CARGO_PKG_VERSION"))?;
    h5.attr("hdf5_version", &rewind_io::hdf5_library_version())?;
    h5.attr("report", &report.to_string())?;
    let mut velocities = vec![("true".to_string(), fwi.true_velocity().to_vec()), ("initial".into(), fwi.velocity(s0))];
    velocities.extend(runs.iter().map(|r| (r.method.key().replace('-', "_"), fwi.velocity(&r.x))));
    for (key, c) in &velocities {
        let name = format!("velocity_{key}");
        h5.field(&name, c)?;
        h5.describe(&name, &format!("the {key} velocity"), "m/s")?;
    }
    use rewind_io::Column::{Float, Int};
    for r in runs {
        let col = |f: fn(&Point) -> f64| r.history.iter().map(f).collect::<Vec<f64>>();
        let int = |f: fn(&Point) -> u64| r.history.iter().map(f).collect::<Vec<u64>>();
        h5.table(
            &format!("history_{}", r.method.key().replace('-', "_")),
            &[
                ("seconds", Float(&col(|p| p.seconds))),
                ("misfit", Float(&col(|p| p.misfit))),
                ("model_error", Float(&col(|p| p.model_error))),
                ("grad_norm", Float(&col(|p| p.grad_norm))),
                ("gradients", Int(&int(|p| p.gradients))),
                ("products", Int(&int(|p| p.products))),
            ],
        )?;
    }
    h5.attr("gather_layout", "shot 0, receivers along x at y = the centre: [receiver][step], steps 1..=K")?;
    h5.table(
        "gather",
        &[("observed", Float(&obs)), ("predicted_start", Float(&line(start))), ("predicted_best", Float(&pred))],
    )?;
    files.push(h5.finish()?);
    Ok(files)
}
