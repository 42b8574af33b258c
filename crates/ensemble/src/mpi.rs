//! The MPI communicator (feature `mpi`): `MPI_COMM_WORLD` through rsmpi.

use mpi::Count;
use mpi::datatype::{Equivalence, PartitionMut};
use mpi::environment::Universe;
use mpi::point_to_point;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;

use crate::{Comm, EnsembleError};

/// `MPI_COMM_WORLD`. Made once per process ([`Mpi::init`]); dropping it
/// finalises MPI, so keep it alive until the program ends — and drop it
/// before `std::process::exit`, which skips destructors.
pub struct Mpi {
    world: SimpleCommunicator,
    local: usize,
    // last: finalises MPI after the communicators are gone
    _universe: Universe,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi").field("rank", &self.rank()).field("size", &self.size()).finish()
    }
}

impl Mpi {
    /// Initialises MPI (funneled threading: only the main thread calls
    /// MPI, rayon's workers never do). Works under `mpirun` and as a
    /// singleton (one rank) without it.
    pub fn init() -> Result<Self, EnsembleError> {
        let (universe, _threading) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            .ok_or_else(|| EnsembleError::Comm("MPI is already initialised in this process".into()))?;
        let world = universe.world();
        let local = world.split_shared(world.rank()).size() as usize;
        Ok(Mpi { world, local, _universe: universe })
    }
}

impl Comm for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    fn local_size(&self) -> usize {
        self.local
    }
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>, EnsembleError> {
        let size = self.size();
        // every rank reaches both collectives, even with a payload too
        // large to send: it sends an empty one and the error is raised
        // after, on every rank alike (a negative count marks it)
        let count: Count = Count::try_from(mine.len()).unwrap_or(-1);
        let mut counts = vec![0 as Count; size];
        self.world.all_gather_into(&count, &mut counts[..]);
        let too_large = counts.iter().position(|&c| c < 0);
        let sizes: Vec<Count> = counts.iter().map(|&c| c.max(0)).collect();
        let total: usize = sizes.iter().map(|&c| c as usize).sum();
        let mut displs = Vec::with_capacity(size);
        let mut at: usize = 0;
        for &c in &sizes {
            displs.push(Count::try_from(at).unwrap_or(Count::MAX));
            at += c as usize;
        }
        if too_large.is_none() && at <= Count::MAX as usize {
            let mut buf = vec![0u8; total];
            {
                let mut part = PartitionMut::new(&mut buf[..], &sizes[..], &displs[..]);
                self.world.all_gather_varcount_into(mine, &mut part);
            }
            let mut out = Vec::with_capacity(size);
            let mut at = 0;
            for &c in &sizes {
                out.push(buf[at..at + c as usize].to_vec());
                at += c as usize;
            }
            return Ok(out);
        }
        Err(EnsembleError::Comm(match too_large {
            Some(r) => format!("rank {r}'s result exceeds MPI's 2 GiB message limit"),
            None => "the results of one round exceed MPI's 2 GiB message limit".into(),
        }))
    }
    fn ring(&self, to_prev: &[u8], to_next: &[u8]) -> Result<(Vec<u8>, Vec<u8>), EnsembleError> {
        let (r, n) = (self.rank(), self.size());
        let prev = self.world.process_at_rank(((r + n - 1) % n) as i32);
        let next = self.world.process_at_rank(((r + 1) % n) as i32);
        // lengths first, then the bytes (messages between two ranks arrive
        // in the order sent); a message too large for MPI is sent as a
        // length of -1 and no bytes, so that every call is matched, and both
        // ends report it after (the caller agrees on errors with all ranks)
        let count = |m: &[u8]| Count::try_from(m.len()).unwrap_or(-1);
        let (send_prev, send_next) = (count(to_prev), count(to_next));
        let (from_prev_len, _): (Count, _) = point_to_point::send_receive(&send_next, &next, &prev);
        let (from_next_len, _): (Count, _) = point_to_point::send_receive(&send_prev, &prev, &next);
        let mut from_prev = vec![0u8; from_prev_len.max(0) as usize];
        let mut from_next = vec![0u8; from_next_len.max(0) as usize];
        let to_next = if send_next < 0 { &to_next[..0] } else { to_next };
        let to_prev = if send_prev < 0 { &to_prev[..0] } else { to_prev };
        point_to_point::send_receive_into(to_next, &next, &mut from_prev[..], &prev);
        point_to_point::send_receive_into(to_prev, &prev, &mut from_next[..], &next);
        if [send_prev, send_next, from_prev_len, from_next_len].contains(&-1) {
            return Err(EnsembleError::Comm("a halo message exceeds MPI's 2 GiB message limit".into()));
        }
        Ok((from_prev, from_next))
    }
    fn all_to_all(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, EnsembleError> {
        let (r, n) = (self.rank(), self.size());
        // the counts first (a message too large for MPI's counts as -1: that
        // pair exchanges nothing and both ends report it after), then each
        // pair of ranks directly, straight into the message's own buffer
        let counts: Vec<Count> =
            (0..n).map(|q| send.get(q).map_or(0, |m| Count::try_from(m.len()).unwrap_or(-1))).collect();
        let mut from = vec![0 as Count; n];
        self.world.all_to_all_into(&counts[..], &mut from[..]);
        let mut recv: Vec<Vec<u8>> = from.iter().map(|&c| vec![0u8; c.max(0) as usize]).collect();
        recv[r] = send.get(r).cloned().unwrap_or_default();
        for k in 1..n {
            let (to, of) = ((r + k) % n, (r + n - k) % n);
            let out = send.get(to).filter(|_| counts[to] >= 0).map_or(&[][..], |m| &m[..]);
            point_to_point::send_receive_into(
                out,
                &self.world.process_at_rank(to as i32),
                &mut recv[of][..],
                &self.world.process_at_rank(of as i32),
            );
        }
        if send.len() != n || counts.contains(&-1) || from.contains(&-1) {
            return Err(EnsembleError::Comm("an all-to-all message exceeds MPI's 2 GiB message limit".into()));
        }
        Ok(recv)
    }
    fn all_to_all_into(&self, send: &[Vec<u8>], recv: &mut [Vec<u8>]) -> Result<(), EnsembleError> {
        let (r, n) = (self.rank(), self.size());
        // every pair exchanges, whatever goes wrong (a message beyond MPI's
        // counts travels as nothing at both ends, which both see), and the
        // errors come after: no rank returns while another waits for it
        let fits = |m: &[u8]| Count::try_from(m.len()).is_ok();
        let mut wrong = send.len() != n || recv.len() != n;
        match (send.get(r), recv.get_mut(r)) {
            (Some(s), Some(d)) if s.len() == d.len() => d.copy_from_slice(s),
            _ => wrong = true,
        }
        for k in 1..n {
            let (to, of) = ((r + k) % n, (r + n - k) % n);
            let (to_p, of_p) = (self.world.process_at_rank(to as i32), self.world.process_at_rank(of as i32));
            let out = send.get(to).map(|m| &m[..]).filter(|m| fits(m)).unwrap_or(&[]);
            let mut none: [u8; 0] = [];
            let into = match recv.get_mut(of) {
                Some(m) if fits(m) => &mut m[..],
                _ => &mut none[..],
            };
            let expected = into.len();
            let status = point_to_point::send_receive_into(out, &to_p, into, &of_p);
            wrong |= status.count(u8::equivalent_datatype()) as usize != expected;
        }
        if wrong || send.iter().chain(recv.iter()).any(|m| !fits(m)) {
            return Err(EnsembleError::Comm(
                "an all-to-all of another shape than the ranks agreed, or beyond MPI's 2 GiB message limit".into(),
            ));
        }
        Ok(())
    }
    fn ring_into(
        &self,
        to_prev: &[u8],
        to_next: &[u8],
        from_prev: &mut [u8],
        from_next: &mut [u8],
    ) -> Result<(), EnsembleError> {
        let (r, n) = (self.rank(), self.size());
        if [to_prev.len(), to_next.len(), from_prev.len(), from_next.len()].iter().any(|&l| Count::try_from(l).is_err())
        {
            return Err(EnsembleError::Comm("a halo message exceeds MPI's 2 GiB message limit".into()));
        }
        let prev = self.world.process_at_rank(((r + n - 1) % n) as i32);
        let next = self.world.process_at_rank(((r + 1) % n) as i32);
        point_to_point::send_receive_into(to_next, &next, from_prev, &prev);
        point_to_point::send_receive_into(to_prev, &prev, from_next, &next);
        Ok(())
    }
    fn describe(&self) -> String {
        format!("MPI ({} rank{})", self.size(), if self.size() == 1 { "" } else { "s" })
    }
}
