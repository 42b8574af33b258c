//! Lanczos: the extreme eigenvalues of a Hessian from Hessian-vector
//! products, to study the conditioning of a problem.

use crate::OptimError;
use crate::problem::{Counted, Hessian};
use crate::vector::{axpy, dot, norm};

/// Estimates of the smallest and largest eigenvalues of `∇²f(x)` after `k`
/// Lanczos iterations (full reorthogonalisation; `k` HVPs), starting from
/// `start`.
pub fn extreme_eigenvalues<P: Hessian + ?Sized>(
    problem: &mut P,
    x: &[f64],
    start: &[f64],
    k: usize,
) -> Result<(f64, f64), OptimError> {
    let n = x.len();
    if start.len() != n || n == 0 || norm(start) == 0.0 {
        return Err(OptimError::Invalid {
            what: "Lanczos start vector",
            why: "must be nonzero with the problem's dimension".into(),
        });
    }
    let k = k.clamp(1, n);
    let mut p = Counted::new(problem);
    let mut q: Vec<Vec<f64>> = vec![start.iter().map(|v| v / norm(start)).collect()];
    let (mut alpha, mut beta) = (Vec::with_capacity(k), Vec::with_capacity(k));
    let mut w = vec![0.0; n];
    for j in 0..k {
        p.hvp(x, &q[j], &mut w)?;
        let a = dot(&w, &q[j]);
        alpha.push(a);
        // full reorthogonalisation against all previous vectors (twice)
        for _ in 0..2 {
            for qi in &q {
                let c = dot(&w, qi);
                axpy(-c, qi, &mut w);
            }
        }
        let b = norm(&w);
        if j + 1 == k || b <= 1e-12 * a.abs().max(1.0) {
            break;
        }
        beta.push(b);
        q.push(w.iter().map(|v| v / b).collect());
    }
    Ok((tridiagonal_eigenvalue(&alpha, &beta, false), tridiagonal_eigenvalue(&alpha, &beta, true)))
}

/// The smallest (or largest) eigenvalue of the symmetric tridiagonal matrix
/// with diagonal `a` and off-diagonal `b`, by Sturm-sequence bisection.
fn tridiagonal_eigenvalue(a: &[f64], b: &[f64], largest: bool) -> f64 {
    let m = a.len();
    // Gershgorin bounds
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..m {
        let r = if i > 0 { b[i - 1].abs() } else { 0.0 } + if i < b.len() { b[i].abs() } else { 0.0 };
        lo = lo.min(a[i] - r);
        hi = hi.max(a[i] + r);
    }
    // number of eigenvalues below s
    let count = |s: f64| {
        let mut c = 0;
        let mut d = 1.0;
        for i in 0..m {
            let off = if i > 0 { b[i - 1] * b[i - 1] } else { 0.0 };
            d = a[i] - s - if i > 0 { off / d } else { 0.0 };
            if d == 0.0 {
                d = -1e-300;
            }
            if d < 0.0 {
                c += 1;
            }
        }
        c
    };
    let target = if largest { m - 1 } else { 0 };
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if count(mid) > target {
            hi = mid
        } else {
            lo = mid
        }
        if hi - lo <= 1e-15 * (lo.abs() + hi.abs()).max(1e-300) {
            break;
        }
    }
    0.5 * (lo + hi)
}
