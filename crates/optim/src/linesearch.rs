//! Line searches along a descent direction `d` from `x`.

use crate::OptimError;
use crate::problem::{Counted, Problem};
use crate::vector::dot;

/// The outcome of a line search: the step and `f`, `∇f` at `x + α d`.
#[derive(Debug, Clone)]
pub struct Step {
    /// `α`.
    pub alpha: f64,
    /// `f(x + α d)`.
    pub f: f64,
    /// `∇f(x + α d)`.
    pub g: Vec<f64>,
    /// `x + α d`.
    pub x: Vec<f64>,
}

/// `gᵀd`, which must be negative.
fn descent_slope(g: &[f64], d: &[f64]) -> Result<f64, OptimError> {
    let dg = dot(g, d);
    if dg < 0.0 {
        Ok(dg)
    } else {
        Err(OptimError::Invalid { what: "search direction", why: "not a descent direction".into() })
    }
}

fn eval<P: Problem + ?Sized>(p: &mut Counted<'_, P>, x: &[f64], d: &[f64], a: f64) -> Result<Step, OptimError> {
    let xa: Vec<f64> = x.iter().zip(d).map(|(xi, di)| xi + a * di).collect();
    let mut g = vec![0.0; x.len()];
    let f = p.value_grad(&xa, &mut g)?;
    Ok(Step { alpha: a, f, g, x: xa })
}

/// A step satisfying the strong Wolfe conditions
/// `f(x + αd) ≤ f + c₁α gᵀd` and `|∇f(x + αd)ᵀd| ≤ c₂|gᵀd|`
/// (Nocedal & Wright, Algorithms 3.5 and 3.6, with quadratic
/// interpolation in the zoom), starting from `alpha0`.
#[allow(clippy::too_many_arguments)]
pub fn strong_wolfe<P: Problem + ?Sized>(
    p: &mut Counted<'_, P>,
    x: &[f64],
    f0: f64,
    g0: &[f64],
    d: &[f64],
    alpha0: f64,
    c1: f64,
    c2: f64,
) -> Result<Step, OptimError> {
    let dg0 = descent_slope(g0, d)?;
    const MAX: usize = 40;
    let (mut a_prev, mut f_prev, mut dg_prev) = (0.0, f0, dg0);
    let mut a = alpha0;
    for i in 0..MAX {
        let s = eval(p, x, d, a)?;
        let dg = dot(&s.g, d);
        if s.f > f0 + c1 * a * dg0 || (i > 0 && s.f >= f_prev) {
            return zoom(p, x, f0, dg0, d, (a_prev, f_prev, dg_prev), (a, s.f, dg), c1, c2);
        }
        if dg.abs() <= -c2 * dg0 {
            return Ok(s);
        }
        if dg >= 0.0 {
            return zoom(p, x, f0, dg0, d, (a, s.f, dg), (a_prev, f_prev, dg_prev), c1, c2);
        }
        (a_prev, f_prev, dg_prev) = (a, s.f, dg);
        a *= 2.0;
    }
    Err(OptimError::LineSearch { evaluations: MAX })
}

#[allow(clippy::too_many_arguments)]
fn zoom<P: Problem + ?Sized>(
    p: &mut Counted<'_, P>,
    x: &[f64],
    f0: f64,
    dg0: f64,
    d: &[f64],
    lo: (f64, f64, f64),
    hi: (f64, f64, f64),
    c1: f64,
    c2: f64,
) -> Result<Step, OptimError> {
    let (mut lo, mut hi) = (lo, hi);
    const MAX: usize = 40;
    for _ in 0..MAX {
        // minimiser of the quadratic through (a_lo, f_lo) with slope dg_lo
        // and (a_hi, f_hi), kept inside the middle 80% of the bracket
        let (al, fl, gl) = lo;
        let (ah, fh, _) = hi;
        let w = ah - al;
        let denom = 2.0 * (fh - fl - gl * w);
        let mut a = if denom.abs() > 1e-300 { al - gl * w * w / denom } else { al + 0.5 * w };
        let (a_min, a_max) = (al.min(ah), al.max(ah));
        let margin = 0.1 * (a_max - a_min);
        if !(a > a_min + margin && a < a_max - margin) {
            a = 0.5 * (al + ah);
        }
        let s = eval(p, x, d, a)?;
        let dg = dot(&s.g, d);
        if s.f > f0 + c1 * a * dg0 || s.f >= fl {
            hi = (a, s.f, dg);
        } else {
            if dg.abs() <= -c2 * dg0 {
                return Ok(s);
            }
            if dg * (ah - al) >= 0.0 {
                hi = lo;
            }
            lo = (a, s.f, dg);
        }
        if (hi.0 - lo.0).abs() <= 1e-16 * lo.0.abs().max(1.0) {
            break;
        }
    }
    Err(OptimError::LineSearch { evaluations: MAX })
}

/// Backtracking until `f(x + αd) ≤ f + c₁α gᵀd` (Armijo; with `c₁ > 0`
/// along a descent direction that is also a strict decrease), halving from
/// `alpha0` ([`backtrack`], at most 60 trials).
pub fn armijo<P: Problem + ?Sized>(
    p: &mut Counted<'_, P>,
    x: &[f64],
    f0: f64,
    g0: &[f64],
    d: &[f64],
    alpha0: f64,
    c1: f64,
) -> Result<Step, OptimError> {
    let dg0 = descent_slope(g0, d)?;
    let mut last = None;
    let phi = |a: f64| -> Result<f64, OptimError> {
        let s = eval(p, x, d, a)?;
        let f = s.f;
        last = Some(s);
        Ok(f)
    };
    let found = backtrack(phi, f0, dg0, alpha0, c1, 60)?;
    found.and(last).ok_or(OptimError::LineSearch { evaluations: 60 })
}

/// The one backtracking loop: the first of `α = alpha0, alpha0/2, …`
/// (at most `max` trials) with `φ(α) ≤ f0 + c₁ α · slope` and
/// `φ(α) < f0` — sufficient decrease along a direction of slope `slope`,
/// or with `c₁ = 0` any decrease (incremental 4D-Var's outer step). A
/// value that is not a number is no decrease. `Some((α, trials))`, or
/// `None` when no trial is accepted; an error of `φ` is returned as is.
pub fn backtrack<E>(
    mut phi: impl FnMut(f64) -> Result<f64, E>,
    f0: f64,
    slope: f64,
    alpha0: f64,
    c1: f64,
    max: usize,
) -> Result<Option<(f64, usize)>, E> {
    let mut a = alpha0;
    for trial in 1..=max {
        let f = phi(a)?;
        if f <= f0 + c1 * a * slope && f < f0 {
            return Ok(Some((a, trial)));
        }
        a *= 0.5;
    }
    Ok(None)
}
