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
//! semi-Lagrangian advection (its reach depends on the velocity) and
//! sampling at points (a receiver's value gathers corners that may lie on
//! another slab) read beyond any halo, and [`Ctx::x_reach`] names the
//! first one it meets instead. Constant data and injection at points read
//! nothing beyond their point: on a box of a split grid they are taken
//! from the whole grid's (its planes of the data, the sources' corners in
//! it), so they are exact everywhere in the box.
//!
//! **Walls along x.** The operations that read across x planes either
//! wrap periodically (a periodic stencil, a shift, Arakawa's Jacobian,
//! the upwind flux, the Poisson solve) or stop at walls (a stencil with
//! faces along x: zero or mirrored values beyond the grid). A step may do
//! one or the other, not both: with walls, the slabs at the grid's ends
//! take no ghost planes beyond them, so a stencil's own faces are the
//! grid's there ([`XReach::walls`]).
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

/// What a recorded computation reads along x ([`Ctx::x_reach`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XReach {
    /// The x-planes read below and above a point, `[below, above]`.
    pub planes: [usize; 2],
    /// Whether it reads across x between walls (stencils with faces along
    /// x) rather than periodically (see the module docs).
    pub walls: bool,
}

/// How the operations that read across x planes treat the axis's ends
/// (every operation recorded counts, whether the outputs read it or not).
#[derive(Clone, Copy, PartialEq)]
enum Ends {
    /// None read across x.
    Unknown,
    Periodic,
    Walls,
}

impl<'id, T: Components> Ctx<'id, T> {
    /// The x-planes the fields `outputs` (and the scalars `scalars`) read
    /// below and above a point, `[below, above]`, and whether across walls,
    /// through every operation recorded since the recording's inputs:
    /// the ghost layer a slab of the grid needs to compute them exactly
    /// (the operand of every Poisson solve counts as an output; its result
    /// reads nothing beyond the box, see the module docs).
    /// [`FieldError::NotLocal`] names the first operation whose reads are
    /// not bounded by a fixed number of planes (a sparse solve, a
    /// reduction, sampling at points), or a step that reads across x both
    /// periodically and between walls.
    pub fn x_reach(&'id self, outputs: &[Field<'id, T>], scalars: &[Scalar<'id, T>]) -> Result<XReach, FieldError> {
        let st = self.st.borrow();
        let ids = || outputs.iter().map(|f| f.id).chain(scalars.iter().map(|s| s.id));
        let last = ids().map(|id| id as usize + 1).max().unwrap_or(0);
        let mut reach: Vec<Result<[usize; 2], &'static str>> = Vec::with_capacity(last);
        let mut most = [0, 0];
        let mut ends = Ends::Unknown;
        let at = |r: Result<[usize; 2], &'static str>| r.map_err(|what| FieldError::NotLocal { what });
        for v in &st.vals[..last] {
            if let Op::Poisson(a) = v.op {
                most = widest(most, at(reach[a as usize])?);
            }
            let r = node(v.op, v.kind, &reach);
            if r.is_ok() {
                ends = match (ends, x_ends(v.op)) {
                    (e, Ends::Unknown) => e,
                    (Ends::Unknown, e) => e,
                    (a, b) if a == b => a,
                    _ => {
                        return Err(FieldError::NotLocal {
                            what: "a step that reads across x both periodically and between walls",
                        });
                    }
                };
            }
            reach.push(r);
        }
        for id in ids() {
            most = widest(most, at(reach[id as usize])?);
        }
        Ok(XReach { planes: most, walls: ends == Ends::Walls })
    }
}

/// How `op` treats the ends of x, if it reads across x planes.
fn x_ends<T>(op: Op<'_, T>) -> Ends {
    match op {
        Op::Stencil(rule, _) => {
            let (lo, hi) = rule.reach();
            if lo == 0 && hi == 0 {
                Ends::Unknown
            } else if rule.x_faces() == [Face::Periodic; 2] {
                Ends::Periodic
            } else {
                Ends::Walls
            }
        }
        Op::Shift(_, di, _) if di != 0 => Ends::Periodic,
        Op::Arakawa(..) | Op::Upwind(..) | Op::Poisson(_) => Ends::Periodic,
        _ => Ends::Unknown,
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
        // on a box of a split grid: the whole grid's data, its planes
        Op::Constant => Ok([0, 0]),
        Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) | Op::Map2(_, a, b) => Ok(widest(of(a)?, of(b)?)),
        Op::ScaleS(a, b) | Op::AddS(a, b) => Ok(widest(of(a)?, of(b)?)),
        Op::Neg(a) | Op::ScaleC(a, _) | Op::AddC(a, _) | Op::Map(_, a) => of(a),
        Op::Mask(..) => Err("a mask (constant data)"),
        Op::SubData(..) => Err("a misfit to data"),
        Op::Stencil(rule, ids) => {
            let faces = rule.x_faces();
            if (faces[0] == Face::Periodic) != (faces[1] == Face::Periodic) {
                return Err("a stencil periodic along x on one side only");
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
        // on a box of a split grid: the sources' corners in the box
        Op::Inject(s, ..) => of(s),
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
            assert_eq!(c.x_reach(&[a * 2.0 + a], &[]).unwrap().planes, [0, 0]);
            // the 5-point Laplacian reads one plane each way, twice two
            assert_eq!(c.x_reach(&[a.laplacian()], &[]).unwrap().planes, [1, 1]);
            assert_eq!(c.x_reach(&[a.laplacian().laplacian() + a], &[]).unwrap().planes, [2, 2]);
            // forward and backward differences: one side each
            assert_eq!(c.x_reach(&[a.dx_plus()], &[]).unwrap().planes, [0, 1]);
            assert_eq!(c.x_reach(&[a.dx_plus().dx_plus() * a.dx_minus()], &[]).unwrap().planes, [1, 2]);
            // out(i) = a(i − 3): three planes below
            assert_eq!(c.x_reach(&[a.shift(3, 0)], &[]).unwrap().planes, [3, 0]);
            // the Poisson solve starts the count again; its operand's counts
            let p = a.laplacian().poisson();
            assert_eq!(c.x_reach(&[p], &[]).unwrap().planes, [1, 1]);
            assert_eq!(c.x_reach(&[p.laplacian().laplacian() + a], &[]).unwrap().planes, [2, 2]);
            assert_eq!(c.x_reach(&[a.shift(3, 0).poisson().dx_plus()], &[]).unwrap().planes, [3, 1]);
            let s = a.sum();
            assert!(matches!(c.x_reach(&[a * s], &[]), Err(FieldError::NotLocal { .. })));
            assert!(matches!(c.x_reach(&[], &[s]), Err(FieldError::NotLocal { .. })));
            // periodic readers are not walls; pointwise work neither
            assert!(!c.x_reach(&[a.laplacian()], &[]).unwrap().walls);
            assert!(!c.x_reach(&[a * 2.0], &[]).unwrap().walls);
        });
    }

    #[test]
    fn walls_along_x_are_told_apart_from_periodic_reads_and_never_mixed() {
        use crate::stencils::{Ddx, Laplacian};
        use crate::{Face, Faces, WithFaces};
        let mut tape = FieldTape::<f64>::new(Grid::periodic_square(16, 1.0).unwrap());
        let x = vec![1.0; 256];
        let walls = Faces::new([Face::Zero; 2], [Face::Periodic; 2], [Face::Periodic; 2]).unwrap();
        let mirror = Faces::new([Face::Mirror; 2], [Face::Periodic; 2], [Face::Periodic; 2]).unwrap();
        let along_y = Faces::new([Face::Periodic; 2], [Face::Zero; 2], [Face::Periodic; 2]).unwrap();
        tape.record(Par::Seq, |c| {
            let a = c.input(&x).unwrap();
            let w = c.apply(WithFaces::new(Laplacian, walls), &[a]).unwrap();
            let r = c.x_reach(&[w], &[]).unwrap();
            assert_eq!((r.planes, r.walls), ([1, 1], true));
            let m = c.apply(WithFaces::new(Ddx, mirror), &[w]).unwrap();
            assert_eq!(c.x_reach(&[m + a], &[]).unwrap().planes, [2, 2]);
            // constant data and sources read nothing beyond their point
            let d = c.data(&x).unwrap();
            assert_eq!(c.x_reach(&[w * d], &[]).unwrap().planes, [1, 1]);
        });
        // walls along y only: x is periodic
        let mut tape = FieldTape::<f64>::new(Grid::periodic_square(16, 1.0).unwrap());
        tape.record(Par::Seq, |c| {
            let a = c.input(&x).unwrap();
            let y = c.apply(WithFaces::new(Laplacian, along_y), &[a]).unwrap();
            assert!(!c.x_reach(&[y + a.laplacian()], &[]).unwrap().walls);
        });
        // walls and a periodic read in one step (whatever the outputs
        // read: every operation recorded counts): refused
        let mut tape = FieldTape::<f64>::new(Grid::periodic_square(16, 1.0).unwrap());
        tape.record(Par::Seq, |c| {
            let a = c.input(&x).unwrap();
            let w = c.apply(WithFaces::new(Laplacian, walls), &[a]).unwrap();
            let e = c.x_reach(&[w + a.laplacian()], &[]).unwrap_err().to_string();
            assert!(e.contains("both periodically and between walls"), "{e}");
        });
    }
}
