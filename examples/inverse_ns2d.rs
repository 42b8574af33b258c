//! The flagship inverse problem: recover the initial vorticity of the
//! periodic 2D flow from sparse, noisy observations at several times — the
//! shape of 4D-Var data assimilation — with Adam, L-BFGS and Newton-CG,
//! gradients and Hessian-vector products through the binomial checkpoint
//! driver.
//!
//! `cargo run --release -p rewind-examples --example inverse_ns2d [-- --quick]`

use std::time::Instant;

use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_ns2d::assimilation::{Assimilation, Noise};
use rewind_ns2d::spec::{self, Size};
use rewind_ns2d::{Ns2d, Params, stepper};
use rewind_optim::{Adam, FirstOrder, Lbfgs, NewtonCg, OptimError, Options, Problem as _, Report, minimize};
use rewind_sim::Problem;

/// Default regularisation weight (`--beta`).
const BETA: f64 = 1.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let beta: f64 = args
        .iter()
        .position(|a| a == "--beta")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(BETA);
    let stride: usize = args
        .iter()
        .position(|a| a == "--stride")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    // size S of the benchmark: N = 32, dt = 0.02, 100 steps
    let params: Params = spec::params(Size::S);
    let (n, steps) = (params.n, 100);
    let grid = rewind_field::Grid::periodic_square(n, 2.0 * std::f64::consts::PI)?;
    let truth = spec::field_b(n);

    // observe every 4th point in each direction after 25, 50, 75, 100 steps
    let points = Assimilation::strided_points(&grid, stride);
    let sigma = 0.01;
    let mut noise = Noise::new(42);
    let mut sim = stepper::<f64>(params.clone(), Par::Seq)?;
    let mut observations = Vec::new();
    let mut w = truth.clone();
    for (k, t) in [25, 50, 75, 100].into_iter().enumerate() {
        let from = if k == 0 { 0 } else { observations.len() * 25 };
        w = spec::advance(&mut sim, &w, t - from)?;
        observations.push((t, points.iter().map(|&i| w[i] + sigma * noise.normal()).collect::<Vec<f64>>()));
    }
    let objective = Assimilation { grid, points, observations, sigma, beta };
    println!(
        "recover w0 on {n}x{n} (1024 unknowns) from {} noisy observations ({} points x 4 times, sigma = {sigma}), beta = {beta}; binomial:10 checkpoints",
        objective.points.len() * 4,
        objective.points.len()
    );
    let strategy = Strategy::Binomial { snapshots: 10 };
    // the simulation as an optimisation problem over ω₀ (rewind_sim::Problem)
    let mut problem = Problem::new(Ns2d::new(params)?, objective, strategy, steps, Par::Seq)?;
    let x0 = vec![0.0; grid.len()];
    let g0 = {
        let mut g = vec![0.0; x0.len()];
        problem.value_grad(&x0, &mut g)?;
        g.iter().map(|v| v * v).sum::<f64>().sqrt()
    };
    let tol = Options { grad_tol: 1e-6 * g0, max_iter: if quick { 20 } else { 400 } };
    let newton_tol = Options { max_iter: if quick { 5 } else { 30 }, ..tol };
    let runs: Vec<(Report, f64)> = vec![
        timed(|| minimize(&mut FirstOrder(Adam::new(0.05)), &mut problem, &x0, &tol))?,
        timed(|| minimize(&mut Lbfgs::new(10), &mut problem, &x0, &tol))?,
        timed(|| minimize(&mut NewtonCg::new(40), &mut problem, &x0, &newton_tol))?,
    ];
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    println!(
        "{:>10} {:>6} {:>8} {:>6} {:>9} {:>12} {:>12} {:>10} {:>14}",
        "method", "iters", "grads", "HVPs", "time (s)", "J final", "misfit", "|g|/|g0|", "error vs truth"
    );
    for (r, secs) in &runs {
        // the misfit part alone, from a primal run through the observation times
        let mut states = Vec::new();
        let mut w = r.state.x.clone();
        let mut done = 0;
        let times: Vec<usize> = problem.loss().observations.iter().map(|(t, _)| *t).collect();
        for t in times {
            w = spec::advance(problem.sim(), &w, t - done)?;
            done = t;
            states.push((t, w.clone()));
        }
        let misfit = problem.loss().misfit(&states);
        let err: Vec<f64> = r.state.x.iter().zip(&truth).map(|(a, b)| a - b).collect();
        println!(
            "{:>10} {:>6} {:>8} {:>6} {:>9.2} {:>12.4e} {:>12.4e} {:>10.2e} {:>14.4}",
            r.method.split(' ').next().unwrap_or(r.method),
            r.state.iter,
            r.counts.grad,
            r.counts.hvp,
            secs,
            r.state.f,
            misfit,
            norm(&r.state.g) / g0,
            norm(&err) / norm(&truth)
        );
    }
    println!("(expected misfit at the truth, from the noise alone: about {})", problem.loss().points.len() * 4 / 2);
    Ok(())
}

fn timed(f: impl FnOnce() -> Result<Report, OptimError>) -> Result<(Report, f64), OptimError> {
    let t = Instant::now();
    let r = f()?;
    Ok((r, t.elapsed().as_secs_f64()))
}
