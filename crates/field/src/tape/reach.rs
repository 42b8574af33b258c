//! How far along x a recorded computation reads: the halo a slab of the
//! grid needs to compute it exactly.
//!
//! A step made of pointwise arithmetic and stencils reads, at each point,
//! only points within a few x-planes of it: a stencil adds the largest
//! `|di|` of its offsets to the reach of its inputs, arithmetic takes the
//! largest reach of its operands. A domain-decomposed run (the
//! `rewind-decompose` crate) computes a step on a slab of planes and a
//! ghost layer that wide on each side, so the step's reach must be known —
//! and finite: a sparse solve, a reduction fed back into a field,
//! semi-Lagrangian advection (its reach depends on the velocity), points
//! (sources and receivers at positions of the whole grid) and constant
//! data (which depends on where the slab lies) read beyond any halo, and
//! [`Ctx::x_reach`] names the first one it meets instead.
//!
//! The periodic Poisson solve reads the whole grid too, but a split run
//! solves it across ranks ([`crate::Split`]) and fills the ghost planes of
//! its result from the neighbours: its value is exact on the whole box
//! and reads nothing beyond it, so the count starts again from it; its
//! operand must be exact on the slab, so the operand's reach counts as if
//! it were an output.

use super::op::{Kind, Op};
use super::{Ctx, Field, Scalar};
use crate::{Components, Face, FieldError};

impl<'id, T: Components> Ctx<'id, T> {
    /// The x-planes the fields `outputs` (and the scalars `scalars`) read
    /// below and above a point, `[below, above]`,
    /// through every operation recorded since the recording's inputs:
    /// the ghost layer a slab of the grid needs to compute them exactly
    /// (the operand of every Poisson solve counts as an output; its result
    /// reads nothing beyond the box, see the module docs).
    /// [`FieldError::NotLocal`] names the first operation whose reads are
    /// not bounded by a fixed number of planes (a sparse solve, a reduction, a
    /// point, constant data, a stencil between walls along x).
    pub fn x_reach(&'id self, outputs: &[Field<'id, T>], scalars: &[Scalar<'id, T>]) -> Result<[usize; 2], FieldError> {
        let st = self.st.borrow();
        let ids = || outputs.iter().map(|f| f.id).chain(scalars.iter().map(|s| s.id));
        let last = ids().map(|id| id as usize + 1).max().unwrap_or(0);
        let mut reach: Vec<Result<[usize; 2], &'static str>> = Vec::with_capacity(last);
        let mut most = [0, 0];
        let at = |r: Result<[usize; 2], &'static str>| r.map_err(|what| FieldError::NotLocal { what });
        for v in &st.vals[..last] {
            if let Op::Poisson(a) = v.op {
                most = widest(most, at(reach[a as usize])?);
            }
            let r = node(v.op, v.kind, &reach);
            reach.push(r);
        }
        for id in ids() {
            most = widest(most, at(reach[id as usize])?);
        }
        Ok(most)
    }
}

/// The wider of two reaches on each side.
fn widest(a: [usize; 2], b: [usize; 2]) -> [usize; 2] {
    [a[0].max(b[0]), a[1].max(b[1])]
}

/// A reach widened by `below` and `above` planes.
fn plus(r: [usize; 2], below: usize, above: usize) -> [usize; 2] {
    [r[0] + below, r[1] + above]
}

/// The reach `[below, above]` of one value from its operands' (an error
/// names what reads beyond any halo).
fn node<T>(op: Op<'_, T>, kind: Kind, reach: &[Result<[usize; 2], &'static str>]) -> Result<[usize; 2], &'static str> {
    let of = |id: u32| reach[id as usize];
    match op {
        Op::Leaf => Ok([0, 0]),
        Op::Constant => Err("constant data (it depends on where the slab lies)"),
        Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) | Op::Map2(_, a, b) => Ok(widest(of(a)?, of(b)?)),
        Op::ScaleS(a, b) | Op::AddS(a, b) => Ok(widest(of(a)?, of(b)?)),
        Op::Neg(a) | Op::ScaleC(a, _) | Op::AddC(a, _) | Op::Map(_, a) => of(a),
        Op::Mask(..) => Err("a mask (constant data)"),
        Op::SubData(..) => Err("a misfit to data"),
        Op::Stencil(rule, ids) => {
            if rule.x_faces() != [Face::Periodic; 2] {
                return Err("a stencil between walls along x");
            }
            let (lo, hi) = rule.reach();
            let mut r = [0, 0];
            for &a in ids {
                r = widest(r, of(a)?);
            }
            Ok(plus(r, (-lo).max(0) as usize, hi.max(0) as usize))
        }
        // out(i) = a(i − di): it reads di planes below (above if negative)
        Op::Shift(a, di, _) => Ok(plus(of(a)?, di.max(0) as usize, (-di).max(0) as usize)),
        Op::Arakawa(a, b) => Ok(plus(widest(of(a)?, of(b)?), 1, 1)),
        Op::Upwind(a, b, c) => Ok(plus(widest(widest(of(a)?, of(b)?), of(c)?), 1, 1)),
        Op::SemiLag(..) => Err("semi-Lagrangian advection (its reach depends on the velocity)"),
        Op::Sample(..) | Op::Interp(..) => Err("sampling at points"),
        Op::Inject(..) => Err("injection at points"),
        // solved across ranks and filled: the whole box is exact
        Op::Poisson(_) => Ok([0, 0]),
        Op::Sparse(_) | Op::SparseAt(..) => Err("a sparse solve"),
        Op::Sum(_) | Op::Dot(..) if kind == Kind::Scalar => Err("a reduction over the grid"),
        Op::Sum(_) | Op::Dot(..) => Err("a reduction"),
        Op::Splat(_) | Op::MapD(..) | Op::Map2D(..) | Op::StencilT(..) => Err("an adjoint operation"),
    }
}

#[cfg(test)]
mod tests {
    use crate::{FieldError, FieldTape, Grid, Par};

    #[test]
    fn the_reach_adds_up_along_each_side_and_stops_at_global_operations() {
        let mut tape = FieldTape::<f64>::new(Grid::periodic_square(16, 1.0).unwrap());
        let x = vec![1.0; 256];
        tape.record(Par::Seq, |c| {
            let a = c.input(&x).unwrap();
            assert_eq!(c.x_reach(&[a * 2.0 + a], &[]).unwrap(), [0, 0]);
            // the 5-point Laplacian reads one plane each way, twice two
            assert_eq!(c.x_reach(&[a.laplacian()], &[]).unwrap(), [1, 1]);
            assert_eq!(c.x_reach(&[a.laplacian().laplacian() + a], &[]).unwrap(), [2, 2]);
            // forward and backward differences: one side each
            assert_eq!(c.x_reach(&[a.dx_plus()], &[]).unwrap(), [0, 1]);
            assert_eq!(c.x_reach(&[a.dx_plus().dx_plus() * a.dx_minus()], &[]).unwrap(), [1, 2]);
            // out(i) = a(i − 3): three planes below
            assert_eq!(c.x_reach(&[a.shift(3, 0)], &[]).unwrap(), [3, 0]);
            // the Poisson solve starts the count again; its operand's counts
            let p = a.laplacian().poisson();
            assert_eq!(c.x_reach(&[p], &[]).unwrap(), [1, 1]);
            assert_eq!(c.x_reach(&[p.laplacian().laplacian() + a], &[]).unwrap(), [2, 2]);
            assert_eq!(c.x_reach(&[a.shift(3, 0).poisson().dx_plus()], &[]).unwrap(), [3, 1]);
            let s = a.sum();
            assert!(matches!(c.x_reach(&[a * s], &[]), Err(FieldError::NotLocal { .. })));
            assert!(matches!(c.x_reach(&[], &[s]), Err(FieldError::NotLocal { .. })));
        });
    }
}
