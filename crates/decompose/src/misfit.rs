//! [`Misfit`]: the terminal misfit `½ w Σ (x_N − d)²` of a decomposed
//! state, summed in an order that does not depend on the number of ranks.

use rewind_checkpoint::{Objective, StepError};
use rewind_field::Components;
use rewind_sim::Layout;

use crate::{Comm, DecomposeError, Slabs, slab_of, wire};

/// `J = ½ w Σ (x_N − d)²` over every field and scalar of the final state,
/// `d` a target state (a twin experiment's truth), `w` a weight (1 unless
/// [`Misfit::weight`] says otherwise; a cell's area, say): the objective of a
/// decomposed run, given to the driver with a [`Decomposed`](crate::Decomposed)
/// stepper. Each rank sums each of its x-planes of each field (point by
/// point, in order); the plane sums of every rank are gathered and added
/// field by field in plane order, then the scalars — the same additions on
/// any number of ranks, so the same bits. Its adjoint `x_N − d` is local.
#[derive(Debug)]
pub struct Misfit<'c, C> {
    comm: &'c C,
    slabs: Slabs,
    fields: usize,
    plane: usize,
    target: Vec<f64>,
    weight: f64,
}

impl<'c, C: Comm> Misfit<'c, C> {
    /// The misfit to the whole target state `d` (of `layout`), this rank's
    /// slab of it kept.
    pub fn new(comm: &'c C, layout: &Layout, d: &[f64]) -> Result<Self, DecomposeError> {
        let g = layout.grid();
        let slabs = Slabs::new(g.nx, comm.size())?;
        let target = slab_of(layout, slabs.owned(comm.rank()), d)?;
        Self::from_slab(comm, layout, target)
    }

    /// The misfit to a target state of `layout` of which this rank holds
    /// its slab `d` (a target computed by a decomposed run, say).
    pub fn from_slab(comm: &'c C, layout: &Layout, d: Vec<f64>) -> Result<Self, DecomposeError> {
        let g = layout.grid();
        let slabs = Slabs::new(g.nx, comm.size())?;
        let (fields, plane) = (layout.fields().len(), g.ny * g.nz);
        let expected = fields * slabs.owned(comm.rank()).len() * plane + layout.scalars().len();
        if d.len() != expected {
            return Err(DecomposeError::Length { what: "target", expected, got: d.len() });
        }
        Ok(Misfit { comm, slabs, fields, plane, target: d, weight: 1.0 })
    }

    /// The same misfit weighted by `w` (a positive number): `J = ½ w Σ (x_N − d)²`.
    pub fn weight(mut self, w: f64) -> Result<Self, DecomposeError> {
        if !(w.is_finite() && w > 0.0) {
            return Err(
                rewind_sim::SimError::Settings(format!("the misfit's weight {w} is not a positive number")).into()
            );
        }
        self.weight = w;
        Ok(self)
    }

    /// `J` and its adjoint (added to `xbar`) at this rank's slab `x`.
    fn value<T: Components>(&self, x: &[T], xbar: &mut [T]) -> Result<T, DecomposeError> {
        let rank = self.comm.rank();
        let own = self.slabs.owned(rank).len();
        let ok = x.len() == self.target.len() && xbar.len() == x.len();
        let (fl, scalars) =
            (self.fields * own * self.plane, self.target.len().saturating_sub(self.fields * own * self.plane));
        let mut sums: Vec<T> = Vec::new();
        let w = T::from_f64(self.weight);
        if ok {
            // one sum per plane of each field, then one per scalar
            let planes = x[..fl].chunks(self.plane).zip(self.target[..fl].chunks(self.plane));
            let scalars = x[fl..].chunks(1).zip(self.target[fl..].chunks(1));
            let mut at = 0;
            for (xs, d) in planes.chain(scalars) {
                let mut s = T::from_f64(0.0);
                for (&a, &b) in xs.iter().zip(d) {
                    let r = a - T::from_f64(b);
                    s += r * r;
                    xbar[at] += r * w;
                    at += 1;
                }
                sums.push(s);
            }
        }
        let mut bytes = vec![u8::from(ok)];
        wire::put(&sums, &mut bytes);
        let all = self.comm.all_gather(&bytes)?;
        if !ok {
            return Err(DecomposeError::Length { what: "state", expected: self.target.len(), got: x.len() });
        }
        // every rank's plane sums, then added field by field in plane order
        let mut per_rank: Vec<Vec<T>> = Vec::with_capacity(all.len());
        for (r, b) in all.iter().enumerate() {
            let n = self.fields * self.slabs.owned(r).len() + scalars;
            if b.first() != Some(&1) {
                return Err(DecomposeError::Wire("a misfit from a rank that failed"));
            }
            let mut v = vec![T::from_f64(0.0); n];
            wire::get(&b[1..], &mut v)?;
            per_rank.push(v);
        }
        let mut total = T::from_f64(0.0);
        for k in 0..self.fields {
            for (r, v) in per_rank.iter().enumerate() {
                let own = self.slabs.owned(r).len();
                for s in &v[k * own..(k + 1) * own] {
                    total += *s;
                }
            }
        }
        for s in &per_rank[0][self.fields * self.slabs.owned(0).len()..] {
            total += *s;
        }
        Ok(total * T::from_f64(0.5 * self.weight))
    }
}

impl<T: Components, C: Comm> Objective<T> for Misfit<'_, C> {
    fn loss(&mut self, t: usize, n: usize, x: &[T], xbar: &mut [T], _pbar: &mut [T]) -> Result<T, StepError> {
        if t != n {
            return Ok(T::from_f64(0.0));
        }
        self.value(x, xbar).map_err(StepError::model)
    }
}
