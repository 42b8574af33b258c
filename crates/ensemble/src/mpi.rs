//! The MPI communicator (feature `mpi`): `MPI_COMM_WORLD` through rsmpi.

use mpi::Count;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
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
    fn describe(&self) -> String {
        format!("MPI ({} rank{})", self.size(), if self.size() == 1 { "" } else { "s" })
    }
}
