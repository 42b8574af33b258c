//! [`Decomposed`]: a model's step on this rank's slab and its ghost
//! layers, as a checkpoint [`Stepper`] over the slab (see the crate docs).

use std::ops::Range;
use std::rc::Rc;

use rewind_checkpoint::{Seed, StepError, Stepper};
use rewind_field::{Components, Grid, Par, split_by};
use rewind_sim::{Model, ParamSet, ParamValue, Sim};

use crate::split::{Exchange, OverComm};
use crate::{Comm, DecomposeError, Slabs, agree, wire};

/// Where this rank's values lie: its slab's planes within the box of the
/// slab and a ghost layer each side.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// Fields and scalars of the state.
    fields: usize,
    scalars: usize,
    /// Planes owned, ghost planes `[below, above]`, values per plane.
    own: usize,
    halo: [usize; 2],
    /// Planes sent to the previous rank (its upper ghost planes) and to
    /// the next (its lower ones): `halo` reversed but where the grid ends
    /// at walls along x (no ghost planes beyond them).
    send: [usize; 2],
    plane: usize,
}

impl Geometry {
    fn slab_len(&self) -> usize {
        self.fields * self.own * self.plane + self.scalars
    }
    fn box_planes(&self) -> usize {
        self.halo[0] + self.own + self.halo[1]
    }
    fn box_field(&self) -> usize {
        self.box_planes() * self.plane
    }
    fn box_len(&self) -> usize {
        self.fields * self.box_field() + self.scalars
    }

    /// Fills the box from this rank's slab `x` and the neighbours' edges
    /// (a collective when there is a halo: a slab of the wrong length still
    /// takes part, sending nothing, and the error comes after).
    fn fill<T: Components, C: Comm>(
        &self,
        comm: &C,
        x: &[T],
        boxed: &mut [T],
        buf: &mut Halo,
    ) -> Result<(), DecomposeError> {
        let (own, bl) = (self.own * self.plane, self.box_field());
        let (lo, hi) = (self.halo[0] * self.plane, self.halo[1] * self.plane);
        let (to_prev, to_next) = (self.send[0] * self.plane, self.send[1] * self.plane);
        let wrong = (x.len() != self.slab_len()).then(|| DecomposeError::Length {
            what: "state",
            expected: self.slab_len(),
            got: x.len(),
        });
        let Halo { send, recv } = buf;
        send.0.clear();
        send.1.clear();
        if wrong.is_none() {
            for k in 0..self.fields {
                let src = &x[k * own..(k + 1) * own];
                boxed[k * bl + lo..k * bl + lo + own].copy_from_slice(src);
                // my first planes are my previous neighbour's upper ghosts,
                // my last my next neighbour's lower ones
                wire::put(&src[..to_prev], &mut send.0);
                wire::put(&src[own - to_next..], &mut send.1);
            }
            boxed[self.fields * bl..].copy_from_slice(&x[self.fields * own..]);
        }
        if lo + hi + to_prev + to_next == 0 {
            return wrong.map_or(Ok(()), Err);
        }
        // received into kept buffers of the sizes the ghost planes take (a
        // message of another size is an error of the exchange)
        let (per_lo, per_hi) = (lo * T::PARTS * 8, hi * T::PARTS * 8);
        recv.0.resize(per_lo * self.fields, 0);
        recv.1.resize(per_hi * self.fields, 0);
        let exchanged = comm.ring_into(&send.0, &send.1, &mut recv.0, &mut recv.1);
        if let Some(e) = wrong {
            return Err(e);
        }
        exchanged?;
        let (from_prev, from_next) = (&recv.0, &recv.1);
        for k in 0..self.fields {
            wire::get(&from_prev[k * per_lo..(k + 1) * per_lo], &mut boxed[k * bl..k * bl + lo])?;
            wire::get(&from_next[k * per_hi..(k + 1) * per_hi], &mut boxed[k * bl + lo + own..(k + 1) * bl])?;
        }
        Ok(())
    }

    /// The slab's values of a box.
    fn crop<T: Copy>(&self, boxed: &[T], out: &mut [T]) {
        let (own, lo, bl) = (self.own * self.plane, self.halo[0] * self.plane, self.box_field());
        for k in 0..self.fields {
            out[k * own..(k + 1) * own].copy_from_slice(&boxed[k * bl + lo..k * bl + lo + own]);
        }
        out[self.fields * own..].copy_from_slice(&boxed[self.fields * bl..]);
    }
}

/// The halo exchange's messages, kept across steps: what this rank
/// sends its neighbours and what it receives from them.
#[derive(Debug, Default)]
struct Halo {
    send: (Vec<u8>, Vec<u8>),
    recv: (Vec<u8>, Vec<u8>),
}

/// A model stepping on this rank's slab: the state is the slab's part of
/// each field (then every scalar), and [`Stepper`] gives the driver the
/// step and its vector-Jacobian product on it, so that every schedule of
/// `rewind-checkpoint` runs decomposed — every rank the same schedule, in
/// lockstep. `T = f64` for values and gradients, `Dual<f64>` for
/// Hessian-vector products. The parameters' adjoints the driver
/// accumulates are those of the **field** parameters, each this rank's
/// slab of it, in the model's order — the same bits as one process's;
/// scalar parameters enter as constants (their adjoint is a sum over the
/// whole grid, which the sweep adds up inside the box: not built).
pub struct Decomposed<'c, M, T, C> {
    comm: &'c C,
    /// The step alone on a box of the slab and the planes it reads below
    /// and above.
    fwd: Sim<M, T>,
    fwd_geo: Geometry,
    /// The recorded step and its sweep on a box with both reaches' sum of
    /// ghost planes each side.
    sim: Sim<M, T>,
    geo: Geometry,
    owned: Range<usize>,
    reach: [usize; 2],
    walls: bool,
    xfwd: Vec<T>,
    nfwd: Vec<T>,
    xbox: Vec<T>,
    ybox: Vec<T>,
    yown: Vec<T>,
    /// The model's field parameters (whose slabs' adjoints the driver
    /// accumulates).
    params: usize,
    halo_buf: Halo,
    /// The split field the two boxes compute on (for the Poisson solve),
    /// none on one rank.
    splits: Option<[Rc<OverComm<C>>; 2]>,
    /// The exchanges of a step (as the probe made them).
    exchanges: Vec<Exchange>,
}

/// A step not run on this rank (`error`): its exchanges made with zeros
/// all the same, for the ranks that run it.
fn skip<C: Comm + 'static>(split: Option<&Rc<OverComm<C>>>, step: &[Exchange], error: String) -> String {
    under(split, step, || ()).1.err().map_or(error.clone(), |e| format!("{error} ({e})"))
}

/// `f` with `split` installed (if any), and the first error its exchanges
/// met. If `f` stopped before making every exchange of `step`, the rest are
/// made with zeros (see [`crate::split`]): the other ranks' go on.
fn under<C: Comm + 'static, R>(
    split: Option<&Rc<OverComm<C>>>,
    step: &[Exchange],
    f: impl FnOnce() -> R,
) -> (R, Result<(), String>) {
    match split {
        Some(s) => {
            s.begin();
            let r = split_by(s.clone(), f);
            s.finish(step);
            (r, s.take_error())
        }
        None => (f(), Ok(())),
    }
}

impl<M, T, C: Comm> std::fmt::Debug for Decomposed<'_, M, T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decomposed")
            .field("rank", &self.comm.rank())
            .field("ranks", &self.comm.size())
            .field("owned", &self.owned)
            .field("halo", &self.geo.halo)
            .finish_non_exhaustive()
    }
}

/// A grid of `planes` x-planes of `grid`'s kind.
fn planes_grid(grid: &Grid, planes: usize) -> Result<Grid, DecomposeError> {
    Grid::new3(planes, grid.ny, grid.nz, grid.dx, grid.dy, grid.dz).map_err(|e| rewind_sim::SimError::from(e).into())
}

/// The parameters with every field cut to the planes `first, first + 1,
/// …` (`count` of them, wrapped periodically).
fn box_params(params: &ParamSet, grid: &Grid, first: isize, count: usize) -> ParamSet {
    let (nx, plane) = (grid.nx as isize, grid.ny * grid.nz);
    let mut out = ParamSet::new();
    for (name, v) in params.entries() {
        out = match v {
            ParamValue::Scalar(s) => out.scalar(name, *s),
            ParamValue::Field(f) => {
                let mut b = Vec::with_capacity(count * plane);
                for i in 0..count as isize {
                    let p = (first + i).rem_euclid(nx) as usize;
                    b.extend_from_slice(&f[p * plane..(p + 1) * plane]);
                }
                out.field(name, b)
            }
        };
    }
    out
}

impl<'c, M: Model + Clone, T: Components, C: Comm + Clone + 'static> Decomposed<'c, M, T, C> {
    /// `model` on this rank's slab of its grid, split over `comm`'s ranks
    /// ([`Slabs`]); `x0` is this rank's slab of an initial state
    /// ([`crate::slab_of`]), with which one step is recorded to find the
    /// planes it reads below and above a point. A collective: every rank
    /// calls it, and a failure on one (a step that cannot be split, a slab
    /// thinner than the halo) is every rank's error. On one rank the whole
    /// grid is the slab and its own periodic wrap the halo. The periodic
    /// Poisson solve of a step is solved across the ranks (a handle of
    /// `comm` is kept for it: `C` is cheap to clone, e.g. an `Rc`).
    pub fn new(model: M, comm: &'c C, par: Par, x0: &[f64]) -> Result<Self, DecomposeError> {
        let layout = model.layout();
        let grid = *layout.grid();
        let slabs = Slabs::new(grid.nx, comm.size())?;
        let owned = slabs.owned(comm.rank());
        let params = model.params();
        params.check(&grid)?;
        if !layout.scalars().is_empty() {
            // a scalar of the state read by a field gets its adjoint summed
            // over the box, ghost planes included
            return Err(DecomposeError::NotSplit { what: "a state with scalars" });
        }
        let (fields, scalars, plane) = (layout.fields().len(), layout.scalars().len(), grid.ny * grid.nz);
        let mut geo = Geometry { fields, scalars, own: owned.len(), halo: [0, 0], send: [0, 0], plane };
        let split = |ghosts: [usize; 2]| (comm.size() > 1).then(|| OverComm::new(comm.clone(), grid, slabs, ghosts));
        // the initial slab's length first: the probe below exchanges
        let length = (x0.len() != geo.slab_len()).then(|| {
            DecomposeError::Length { what: "initial state", expected: geo.slab_len(), got: x0.len() }.to_string()
        });
        agree(comm, 0, length.map_or(Ok(()), Err))?;
        // the step recorded once on the slab and one ghost plane each side
        // (exact values for the model's own checks): its reach
        // (periodic: whether x ends at walls is what the probe finds out)
        let one = if comm.size() > 1 { [1, 1] } else { [0, 0] };
        let probe_geo = Geometry { halo: one, send: one, ..geo };
        let x: Vec<T> = x0.iter().map(|&v| T::from_f64(v)).collect();
        let mut xp = vec![T::from_f64(0.0); probe_geo.box_len()];
        probe_geo.fill(comm, &x, &mut xp, &mut Halo::default())?;
        let probe_split = split(probe_geo.halo).map(|s| Rc::new(s.logging()));
        let (probe, exchanged) = under(probe_split.as_ref(), &[], || -> Result<([usize; 3], M), String> {
            let [lo, hi] = probe_geo.halo;
            let g = planes_grid(&grid, probe_geo.box_planes()).map_err(|e| e.to_string())?;
            let p = box_params(&params, &grid, owned.start as isize - lo as isize, lo + owned.len() + hi);
            let mut sim = Sim::<M, T>::on_grid(model, par, g, p).map_err(|e| e.to_string())?;
            let reach = sim.x_reach(0, &xp).map_err(|e| e.to_string())?;
            Ok(([reach.planes[0], reach.planes[1], usize::from(reach.walls)], sim.into_model()))
        });
        // a rank that failed in the probe made its agreement already: the
        // one this rank met before an exchange
        if let Some(e) = probe_split.as_ref().and_then(|s| s.aborted()) {
            return Err(e);
        }
        let local = probe.as_ref().map(|_| ()).map_err(Clone::clone).and(exchanged);
        agree(comm, 0, local)?;
        let (reach, model) = probe.map_err(|_| DecomposeError::Wire("a status"))?;
        // every rank completed the probe: its exchanges are a step's
        let exchanges = probe_split.map(|s| s.logged()).unwrap_or_default();
        // the widest reach of any rank's slab (they are the same but for a
        // step whose operations depend on its grid's size or its values)
        let mut mine = Vec::with_capacity(24);
        reach.iter().for_each(|r| mine.extend_from_slice(&(*r as u64).to_le_bytes()));
        let (mut below, mut above, mut walls) = (0, 0, false);
        for b in comm.all_gather(&mine)? {
            let word = |k: usize| b.get(8 * k..8 * k + 8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
            let (Some(lo), Some(hi), Some(w)) = (word(0), word(1), word(2)) else {
                return Err(DecomposeError::Wire("a reach"));
            };
            (below, above, walls) = (below.max(lo as usize), above.max(hi as usize), walls || w == 1);
        }
        // rank r's ghost planes for a reach `h` each side: none beyond the
        // grid's ends if they are walls; what it sends its neighbours is
        // what their boxes take from it
        let size = comm.size();
        let ghosts = |r: usize, h: [usize; 2]| -> [usize; 2] {
            if size == 1 {
                return [0, 0];
            }
            [if walls && r == 0 { 0 } else { h[0] }, if walls && r == size - 1 { 0 } else { h[1] }]
        };
        let rank = comm.rank();
        let (prev, next) = ((rank + size - 1) % size, (rank + 1) % size);
        let geometry =
            |h: [usize; 2]| Geometry { halo: ghosts(rank, h), send: [ghosts(prev, h)[1], ghosts(next, h)[0]], ..geo };
        // the step alone reads `below` and `above` planes; the recorded
        // step's sweep at a point reads the next state's adjoint up to
        // `below + above` away on either side, and the step's values there,
        // which were computed from values as far again
        let halo = if size == 1 { 0 } else { below + above };
        let (fwd_geo, rec_geo) = (geometry([below, above]), geometry([halo, halo]));
        if slabs.thinnest() < halo {
            let most = (grid.nx / halo).max(1);
            return Err(DecomposeError::TooThin { planes: slabs.thinnest(), halo, below, above, most });
        }
        let boxed = |model: M, h: [usize; 2]| -> Result<Sim<M, T>, DecomposeError> {
            let g = planes_grid(&grid, h[0] + owned.len() + h[1])?;
            let p = box_params(&params, &grid, owned.start as isize - h[0] as isize, h[0] + owned.len() + h[1]);
            Ok(Sim::on_grid(model, par, g, p)?)
        };
        let sims = boxed(model.clone(), fwd_geo.halo).and_then(|f| Ok((f, boxed(model, rec_geo.halo)?)));
        agree(comm, 0, sims.as_ref().map(|_| ()).map_err(|e| e.to_string()))?;
        let (fwd, sim) = sims?;
        geo = rec_geo;
        let splits = split(fwd_geo.halo).zip(split(geo.halo)).map(|(f, s)| [Rc::new(f), Rc::new(s)]);
        let zero = T::from_f64(0.0);
        // (one rank: the box is the slab, no copies into or out of it)
        let alone = splits.is_none();
        let (fb, rb) = (if alone { 0 } else { fwd_geo.box_len() }, geo.box_len());
        Ok(Decomposed {
            comm,
            fwd,
            fwd_geo,
            sim,
            geo,
            owned,
            reach: [below, above],
            walls,
            xfwd: vec![zero; fb],
            nfwd: vec![zero; fb],
            xbox: vec![zero; if alone { 0 } else { rb }],
            ybox: vec![zero; rb],
            yown: vec![zero; if alone { 0 } else { geo.slab_len() }],
            params: params.entries().iter().filter(|(_, v)| v.is_field()).count(),
            halo_buf: Halo::default(),
            splits,
            exchanges,
        })
    }

    /// The x-planes this rank owns.
    pub fn owned(&self) -> Range<usize> {
        self.owned.clone()
    }
    /// The x-planes the step reads below and above a point
    /// ([`rewind_field::Ctx::x_reach`]).
    pub fn reach(&self) -> [usize; 2] {
        self.reach
    }
    /// The ghost layer's width, in x-planes, of the recorded step: the sum
    /// of the two reaches (the step alone needs its reach on each side),
    /// none on one rank — on each side of a box but beyond walls.
    pub fn halo(&self) -> usize {
        self.geo.halo[0].max(self.geo.halo[1])
    }
    /// Whether the grid ends at walls along x (its stencils' faces): the
    /// first and last ranks' boxes take no ghost planes beyond them.
    pub fn walls(&self) -> bool {
        self.walls
    }
}

impl<M: Model + Clone, T: Components, C: Comm + Clone + 'static> Stepper<T> for Decomposed<'_, M, T, C> {
    fn state_len(&self) -> usize {
        self.geo.slab_len()
    }

    /// This rank's slab of every field parameter.
    fn param_len(&self) -> usize {
        self.params * self.geo.own * self.geo.plane
    }

    /// The box is checked as the step writes it, and the ranks agree.
    fn checks_finite(&self) -> bool {
        true
    }

    fn step(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError> {
        let Decomposed { comm, fwd, fwd_geo, xfwd, nfwd, halo_buf: send, splits, exchanges, .. } = self;
        // one rank: the box is the slab, the step the model's own (with
        // more ranks the split is installed, whatever the halo)
        let alone = splits.is_none();
        let filled = if alone { Ok(()) } else { fwd_geo.fill(*comm, x, xfwd, send).map_err(|e| e.to_string()) };
        let split = splits.as_ref().map(|s| &s[0]);
        let local = match filled.and_then(|()| lengths(&[("next state", next.len(), fwd_geo.slab_len())])) {
            Ok(()) if alone => fwd.step(t, x, next).map_err(|e| e.to_string()),
            Ok(()) => {
                let (r, exchanged) = under(split, exchanges, || fwd.step(t, xfwd, nfwd));
                r.map_err(|e| e.to_string()).and(exchanged)
            }
            Err(e) => Err(skip(split, exchanges, e)),
        };
        agree(*comm, t, local).map_err(StepError::model)?;
        if !alone {
            fwd_geo.crop(nfwd, next);
        }
        Ok(())
    }

    fn step_vjp(
        &mut self,
        t: usize,
        x: &[T],
        next: &mut [T],
        seed: &mut Seed<'_, T>,
        xbar: &mut [T],
        pbar: &mut [T],
    ) -> Result<(), StepError> {
        let Decomposed { comm, sim, geo, xbox, ybox, yown, params, halo_buf: send, splits, exchanges, .. } = self;
        let (comm, geo) = (*comm, *geo);
        let alone = splits.is_none();
        let slab = geo.slab_len();
        let filled = if alone { Ok(()) } else { geo.fill(comm, x, xbox, send).map_err(|e| e.to_string()) };
        let ready = filled.and_then(|()| {
            lengths(&[
                ("next state", next.len(), slab),
                ("adjoint", xbar.len(), slab),
                ("parameter adjoint", pbar.len(), *params * geo.own * geo.plane),
            ])
        });
        // every rank passes the same agreements in the same order: after
        // the forward step (a rank that failed before its seed joins here
        // from below), after the seed, and after the sweep
        let (mut seeded, mut seed_ok, mut halo) = (false, false, Ok(()));
        let mut exchanged = Ok(());
        let r = match ready {
            Err(e) => Err(StepError::BadInput(skip(splits.as_ref().map(|s| &s[1]), exchanges, e))),
            Ok(()) => {
                // the results written for the slab's planes only: the next
                // state, x̄ and the field parameters' adjoints (added to the
                // slab's as one process adds each step's to its own)
                let keep = geo.halo[0]..geo.halo[0] + geo.own;
                let xin: &[T] = if alone { x } else { xbox };
                let (r, e) = under(splits.as_ref().map(|s| &s[1]), exchanges, || {
                    let mut seed_box = |next: &[T], yb: &mut [T]| -> Result<(), StepError> {
                        seeded = true;
                        agree(comm, t, Ok(())).map_err(StepError::model)?;
                        // one rank: the seed straight into the box, which is the slab
                        let own: &mut [T] = if alone { yb } else { yown };
                        let local = seed(next, own).map_err(|e| e.to_string());
                        agree(comm, t, local).map_err(StepError::model)?;
                        // the next state's adjoint on the ghost planes: the
                        // neighbours' own, so the sweep's gathers are exact
                        // (a failure here is agreed after the sweep)
                        if !alone {
                            halo = geo.fill(comm, yown, yb, send).map_err(|e| e.to_string());
                        }
                        seed_ok = true;
                        Ok(())
                    };
                    sim.step_vjp_planes(t, xin, keep, next, &mut seed_box, ybox, xbar, pbar)
                });
                exchanged = e;
                r
            }
        };
        if !seeded {
            let e = r.err().map_or_else(|| "the step never asked for its seed".to_string(), |e| e.to_string());
            return Err(StepError::model(match agree(comm, t, Err(e)) {
                Err(a) => a,
                Ok(()) => DecomposeError::Wire("a lost status"),
            }));
        }
        if !seed_ok {
            // every rank failed at the same agreement
            return r;
        }
        let mut local = r.map_err(|e| e.to_string()).and(halo).and(exchanged);
        if local.is_ok() {
            // the driver checks the adjoints too, but on each rank alone
            if let Some(i) = rewind_checkpoint::first_non_finite(xbar) {
                local = Err(format!("the adjoint of state {t} is not finite at index {i} of this rank's slab"));
            } else if let Some(i) = rewind_checkpoint::first_non_finite(pbar) {
                local = Err(format!("the parameters' adjoint is not finite at index {i} of this rank's slab"));
            }
        }
        agree(comm, t, local).map_err(StepError::model)
    }
}

/// Each `(what, got, expected)` length right, or the first wrong one.
fn lengths(checks: &[(&'static str, usize, usize)]) -> Result<(), String> {
    for &(what, got, expected) in checks {
        if got != expected {
            return Err(DecomposeError::Length { what, expected, got }.to_string());
        }
    }
    Ok(())
}
