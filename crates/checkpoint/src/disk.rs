//! The disk level of multi-level checkpointing: a
//! [`SnapshotStore`] with one file per snapshot in a directory the store
//! owns (and removes when dropped).
//!
//! File layout (little-endian): the magic `RWSNAP1\0`, the step (u64), the
//! number of scalars (u64), the CRC-32 (u32) of everything else in the
//! file, the number of `f64`s per scalar (u32), then the values. On
//! [`SnapshotStore::get`] every field is checked, so a file that was
//! truncated, overwritten or belongs to another state is reported as
//! [`StoreError::Corrupt`] and never restored. Each snapshot is written
//! under a temporary name and renamed into place; snapshots are scratch
//! data of one run, so they are not flushed to the disk (`fsync`) — the
//! operating system's cache is the point of a fast disk level.
//!
//! It lives here, not in rewind-io, so that a library user gets the disk
//! level with no C library (the store needs only `std` and crc32fast);
//! [`gradient`](crate::gradient) and [`hvp`](crate::hvp) put the disk level
//! of a multi-level strategy in one under the system's temporary directory.
//!
//! Why not HDF5 for snapshots: they are written and read on the hot path of
//! the reverse sweep, the HDF5 library serialises all calls behind one
//! lock, and a flat file with a CRC gives the same protection for less.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{SnapshotStore, StoreError};
use rewind_tape::Dual;

const MAGIC: &[u8; 8] = b"RWSNAP1\0";
const HEADER: usize = 32;
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A scalar that can be stored as a fixed number of `f64`s.
pub trait DiskScalar: Copy {
    /// `f64`s per scalar.
    const WIDTH: usize;
    /// Appends the scalar's `f64`s as little-endian bytes.
    fn put_bytes(&self, out: &mut Vec<u8>);
    /// Reads a scalar from exactly `8 × WIDTH` bytes.
    fn from_bytes(bytes: &[u8]) -> Self;
}

impl DiskScalar for f64 {
    const WIDTH: usize = 1;
    fn put_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn from_bytes(bytes: &[u8]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[..8]);
        f64::from_le_bytes(b)
    }
}

impl<T: DiskScalar> DiskScalar for Dual<T> {
    const WIDTH: usize = 2 * T::WIDTH;
    fn put_bytes(&self, out: &mut Vec<u8>) {
        self.re.put_bytes(out);
        self.eps.put_bytes(out);
    }
    fn from_bytes(bytes: &[u8]) -> Self {
        let w = 8 * T::WIDTH;
        Dual { re: T::from_bytes(&bytes[..w]), eps: T::from_bytes(&bytes[w..2 * w]) }
    }
}

/// Snapshots as checksummed files in a directory of their own.
#[derive(Debug)]
pub struct DiskStore<T> {
    dir: PathBuf,
    live: Vec<(usize, u64)>,
    buf: Vec<u8>,
    _scalar: std::marker::PhantomData<T>,
}

impl<T: DiskScalar> DiskStore<T> {
    /// A store in a new directory under `parent` (created if needed; the
    /// store's own directory is removed with the store).
    pub fn new(parent: impl AsRef<Path>) -> Result<Self, StoreError> {
        // what killed runs left here goes first
        crate::leftovers::sweep(parent.as_ref(), "rewind-snapshots-");
        let dir = parent.as_ref().join(format!(
            "rewind-snapshots-{}-{}",
            crate::leftovers::owner(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).map_err(|source| StoreError::File { path: dir.clone(), source })?;
        Ok(DiskStore { dir, live: Vec::new(), buf: Vec::new(), _scalar: std::marker::PhantomData })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of snapshot `step` (for tests and diagnostics).
    pub fn path(&self, step: usize) -> PathBuf {
        self.dir.join(format!("state-{step:09}.snap"))
    }

    fn checksum(file: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&file[..24]);
        h.update(&file[28..]);
        h.finalize()
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

impl<T: DiskScalar> SnapshotStore<T> for DiskStore<T> {
    fn put(&mut self, step: usize, state: &[T]) -> Result<(), StoreError> {
        let path = self.path(step);
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&(step as u64).to_le_bytes());
        b.extend_from_slice(&(state.len() as u64).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&(T::WIDTH as u32).to_le_bytes());
        for x in state {
            x.put_bytes(b);
        }
        let crc = Self::checksum(b);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        let tmp = path.with_extension("tmp");
        let at = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::File { path, source }
        };
        let mut f = fs::File::create(&tmp).map_err(at(&tmp))?;
        f.write_all(b).map_err(at(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(at(&path))?;
        let size = b.len() as u64;
        match self.live.iter_mut().find(|(s, _)| *s == step) {
            Some(slot) => slot.1 = size,
            None => self.live.push((step, size)),
        }
        Ok(())
    }

    fn get(&mut self, step: usize, out: &mut [T]) -> Result<(), StoreError> {
        if !self.live.iter().any(|(s, _)| *s == step) {
            return Err(StoreError::Missing { step });
        }
        let path = self.path(step);
        let corrupt = |why: String| StoreError::Corrupt { step, why: format!("{}: {why}", path.display()) };
        self.buf.clear();
        let at = |source| StoreError::File { path: path.clone(), source };
        fs::File::open(&path).map_err(at)?.read_to_end(&mut self.buf).map_err(at)?;
        let b = &self.buf;
        let expected = HEADER + out.len() * T::WIDTH * 8;
        if b.len() < HEADER || &b[..8] != MAGIC {
            return Err(corrupt(format!("not a snapshot file ({} bytes, bad header)", b.len())));
        }
        let (s, n, crc, w) = (u64_at(b, 8), u64_at(b, 16), u32_at(b, 24), u32_at(b, 28));
        if b.len() != HEADER + (n as usize).saturating_mul(w as usize).saturating_mul(8) {
            return Err(corrupt(format!("truncated or extended: {} bytes for {n} values", b.len())));
        }
        if Self::checksum(b) != crc {
            return Err(corrupt("checksum mismatch".into()));
        }
        if s != step as u64 {
            return Err(corrupt(format!("holds state {s}")));
        }
        if w as usize != T::WIDTH || n as usize != out.len() || b.len() != expected {
            return Err(StoreError::Length { step, expected: out.len(), got: n as usize });
        }
        let width = 8 * T::WIDTH;
        for (o, chunk) in out.iter_mut().zip(b[HEADER..].chunks_exact(width)) {
            *o = T::from_bytes(chunk);
        }
        Ok(())
    }

    fn remove(&mut self, step: usize) -> Result<(), StoreError> {
        let i = self.live.iter().position(|(s, _)| *s == step).ok_or(StoreError::Missing { step })?;
        self.live.swap_remove(i);
        let path = self.path(step);
        fs::remove_file(&path).map_err(|source| StoreError::File { path, source })?;
        Ok(())
    }

    fn len(&self) -> usize {
        self.live.len()
    }

    fn bytes(&self) -> usize {
        self.live.iter().map(|(_, b)| *b as usize).sum()
    }
}

impl<T> Drop for DiskStore<T> {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store<T: DiskScalar>() -> DiskStore<T> {
        DiskStore::new(std::env::temp_dir().join("rewind-checkpoint-tests")).unwrap()
    }

    #[test]
    fn round_trips_bit_for_bit() {
        let mut s = store::<f64>();
        let x: Vec<f64> = (0..100).map(|i| (i as f64 * 0.37).sin() * 1e-300 + f64::EPSILON * i as f64).collect();
        s.put(7, &x).unwrap();
        s.put(9, &x[..50]).unwrap();
        assert_eq!((s.len(), s.bytes()), (2, 2 * HEADER + 150 * 8));
        let mut y = vec![0.0; 100];
        s.get(7, &mut y).unwrap();
        assert_eq!(
            x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert!(matches!(s.get(9, &mut y), Err(StoreError::Length { step: 9, expected: 100, got: 50 })));
        s.remove(7).unwrap();
        assert!(matches!(s.get(7, &mut y), Err(StoreError::Missing { step: 7 })));
        assert!(!s.path(7).exists());
        // a snapshot file deleted behind the store's back: the error names it
        s.put(3, &x).unwrap();
        std::fs::remove_file(s.path(3)).unwrap();
        let e = s.get(3, &mut y).unwrap_err().to_string();
        assert!(e.contains(&s.path(3).display().to_string()), "{e}");
        let dir = s.dir().to_path_buf();
        drop(s);
        assert!(!dir.exists(), "the store removes its directory");
    }

    #[test]
    fn duals_round_trip() {
        let mut s = store::<Dual<f64>>();
        let x: Vec<Dual<f64>> = (0..10).map(|i| Dual::new(i as f64, -(i as f64) / 3.0)).collect();
        s.put(0, &x).unwrap();
        let mut y = vec![Dual::new(0.0, 0.0); 10];
        s.get(0, &mut y).unwrap();
        assert_eq!(x, y);
    }

    #[test]
    fn a_flipped_bit_is_detected() {
        let mut s = store::<f64>();
        s.put(3, &[1.0, 2.0, 3.0]).unwrap();
        let mut bytes = fs::read(s.path(3)).unwrap();
        bytes[HEADER + 9] ^= 0x10;
        fs::write(s.path(3), &bytes).unwrap();
        let err = s.get(3, &mut [0.0; 3]).unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt { step: 3, why } if why.contains("checksum")), "{err}");
    }

    #[test]
    fn a_truncated_file_is_detected() {
        let mut s = store::<f64>();
        s.put(4, &[1.0, 2.0, 3.0]).unwrap();
        let bytes = fs::read(s.path(4)).unwrap();
        for len in [0, 5, HEADER, bytes.len() - 1] {
            fs::write(s.path(4), &bytes[..len]).unwrap();
            let err = s.get(4, &mut [0.0; 3]).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { step: 4, .. }), "{len} bytes: {err}");
        }
    }

    #[test]
    fn a_file_of_another_state_is_detected() {
        let mut s = store::<f64>();
        s.put(1, &[1.0, 2.0]).unwrap();
        s.put(2, &[5.0, 6.0]).unwrap();
        fs::copy(s.path(2), s.path(1)).unwrap();
        let err = s.get(1, &mut [0.0; 2]).unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt { step: 1, why } if why.contains("holds state 2")), "{err}");
    }
}
