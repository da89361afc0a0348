//! Helpers shared by the meter's integration tests: a temporary directory,
//! a PostgreSQL server of the test's own ([`pg`]) and the store behaviour
//! every backend must show ([`behaviour`]).
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

pub mod behaviour;
pub mod pg;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A directory under the system's temporary directory, deleted on drop
/// (also when the test panics).
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/upf-meter-<what>-<pid>-<n>`.
    pub fn new(what: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("upf-meter-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
