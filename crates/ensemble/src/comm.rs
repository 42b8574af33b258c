//! Communicators: who am I, how many are we, the collective the ensemble
//! needs — every rank's bytes to every rank — and what a domain-decomposed
//! run needs: the exchange with the two neighbours on a ring (halos) and
//! the all-to-all (the transposes of a distributed FFT).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::EnsembleError;

/// A group of cooperating processes. Every rank must make the same calls
/// in the same order (a collective call that one rank skips hangs the
/// others); [`crate::Ensemble`] guarantees that for its own calls.
pub trait Comm {
    /// This process's rank, `0 ≤ rank < size`.
    fn rank(&self) -> usize;
    /// How many ranks there are.
    fn size(&self) -> usize;
    /// Every rank's `mine`, indexed by rank, on every rank.
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>, EnsembleError>;
    /// Exchanges bytes with the neighbours on the ring of ranks: sends
    /// `to_prev` to rank `rank − 1` and `to_next` to rank `rank + 1`
    /// (modulo `size`; alone, a rank is its own neighbour) and returns
    /// `(from_prev, from_next)`: what rank `rank − 1` sent to its next and
    /// rank `rank + 1` to its previous. Every rank calls it together. The
    /// default goes through [`Comm::all_gather`] (every rank receives every
    /// message: right, but bytes grow with the number of ranks); [`crate::Mpi`]
    /// sends to the two neighbours only.
    fn ring(&self, to_prev: &[u8], to_next: &[u8]) -> Result<(Vec<u8>, Vec<u8>), EnsembleError> {
        let mut mine = Vec::with_capacity(8 + to_prev.len() + to_next.len());
        mine.extend_from_slice(&(to_prev.len() as u64).to_le_bytes());
        mine.extend_from_slice(to_prev);
        mine.extend_from_slice(to_next);
        let all = self.all_gather(&mine)?;
        let (r, n) = (self.rank(), self.size());
        let part = |m: &[u8], first: bool| -> Result<Vec<u8>, EnsembleError> {
            let len = m.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize);
            match len {
                Some(l) if 8 + l <= m.len() => Ok(if first { m[8..8 + l].to_vec() } else { m[8 + l..].to_vec() }),
                _ => Err(EnsembleError::Comm("a ring message without its header".into())),
            }
        };
        Ok((part(&all[(r + n - 1) % n], false)?, part(&all[(r + 1) % n], true)?))
    }
    /// Sends `send[q]` to rank `q` (one message per rank, its own
    /// included) and returns what every rank sent to this one, indexed by
    /// rank: the transposes of a distributed FFT. Every rank calls it
    /// together. The default goes through [`Comm::all_gather`] (every rank
    /// receives every message: right, but bytes grow with the number of
    /// ranks); [`crate::Mpi`] sends each rank its own.
    fn all_to_all(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, EnsembleError> {
        let n = self.size();
        // the lengths of the messages to each rank, then the messages
        let mut mine = Vec::with_capacity(8 * n + send.iter().map(Vec::len).sum::<usize>());
        (0..n).for_each(|q| mine.extend_from_slice(&(send.get(q).map_or(0, Vec::len) as u64).to_le_bytes()));
        send.iter().take(n).for_each(|m| mine.extend_from_slice(m));
        let all = self.all_gather(&mine)?;
        if send.len() != n {
            return Err(EnsembleError::Comm(format!("an all-to-all of {} messages among {n} ranks", send.len())));
        }
        let r = self.rank();
        all.iter()
            .map(|m| {
                let word = |k: usize| {
                    m.get(8 * k..8 * k + 8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])) as usize)
                };
                let lens: Option<Vec<usize>> = (0..n).map(word).collect();
                let lens =
                    lens.ok_or_else(|| EnsembleError::Comm("an all-to-all message without its header".into()))?;
                // (checked: a garbled header is an error, not an overflow)
                let at = lens[..r].iter().try_fold(8 * n, |a, &l| a.checked_add(l));
                at.and_then(|a| m.get(a..a.checked_add(lens[r])?))
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| EnsembleError::Comm("an all-to-all message shorter than its header".into()))
            })
            .collect()
    }
    /// [`Comm::all_to_all`] when every rank knows what it receives:
    /// `recv[q]` comes sized to what rank `q` sends this one (the sizes
    /// follow from data all ranks share, as a distributed FFT's do) and is
    /// filled; nothing is allocated and no lengths are exchanged (under
    /// MPI, a size the two ranks disagree on is MPI's truncation error).
    fn all_to_all_into(&self, send: &[Vec<u8>], recv: &mut [Vec<u8>]) -> Result<(), EnsembleError> {
        let got = self.all_to_all(send)?;
        if got.len() != recv.len() || got.iter().zip(recv.iter()).any(|(g, r)| g.len() != r.len()) {
            return Err(EnsembleError::Comm("an all-to-all message of another length than expected".into()));
        }
        recv.iter_mut().zip(got).for_each(|(r, g)| r.copy_from_slice(&g));
        Ok(())
    }
    /// [`Comm::ring`] when every rank knows what it receives: `from_prev`
    /// and `from_next` come sized and are filled (as for
    /// [`Comm::all_to_all_into`]).
    fn ring_into(
        &self,
        to_prev: &[u8],
        to_next: &[u8],
        from_prev: &mut [u8],
        from_next: &mut [u8],
    ) -> Result<(), EnsembleError> {
        let (p, n) = self.ring(to_prev, to_next)?;
        if p.len() != from_prev.len() || n.len() != from_next.len() {
            return Err(EnsembleError::Comm("a halo message of another length than expected".into()));
        }
        from_prev.copy_from_slice(&p);
        from_next.copy_from_slice(&n);
        Ok(())
    }
    /// Ranks sharing this process's machine (for sizing thread pools).
    fn local_size(&self) -> usize {
        self.size()
    }
    /// What the communicator is, for messages (`"serial"`, `"MPI (4 ranks)"`).
    fn describe(&self) -> String;
}

/// A shared communicator is one (a domain-decomposed run keeps a handle of
/// it for the exchanges inside a step).
impl<C: Comm + ?Sized> Comm for std::rc::Rc<C> {
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn size(&self) -> usize {
        (**self).size()
    }
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>, EnsembleError> {
        (**self).all_gather(mine)
    }
    fn ring(&self, to_prev: &[u8], to_next: &[u8]) -> Result<(Vec<u8>, Vec<u8>), EnsembleError> {
        (**self).ring(to_prev, to_next)
    }
    fn all_to_all(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, EnsembleError> {
        (**self).all_to_all(send)
    }
    fn all_to_all_into(&self, send: &[Vec<u8>], recv: &mut [Vec<u8>]) -> Result<(), EnsembleError> {
        (**self).all_to_all_into(send, recv)
    }
    fn ring_into(
        &self,
        to_prev: &[u8],
        to_next: &[u8],
        from_prev: &mut [u8],
        from_next: &mut [u8],
    ) -> Result<(), EnsembleError> {
        (**self).ring_into(to_prev, to_next, from_prev, from_next)
    }
    fn local_size(&self) -> usize {
        (**self).local_size()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// One process alone: the ensemble runs every member itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serial;

impl Comm for Serial {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>, EnsembleError> {
        Ok(vec![mine.to_vec()])
    }
    fn describe(&self) -> String {
        "serial".into()
    }
}

/// Ranks as threads of one process: [`Threads::group`] makes `size`
/// communicators, one for each thread to run as a rank — to run and test
/// code written for many ranks without MPI. A rank that returns or panics
/// drops its communicator; a collective the others are waiting in, or
/// enter after, then fails with [`EnsembleError::Comm`] instead of
/// waiting forever.
#[derive(Debug)]
pub struct Threads {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    round: Mutex<Round>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct Round {
    slots: Vec<Vec<u8>>,
    arrived: usize,
    generation: u64,
    result: Arc<Vec<Vec<u8>>>,
    gone: Option<usize>,
}

impl Threads {
    /// `size` communicators, rank `r` at index `r`.
    pub fn group(size: usize) -> Vec<Threads> {
        let shared = Arc::new(Shared::default());
        shared.lock().slots = vec![Vec::new(); size];
        (0..size).map(|rank| Threads { rank, size, shared: Arc::clone(&shared) }).collect()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Round> {
        self.round.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.gone.get_or_insert(self.rank);
        self.shared.done.notify_all();
    }
}

impl Comm for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>, EnsembleError> {
        let left = |r: usize| EnsembleError::Comm(format!("rank {r} left before a collective every rank must enter"));
        let mut st = self.shared.lock();
        if let Some(r) = st.gone {
            return Err(left(r));
        }
        st.slots[self.rank] = mine.to_vec();
        st.arrived += 1;
        let generation = st.generation;
        if st.arrived == self.size {
            st.result = Arc::new(std::mem::replace(&mut st.slots, vec![Vec::new(); self.size]));
            st.arrived = 0;
            st.generation += 1;
            self.shared.done.notify_all();
            return Ok(st.result.to_vec());
        }
        while st.generation == generation {
            if let Some(r) = st.gone {
                return Err(left(r));
            }
            st = self.shared.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        Ok(st.result.to_vec())
    }
    fn describe(&self) -> String {
        format!("threads ({} ranks)", self.size)
    }
}

/// `size` ranks simulated inside one process for tests of the ensemble's
/// logic: rank `rank` sees the other ranks' contributions as produced by
/// `others(round, rank)`. Only for tests; the real multi-process
/// communicator is [`crate::Mpi`] (feature `mpi`).
#[cfg(test)]
pub(crate) struct Fake<F: Fn(usize, usize) -> Vec<u8>> {
    pub(crate) rank: usize,
    pub(crate) size: usize,
    pub(crate) others: F,
    pub(crate) round: std::cell::Cell<usize>,
}

#[cfg(test)]
impl<F: Fn(usize, usize) -> Vec<u8>> Comm for Fake<F> {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>, EnsembleError> {
        let round = self.round.get();
        self.round.set(round + 1);
        Ok((0..self.size).map(|r| if r == self.rank { mine.to_vec() } else { (self.others)(round, r) }).collect())
    }
    fn describe(&self) -> String {
        format!("fake ({} ranks)", self.size)
    }
}
