//! What the command line's test files share: a scratch directory per test.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A fresh directory for one test, `<temp>/<name>-<pid>`: removed when the
/// test ends well, kept for inspection when it fails (a panic is unwinding
/// when it is dropped).
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// Makes the directory (emptied first, if a killed run left it).
    pub(crate) fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
