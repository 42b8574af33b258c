//! # rewind-ensemble: independent simulations over MPI ranks, reduced in a fixed order
//!
//! The problems rewind is for outgrow one process in a known way: a
//! randomized Hessian eigensolver needs blocks of tens of Hessian or
//! Gauss–Newton products, an ensemble of experiments sums gradients of
//! independent runs, a trade-off study runs one gradient under many
//! schedules. Each is a set of independent *members* and a reduction.
//! [`Ensemble::map`] runs member `m` on rank `m mod R` (of `R` ranks), in
//! rounds of `R` members; after each round every rank receives every
//! result of the round, so all ranks end with all results, in member
//! order. Reductions ([`Ensemble::sum`]) then add in member order — never
//! in the order messages arrive — so a result is the same to the last bit
//! on 1, 2, 3 or any number of ranks, and every rank holds it (an optimizer
//! replicated on every rank takes the same steps everywhere).
//!
//! **Faults.** A member that fails (an error, or a panic) does not stop its
//! rank at once: the rank reports the failure in the round's exchange, and
//! every rank then returns the same [`EnsembleError::Member`] naming the
//! first failing member and its rank — no rank is left waiting in a
//! collective, nothing hangs. A process that dies outright is ended by
//! `mpirun`, which stops the others.
//!
//! [`Sum`] makes a sum of independent objectives one problem for the
//! optimizers of `rewind-optim`.
//!
//! The communicator is a [`Comm`]: [`Serial`] (one process; the default
//! build needs no MPI) or, with the cargo feature `mpi`, [`Mpi`]
//! (`MPI_COMM_WORLD` through rsmpi). Only the main thread calls it.

#![forbid(unsafe_code)]

mod comm;
#[cfg(feature = "mpi")]
mod mpi;
mod payload;
pub mod sum;

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use comm::{Comm, Serial, Threads};
#[cfg(feature = "mpi")]
pub use mpi::Mpi;
pub use payload::Payload;
pub use sum::Sum;
use thiserror::Error;

/// What can go wrong in an ensemble.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum EnsembleError {
    /// A member failed; every rank reports the first failure in member order.
    #[error("ensemble member {member} (on rank {rank} of {size}) failed: {message}")]
    Member {
        /// The member's index.
        member: usize,
        /// The rank that ran it.
        rank: usize,
        /// How many ranks there are.
        size: usize,
        /// Its error, as text (it crossed a process boundary).
        message: String,
    },
    /// Work every rank does itself ([`Ensemble::everywhere`]) failed on one.
    #[error("rank {rank} of {size} failed: {message}")]
    Rank {
        /// The first rank that failed.
        rank: usize,
        /// How many ranks there are.
        size: usize,
        /// Its error, as text.
        message: String,
    },
    /// Members' results of different lengths where a sum needs one length.
    #[error("ensemble member {member} returned {got} values where member 0 returned {expected}")]
    Length {
        /// The member.
        member: usize,
        /// Member 0's length.
        expected: usize,
        /// This member's length.
        got: usize,
    },
    /// The communicator failed, or a message did not decode.
    #[error("ensemble communication: {0}")]
    Comm(String),
}

const IDLE: u8 = 0;
const DONE: u8 = 1;
const FAILED: u8 = 2;

/// A communicator and the ensemble operations on it (see the
/// [crate](crate) docs).
pub struct Ensemble {
    comm: std::rc::Rc<dyn Comm>,
    /// Seconds spent in exchanges (waiting for the round's slowest member
    /// included), for cost models.
    exchange: std::cell::Cell<f64>,
}

impl std::fmt::Debug for Ensemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ensemble").field("comm", &self.comm.describe()).finish()
    }
}

impl Default for Ensemble {
    fn default() -> Self {
        Ensemble::serial()
    }
}

impl Ensemble {
    /// One process: every member runs here.
    pub fn serial() -> Self {
        Ensemble::new(Serial)
    }

    /// The ensemble over `comm`.
    pub fn new(comm: impl Comm + 'static) -> Self {
        Ensemble { comm: std::rc::Rc::new(comm), exchange: std::cell::Cell::new(0.0) }
    }

    /// A handle of the communicator, for work that splits one job over
    /// the ranks itself (a simulation decomposed into slabs,
    /// `rewind-decompose`) instead of spreading members.
    pub fn comm(&self) -> std::rc::Rc<dyn Comm> {
        self.comm.clone()
    }

    /// `MPI_COMM_WORLD` (feature `mpi`); see [`Mpi::init`].
    #[cfg(feature = "mpi")]
    pub fn mpi() -> Result<Self, EnsembleError> {
        Ok(Ensemble::new(Mpi::init()?))
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// How many ranks there are.
    pub fn size(&self) -> usize {
        self.comm.size()
    }

    /// Ranks on this machine (with [`Self::size`], what a rank's thread
    /// pool should be sized by: cores / local ranks).
    pub fn local_size(&self) -> usize {
        self.comm.local_size()
    }

    /// Rank 0: the one that prints and writes files.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// Seconds this rank has spent in the ensemble's exchanges so far: the
    /// communication and the wait for each round's slowest member.
    pub fn exchange_seconds(&self) -> f64 {
        self.exchange.get()
    }

    /// Every rank's bytes on every rank, timed into [`Self::exchange_seconds`].
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>, EnsembleError> {
        let t0 = std::time::Instant::now();
        let r = self.comm.all_gather(mine);
        self.exchange.set(self.exchange.get() + t0.elapsed().as_secs_f64());
        r
    }

    /// What the communicator is, for reports.
    pub fn describe(&self) -> String {
        self.comm.describe()
    }

    /// The rank that runs member `member`.
    pub fn owner(&self, member: usize) -> usize {
        member % self.size()
    }

    /// Runs `run(m)` for every member `m < n`, each on rank `m mod size`,
    /// and returns every result, in member order, on every rank.
    /// `progress(done, n)` is called on every rank after each round with
    /// the members done ensemble-wide. A member that fails or panics ends
    /// the ensemble on every rank with [`EnsembleError::Member`] after the
    /// round it failed in (see the [crate](crate) docs).
    pub fn map<T: Payload, E: Display>(
        &self,
        n: usize,
        mut run: impl FnMut(usize) -> Result<T, E>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<T>, EnsembleError> {
        let (rank, size) = (self.rank(), self.size());
        let mut results: Vec<T> = Vec::with_capacity(n);
        let rounds = n.div_ceil(size);
        for round in 0..rounds {
            let member = round * size + rank;
            let mut bytes = Vec::new();
            if member >= n {
                bytes.push(IDLE);
            } else {
                match attempt(|| run(member)) {
                    Ok(v) => {
                        bytes.push(DONE);
                        v.encode(&mut bytes);
                    }
                    Err(msg) => bytes = failed(&msg),
                }
            }
            let all = self.all_gather(&bytes)?;
            if all.len() != size {
                return Err(EnsembleError::Comm(format!("{} answers from {size} ranks", all.len())));
            }
            // the first failure in member order, the same on every rank
            if let Some((r, message)) = first_failure(&all) {
                return Err(EnsembleError::Member { member: round * size + r, rank: r, size, message });
            }
            for (r, b) in all.into_iter().enumerate() {
                let m = round * size + r;
                match (b.first(), m < n) {
                    (Some(&DONE), true) => {
                        let v = T::decode(&b[1..]).ok_or_else(|| {
                            EnsembleError::Comm(format!("member {m}'s result from rank {r} did not decode"))
                        })?;
                        results.push(v);
                    }
                    (Some(&IDLE), false) => {}
                    _ => return Err(EnsembleError::Comm(format!("rank {r} answered out of turn in round {round}"))),
                }
            }
            progress(results.len(), n);
        }
        Ok(results)
    }

    /// `Σₘ run(m)` over the members `m < n`, added in member order (so the
    /// same bits on any number of ranks), on every rank; see [`Self::map`].
    pub fn sum<E: Display>(
        &self,
        n: usize,
        run: impl FnMut(usize) -> Result<Vec<f64>, E>,
        progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f64>, EnsembleError> {
        let parts = self.map(n, run, progress)?;
        let mut parts = parts.into_iter().enumerate();
        let Some((_, mut total)) = parts.next() else { return Ok(Vec::new()) };
        for (m, p) in parts {
            if p.len() != total.len() {
                return Err(EnsembleError::Length { member: m, expected: total.len(), got: p.len() });
            }
            total.iter_mut().zip(&p).for_each(|(t, x)| *t += x);
        }
        Ok(total)
    }

    /// Work that every rank does itself (a set-up, a linearisation), made
    /// to fail on every rank if it fails on one: each rank's outcome is
    /// exchanged, and the first failing rank's error is returned everywhere
    /// as [`EnsembleError::Rank`].
    pub fn everywhere<T, E: Display>(&self, run: impl FnOnce() -> Result<T, E>) -> Result<T, EnsembleError> {
        let size = self.size();
        let mine = attempt(run);
        let bytes = match &mine {
            Ok(_) => vec![DONE],
            Err(msg) => failed(msg),
        };
        let all = self.all_gather(&bytes)?;
        // this rank's own failure is among them
        if let Some((rank, message)) = first_failure(&all) {
            return Err(EnsembleError::Rank { rank, size, message });
        }
        mine.map_err(|message| EnsembleError::Rank { rank: self.rank(), size, message })
    }
}

/// `run()`, its error or panic as text (it will cross a process boundary).
fn attempt<T, E: Display>(run: impl FnOnce() -> Result<T, E>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(panic) => Err(format!("panicked: {}", panic_message(&panic))),
    }
}

/// A failure's message as sent in an exchange.
fn failed(message: &str) -> Vec<u8> {
    let mut b = vec![FAILED];
    b.extend_from_slice(message.as_bytes());
    b
}

/// The first rank (in rank order) whose answer is a failure, and its message.
fn first_failure(all: &[Vec<u8>]) -> Option<(usize, String)> {
    all.iter()
        .enumerate()
        .find(|(_, b)| b.first() == Some(&FAILED))
        .map(|(r, b)| (r, String::from_utf8_lossy(&b[1..]).into_owned()))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

#[cfg(test)]
mod tests;
