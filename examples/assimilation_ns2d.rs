//! Incremental 4D-Var on the periodic 2D flow: recover the initial vorticity
//! at 64² from noisy point observations at four times, with a Gaussian
//! background covariance `B`, against L-BFGS on the same objective in the
//! same control variable; then the posterior standard deviation and the
//! eigenvalues of the prior-preconditioned Gauss–Newton Hessian.
//!
//! The truth is the background plus a draw from `B` (the prior is right),
//! so the error of the background is what the observations must remove.
//! Pictures go to `--out DIR` (default `rewind-out/assimilation`): the
//! fields (truth, background, analysis, errors, posterior std), the
//! convergence of each method against wall time and against work
//! (gradients + Gauss–Newton products), and the eigenvalue decay.
//!
//! `cargo run --release -p rewind-examples --example assimilation_ns2d
//! [-- --n 64 --steps 100 --stride 4 --sigma 0.05 --length 0.5 --spread 0.5
//! --schedule binomial:10 --outer 8 --inner 40 --posterior 40 --out DIR]`

use std::time::Instant;

use rewind_checkpoint::Strategy;
use rewind_field::{Correlation, CorrelationKind, Grid, Par};
use rewind_ns2d::assimilation::{Assimilation, Noise};
use rewind_ns2d::spec::{self, Size};
use rewind_ns2d::{Ns2d, Params, stepper};
use rewind_optim::{Lbfgs, NewtonCg, Options, Problem as _, minimize};
use rewind_sim::{ControlProblem, Ensemble, Incremental, Problem, Spectrum, incremental, posterior};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn rel_error(x: &[f64], truth: &[f64]) -> f64 {
    norm(&x.iter().zip(truth).map(|(a, b)| a - b).collect::<Vec<_>>()) / norm(truth)
}

/// A problem that notes `(seconds since start, J)` at every gradient, and
/// the work done by then (gradients + products).
struct Timed<'p, P: ?Sized> {
    inner: &'p mut P,
    start: Instant,
    trace: Vec<(f64, f64)>,
    work: Vec<f64>,
    products: usize,
}

impl<P: rewind_optim::Problem + ?Sized> rewind_optim::Problem for Timed<'_, P> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, rewind_optim::OptimError> {
        self.inner.value(x)
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, rewind_optim::OptimError> {
        let f = self.inner.value_grad(x, g)?;
        self.trace.push((self.start.elapsed().as_secs_f64(), f));
        self.work.push((self.trace.len() + self.products) as f64);
        Ok(f)
    }
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), rewind_optim::OptimError> {
        self.products += 1;
        self.inner.hvp(x, v, hv)
    }
}

/// The first time at which `trace` (seconds, J) reaches `j`.
fn time_to(trace: &[(f64, f64)], j: f64) -> Option<f64> {
    trace.iter().find(|(_, f)| *f <= j).map(|(t, _)| *t)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = arg(&args, "--n", 64);
    let steps: usize = arg(&args, "--steps", 100);
    let stride: usize = arg(&args, "--stride", 4);
    let sigma: f64 = arg(&args, "--sigma", 0.05);
    let length: f64 = arg(&args, "--length", 0.5);
    let spread: f64 = arg(&args, "--spread", 0.5);
    let outer: usize = arg(&args, "--outer", 8);
    let inner: usize = arg(&args, "--inner", 40);
    let schedule: String = arg(&args, "--schedule", "binomial:10".to_string());
    let posterior_k: usize = arg(&args, "--posterior", 40);
    let out: std::path::PathBuf = arg(&args, "--out", "rewind-out/assimilation".into());
    std::fs::create_dir_all(&out)?;
    rewind_io::plot::register_font()?;
    let grid = Grid::periodic_square(n, 2.0 * std::f64::consts::PI)?;
    let mut params: Params = spec::params(Size::S);
    params.n = n;
    params.dt = 0.02 * 32.0 / n as f64;
    params.forcing = grid.sample(|_, y| 0.1 * (4.0 * y).sin());
    let mut b = Correlation::new(grid, CorrelationKind::Gaussian, length, spread * spread)?;

    // background: a large-scale flow; truth: the background plus a draw from B
    let background = grid.sample(|x, y| x.sin() * (2.0 * y).cos() + 0.5 * (x + y).cos());
    let mut noise = Noise::new(11);
    let z: Vec<f64> = (0..grid.len()).map(|_| noise.normal()).collect();
    let mut draw = vec![0.0; grid.len()];
    b.apply_sqrt(&z, &mut draw)?;
    let truth: Vec<f64> = background.iter().zip(&draw).map(|(a, d)| a + d).collect();

    // observations every `stride`-th point, at four times
    let points = Assimilation::strided_points(&grid, stride);
    let times: Vec<usize> = (1..=4).map(|k| k * steps / 4).collect();
    let mut sim = stepper::<f64>(params.clone(), Par::Rayon)?;
    let (mut w, mut done, mut observations) = (truth.clone(), 0, Vec::new());
    for &t in &times {
        w = spec::advance(&mut sim, &w, t - done)?;
        done = t;
        observations.push((t, points.iter().map(|&i| w[i] + sigma * noise.normal()).collect::<Vec<f64>>()));
    }
    let n_obs = points.len() * times.len();
    let loss = Assimilation { grid, points, observations, sigma, beta: 0.0 };
    let strategy: Strategy = schedule.parse()?;
    let mut problem = Problem::new(Ns2d::new(params)?, loss, strategy, steps, Par::Rayon)?;
    println!(
        "{n}x{n} ({} unknowns), {steps} steps, {n_obs} observations (every {stride}th point at steps {times:?}, sigma = {sigma}); \
         B Gaussian, length {length}, spread {spread}; {strategy}",
        grid.len()
    );
    println!(
        "background error {:.3}; expected misfit at the truth about {} (half the number of observations)",
        rel_error(&background, &truth),
        n_obs / 2
    );

    // L-BFGS and Newton-CG (Gauss–Newton products) on J(χ)
    let chi0 = vec![0.0; grid.len()];
    let (mut runs, mut traces, mut works) = (Vec::new(), Vec::new(), Vec::new());
    for method in ["L-BFGS", "GN-CG (line search)"] {
        let mut cp = ControlProblem::new(&mut problem, &background, &mut b)?;
        let mut g = vec![0.0; chi0.len()];
        cp.value_grad(&chi0, &mut g)?;
        let opts = Options { grad_tol: 1e-6 * norm(&g), max_iter: if method == "L-BFGS" { 400 } else { 20 } };
        let t0 = Instant::now();
        let mut timed = Timed { inner: &mut cp, start: t0, trace: Vec::new(), work: Vec::new(), products: 0 };
        let r = if method == "L-BFGS" {
            minimize(&mut Lbfgs::new(10), &mut timed, &chi0, &opts)?
        } else {
            minimize(&mut NewtonCg::new(inner), &mut timed, &chi0, &opts)?
        };
        let secs = t0.elapsed().as_secs_f64();
        traces.push(timed.trace);
        works.push(timed.work);
        let x = cp.state(&r.state.x)?;
        let misfit = problem.value(&x)?;
        runs.push((method, r.state.iter, r.counts.grad, r.counts.hvp, secs, r.state.f, misfit, rel_error(&x, &truth)));
    }
    // incremental 4D-Var
    let t0 = Instant::now();
    let a = incremental(&mut problem, &background, &mut b, Incremental { outer, inner, inner_tol: 1e-3, tol: 1e-6 })?;
    let secs = t0.elapsed().as_secs_f64();
    let err = rel_error(&a.x0, &truth);
    runs.push((
        "incremental 4D-Var",
        a.outer.len(),
        a.gradients as u64,
        a.products as u64,
        secs,
        a.objective,
        a.misfit,
        err,
    ));

    println!(
        "{:>20} {:>6} {:>6} {:>6} {:>9} {:>12} {:>12} {:>8}",
        "method", "iters", "grads", "GN", "time (s)", "J final", "misfit", "error"
    );
    for (m, it, gr, gn, s, j, mis, e) in &runs {
        println!("{m:>20} {it:>6} {gr:>6} {gn:>6} {s:>9.2} {j:>12.5e} {mis:>12.5e} {e:>8.4}");
    }
    // wall time to reach L-BFGS's final J, to a relative 1e-5 and 1e-3
    // (far below the noise floor's spread, about √(n_obs/2))
    let j_lbfgs = runs[0].5;
    let (mut trace_4dvar, mut work_4dvar) = (Vec::new(), Vec::new());
    let (mut elapsed, mut work) = (0.0, 0.0);
    for s in &a.outer {
        work += 1.0;
        trace_4dvar.push((elapsed, s.objective));
        work_4dvar.push(work);
        elapsed += s.seconds;
        work += s.cg_iterations as f64;
    }
    trace_4dvar.push((a.seconds, a.objective));
    work_4dvar.push(work);
    // convergence: J / J* − 1 (J* the least final J) against time and work
    let j_star = runs.iter().map(|r| r.5).fold(f64::INFINITY, f64::min) * (1.0 - 1e-9);
    let curves = |by_work: bool| -> Vec<rewind_io::plot::Curve> {
        let named = [("L-BFGS", &traces[0], &works[0]), ("Newton-CG (GN)", &traces[1], &works[1])];
        let mut c: Vec<rewind_io::plot::Curve> = named
            .iter()
            .map(|(label, tr, wk)| rewind_io::plot::Curve {
                label: label.to_string(),
                points: tr
                    .iter()
                    .zip(wk.iter())
                    .map(|(&(t, j), &w)| (if by_work { w } else { t }, j / j_star - 1.0))
                    .collect(),
            })
            .collect();
        c.push(rewind_io::plot::Curve {
            label: "incremental 4D-Var".into(),
            points: trace_4dvar
                .iter()
                .zip(&work_4dvar)
                .map(|(&(t, j), &w)| (if by_work { w } else { t }, j / j_star - 1.0))
                .collect(),
        });
        c
    };
    rewind_io::plot::decay(out.join("convergence-time.png"), "J / J* - 1", "wall seconds", &curves(false))?;
    rewind_io::plot::decay(
        out.join("convergence-work.png"),
        "J / J* - 1",
        "gradients + Gauss-Newton products",
        &curves(true),
    )?;
    let error_b: Vec<f64> = background.iter().zip(&truth).map(|(a, t)| a - t).collect();
    let error_a: Vec<f64> = a.x0.iter().zip(&truth).map(|(x, t)| x - t).collect();
    let fields_png = out.join("fields.png");
    rewind_io::plot::fields(
        &fields_png,
        n,
        n,
        &[("truth", &truth), ("background", &background), ("analysis", &a.x0)],
        true,
    )?;
    rewind_io::plot::fields(
        out.join("errors.png"),
        n,
        n,
        &[("background - truth", &error_b), ("analysis - truth", &error_a)],
        true,
    )?;
    for rel in [1e-5, 1e-3] {
        let j = j_lbfgs * (1.0 + rel);
        let show = |t: Option<f64>| t.map_or("not reached".to_string(), |t| format!("{t:.2} s"));
        let (tl, tg, tv) = (time_to(&traces[0], j), time_to(&traces[1], j), time_to(&trace_4dvar, j));
        let ratio = match (tv, tl) {
            (Some(v), Some(l)) => format!(" (4D-Var / L-BFGS = {:.2})", v / l),
            _ => String::new(),
        };
        println!(
            "time to J <= {j:.6e} (L-BFGS's final J + {rel:e}): L-BFGS {}, GN-CG {}, 4D-Var {}{ratio}",
            show(tl),
            show(tg),
            show(tv)
        );
    }
    for (k, s) in a.outer.iter().enumerate() {
        println!(
            "  outer {k}: J = {:.5e}, misfit {:.5e}, |grad| {:.3e}, {} CG, {} halvings, {:.2} s",
            s.objective, s.misfit, s.grad_norm, s.cg_iterations, s.halvings, s.seconds
        );
    }

    // the posterior at the analysis
    if posterior_k == 0 {
        return Ok(());
    }
    let t0 = Instant::now();
    let post = posterior(
        &mut problem,
        &a.x0,
        &mut b,
        Spectrum { k: posterior_k, oversample: 10, seed: 1 },
        &Ensemble::serial(),
        |_, _| {},
    )?;
    let mean_std = post.std.iter().sum::<f64>() / post.std.len() as f64;
    println!(
        "posterior: {} GN products, {:.2} s; mean pointwise std {:.4} (background {:.4}); eigenvalues {:?}",
        post.products,
        t0.elapsed().as_secs_f64(),
        mean_std,
        post.background_std[0],
        post.eigenvalues.iter().map(|l| format!("{l:.3e}")).collect::<Vec<_>>()
    );
    let curve = rewind_io::plot::Curve {
        label: format!("k = {posterior_k}"),
        points: post.eigenvalues.iter().enumerate().map(|(j, &v)| (j as f64, v)).collect(),
    };
    let title = "eigenvalues of the prior-preconditioned Gauss-Newton Hessian";
    rewind_io::plot::decay(out.join("eigenvalues.png"), title, "index", &[curve])?;
    let abs_error: Vec<f64> = error_a.iter().map(|e| e.abs()).collect();
    rewind_io::plot::fields(
        out.join("posterior.png"),
        n,
        n,
        &[("posterior std", &post.std), ("|analysis - truth|", &abs_error)],
        true,
    )?;
    println!("pictures in {}", out.display());
    let err_pointwise: f64 = a.x0.iter().zip(&truth).map(|(x, t)| (x - t).powi(2)).sum::<f64>() / a.x0.len() as f64;
    println!("rms error of the analysis {:.4} (the posterior's mean std is its prediction)", err_pointwise.sqrt());
    Ok(())
}
