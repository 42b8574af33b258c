//! # rewind-decompose: one simulation split over ranks, the same bits as one process
//!
//! A grid of `nx` x-planes is split into **slabs** of whole planes, one per
//! rank ([`Slabs`]: sizes differ by at most one plane, any `nx`). Each rank
//! keeps its slab of the state and computes a time step on the slab and a
//! **ghost layer** of `g` planes on each side, filled from its neighbours
//! before the step (one exchange of `g` planes per field each way, on the
//! ring of ranks: the grid is periodic along x). The step is the model's
//! own, unchanged: the model runs on a grid of `slab + 2g` planes as it
//! would on the whole one (its kernels take the grid from the tape), and
//! the planes it computes wrongly — within its reach of the box's edges,
//! where it reads across the box's own wrap — are never kept.
//!
//! **How wide.** The halo is found, not declared: the step is recorded
//! once and [`Ctx::x_reach`](rewind_field::Ctx::x_reach) walks its
//! operations (a stencil adds its offsets' extent below and above,
//! arithmetic takes its operands' widest), giving the planes `b` below and
//! `a` above a point that the step reads (`b = a = 4` for shallow water's
//! RK4: four stages of C-grid operators reaching one plane each way). A
//! step that reads beyond any halo — a sparse solve, a reduction fed back
//! into a field, sampling at points — is refused with the operation
//! named. Constant data (a sponge lent through `fixed()`) and sources at
//! points are made for the whole grid and taken by each box at its place
//! in it: exact on the whole box. **Walls along x** (stencils with zero or
//! mirrored faces there, the acoustic model's) are found by the same walk:
//! the first and last ranks then take no ghost planes beyond the grid's
//! ends, so the stencils' own faces are the grid's. What the analysis cannot see is the model's own Rust between
//! operations: a value read out of a field (`Field::value`, `max_of`) and
//! fed back as a scalar, or a position computed from the tape's grid (the
//! box's). A model split over ranks must do neither — rewind's models read
//! values only for their stability checks, which the ranks agree on. A
//! state with scalars is refused too (a scalar read by a field would get
//! its adjoint summed over the box, ghost planes included).
//!
//! **Global operations.** The periodic Poisson solve (ns2d's
//! streamfunction) reads the whole field: on a box it is solved across the
//! ranks ([`rewind_field::Split`], installed for each step): each rank
//! transforms its own rows, an all-to-all hands each rank whole columns
//! of a share of the coefficients, a second returns them, and the ghost
//! planes of the result are filled from the neighbours — every line goes
//! through the same transforms as in one process, so the slab's values are
//! the same bits, and the result is exact on the whole box: the reach
//! counts from it again (its operand is needed on the slab only). Its
//! adjoint is the same solve. Each stage of ns2d's RK4 solves once: 4
//! solves, 8 all-to-alls and 4 extra halo exchanges per step, forward and
//! reverse (twice the all-to-alls over dual numbers: one pair per
//! component). The split solve runs on one thread per rank.
//!
//! A step evaluated alone (a forward sweep of a schedule) runs on a box of
//! `b` ghost planes below and `a` above; the recorded step and its sweep on one of `b + a` on each side
//! (the sweep at a point reads the next state's adjoint up to `a` below
//! and `b` above, and the step's values there, computed from values as far
//! again). On one rank there are no ghost planes: the grid's own periodic
//! wrap is exact.
//!
//! **Same bits.** Each owned point of the next state is computed by the
//! same arithmetic, in the same order, from the same values as in one
//! process; the reverse step too: the adjoint of the next state is
//! exchanged like the state (its ghost planes are the neighbours' owned
//! adjoints), and the sweep's gathers give each owned point exactly the
//! sum one process computes. So the primal, the gradient with respect to
//! the initial state and to field parameters, and Hessian-vector products (the same over dual
//! numbers, the tangents riding in the same messages) are bit-identical
//! on any number of ranks — tested on 1 to 4 ranks (threads, and MPI under
//! `mpirun`). The price is redundant work: each rank computes its ghost
//! planes too (shallow water: 8 a side in the recorded step, 4 in the step
//! alone); in exchange, halos travel once per step, not once per
//! operation.
//!
//! **Reductions** ([`Misfit`]) add per-plane partial sums gathered from
//! every rank in plane order, so they too give the same bits on any
//! number of ranks.
//!
//! **Faults.** After every step the ranks agree: a step that fails on one
//! rank (a non-finite value, a stability bound) fails on all with one
//! message naming the rank and the step, and no rank is left waiting in
//! an exchange: a rank whose step stops early — a model's check that fails
//! between two Poisson solves, a slab of the wrong length — makes the
//! rest of the step's exchanges with zeros, in the sizes the probe step
//! logged, before the ranks agree (every step of a model makes the same
//! exchanges). In the probe itself, the first step recorded by
//! [`Decomposed::new`] on the initial state, the ranks agree before each
//! exchange instead (no sizes are logged yet): a rank that fails there is
//! met at that agreement.
//!
//! **Checkpoints per rank.** Every rank runs the same schedule on its own
//! slab: a snapshot is `1/R` of the state, a RAM budget is per rank, and
//! the disk level writes each rank's checksummed files in its own
//! directory. [`run_strategy`] (and [`gradient`], [`hvp`]) run the driver
//! with every snapshot operation agreed ([`Agreed`]): a corrupted snapshot
//! on one rank stops every rank with one message.
//!
//! Not built yet (see `docs/domain-decomposition.md`): gradients with
//! respect to scalar parameters (they enter as constants), sampling at
//! points (receivers), pencils.

#![forbid(unsafe_code)]

mod misfit;
mod split;
mod stepper;
mod store;
mod wire;

use std::ops::Range;

pub use misfit::Misfit;
pub use rewind_ensemble::{Comm, EnsembleError, Serial, Threads};
use rewind_sim::Layout;
pub use stepper::Decomposed;
pub use store::{Agreed, gradient, hvp, run_on, run_strategy};
use thiserror::Error;

/// What can go wrong in a decomposed run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DecomposeError {
    /// More ranks than planes, or no ranks.
    #[error("{ranks} ranks cannot split a grid of {nx} x-planes (each rank needs at least one)")]
    Ranks {
        /// Planes along x.
        nx: usize,
        /// Ranks.
        ranks: usize,
    },
    /// A slab thinner than the ghost layer its neighbours need from it.
    #[error(
        "a slab of {planes} x-planes is thinner than the halo of {halo} planes the step needs (it reads {below} planes below a point and {above} above); use at most {most} rank(s) for this grid"
    )]
    TooThin {
        /// The thinnest slab's planes.
        planes: usize,
        /// The ghost layer's width.
        halo: usize,
        /// Planes the step reads below a point.
        below: usize,
        /// Planes it reads above.
        above: usize,
        /// The most ranks this grid allows.
        most: usize,
    },
    /// A vector of the wrong length for this rank's slab.
    #[error("{what} has length {got}, this rank's slab expects {expected}")]
    Length {
        /// Which vector.
        what: &'static str,
        /// The slab's length.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// A failure on one rank, agreed by all.
    #[error("rank {rank} of {size} failed at step {step}: {message}")]
    Rank {
        /// The first failing rank.
        rank: usize,
        /// How many ranks there are.
        size: usize,
        /// The step.
        step: usize,
        /// Its error, as text (it crossed a process boundary).
        message: String,
    },
    /// The model: its setup on the slab, or a step that cannot be split.
    #[error(transparent)]
    Sim(#[from] rewind_sim::SimError),
    /// The communicator failed.
    #[error(transparent)]
    Comm(#[from] EnsembleError),
    /// What this step cannot split yet.
    #[error("{what} cannot be split over ranks yet")]
    NotSplit {
        /// What.
        what: &'static str,
    },
    /// A message that did not decode (ranks running different problems).
    #[error("a message from another rank did not decode: {0}")]
    Wire(&'static str),
}

/// The split of `nx` x-planes over `ranks` ranks: rank `r` owns planes
/// `[r·nx/R, (r+1)·nx/R)`, contiguous and in rank order, sizes differing
/// by at most one. Plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slabs {
    nx: usize,
    ranks: usize,
}

impl Slabs {
    /// `nx` planes over `ranks` ranks (each must own at least one plane).
    pub fn new(nx: usize, ranks: usize) -> Result<Self, DecomposeError> {
        if ranks == 0 || ranks > nx {
            return Err(DecomposeError::Ranks { nx, ranks });
        }
        Ok(Slabs { nx, ranks })
    }
    /// The planes rank `rank` owns.
    pub fn owned(&self, rank: usize) -> Range<usize> {
        rank * self.nx / self.ranks..(rank + 1) * self.nx / self.ranks
    }
    /// The thinnest slab's planes.
    pub fn thinnest(&self) -> usize {
        self.nx / self.ranks
    }
    /// Planes along x.
    pub fn nx(&self) -> usize {
        self.nx
    }
    /// Ranks.
    pub fn ranks(&self) -> usize {
        self.ranks
    }
}

/// The part of the flat state `x` (of `layout`: fields one after the
/// other, then scalars) on `planes` of the grid: each field's planes, then
/// every scalar (each rank holds them all).
pub fn slab_of(layout: &Layout, planes: Range<usize>, x: &[f64]) -> Result<Vec<f64>, DecomposeError> {
    layout.check_len(x.len()).map_err(|_| DecomposeError::Length {
        what: "state",
        expected: layout.len(),
        got: x.len(),
    })?;
    let g = layout.grid();
    let (n, plane, nf) = (g.len(), g.ny * g.nz, layout.fields().len());
    let mut out = Vec::with_capacity(nf * planes.len() * plane + layout.scalars().len());
    for k in 0..nf {
        out.extend_from_slice(&x[k * n + planes.start * plane..k * n + planes.end * plane]);
    }
    out.extend_from_slice(&x[nf * n..]);
    Ok(out)
}

/// The whole flat state from every rank's slab (`mine`, this rank's; a
/// collective: every rank calls it and every rank gets the whole).
pub fn gather<C: Comm>(comm: &C, layout: &Layout, mine: &[f64]) -> Result<Vec<f64>, DecomposeError> {
    let slabs = Slabs::new(layout.grid().nx, comm.size())?;
    let g = layout.grid();
    let (n, plane, nf, ns) = (g.len(), g.ny * g.nz, layout.fields().len(), layout.scalars().len());
    let expected = nf * slabs.owned(comm.rank()).len() * plane + ns;
    let mut bytes = Vec::with_capacity(8 * mine.len() + 1);
    bytes.push(u8::from(mine.len() == expected));
    wire::put(mine, &mut bytes);
    let all = comm.all_gather(&bytes)?;
    if mine.len() != expected {
        return Err(DecomposeError::Length { what: "slab", expected, got: mine.len() });
    }
    let mut out = vec![0.0; layout.len()];
    for (r, b) in all.iter().enumerate() {
        let own = slabs.owned(r);
        let len = nf * own.len() * plane + ns;
        if b.first() != Some(&1) || b.len() != 1 + 8 * len {
            return Err(DecomposeError::Wire("a slab of another length"));
        }
        let mut part = vec![0.0; len];
        wire::get(&b[1..], &mut part)?;
        for k in 0..nf {
            let src = &part[k * own.len() * plane..(k + 1) * own.len() * plane];
            out[k * n + own.start * plane..k * n + own.end * plane].copy_from_slice(src);
        }
        out[nf * n..].copy_from_slice(&part[nf * own.len() * plane..]);
    }
    Ok(out)
}

/// The x-planes a step of `model` from the whole state `x0` reads below
/// and above a point, and whether between walls along x
/// ([`rewind_field::Ctx::x_reach`]),
/// on one process: what a split run's ghost layers will hold (twice their
/// sum each side in a recorded step), known before any rank is asked. The
/// reach does not depend on the grid's size, so a small grid of the same
/// model tells it. A step that cannot be split fails here, naming the
/// operation.
pub fn reach<M: rewind_sim::Model>(model: M, x0: &[f64]) -> Result<rewind_field::XReach, DecomposeError> {
    let mut sim = rewind_sim::Sim::<M, f64>::new(model, rewind_field::Par::Seq)?;
    Ok(sim.x_reach(0, x0).map_err(rewind_sim::SimError::from)?)
}

/// Every rank's status, and the first failing rank's error on all of them
/// (a collective: every rank calls it at the same point; step `step` names
/// where in the error).
pub fn agree<C: Comm>(comm: &C, step: usize, local: Result<(), String>) -> Result<(), DecomposeError> {
    let msg = match &local {
        Ok(()) => vec![0],
        Err(m) => [&[1u8][..], m.as_bytes()].concat(),
    };
    let all = comm.all_gather(&msg)?;
    for (rank, m) in all.iter().enumerate() {
        match m.first() {
            Some(0) => {}
            Some(1) => {
                let message = String::from_utf8_lossy(&m[1..]).into_owned();
                return Err(DecomposeError::Rank { rank, size: comm.size(), step, message });
            }
            _ => return Err(DecomposeError::Wire("a status")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slabs_cover_every_plane_once_in_rank_order() {
        for nx in 1..40 {
            for ranks in 1..=nx.min(7) {
                let s = Slabs::new(nx, ranks).unwrap();
                let mut next = 0;
                for r in 0..ranks {
                    let o = s.owned(r);
                    assert_eq!(o.start, next);
                    assert!(o.len() == s.thinnest() || o.len() == s.thinnest() + 1, "{nx} over {ranks}: {o:?}");
                    next = o.end;
                }
                assert_eq!(next, nx);
            }
        }
        assert!(matches!(Slabs::new(3, 4), Err(DecomposeError::Ranks { nx: 3, ranks: 4 })));
        assert!(matches!(Slabs::new(3, 0), Err(DecomposeError::Ranks { .. })));
    }
}
