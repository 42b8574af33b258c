//! Explicit Runge–Kutta methods on whole states, as Butcher tableaux.
//!
//! A method is plain data: the stage coefficients `aᵢⱼ` and weights `bⱼ`,
//! each a fraction `p/q` so that `dt·p/q` is computed as `dt/q` when
//! `p = 1` (the rounding of the hand-written RK4 it replaces). A stage
//! state with one increment is one `axpy` per field; the final
//! combination `x + dt Σ bⱼ kⱼ` is one fused pass per field
//! ([`Ctx::combine`]), the increments first, then `x`.

use rewind_field::{Components, Ctx, Field, Scalar};
use smallvec::SmallVec;

use crate::{SimError, State};

/// An explicit Runge–Kutta method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Integrator {
    /// Forward Euler (first order, one stage).
    Euler,
    /// The three-stage strong-stability-preserving method of Shu and Osher
    /// (third order; total-variation diminishing under `dt ≤ dt_Euler`).
    SspRk3,
    /// The classic four-stage method (fourth order).
    Rk4,
}

/// A fraction `p/q`.
type Frac = (i32, i32);

impl Integrator {
    /// Every method, for listings and tests.
    pub const ALL: [Integrator; 3] = [Integrator::Euler, Integrator::SspRk3, Integrator::Rk4];

    /// The number of right-hand-side evaluations per step.
    pub fn stages(self) -> usize {
        self.tableau().1.len()
    }

    /// `(a, b)`: row `i` of `a` holds the coefficients of stages `0..i`.
    fn tableau(self) -> (&'static [&'static [Frac]], &'static [Frac]) {
        match self {
            Integrator::Euler => (&[&[]], &[(1, 1)]),
            Integrator::SspRk3 => (&[&[], &[(1, 1)], &[(1, 4), (1, 4)]], &[(1, 6), (1, 6), (2, 3)]),
            Integrator::Rk4 => {
                (&[&[], &[(1, 2)], &[(0, 1), (1, 2)], &[(0, 1), (0, 1), (1, 1)]], &[(1, 6), (1, 3), (1, 3), (1, 6)])
            }
        }
    }

    /// One step `x ↦ x⁺` of size `dt` on the tape, with `rhs` called once
    /// per stage, in stage order. A right-hand side whose parts do not
    /// match the state's is an error ([`SimError::Shape`]).
    pub fn step<'id, T: Components, E: From<SimError>>(
        self,
        c: &'id Ctx<'id, T>,
        x: &State<'id, T>,
        dt: f64,
        mut rhs: impl FnMut(&State<'id, T>) -> Result<State<'id, T>, E>,
    ) -> Result<State<'id, T>, E> {
        let (a, b) = self.tableau();
        let mut k: SmallVec<[State<'id, T>; 4]> = SmallVec::new();
        for (i, row) in a.iter().enumerate() {
            let y = if row.iter().all(|f| f.0 == 0) {
                x.clone()
            } else {
                // a stage's state is read at offsets by the right-hand
                // side's stencils: its fields are computed together, in one
                // loop over their shared expressions — with the stage
                // derivatives it reads that a later stage or the step's
                // end reads again (kept rather than computed twice)
                let y = combination(x, &k, row, dt);
                let again = |j: usize| a[i + 1..].iter().chain([&b]).any(|r| r.get(j).is_some_and(|f| f.0 != 0));
                let mut fields: SmallVec<[Field<'id, T>; 8]> = y.fields().iter().copied().collect();
                for (j, kj) in k.iter().enumerate() {
                    if row.get(j).is_some_and(|f| f.0 != 0) && again(j) {
                        fields.extend(kj.fields().iter().copied());
                    }
                }
                c.materialise(&fields);
                y
            };
            let ki = rhs(&y)?;
            if ki.fields().len() != x.fields().len() || ki.scalars().len() != x.scalars().len() {
                return Err(SimError::Shape(format!(
                    "the right-hand side has {} fields and {} scalars, the state {} and {}",
                    ki.fields().len(),
                    ki.scalars().len(),
                    x.fields().len(),
                    x.scalars().len()
                ))
                .into());
            }
            k.push(ki);
        }
        Ok(combination(x, &k, b, dt))
    }
}

/// `dt·p/q`, as `dt/q` when `p = 1`.
fn times(dt: f64, (p, q): Frac) -> f64 {
    if p == 1 { dt / q as f64 } else { dt * p as f64 / q as f64 }
}

/// `x + Σⱼ dt·wⱼ kⱼ` over the nonzero weights, part by part: for a
/// field, `((k₀ dt w₀ + k₁ dt w₁) + …) + x`, one fused expression.
fn combination<'id, T: Components>(x: &State<'id, T>, k: &[State<'id, T>], w: &[Frac], dt: f64) -> State<'id, T> {
    let terms: SmallVec<[(f64, usize); 4]> =
        w.iter().enumerate().filter(|(_, f)| f.0 != 0).map(|(j, &f)| (times(dt, f), j)).collect();
    let mut out = State::empty();
    for (i, &xi) in x.fields().iter().enumerate() {
        let sum = terms.iter().map(|&(a, j)| k[j].fields()[i] * a).reduce(|s, t| s + t);
        out.push_field(sum.map_or(xi, |s| s + xi));
    }
    for (i, &xi) in x.scalars().iter().enumerate() {
        let s: Scalar<'id, T> = terms.iter().fold(xi, |s, &(a, j)| s + k[j].scalars()[i] * a);
        out.push_scalar(s);
    }
    out
}
