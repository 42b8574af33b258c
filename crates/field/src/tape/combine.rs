//! Fused linear combinations of fields: `Σᵢ cᵢ xᵢ` in one pass and one
//! node, and its two-term special case `α x + y`.

use super::sweep::Op;
use super::{Ctx, Field, Scalar};
use crate::components::Components;

/// A recorded coefficient of [`Op::Combine`].
#[derive(Clone, Copy)]
pub(super) enum CoefId {
    Const(f64),
    Scalar(u32),
}

/// A coefficient of a linear combination ([`Ctx::combine`]): a constant
/// or a scalar on the tape (a parameter, a reduction).
#[derive(Debug)]
pub enum Coef<'id, T> {
    /// A constant.
    Const(f64),
    /// A scalar on the tape: the combination is differentiated in it too.
    Scalar(Scalar<'id, T>),
}

impl<T> Clone for Coef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Coef<'_, T> {}

impl<T> From<f64> for Coef<'_, T> {
    fn from(c: f64) -> Self {
        Coef::Const(c)
    }
}
impl<'id, T> From<Scalar<'id, T>> for Coef<'id, T> {
    fn from(s: Scalar<'id, T>) -> Self {
        Coef::Scalar(s)
    }
}

impl<'id, T: Components> Ctx<'id, T> {
    /// `Σᵢ cᵢ xᵢ` for coefficients that are constants or tape scalars, in
    /// one pass over memory and as one node: the fused form of a sum of
    /// scaled fields (a Runge–Kutta stage combination, the terms of a
    /// right-hand side). The terms are added in order, `((c₀x₀ + c₁x₁) +
    /// c₂x₂) + …`. An empty list is the zero field.
    pub fn combine(&'id self, terms: &[(Coef<'id, T>, Field<'id, T>)]) -> Field<'id, T> {
        let Some(&(c0, x0)) = terms.first() else {
            let zeros = self.zeroed();
            return self.field(zeros, None);
        };
        let coef = |c: Coef<'id, T>| match c {
            Coef::Const(c) => CoefId::Const(c),
            Coef::Scalar(s) => CoefId::Scalar(s.id),
        };
        let rec: &'id [(CoefId, u32)] = self.arena.alloc_slice_fill_iter(terms.iter().map(|&(c, x)| (coef(c), x.id)));
        let vals =
            |c: CoefId, x: u32| (c, self.val(x), if let CoefId::Scalar(s) = c { self.val(s)[0] } else { T::zero() });
        let first = vals(coef(c0), x0.id);
        let rest: &[(CoefId, &[T], T)] =
            self.arena.alloc_slice_fill_iter(terms[1..].iter().map(|&(c, x)| vals(coef(c), x.id)));
        let v = self.chunked(|start, out| {
            let len = out.len();
            let xs = |x: &'id [T]| &x[start..start + len];
            match first {
                (CoefId::Const(c), x, _) => out.iter_mut().zip(xs(x)).for_each(|(o, &x)| *o = x * c),
                (CoefId::Scalar(_), x, s) => out.iter_mut().zip(xs(x)).for_each(|(o, &x)| *o = x * s),
            }
            for &(c, x, s) in rest {
                match c {
                    CoefId::Const(c) => out.iter_mut().zip(xs(x)).for_each(|(o, &x)| *o += x * c),
                    CoefId::Scalar(_) => out.iter_mut().zip(xs(x)).for_each(|(o, &x)| *o += x * s),
                }
            }
        });
        self.field(v, Some(Op::Combine(rec)))
    }

    /// `α x + y` with a constant `α`, in one pass.
    pub fn axpy(&'id self, alpha: f64, x: Field<'id, T>, y: Field<'id, T>) -> Field<'id, T> {
        let v = self.map2(self.val(x.id), self.val(y.id), |a, b| a * alpha + b);
        self.field(v, Some(Op::Axpy(alpha, x.id, y.id)))
    }

    /// `α x + y` with a scalar variable `α`, in one pass.
    pub fn axpy_s(&'id self, alpha: Scalar<'id, T>, x: Field<'id, T>, y: Field<'id, T>) -> Field<'id, T> {
        let s = self.val(alpha.id)[0];
        let v = self.map2(self.val(x.id), self.val(y.id), |a, b| a * s + b);
        self.field(v, Some(Op::AxpyS(alpha.id, x.id, y.id)))
    }
}
