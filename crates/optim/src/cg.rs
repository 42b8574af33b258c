//! Conjugate gradients on `A z = b` from `z = 0` for a matrix-free
//! symmetric `A` — the one CG loop of the workspace: Newton-CG and
//! trust-region Newton-CG solve `H z = −g` with it, incremental 4D-Var its
//! inner Gauss–Newton systems.
//!
//! Each iteration makes exactly one product `A d` and reuses it for both
//! the step length and the residual update; `A z` is kept as well (a
//! trust region's model decrease needs it). The loop stops when
//! `‖b − A z‖ ≤ tol`, after `max` products, or where `A` is not positive
//! along `d` (`dᵀAd ≤ 0`, or not a number): the caller decides what that
//! means — a Newton step takes steepest descent or stops, a trust region
//! follows `d` to its boundary (Steihaug–Toint: also when a step would
//! leave it), a Gauss–Newton system that must be positive definite fails.

use crate::vector::{axpy, dot};

/// What [`solve`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Cg {
    /// The solution `z` (as far as it got).
    pub z: Vec<f64>,
    /// `A z`.
    pub az: Vec<f64>,
    /// Products `A d` made.
    pub products: usize,
    /// Where the loop stopped on curvature: the direction `d` and `A d`
    /// along which `A` is not positive (after the boundary step, with a
    /// radius); `None` if it stopped on the residual or the count.
    pub negative_curvature: Option<(Vec<f64>, Vec<f64>)>,
}

/// CG on `A z = b` from `z = 0`, `A d` by `product(d, out)`, until
/// `‖r‖ ≤ tol`, `max` products or non-positive curvature; with a `radius`,
/// `z` stays in the ball `‖z‖ ≤ radius` (a step that would leave it, and a
/// direction of non-positive curvature, go to its boundary).
pub fn solve<E>(
    mut product: impl FnMut(&[f64], &mut [f64]) -> Result<(), E>,
    b: &[f64],
    tol: f64,
    max: usize,
    radius: Option<f64>,
) -> Result<Cg, E> {
    let n = b.len();
    let (mut z, mut az, mut ad) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut r = b.to_vec();
    let mut d = r.clone();
    let mut rr = dot(&r, &r);
    let mut products = 0;
    while products < max && rr.sqrt() > tol {
        product(&d, &mut ad)?;
        products += 1;
        let curvature = dot(&d, &ad);
        let a = rr / curvature;
        let leaves = radius.is_some_and(|rad| {
            let zn: f64 = z.iter().zip(&d).map(|(z, d)| (z + a * d) * (z + a * d)).sum::<f64>().sqrt();
            zn >= rad
        });
        let not_positive = curvature.is_nan() || curvature <= 0.0;
        if not_positive || leaves {
            if let Some(rad) = radius {
                let tau = to_boundary(&z, &d, rad);
                axpy(tau, &d, &mut z);
                axpy(tau, &ad, &mut az);
            }
            let stop = not_positive.then(|| (d.clone(), ad.clone()));
            return Ok(Cg { z, az, products, negative_curvature: stop });
        }
        axpy(a, &d, &mut z);
        axpy(a, &ad, &mut az);
        axpy(-a, &ad, &mut r);
        let rr_new = dot(&r, &r);
        let beta = rr_new / rr;
        d.iter_mut().zip(&r).for_each(|(d, r)| *d = r + beta * *d);
        rr = rr_new;
    }
    Ok(Cg { z, az, products, negative_curvature: None })
}

/// `τ ≥ 0` with `‖z + τd‖ = Δ`.
fn to_boundary(z: &[f64], d: &[f64], radius: f64) -> f64 {
    let (dd, zd, zz) = (dot(d, d), dot(z, d), dot(z, z));
    (-zd + (zd * zd + dd * (radius * radius - zz)).max(0.0).sqrt()) / dd
}

#[cfg(test)]
mod tests {
    use super::solve;

    /// The 1D Laplacian `tridiag(−1, 2, −1)` plus `shift` on the diagonal.
    fn laplacian(shift: f64) -> impl FnMut(&[f64], &mut [f64]) -> Result<(), ()> {
        move |x: &[f64], y: &mut [f64]| {
            let n = x.len();
            for i in 0..n {
                let left = if i > 0 { x[i - 1] } else { 0.0 };
                let right = if i + 1 < n { x[i + 1] } else { 0.0 };
                y[i] = (2.0 + shift) * x[i] - left - right;
            }
            Ok(())
        }
    }

    #[test]
    fn solves_a_positive_definite_system_to_the_tolerance_in_about_n_products() {
        let b: Vec<f64> = (0..20).map(|k| (k as f64 * 0.7).sin()).collect();
        let cg = solve(laplacian(0.0), &b, 1e-10, 100, None).unwrap();
        // n products in exact arithmetic; round-off may cost one or two more
        assert!(cg.products <= 20 + 2, "{}", cg.products);
        assert!(cg.negative_curvature.is_none());
        let mut az = vec![0.0; 20];
        laplacian(0.0)(&cg.z, &mut az).unwrap();
        let res = az.iter().zip(&b).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        assert!(res <= 1e-10, "{res}");
        // the kept A z is A z
        assert!(az.iter().zip(&cg.az).all(|(a, b)| (a - b).abs() < 1e-12));
    }

    #[test]
    fn stops_on_negative_curvature_and_keeps_a_trust_region() {
        let b = vec![1.0; 10];
        // indefinite: 2 − 3 < 0 on smooth vectors
        let cg = solve(laplacian(-3.0), &b, 1e-10, 100, None).unwrap();
        assert!(cg.negative_curvature.is_some() && cg.products == 1);
        let cg = solve(laplacian(-3.0), &b, 1e-10, 100, Some(0.5)).unwrap();
        let norm = cg.z.iter().map(|z| z * z).sum::<f64>().sqrt();
        assert!((norm - 0.5).abs() < 1e-12, "{norm}");
        // a positive definite system whose solution is outside the ball
        let cg = solve(laplacian(0.0), &b, 1e-10, 100, Some(0.1)).unwrap();
        let norm = cg.z.iter().map(|z| z * z).sum::<f64>().sqrt();
        assert!((norm - 0.1).abs() < 1e-12 && cg.negative_curvature.is_none(), "{norm}");
    }
}
