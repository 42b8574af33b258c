//! Incremental 4D-Var on the periodic 2D flow with the library alone: the
//! flagship twin experiment (`rewind_ns2d::twin`: 64², 1024 noisy point
//! observations at four times, a Gaussian background covariance `B` that
//! is right), its analysis by [`rewind_sim::incremental`] — outer
//! linearisations, inner conjugate gradients on Gauss–Newton products in
//! the control variable `χ`, `x₀ = x_b + B^{1/2} χ` — and the Laplace
//! posterior at the analysis from the dominant eigenpairs of the
//! prior-preconditioned Gauss–Newton Hessian. Then the same analysis by
//! multi-incremental 4D-Var: the inner loops on a copy of the experiment
//! on the 32² grid ([`rewind_sim::Coarse`]), the outer loop on the 64² one.
//!
//! `rewind assimilate` runs the same experiment against L-BFGS and
//! Newton-CG, with the pictures; this is what it does, in a page.
//!
//! `cargo run --release -p rewind-examples --example assimilation_ns2d`

use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_ns2d::twin::{Twin, TwinSettings};
use rewind_sim::{Coarse, Ensemble, Incremental, Spectrum, incremental, posterior};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = TwinSettings::default();
    let mut twin = Twin::new(&settings, Par::Pool)?;
    println!(
        "{n}x{n}, {} steps, {} observations; background error {:.3}; misfit expected at the truth about {}",
        settings.steps,
        twin.observations,
        twin.error(&twin.background),
        twin.observations / 2,
        n = settings.n
    );
    // 8 outer iterations of at most 40 CG iterations each
    let background = twin.background.clone();
    let a = incremental(
        &mut twin.problem,
        &background,
        &mut twin.b,
        None,
        Incremental { outer: 8, inner: 40, inner_tol: 1e-3, tol: 1e-6, coarse_outer: 0 },
    )?;
    for (k, s) in a.outer.iter().enumerate() {
        println!(
            "outer {k}: J = {:.5e} (misfit {:.5e}), {} CG iterations, {:.2} s",
            s.objective, s.misfit, s.cg_iterations, s.seconds
        );
    }
    println!(
        "analysis: J = {:.5e}, misfit {:.5e}, error vs truth {:.4}; {} gradients, {} Gauss-Newton products, {:.1} s",
        a.objective,
        a.misfit,
        twin.error(&a.x0),
        a.gradients,
        a.products,
        a.seconds
    );
    // the posterior: 20 eigenpairs from 2 (20 + 10) products at the analysis
    let spectrum = Spectrum { k: 20, oversample: 10, seed: 1 };
    let post = posterior(&mut twin.problem, &a.x0, &mut twin.b, spectrum, &Ensemble::serial(), |_, _| {})?;
    let mean_std = post.std.iter().sum::<f64>() / post.std.len() as f64;
    let lead: Vec<String> = post.eigenvalues.iter().take(6).map(|l| format!("{l:.3e}")).collect();
    println!(
        "posterior: eigenvalues {} ...; mean pointwise std {mean_std:.4} (background {:.4})",
        lead.join(" "),
        post.background_std[0]
    );
    // multi-incremental: the inner loops on the 32² copy (all of its 100
    // states kept: 0.8 MB) until they stall, the outer loop on the 64²
    // objective
    let (mut coarse, mut coarse_b) = twin.coarse(2, Strategy::StoreAll)?;
    let m = incremental(
        &mut twin.problem,
        &background,
        &mut twin.b,
        Some(Coarse { problem: &mut coarse, b: &mut coarse_b }),
        Incremental { outer: 10, inner: 40, inner_tol: 1e-3, tol: 1e-6, coarse_outer: usize::MAX },
    )?;
    println!(
        "multi-incremental: J = {:.5e}, error vs truth {:.4}; {} gradients, {} coarse Gauss-Newton products, {:.1} s",
        m.objective,
        twin.error(&m.x0),
        m.gradients,
        m.coarse_products,
        m.seconds
    );
    Ok(())
}
