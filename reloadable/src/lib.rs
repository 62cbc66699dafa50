//! Declare hot-reloadable plugin interfaces and export their implementations.
//!
//! `reloadable` is the half of [hotdev] that plugin and interface crates depend on. An
//! *interface crate*, shared by the host and its plugins, declares the functions a plugin
//! provides with [`ffi_interface!`]. A *plugin crate* (a `cdylib`) implements them and exports
//! the implementation with [`export_plugin!`]. The host (with `hotdev-host`) loads the
//! library, checks that both sides were built against the same declaration, types and
//! compiler, and calls the functions through a table it can swap while the program runs.
//!
//! ```
//! // In the interface crate:
//! reloadable::abi_struct! {
//!     /// Kept by the host, passed to every call.
//!     #[derive(Debug, Default)]
//!     pub struct Tally {
//!         pub total: u64,
//!     }
//! }
//!
//! reloadable::ffi_interface! {
//!     /// Adds numbers to a tally.
//!     pub mod adder {
//!         /// Adds `n` and returns the new total.
//!         fn add(tally: &mut Tally, n: u64) -> u64;
//!     }
//! }
//!
//! // In the plugin crate (`crate-type = ["cdylib"]`):
//! struct Adder;
//! impl adder::Implementation for Adder {
//!     fn add(tally: &mut Tally, n: u64) -> u64 {
//!         tally.total += n;
//!         tally.total
//!     }
//! }
//! reloadable::export_plugin!(interface: adder, implementation: Adder);
//! # fn main() {}
//! ```
//!
//! # What crosses the boundary
//!
//! Parameters and results are [`Abi`] types: numbers, `bool`, `char`, atomics, `&T` and
//! `&mut T` of such types, `&str`, `&[T]`, [`RString`], [`RVec`], [`State`], and structs
//! declared with [`abi_struct!`]. Results must be [`Owned`] (a result may outlive the
//! library that made it). Owned values are allocated with the system allocator, so either
//! side may free them whatever global allocator it uses.
//!
//! # Panics
//!
//! A panic in a plugin function never unwinds into the host: the generated shim catches
//! it, and the host's call returns [`CallError::Panicked`] with the message and the
//! plugin's `file:line:column`. Plugins must be built with `panic = "unwind"` (the default).
//!
//! [hotdev]: https://docs.rs/hotdev
#![deny(missing_docs)]

pub mod abi;
pub mod alloc;
pub mod codes;
pub mod descriptor;
mod export_plugin;
pub mod ffi;
pub mod hooks;
mod interface;
pub mod linked;
mod plugin_module;
#[doc(hidden)]
pub mod rt;
#[cfg(feature = "serde")]
pub mod serde_state;
mod state;
#[cfg(feature = "web")]
pub mod web;

use std::fmt;

pub use abi::{Abi, Field, Owned, Plain, TypeLayout};
pub use descriptor::{Descriptor, FnDecl, InterfaceDecl, StateDecl};
/// The iterators of [`RVec`].
pub use ffi::{Drain, IntoIter};
pub use ffi::{RString, RVec, RawSlice, RawStr, StaticSlice, StaticStr};
pub use linked::{Linkable, Linked};
pub use rt::Report;
pub use state::State;

/// An interface declared with [`ffi_interface!`]: the marker type `<module>::Interface`.
///
/// # Safety
/// `Table` must be the `#[repr(C)]` table of `extern "C"` shims that `DECL` describes.
pub unsafe trait PluginInterface: 'static {
    /// The function table.
    type Table: Copy + Send + Sync + 'static;
    /// The declaration: names, signatures and types, from which the fingerprint is made.
    const DECL: &'static InterfaceDecl;
}

/// Something that can call the live generation of a plugin: implemented by the host's
/// plugin handles, used by the `Calls` trait that [`ffi_interface!`] generates.
///
/// # Safety
/// `invoke` must pass a table whose library stays loaded until `call` returns, and return
/// `Ok(r)` only when `call` returned null (the shim then wrote `r`).
pub unsafe trait Invoke<I: PluginInterface> {
    /// Calls `call` with the live table and a slot for the result, turning a non-null
    /// report into a [`CallError`].
    fn invoke<R>(
        &self,
        call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
    ) -> Result<R, CallError>;
}

/// Why a call into a plugin failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The plugin function panicked; the host goes on. Code `HD050`.
    Panicked {
        /// The panic message.
        message: String,
        /// The plugin's `file:line:column`, when known.
        location: Option<String>,
        /// The generation that panicked.
        generation: u64,
        /// The generation it panicked in was rolled back (see the host's probation policy).
        /// Code `HD051`.
        rolled_back_to: Option<u64>,
    },
    /// The plugin function raised a fault (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, or a
    /// stack overflow) and the host's crash catching ended the call; the host goes on.
    /// Only with the host's crash catching turned on (`Options::catch_crashes`): without
    /// it, such a fault ends the process. Code `HD055`.
    Crashed {
        /// The signal number (`SIGSEGV` for a stack overflow on Linux).
        signal: i32,
        /// The faulting address (`si_addr`): 0 or near it for a null pointer.
        address: usize,
        /// The fault hit the bottom of the thread's stack: a stack overflow.
        stack_overflow: bool,
        /// The generation that crashed. Its library stays mapped for the rest of the
        /// process: the interrupted call's locks and data may point into it.
        generation: u64,
        /// The generation serving again, when the crashed one was on probation (its
        /// previous generation was still loaded).
        rolled_back_to: Option<u64>,
    },
}

/// The usual name of a signal number (`SIGSEGV`), or `signal N`.
pub fn signal_name(signal: i32) -> String {
    // The numbers POSIX leaves to each system: Linux's on x86, Arm and RISC-V, and those of
    // macOS and the BSDs. SIGILL, SIGFPE and SIGSEGV are the same on both.
    let bus = if cfg!(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )) {
        10
    } else {
        7
    };
    match signal {
        4 => "SIGILL".into(),
        8 => "SIGFPE".into(),
        11 => "SIGSEGV".into(),
        6 => "SIGABRT".into(),
        s if s == bus => "SIGBUS".into(),
        s => format!("signal {s}"),
    }
}

impl CallError {
    /// The stable error code (`HD050`, `HD051`, `HD055`), documented in `docs/errors.md`.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::Panicked {
                rolled_back_to: None,
                ..
            } => codes::PANICKED,
            CallError::Panicked {
                rolled_back_to: Some(_),
                ..
            } => codes::ROLLED_BACK,
            CallError::Crashed { .. } => codes::CRASHED,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Panicked {
                message,
                location,
                generation,
                rolled_back_to,
            } => {
                write!(
                    f,
                    "{}: plugin generation {generation} panicked",
                    self.code()
                )?;
                if let Some(at) = location {
                    write!(f, " at {at}")?;
                }
                write!(f, ": {message}")?;
                if let Some(to) = rolled_back_to {
                    write!(f, " (rolled back to generation {to})")?;
                }
                Ok(())
            }
            CallError::Crashed {
                signal,
                address,
                stack_overflow,
                generation,
                rolled_back_to,
            } => {
                let what = if *stack_overflow {
                    "stack overflow"
                } else {
                    match *signal {
                        4 => "illegal instruction",
                        8 => "arithmetic fault",
                        11 => "segmentation fault",
                        _ => "bus error",
                    }
                };
                write!(
                    f,
                    "{}: plugin generation {generation} crashed: {what} ({} at {address:#x})",
                    self.code(),
                    signal_name(*signal)
                )?;
                if let Some(to) = rolled_back_to {
                    write!(f, " (rolled back to generation {to})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CallError {}

/// The old name of [`ffi_interface!`], kept for one release.
#[deprecated(
    since = "0.2.0",
    note = "renamed to `reloadable::ffi_interface!` (the FFI kind of interface)"
)]
#[macro_export]
macro_rules! interface {
    ($($tokens:tt)*) => { $crate::ffi_interface! { $($tokens)* } };
}

/// The old name of [`plugin_module!`], kept for one release.
#[deprecated(
    since = "0.2.0",
    note = "renamed to `reloadable::plugin_module!` (declares the interface and exports it in one)"
)]
#[macro_export]
macro_rules! exports {
    ($($tokens:tt)*) => { $crate::plugin_module! { $($tokens)* } };
}
