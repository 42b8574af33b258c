//! `rewind demo`: the README's main job on the built-in problem, in about
//! a minute — (1) the gradient and a Hessian-vector product of the ns2d
//! benchmark objective through the binomial checkpoint schedule, each
//! checked against finite differences; (2) the flagship inverse problem,
//! recovering an initial vorticity from sparse noisy observations with
//! L-BFGS and Newton-CG; HDF5 files and plots in `rewind-out/`.

use anyhow::Result;
use serde_json::json;

use crate::common::Common;
use crate::config::Method;
use crate::{grad, optimize};

/// Arguments of `rewind demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) common: Common,
}

/// `rewind demo`.
pub(crate) fn main(a: &Args) -> Result<()> {
    let say = |s: &str| {
        if !a.common.json {
            println!("{s}");
        }
    };
    let mut c = a.common.config()?;
    crate::memory::check_fits(&mut c, crate::memory::Need::Hvp)?;
    say(&format!(
        "rewind demo: 2D Navier-Stokes on a periodic {n}x{n} grid, {} RK4 steps, schedule {}\n",
        c.simulation.steps,
        c.gradient.schedule,
        n = c.simulation.n
    ));
    say("1. gradient and Hessian-vector product of J(w0) = 1/2 h^2 |Phi(w0) - Phi(w_B)|^2 at w0 = w_A,");
    say("   checked against central finite differences along v = sin(x + 2y)");
    let quiet = Common { json: true, ..a.common.clone() };
    let g = grad::figures(&grad::Args { common: quiet.clone(), check: true, corrupt_snapshot: None }, false)?;
    let h = grad::figures(&grad::Args { common: quiet, check: true, corrupt_snapshot: None }, true)?;
    say(&format!(
        "   J = {:.6e}, |grad J| = {:.6e}; <grad J, v> = {:.10e} vs finite difference {:.10e} (rel. error {:.1e})",
        g["loss"].as_f64().unwrap_or(f64::NAN),
        g["grad_norm"].as_f64().unwrap_or(f64::NAN),
        g["check"]["adjoint"].as_f64().unwrap_or(f64::NAN),
        g["check"]["finite_difference"].as_f64().unwrap_or(f64::NAN),
        g["check"]["relative_error"].as_f64().unwrap_or(f64::NAN),
    ));
    say(&format!(
        "   |H v| = {:.6e}, <v, H v> = {:.6e}; against finite differences of gradients: rel. error {:.1e}",
        h["hvp_norm"].as_f64().unwrap_or(f64::NAN),
        h["v_dot_hvp"].as_f64().unwrap_or(f64::NAN),
        h["check"]["relative_error"].as_f64().unwrap_or(f64::NAN),
    ));
    say(&format!(
        "   cost: {} forward steps for {} steps ({:.2} per step; optimum {}), gradient {:.2}x primal, HVP {:.2}x primal\n",
        g["cost"]["forward_steps"],
        c.simulation.steps,
        g["cost"]["recomputation_factor"].as_f64().unwrap_or(f64::NAN),
        g["cost"]["optimal_forward_steps"],
        g["grad_over_primal"].as_f64().unwrap_or(f64::NAN),
        h["hvp_over_primal"].as_f64().unwrap_or(f64::NAN),
    ));
    say("2. the inverse problem: recover w0 from sparse noisy observations (4D-Var shape)");
    let methods = if c.optimize.methods == crate::config::Optimize::default().methods {
        vec![Method::Lbfgs, Method::NewtonCg]
    } else {
        c.optimize.methods.clone()
    };
    // 30 iterations each keeps the demo near a minute; `rewind optimize
    // --method adam,lbfgs,newton-cg --max-iter 400` runs the full comparison
    let max_iter = if c.optimize.max_iter == crate::config::Optimize::default().max_iter { Some(30) } else { None };
    let opt = optimize::Args {
        common: a.common.clone(),
        method: methods,
        max_iter,
        restart: true,
        abort_after: None,
        members: 1,
        member_spread: 0.0,
    };
    let o = optimize::solve(&opt, &rewind_sim::Ensemble::serial())?;
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&json!({ "gradient": g, "hvp": h, "inverse_problem": o }))?);
        return Ok(());
    }
    optimize::print_report(&o, false)?;
    println!(
        "\nopen {dir}/*.xmf in ParaView or {dir}/*.h5 with h5py; plots are {dir}/*.png\n(more iterations and Adam: rewind optimize --method adam,lbfgs,newton-cg --max-iter 400)",
        dir = c.output.dir.display()
    );
    Ok(())
}
