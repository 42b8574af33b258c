//! Atomic file writes: write under a temporary name next to the target,
//! flush to disk, rename into place. A crash or an error leaves the
//! previous file (if any) untouched and no partial file under the target
//! name; the temporary is removed when the writer is dropped uncommitted,
//! and those killed writers left are removed by the next writer in the
//! same directory ([`rewind_checkpoint::leftovers`]).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::IoError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written under a temporary name; [`AtomicFile::commit`]
/// renames it to its target.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Plans a write of `target`: the temporary path is in the same
    /// directory (so the rename is atomic) and keeps the extension (some
    /// encoders choose the format by it). Creates the directory if needed.
    pub fn new(target: impl AsRef<Path>) -> Result<Self, IoError> {
        let target = target.as_ref().to_path_buf();
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(|e| IoError::Format {
            path: target.clone(),
            why: format!("cannot create its directory {}: {e}", dir.display()),
        })?;
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| IoError::Format { path: target.clone(), why: "not a file name".into() })?;
        let ext = target.extension().and_then(|e| e.to_str()).map(|e| format!(".{e}")).unwrap_or_default();
        // the temporaries killed writers left here go first
        rewind_checkpoint::leftovers::sweep_temporaries(&dir);
        let owner = rewind_checkpoint::leftovers::owner();
        let unique = format!(".{name}.tmp-{owner}-{}{ext}", COUNTER.fetch_add(1, Ordering::Relaxed));
        Ok(AtomicFile { tmp: dir.join(unique), target, committed: false })
    }

    /// Where to write now.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// Where the file will be.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the temporary file to disk and renames it to the target.
    pub fn commit(mut self) -> Result<PathBuf, IoError> {
        let f = fs::File::open(&self.tmp).map_err(|e| IoError::io(&self.tmp, e))?;
        f.sync_all().map_err(|e| IoError::io(&self.tmp, e))?;
        fs::rename(&self.tmp, &self.target).map_err(|e| IoError::io(&self.target, e))?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<PathBuf, IoError> {
    let file = AtomicFile::new(path)?;
    let mut f = fs::File::create(file.tmp_path()).map_err(|e| IoError::io(file.tmp_path(), e))?;
    f.write_all(bytes).map_err(|e| IoError::io(file.tmp_path(), e))?;
    drop(f);
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rewind-io-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let d = scratch("replace");
        let p = d.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_uncommitted_write_leaves_the_old_file() {
        let d = scratch("abandon");
        let p = d.join("a.txt");
        write_atomic(&p, b"old").unwrap();
        {
            let f = AtomicFile::new(&p).unwrap();
            assert!(f.tmp_path().to_str().unwrap().ends_with(".txt"));
            fs::write(f.tmp_path(), b"half").unwrap();
        } // dropped: an error or a crash before commit
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }
}
