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
use rewind_ns2d::spec::{self, Size};
use rewind_ns2d::{Ns2d, Params, stepper};
use rewind_optim::{Adam, FirstOrder, Lbfgs, NewtonCg, OptimError, Options, Problem as _, Report, minimize};
use rewind_sim::{Background, Covariance, Noise, Observations, Problem};

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
    let sigma = 0.01;
    let times = [25, 50, 75, 100];
    let mut sim = stepper::<f64>(params.clone(), Par::Seq)?;
    let states = rewind_sim::states_at(&mut sim, &truth, &times)?;
    let observed = Observations::of("vorticity").points(grid.strided(stride)).sigma(sigma).noisy(
        sim.layout(),
        &times,
        &states,
        &mut Noise::new(42),
    )?;
    // ½ β h² Σ |∇ω₀|²: a smoothness regulariser on the initial state
    let smooth = Background::state("vorticity", vec![0.0; grid.len()])
        .covariance(Covariance::Smoothness(grid.dx * grid.dy))
        .weight(beta);
    let npoints = observed.count() / times.len();
    println!(
        "recover w0 on {n}x{n} (1024 unknowns) from {} noisy observations ({npoints} points x 4 times, sigma = {sigma}), beta = {beta}; binomial:10 checkpoints",
        observed.count(),
    );
    let objective = observed.clone() + smooth;
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
        // the misfit part alone
        let misfit = problem.value_of(&r.state.x, observed.clone())?;
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
    println!("(expected misfit at the truth, from the noise alone: about {})", observed.count() / 2);
    Ok(())
}

fn timed(f: impl FnOnce() -> Result<Report, OptimError>) -> Result<(Report, f64), OptimError> {
    let t = Instant::now();
    let r = f()?;
    Ok((r, t.elapsed().as_secs_f64()))
}
