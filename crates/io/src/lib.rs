//! # rewind-io: files
//!
//! Everything rewind writes to disk, written so that nothing is lost:
//!
//! * [`h5`]: HDF5 files (through `hdf5-metno`, the maintained fork of the
//!   `hdf5` bindings) holding fields over time, single fields, tables
//!   (optimisation histories) and run metadata as attributes — chunked,
//!   shuffled, deflated and Fletcher-32 checksummed, readable by h5py —
//!   with an [`xdmf`] sidecar so ParaView opens the fields.
//!
//! (The disk level of the checkpoint schedules is
//! `rewind_checkpoint::DiskStore`: it needs no C library.)
//! * [`atomic`]: every file is written under a temporary name in its final
//!   directory and renamed into place when complete, so a reader (or a
//!   resumed run) sees the old file or the new one, never half of one.
//! * [`plot`]: PNG plots with plotters — fields, convergence curves, the
//!   schedule diagram, the memory-versus-time frontier — using a font
//!   shipped in the crate (no system font library needed).

#![forbid(unsafe_code)]

pub mod atomic;
pub mod h5;
pub mod plot;
pub mod xdmf;

use std::path::PathBuf;

use thiserror::Error;

pub use atomic::{AtomicFile, write_atomic};
pub use h5::{Column, GridInfo, Input, Output, Series, hdf5_library_version};

/// What can go wrong with a file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IoError {
    /// An operating-system I/O failure on `path`.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The HDF5 library refused an operation.
    #[error("{path}: HDF5: {source}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// The library's error.
        source: hdf5::Error,
    },
    /// A file that exists but is not what it should be.
    #[error("{path}: {why}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Data handed in with the wrong shape.
    #[error("{what}: {why}")]
    Shape {
        /// What was handed in.
        what: String,
        /// What is wrong with it.
        why: String,
    },
    /// Drawing a plot failed.
    #[error("plot {path}: {why}")]
    Plot {
        /// The PNG file.
        path: PathBuf,
        /// What failed.
        why: String,
    },
}

impl IoError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError::Io { path: path.into(), source }
    }
    pub(crate) fn hdf5(path: impl Into<PathBuf>, source: hdf5::Error) -> Self {
        IoError::Hdf5 { path: path.into(), source }
    }
}
