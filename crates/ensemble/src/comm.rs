//! Communicators: who am I, how many are we, and the one collective the
//! ensemble needs — every rank's bytes to every rank.

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
    /// Ranks sharing this process's machine (for sizing thread pools).
    fn local_size(&self) -> usize {
        self.size()
    }
    /// What the communicator is, for messages (`"serial"`, `"MPI (4 ranks)"`).
    fn describe(&self) -> String;
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
