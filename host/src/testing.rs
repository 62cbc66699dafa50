//! Helpers for tests and benchmarks: what the dynamic loader has mapped in this process.
//!
//! Not part of the API a host program uses; it may change in any release.

use std::path::Path;

use crate::os;

/// How many libraries under `dir` (a shadow directory) are loaded in this process, from
/// one consistent snapshot of the dynamic loader's list (`None` where that cannot be told:
/// only Linux is supported). Tests and benchmarks use it to count generations in memory.
pub fn loaded_under(dir: &Path) -> Option<usize> {
    os::loaded_under(dir)
}

/// Whether a file is mapped into this process (`None` where that cannot be told: only
/// Linux reads `/proc/self/maps`). Tests use it to prove that an unloaded library is gone.
pub fn is_mapped(path: &Path) -> Option<bool> {
    os::is_mapped(path)
}
