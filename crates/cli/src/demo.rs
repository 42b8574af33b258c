//! `rewind demo`: the README's main job on the built-in problem, in about
//! two and a half minutes — (1) the gradient and a Hessian-vector product of the
//! ns2d benchmark objective through the binomial checkpoint schedule, each
//! checked against finite differences; (2) the flagship data assimilation
//! (`rewind assimilate`): an initial vorticity recovered from noisy
//! observations with a background covariance by L-BFGS, Newton-CG on
//! Gauss–Newton products and incremental 4D-Var, and the posterior; HDF5
//! files and plots in `rewind-out/`.

use anyhow::Result;
use serde_json::json;

use crate::common::Common;
use crate::{assimilate, grad};

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
    let name = crate::models::chosen(&a.common);
    if name != rewind_models::ModelName::Ns2d {
        anyhow::bail!(
            "rewind demo is the ns2d flagship; for the {m} model run `rewind grad --sim {m} --check`, `hvp`, `optimize`, `hessian` or `tradeoff` with --sim {m}",
            m = name.name()
        );
    }
    let mut c = a.common.config()?;
    let f = crate::models::ns2d_footprint(&c)?;
    crate::memory::check_fits(&mut c, &f, crate::memory::Need::Hvp)?;
    say(&format!(
        "rewind demo: 2D Navier-Stokes on a periodic {n}x{n} grid, {} RK4 steps, schedule {}\n",
        c.simulation.steps,
        c.gradient.schedule,
        n = c.simulation.n
    ));
    say("1. gradient and Hessian-vector product of J(w0) = 1/2 h^2 |Phi(w0) - Phi(w_B)|^2 at w0 = w_A,");
    say("   checked part by part against central finite differences along v = sin(x + 2y) and every parameter");
    let quiet = Common { json: true, ..a.common.clone() };
    let g = grad::figures(
        &grad::Args { common: quiet.clone(), check: true, corrupt_snapshot: None, decompose: false },
        false,
    )?;
    let h = grad::figures(&grad::Args { common: quiet, check: true, corrupt_snapshot: None, decompose: false }, true)?;
    say(&format!(
        "   J = {:.6e}, |grad J| = {:.6e}",
        g["objective"].as_f64().unwrap_or(f64::NAN),
        g["grad_norm"].as_f64().unwrap_or(f64::NAN),
    ));
    for part in g["check"]["parts"].as_array().into_iter().flatten() {
        say(&format!(
            "   {:<18} <grad J, v> = {:.10e} vs finite difference {:.10e} (rel. error {:.1e})",
            part["part"].as_str().unwrap_or("?"),
            part["adjoint"].as_f64().unwrap_or(f64::NAN),
            part["finite_difference"].as_f64().unwrap_or(f64::NAN),
            part["relative_error"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    say(&format!(
        "   |H v| = {:.6e}, <v, H v> = {:.6e}; against finite differences of gradients, worst part: rel. error {:.1e}",
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
    // the flagship at twice the configured grid (64² by default), the
    // configured steps and observation stride
    let n = 2 * c.simulation.n;
    say(&format!(
        "2. data assimilation (the flagship twin experiment): recover w0 on {n}x{n} from noisy observations at 4 times,"
    ));
    say("   with a Gaussian background covariance; L-BFGS, Newton-CG on Gauss-Newton products, incremental 4D-Var");
    say("   and multi-incremental 4D-Var (inner loops on the grid twice as coarse);");
    say("   then the Laplace posterior from the dominant eigenpairs of the prior-preconditioned Gauss-Newton Hessian");
    let max_iter = (c.optimize.max_iter != crate::config::Optimize::default().max_iter).then_some(c.optimize.max_iter);
    // multi-incremental 4D-Var needs the observed points on the coarse grid
    let mut methods: Vec<String> = vec!["lbfgs".into(), "gauss-newton".into(), "4dvar".into()];
    if c.observations.stride % 2 == 0 {
        methods.push("4dvar-coarse".into());
    } else {
        say(
            "   (observation stride odd: no multi-incremental 4D-Var, whose coarse grid must hold the observed points)",
        );
    }
    let common = Common {
        n: Some(n),
        steps: Some(c.simulation.steps),
        schedule: Some(c.gradient.schedule.clone()),
        threads: Some(c.simulation.threads),
        out: Some(c.output.dir.join("assimilate")),
        json: a.common.json,
        quiet: a.common.quiet,
        no_files: a.common.no_files,
        ..Common::default()
    };
    let flagship = assimilate::Args {
        common,
        stride: c.observations.stride,
        sigma: 0.05,
        length: 0.5,
        spread: 0.5,
        methods,
        outer: 10,
        coarse_factor: 2,
        coarse_outer: None,
        coarse_schedule: "store-all".into(),
        inner: 40,
        max_iter,
        posterior: 20,
    };
    let o = assimilate::solve(&flagship)?;
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&json!({ "gradient": g, "hvp": h, "assimilation": o }))?);
        return Ok(());
    }
    assimilate::print_report(&o, false)?;
    println!(
        "\nopen {dir}/*.xmf in ParaView or {dir}/*.h5 with h5py; plots are {dir}/*.png and {dir}/assimilate/*.png\n\
         (the 32² inverse problem without a background, with every optimizer: rewind optimize --method adam,lbfgs,newton-cg,gauss-newton)",
        dir = c.output.dir.display()
    );
    Ok(())
}
