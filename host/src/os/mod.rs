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
