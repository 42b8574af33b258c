//! Where snapshots live: the [`SnapshotStore`] of one level, its errors,
//! and the in-memory store (the disk store is `crate::disk`).

use thiserror::Error;

/// Storage for snapshots of one level (RAM here; a disk store on HDF5 comes
/// with the I/O crate).
pub trait SnapshotStore<T> {
    /// Keeps a copy of `state` under `step`.
    fn put(&mut self, step: usize, state: &[T]) -> Result<(), StoreError>;
    /// Copies the snapshot `step` into `out`.
    fn get(&mut self, step: usize, out: &mut [T]) -> Result<(), StoreError>;
    /// Drops the snapshot `step`.
    fn remove(&mut self, step: usize) -> Result<(), StoreError>;
    /// Snapshots held.
    fn len(&self) -> usize;
    /// Whether no snapshot is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes held by the snapshots.
    fn bytes(&self) -> usize;
}

/// A borrowed store is a store (a caller's store wrapped by another, say).
impl<T, S: SnapshotStore<T> + ?Sized> SnapshotStore<T> for &mut S {
    fn put(&mut self, step: usize, state: &[T]) -> Result<(), StoreError> {
        (**self).put(step, state)
    }
    fn get(&mut self, step: usize, out: &mut [T]) -> Result<(), StoreError> {
        (**self).get(step, out)
    }
    fn remove(&mut self, step: usize) -> Result<(), StoreError> {
        (**self).remove(step)
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    fn bytes(&self) -> usize {
        (**self).bytes()
    }
}

/// What can go wrong in a snapshot store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No snapshot under this step.
    #[error("no snapshot of state {step}")]
    Missing {
        /// The step asked for.
        step: usize,
    },
    /// A snapshot of another length than the state.
    #[error("snapshot of state {step} has {got} values, expected {expected}")]
    Length {
        /// The step.
        step: usize,
        /// Values expected.
        expected: usize,
        /// Values found.
        got: usize,
    },
    /// Corrupted or truncated data (detected by a checksum).
    #[error("snapshot of state {step} is corrupt: {why}")]
    Corrupt {
        /// The step.
        step: usize,
        /// What was detected.
        why: String,
    },
    /// An I/O failure.
    #[error("snapshot I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// An I/O failure on a snapshot's file.
    #[error("snapshot file {}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// Snapshots in memory. Freed buffers are kept for reuse, so a run
/// allocates only while its number of live snapshots grows.
#[derive(Debug, Default)]
pub struct RamStore<T> {
    live: Vec<(usize, Vec<T>)>,
    spare: Vec<Vec<T>>,
}

impl<T: Copy> RamStore<T> {
    /// An empty store.
    pub fn new() -> Self {
        RamStore { live: Vec::new(), spare: Vec::new() }
    }
}

impl<T: Copy> SnapshotStore<T> for RamStore<T> {
    fn put(&mut self, step: usize, state: &[T]) -> Result<(), StoreError> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(state);
        match self.live.iter_mut().find(|(s, _)| *s == step) {
            Some(slot) => self.spare.push(std::mem::replace(&mut slot.1, buf)),
            None => self.live.push((step, buf)),
        }
        Ok(())
    }
    fn get(&mut self, step: usize, out: &mut [T]) -> Result<(), StoreError> {
        let (_, buf) = self.live.iter().find(|(s, _)| *s == step).ok_or(StoreError::Missing { step })?;
        if buf.len() != out.len() {
            return Err(StoreError::Length { step, expected: out.len(), got: buf.len() });
        }
        out.copy_from_slice(buf);
        Ok(())
    }
    fn remove(&mut self, step: usize) -> Result<(), StoreError> {
        let i = self.live.iter().position(|(s, _)| *s == step).ok_or(StoreError::Missing { step })?;
        let (_, buf) = self.live.swap_remove(i);
        self.spare.push(buf);
        Ok(())
    }
    fn len(&self) -> usize {
        self.live.len()
    }
    fn bytes(&self) -> usize {
        self.live.iter().map(|(_, b)| std::mem::size_of_val(b.as_slice())).sum()
    }
}
