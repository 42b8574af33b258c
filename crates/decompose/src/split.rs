//! The field engine's [`Split`] over a communicator: what the global
//! operations of a step on a box (the periodic Poisson solve) send to the
//! other ranks, and the first error an exchange met, kept until the step
//! has run and the ranks agree.
//!
//! Every rank must reach every exchange of a step. A model's step that
//! fails on one rank between two solves (a check in the middle of its
//! step) would leave the others waiting in the next exchange; so each
//! rank logs the exchanges of its step, and one whose step stopped early
//! makes the rest of them with zeros, in the sizes the first step (the
//! probe, which every rank completed) logged: the others complete their
//! step, and the ranks agree on the failure after it.
//!
//! The probe itself cannot replay (no step has logged the sizes yet), so
//! its split agrees before every exchange instead: a rank whose probe
//! stopped early goes on to the agreement after the probe, which meets the
//! others' agreement before their next exchange — they learn its failure
//! there, make no more exchanges, and skip the agreement it has already
//! made (one all-gather per exchange, in the first step only).

use std::cell::{Cell, RefCell};
use std::ops::Range;

use rewind_field::{Grid, Split};

use crate::{Comm, DecomposeError, Slabs};

/// One exchange of a step, in sizes: an all-to-all's message sizes to and
/// from each rank (the same for every box of a rank), or a halo's bytes
/// per ghost plane.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Exchange {
    AllToAll { send: Vec<usize>, recv: Vec<usize> },
    Ring { per_plane: usize },
}

/// One box's view of the split field, over the communicator `C`.
pub(crate) struct OverComm<C> {
    comm: C,
    whole: Grid,
    slabs: Slabs,
    ghosts: [usize; 2],
    error: RefCell<Option<String>>,
    /// How many exchanges were made since [`OverComm::begin`].
    made: Cell<usize>,
    /// Their sizes, kept by the probe's split only ([`OverComm::logging`]):
    /// a step's exchanges, once.
    log: Option<RefCell<Vec<Exchange>>>,
    /// The probe's split: another rank's failure, learnt at the agreement
    /// before an exchange (no exchange is made after it).
    aborted: RefCell<Option<DecomposeError>>,
}

impl<C: Comm> OverComm<C> {
    pub(crate) fn new(comm: C, whole: Grid, slabs: Slabs, ghosts: [usize; 2]) -> Self {
        let (error, aborted) = (RefCell::new(None), RefCell::new(None));
        OverComm { comm, whole, slabs, ghosts, error, made: Cell::new(0), log: None, aborted }
    }

    /// The same, keeping the sizes of its exchanges ([`OverComm::logged`])
    /// and agreeing before each (the probe's; see the module docs).
    pub(crate) fn logging(mut self) -> Self {
        self.log = Some(RefCell::default());
        self
    }

    /// Starts counting a step's exchanges.
    pub(crate) fn begin(&self) {
        self.made.set(0);
        if let Some(log) = &self.log {
            log.borrow_mut().clear();
        }
    }

    /// The exchanges made since [`OverComm::begin`], if kept.
    pub(crate) fn logged(&self) -> Vec<Exchange> {
        self.log.as_ref().map(|l| l.borrow().clone()).unwrap_or_default()
    }

    /// Another rank's failure in the probe, learnt before an exchange: the
    /// agreement that rank made after its probe, which this rank must not
    /// make again.
    pub(crate) fn aborted(&self) -> Option<DecomposeError> {
        self.aborted.borrow_mut().take()
    }

    /// Counts (and in the probe, logs) an exchange about to be made;
    /// whether to make it: in the probe, not once a rank has failed.
    fn made(&self, e: impl FnOnce() -> Exchange) -> bool {
        self.made.set(self.made.get() + 1);
        let Some(log) = &self.log else { return true };
        if self.aborted.borrow().is_some() {
            return false;
        }
        if let Err(e) = crate::agree(&self.comm, 0, Ok(())) {
            self.fail(&e);
            *self.aborted.borrow_mut() = Some(e);
            return false;
        }
        log.borrow_mut().push(e());
        true
    }

    /// Makes, with zeros, the exchanges of `step` (a whole step's, as
    /// logged — every step of a model makes the same exchanges) that this
    /// rank's step did not reach: its step stopped early and the other
    /// ranks' go on. The values received are dropped. (A box without ghost
    /// planes makes no halo exchanges.)
    pub(crate) fn finish(&self, step: &[Exchange]) {
        let done = self.made.get();
        let [lo, hi] = self.ghosts;
        let here = step.iter().filter(|e| lo + hi > 0 || !matches!(e, Exchange::Ring { .. }));
        for e in here.skip(done) {
            match e {
                Exchange::AllToAll { send, recv } => {
                    let send: Vec<Vec<u8>> = send.iter().map(|&n| vec![0; n]).collect();
                    let mut recv: Vec<Vec<u8>> = recv.iter().map(|&n| vec![0; n]).collect();
                    self.all_to_all(&send, &mut recv);
                }
                &Exchange::Ring { per_plane } => {
                    let (to_prev, to_next) = (vec![0; hi * per_plane], vec![0; lo * per_plane]);
                    let (mut from_prev, mut from_next) = (vec![0; lo * per_plane], vec![0; hi * per_plane]);
                    self.ring(&to_prev, &to_next, &mut from_prev, &mut from_next);
                }
            }
        }
    }

    /// The first error since the last call, if any.
    pub(crate) fn take_error(&self) -> Result<(), String> {
        self.error.borrow_mut().take().map_or(Ok(()), Err)
    }

    fn fail(&self, e: impl std::fmt::Display) {
        let mut error = self.error.borrow_mut();
        if error.is_none() {
            *error = Some(format!("an exchange of the Poisson solve failed: {e}"));
        }
    }
}

impl<C: Comm> Split for OverComm<C> {
    fn whole(&self) -> Grid {
        self.whole
    }
    fn size(&self) -> usize {
        self.comm.size()
    }
    fn rank(&self) -> usize {
        self.comm.rank()
    }
    fn owned(&self, r: usize) -> Range<usize> {
        self.slabs.owned(r)
    }
    fn ghosts(&self) -> [usize; 2] {
        self.ghosts
    }
    fn all_to_all(&self, send: &[Vec<u8>], recv: &mut [Vec<u8>]) -> bool {
        let sizes = |m: &[Vec<u8>]| m.iter().map(Vec::len).collect();
        self.made(|| Exchange::AllToAll { send: sizes(send), recv: sizes(recv) })
            && self.comm.all_to_all_into(send, recv).map_err(|e| self.fail(e)).is_ok()
    }
    fn ring(&self, to_prev: &[u8], to_next: &[u8], from_prev: &mut [u8], from_next: &mut [u8]) -> bool {
        let planes = (self.ghosts[0] + self.ghosts[1]).max(1);
        self.made(|| Exchange::Ring { per_plane: (to_prev.len() + to_next.len()) / planes })
            && self.comm.ring_into(to_prev, to_next, from_prev, from_next).map_err(|e| self.fail(e)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use rewind_field::{Components, Dual, FieldTape, Grid, Par, PoissonFft, split_by};

    use super::*;
    use crate::Threads;

    /// Every rank's box of `whole` with `ghosts`, solved split; compared
    /// bit for bit with one process's solve, ghost planes included.
    fn check<T: Components + std::fmt::Debug>(whole: Grid, ranks: usize, ghosts: [usize; 2], a: &[T]) {
        let plane = whole.ny * whole.nz;
        let mut expected = vec![T::from_f64(0.0); a.len()];
        let p = PoissonFft::new(whole);
        p.solve(a, &mut expected, &mut p.work(), Par::Seq).unwrap();
        let slabs = Slabs::new(whole.nx, ranks).unwrap();
        std::thread::scope(|s| {
            for comm in Threads::group(ranks) {
                let (a, expected) = (&a, &expected);
                s.spawn(move || {
                    let own = slabs.owned(comm.rank());
                    let planes = ghosts[0] + own.len() + ghosts[1];
                    let first = own.start as isize - ghosts[0] as isize;
                    let at = |i: usize| (first + i as isize).rem_euclid(whole.nx as isize) as usize * plane;
                    let pick =
                        |v: &[T]| -> Vec<T> { (0..planes).flat_map(|i| v[at(i)..at(i) + plane].to_vec()).collect() };
                    let g = Grid::new3(planes, whole.ny, whole.nz, whole.dx, whole.dy, whole.dz).unwrap();
                    let split = Rc::new(OverComm::new(comm, whole, slabs, ghosts));
                    let boxed = pick(a);
                    let mut tape = FieldTape::<T>::new(g);
                    let got = split_by(split.clone(), || {
                        tape.record(Par::Seq, |c| c.input(&boxed).unwrap().poisson().value().to_vec())
                    });
                    split.take_error().unwrap();
                    let bits = |v: &[T]| -> Vec<u64> {
                        v.iter().flat_map(|x| (0..T::PARTS).map(|k| x.part(k).to_bits())).collect()
                    };
                    assert_eq!(bits(&got), bits(&pick(expected)), "{ranks} ranks, ghosts {ghosts:?}, {whole:?}");
                });
            }
        });
    }

    #[test]
    fn the_split_poisson_solve_is_one_process_s_bit_for_bit() {
        let g2 = Grid::periodic_square(12, 2.0).unwrap();
        let a2: Vec<f64> = (0..g2.len()).map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0).collect();
        let g3 = Grid::new3(10, 6, 8, 0.3, 0.5, 0.7).unwrap();
        let a3: Vec<f64> = (0..g3.len()).map(|i| ((i * 104729) % 97) as f64 / 40.0 - 1.2).collect();
        for ranks in 1..=4 {
            for ghosts in [[0, 0], [1, 2], [2, 2]] {
                check(g2, ranks, ghosts, &a2);
                check(g3, ranks, ghosts, &a3);
            }
        }
        // dual numbers: the tangent solved alongside
        let d: Vec<Dual<f64>> = a2.iter().enumerate().map(|(i, &x)| Dual::new(x, (i as f64).sin())).collect();
        check(g2, 3, [2, 1], &d);
    }
}
