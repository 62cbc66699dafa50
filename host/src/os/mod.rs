//! Per-platform pieces beneath the safe facade: the heavy memory barrier of the call
//! protocol, private directories, the shadow directory's lock, whether a library is still
//! mapped, and files that travel with a library.
//!
//! Linux is built and tested. macOS and other Unixes share `unix.rs` (their barrier
//! falls back to a full fence per call). Windows (`windows.rs`) is written to the design
//! but has not been compiled or run here.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

/// Takes an exclusive lock on `file` without waiting; `false` if another process holds
/// it. std's lock is `flock` on Unix and `LockFileEx` on Windows: on both, the lock lives
/// as long as the handle, so a shadow directory whose `.lock` cannot be locked belongs to
/// a live process, and one whose lock can be taken was left by a process that ended.
pub fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}
