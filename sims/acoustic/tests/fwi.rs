//! The inversion's objective against finite differences: its gradient in
//! the bounded unknowns, its Gauss–Newton products against differences of
//! the gradient at the truth of noise-free data (where the residual is
//! zero and the Gauss–Newton matrix is the Hessian), their symmetry; and
//! L-BFGS bringing the velocity closer to the truth.

use rewind_acoustic::fwi::{C0, Fwi, GaussNewtonFwi, SPAN, Survey};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_optim::{Hessian, Lbfgs, Options, Problem, minimize};

/// 35³ points, one shot at the centre, a sphere of radius 2 points, 120
/// steps (the direct wave has crossed to the receivers).
fn small(noise: f64) -> Survey {
    Survey { n: 35, steps: 120, shots: 1, contrast: 0.1, radius: 0.06, noise, seed: 3 }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn grad(f: &mut impl Problem, s: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; s.len()];
    f.value_grad(s, &mut g).unwrap();
    g
}

#[test]
fn gradient_and_gauss_newton_products_match_finite_differences() {
    let mut f = Fwi::new(small(0.0), Strategy::Binomial { snapshots: 5 }, Par::Seq).unwrap();
    let n = f.dim();
    assert!(n > 0 && f.data_count() == 120 * 15 * 15);
    // the gradient in a direction, at a point off the truth
    let s: Vec<f64> = (0..n).map(|k| 0.2 * (0.37 * k as f64).sin()).collect();
    let v: Vec<f64> = (0..n).map(|k| 0.5 * (0.11 * k as f64).cos()).collect();
    let g = grad(&mut f, &s);
    let at = |e: f64| s.iter().zip(&v).map(|(a, b)| a + e * b).collect::<Vec<_>>();
    let eps = 1e-4;
    let fd = (f.value(&at(eps)).unwrap() - f.value(&at(-eps)).unwrap()) / (2.0 * eps);
    let ad = dot(&g, &v);
    assert!((fd - ad).abs() < 1e-6 * ad.abs(), "directional derivative {ad} against differences {fd}");

    // the truth: the sphere lies inside the update region
    let truth = f.true_velocity().to_vec();
    let star: Vec<f64> = f.region().iter().map(|&p| ((truth[p] - C0) / (SPAN * C0)).atanh()).collect();
    assert!(f.model_error(&star) < 1e-12);
    assert!(f.model_error(&vec![0.0; n]) == 1.0);
    assert!(f.value(&star).unwrap() < 1e-12 * f.value(&vec![0.0; n]).unwrap());
    // there G = ∇²J: against central differences of the gradient
    let w: Vec<f64> = (0..n).map(|k| (0.23 * k as f64).sin()).collect();
    let mut gn = GaussNewtonFwi(&mut f);
    let (mut gv, mut gw) = (vec![0.0; n], vec![0.0; n]);
    grad(&mut gn, &star);
    gn.hvp(&star, &v, &mut gv).unwrap();
    gn.hvp(&star, &w, &mut gw).unwrap();
    let (vw, wv) = (dot(&gv, &w), dot(&gw, &v));
    assert!((vw - wv).abs() < 1e-10 * vw.abs(), "⟨Gv, w⟩ = {vw}, ⟨v, Gw⟩ = {wv}");
    assert!(dot(&gv, &v) > 0.0);
    let e = 1e-3;
    let shifted = |e: f64| star.iter().zip(&v).map(|(a, b)| a + e * b).collect::<Vec<_>>();
    let (gp, gm) = (grad(&mut f, &shifted(e)), grad(&mut f, &shifted(-e)));
    let hv: Vec<f64> = gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * e)).collect();
    let diff: Vec<f64> = hv.iter().zip(&gv).map(|(a, b)| a - b).collect();
    let rel = dot(&diff, &diff).sqrt() / dot(&hv, &hv).sqrt();
    assert!(rel < 1e-5, "Gauss–Newton product against differences of the gradient: relative error {rel}");
}

#[test]
fn lbfgs_brings_the_velocity_closer_to_the_truth() {
    let mut f = Fwi::new(small(0.01), Strategy::Binomial { snapshots: 5 }, Par::Seq).unwrap();
    let s0 = vec![0.0; f.dim()];
    let r = minimize(&mut Lbfgs::new(5), &mut f, &s0, &Options { grad_tol: 0.0, max_iter: 4 }).unwrap();
    let (j0, j) = (r.history[0].f, r.state.f);
    let err = f.model_error(&r.state.x);
    println!("J {j0:.4e} → {j:.4e}, model error {err:.3}, {} solves", f.solves());
    assert!(j < 0.2 * j0, "J {j0} → {j}");
    assert!(err < 0.9, "model error {err}");
}

#[test]
fn surveys_that_cannot_work_are_refused_with_the_reason() {
    let bin = Strategy::Binomial { snapshots: 4 };
    for (bad, needle) in [
        (Survey { n: 30, ..small(0.0) }, "at least 31"),
        (Survey { contrast: 0.3, ..small(0.0) }, "contrast"),
        (Survey { radius: 0.0, ..small(0.0) }, "radius"),
        (Survey { radius: 0.08, ..small(0.0) }, "inside the update region"),
        (Survey { noise: -1.0, ..small(0.0) }, "noise"),
        (Survey { shots: 0, ..small(0.0) }, "one shot"),
        (Survey { shots: 16, ..small(0.0) }, "shots per side"),
    ] {
        let e = Fwi::new(bad.clone(), bin, Par::Seq).unwrap_err().to_string();
        assert!(e.contains(needle), "{bad:?}: {e}");
    }
}
