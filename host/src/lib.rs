//! Load, validate, swap, drain and unload hot-reloadable plugin libraries.
//!
//! A [`Plugin<I>`] is a handle to the live *generation* of a plugin library implementing
//! interface `I` (declared with [`reloadable::ffi_interface!`]). Calls go through the
//! interface's function table; [`Plugin::reload`] loads a new generation and swaps the
//! table while other threads keep calling, then waits for the calls still running in the
//! old generation before unloading it.
//!
//! Along the way:
//!
//! - the library is never loaded in place: each generation is a [shadow copy](shadow) in
//!   a private directory, written under a temporary name and renamed;
//! - only a regular file is read, never past its size, and refused if it changes while
//!   it is read; before the loader runs, the file's object headers are checked for
//!   completeness and consistency (a truncated file, or one build written over another,
//!   is refused); after it runs, every pointer in the descriptor is checked against the
//!   library's own [`image`] before it is followed, then the descriptor's interface
//!   and [fingerprint] (a mismatch names what differs:
//!   `counter_interface::CounterState: size 16 -> 24`, `fn double: slot 2 -> 1`);
//! - threads the plugin's code starts are counted, and keep their library loaded until
//!   they end (Linux; see `Event::ThreadsRunning`);
//! - a panic in a plugin function becomes [`CallError::Panicked`](reloadable::CallError)
//!   with the message and location, and a new generation that panics in its first calls
//!   is rolled back;
//! - with [`Options::catch_crashes`] on, a fault inside a plugin call (null pointer, stack
//!   overflow, ...) becomes [`CallError::Crashed`](reloadable::CallError) and the host goes
//!   on (Unix; see `docs/crash-recovery.md` for what that cannot guarantee);
//! - each step is reported as an [`Event`] and in `tracing`, and each refusal is a
//!   [`LoadError`] with a stable code (`docs/errors.md`).
//!
//! The call path costs one store to a thread-owned cache line and a compiler fence (see
//! [`epoch`] for the protocol), so calls do not slow down as threads are added.
//!
//! # Platforms
//!
//! Linux is built and tested. The macOS and Windows paths are written (`os/`) and
//! cfg-gated but not built or tested here; on them each call pays a full fence.
#![deny(missing_docs)]

// With the `loom` feature only the concurrency core is built, for `tests/loom.rs`.
#[cfg(not(feature = "loom"))]
mod crash;
pub mod epoch;
#[cfg(not(feature = "loom"))]
mod error;
#[cfg(not(feature = "loom"))]
mod events;
#[cfg(not(feature = "loom"))]
pub mod fingerprint;
#[cfg(not(feature = "loom"))]
pub mod image;
#[cfg(not(feature = "loom"))]
pub mod library;
#[cfg(not(feature = "loom"))]
mod logs;
#[cfg(not(feature = "loom"))]
mod os;
#[cfg(not(feature = "loom"))]
pub mod pipeline;
#[cfg(not(feature = "loom"))]
mod plugin;
#[cfg(not(feature = "loom"))]
pub mod shadow;
#[cfg(all(unix, not(feature = "loom")))]
pub mod signals;
#[cfg(not(feature = "loom"))]
#[doc(hidden)]
pub mod testing;
#[cfg(not(feature = "loom"))]
mod threads;
#[cfg(not(feature = "loom"))]
pub mod world;

#[cfg(not(feature = "loom"))]
pub use error::{Hook, LoadError};
#[cfg(not(feature = "loom"))]
pub use events::Event;
#[cfg(not(feature = "loom"))]
pub use plugin::{
    CrashCatching, Options, Pinned, Plugin, Reloaded, Retire, StateChange, StateMut, StatePolicy,
    StateRef,
};
pub use reloadable::{CallError, PluginInterface};
