//! Helpers for tests and benchmarks: what the dynamic loader has mapped in this process,
//! and the descriptor checks run without a loaded library.
//!
//! Not part of the API a host program uses; it may change in any release.

use std::path::Path;

use crate::LoadError;
use crate::image::Image;
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

/// The path of the C library this process runs with (Linux: read from `/proc/self/maps`),
/// a real shared library of this machine for tests to read and copy.
pub fn system_library() -> Option<std::path::PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("libc.so") || p.contains("libc-"))
        .map(std::path::PathBuf::from)
}

/// What a plain call through a plugin's table finds in the serving generation's pointer:
/// whether it must take the slow path, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPath {
    /// Calls run under the crash guard (`Options::catch_crashes`).
    pub guarded: bool,
    /// The generation is on probation (`Options::probation_calls`).
    pub probation: bool,
}

/// The call path of `plugin`'s serving generation (tests prove with it that a probation
/// ends and calls take the plain path again).
pub fn call_path<I: crate::PluginInterface>(plugin: &crate::Plugin<I>) -> CallPath {
    plugin.call_path()
}

/// The descriptor checks of the load path ([`library::descriptor`]: the header, then every
/// pointer walked and checked against the images before it is followed) on the descriptor
/// at `addr`, without a loaded library: `image` stands for the plugin's mapped image and
/// `world` for its world's. For property tests that feed the walk made-up or mutated
/// descriptors in memory they own.
///
/// [`library::descriptor`]: crate::library::descriptor
///
/// # Safety
///
/// Every readable segment of `image` and of `world` is memory this process may read, and
/// nothing writes it during the call. (Executable segments are only compared with, never
/// read or run.)
pub unsafe fn check_descriptor(
    addr: *const u8,
    path: &Path,
    image: &Image,
    world: &[Image],
) -> Result<(), LoadError> {
    // SAFETY: the caller's promise; `image` is given, so every read is checked against it.
    unsafe { crate::library::check_at(addr, path, Some(image), world.iter()) }.map(|_| ())
}
