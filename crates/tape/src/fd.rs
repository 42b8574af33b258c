//! Finite differences and derivative checks for users' own functions.
//!
//! Finite differences are the independent witness for every derivative in
//! rewind. Steps are relative: component `i` moves by `h · max(1, |xᵢ|)`.
//! The [`taylor_test`] is the sharper check for a whole gradient: the
//! remainder `|f(x + εd) − f(x) − ε ∇f·d|` must fall like `ε²`; a wrong
//! gradient leaves an `O(ε)` remainder that no tolerance can hide.

use smallvec::SmallVec;

use crate::{CustomOp, Dual, TapeError, custom};

fn step(h: f64, xi: f64) -> f64 {
    h * xi.abs().max(1.0)
}

/// Gradient by forward differences `(f(x + hᵢeᵢ) − f(x)) / hᵢ` (error O(h)).
pub fn forward_difference<F: Fn(&[f64]) -> f64>(f: F, x: &[f64], h: f64) -> Vec<f64> {
    let fx = f(x);
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let hi = step(h, x[i]);
            xp[i] = x[i] + hi;
            let d = (f(&xp) - fx) / hi;
            xp[i] = x[i];
            d
        })
        .collect()
}

/// Gradient by central differences `(f(x + hᵢeᵢ) − f(x − hᵢeᵢ)) / 2hᵢ`
/// (error O(h²)).
pub fn central_difference<F: Fn(&[f64]) -> f64>(f: F, x: &[f64], h: f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let hi = step(h, x[i]);
            xp[i] = x[i] + hi;
            let fp = f(&xp);
            xp[i] = x[i] - hi;
            let fm = f(&xp);
            xp[i] = x[i];
            (fp - fm) / (2.0 * hi)
        })
        .collect()
}

/// Derivative of a function of one variable by central differences.
pub fn central_derivative<F: Fn(f64) -> f64>(f: F, x: f64, h: f64) -> f64 {
    let hi = step(h, x);
    (f(x + hi) - f(x - hi)) / (2.0 * hi)
}

/// Directional derivative `(f(x + h v) − f(x − h v)) / 2h` of a vector
/// function (a central-difference JVP). Works for scalar functions too
/// (return a one-element vector).
pub fn central_jvp<F: Fn(&[f64]) -> Vec<f64>>(f: F, x: &[f64], v: &[f64], h: f64) -> Result<Vec<f64>, TapeError> {
    if x.len() != v.len() {
        return Err(TapeError::LengthMismatch { what: "central_jvp direction v", expected: x.len(), got: v.len() });
    }
    let xp: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + h * b).collect();
    let xm: Vec<f64> = x.iter().zip(v).map(|(a, b)| a - h * b).collect();
    let (yp, ym) = (f(&xp), f(&xm));
    Ok(yp.iter().zip(&ym).map(|(p, m)| (p - m) / (2.0 * h)).collect())
}

/// The result of a [`taylor_test`].
#[derive(Debug, Clone, PartialEq)]
pub struct TaylorTest {
    /// The steps ε, halving.
    pub steps: Vec<f64>,
    /// `|f(x + εd) − f(x) − ε ∇f·d|` for each step.
    pub remainders: Vec<f64>,
    /// Observed orders `log₂(rₖ / rₖ₊₁)` between consecutive steps.
    pub orders: Vec<f64>,
    /// Remainders below this are round-off and carry no order information.
    pub noise_floor: f64,
}

impl TaylorTest {
    /// True if the remainder falls at second order: two consecutive
    /// observed orders above the noise floor lie in `[1.8, 2.2]`; or every
    /// remainder is at round-off (the function is linear along `d` and the
    /// gradient is exact to round-off).
    pub fn passed(&self) -> bool {
        if self.remainders.iter().all(|&r| r <= self.noise_floor) {
            return true;
        }
        let ok: Vec<bool> = self
            .orders
            .iter()
            .enumerate()
            .map(|(k, &p)| self.remainders[k + 1] > self.noise_floor && (1.8..=2.2).contains(&p))
            .collect();
        ok.windows(2).any(|w| w[0] && w[1])
    }
}

/// Taylor test of a claimed gradient `g` of `f` at `x` along `d`, with
/// steps `ε₀ · 2⁻ᵏ`, `k = 0..8`, where `ε₀ = 0.05 · max(1, ‖x‖) / ‖d‖`.
pub fn taylor_test<F: Fn(&[f64]) -> f64>(f: F, x: &[f64], g: &[f64], d: &[f64]) -> Result<TaylorTest, TapeError> {
    for (what, len) in [("taylor_test gradient", g.len()), ("taylor_test direction", d.len())] {
        if len != x.len() {
            return Err(TapeError::LengthMismatch { what, expected: x.len(), got: len });
        }
    }
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let dn = norm(d);
    if dn == 0.0 {
        return Err(TapeError::EmptyInput { what: "taylor_test (zero direction)" });
    }
    let fx = f(x);
    let gd: f64 = g.iter().zip(d).map(|(a, b)| a * b).sum();
    let eps0 = 0.05 * norm(x).max(1.0) / dn;
    let steps: Vec<f64> = (0..9).map(|k| eps0 * 0.5f64.powi(k)).collect();
    let mut xp = x.to_vec();
    let remainders: Vec<f64> = steps
        .iter()
        .map(|&e| {
            for ((p, &a), &b) in xp.iter_mut().zip(x).zip(d) {
                *p = a + e * b;
            }
            (f(&xp) - fx - e * gd).abs()
        })
        .collect();
    let orders = remainders.windows(2).map(|w| (w[0] / w[1]).log2()).collect();
    let noise_floor = 1e3 * f64::EPSILON * (fx.abs() + eps0 * gd.abs()).max(f64::MIN_POSITIVE);
    Ok(TaylorTest { steps, remainders, orders, noise_floor })
}

/// Relative discrepancies found by [`check_custom_op`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomOpCheck {
    /// `|⟨J v, w⟩ − ⟨v, Jᵀ w⟩| / max(|⟨J v, w⟩|, tiny)`: the JVP and the VJP
    /// agree (dot-product test).
    pub dot_product: f64,
    /// `‖J v − FD‖ / max(‖J v‖, tiny)`: the JVP agrees with central
    /// differences of `eval` (step 1e-6, so expect ~1e-8 for smooth ops).
    pub finite_difference: f64,
}

/// Checks a [`CustomOp`]'s rules at `x` along input direction `v` and
/// output direction `w`.
pub fn check_custom_op<O: CustomOp>(op: &O, x: &[f64], v: &[f64], w: &[f64]) -> Result<CustomOpCheck, TapeError> {
    if v.len() != x.len() {
        return Err(TapeError::LengthMismatch { what: "check_custom_op v", expected: x.len(), got: v.len() });
    }
    if w.len() != O::OUTPUTS {
        return Err(TapeError::LengthMismatch { what: "check_custom_op w", expected: O::OUTPUTS, got: w.len() });
    }
    // JVP through the forward-mode path, VJP through the user's rule.
    let xd: Vec<Dual<f64>> = x.iter().zip(v).map(|(&a, &b)| Dual::new(a, b)).collect();
    let yd = custom(op, &xd);
    let y: Vec<f64> = yd.iter().map(|d| d.re).collect();
    let jv: Vec<f64> = yd.iter().map(|d| d.eps).collect();
    let mut jtw: SmallVec<[f64; 8]> = SmallVec::from_elem(0.0, x.len());
    op.vjp(x, &y, w, &mut jtw);
    let lhs: f64 = jv.iter().zip(w).map(|(a, b)| a * b).sum();
    let rhs: f64 = v.iter().zip(&jtw).map(|(a, b)| a * b).sum();
    let tiny = 1e-300;
    let dot_product = (lhs - rhs).abs() / lhs.abs().max(tiny);
    let fd = central_jvp(|x| custom(op, x), x, v, 1e-6)?;
    let num: f64 = jv.iter().zip(&fd).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    let den: f64 = jv.iter().map(|a| a * a).sum::<f64>().sqrt();
    Ok(CustomOpCheck { dot_product, finite_difference: num / den.max(tiny) })
}

/// Taylor test of the reverse-mode gradient of a generic scalar function
/// at `x` along `d` (see [`taylor_test`]).
pub fn check_gradient<F: crate::ScalarFn + ?Sized>(f: &F, x: &[f64], d: &[f64]) -> Result<TaylorTest, TapeError> {
    let g = crate::grad(|x| f.eval(x), x)?;
    taylor_test(|x| f.eval(x), x, &g, d)
}
