//! hotdev: hot reload for Rust plugins, as a library and a development server.
//!
//! - [`devloop::HotPlugin`]: a plugin handle that follows its crate's sources (watch,
//!   rebuild with cargo, swap), for any host program.
//! - [`serve`]: `hotdev serve`, the development server for HTTP apps written as plugins.
//! - [`new`]: `hotdev new`, a plugin crate that `serve` runs at once.
//! - [`check`]: `hotdev check`, the load path step by step.
//!
//! The pieces underneath are their own crates: [`reloadable`] (what plugins use),
//! [`hotdev_host`] (loading, swapping, draining) and [`hotdev_watcher`] (watching and
//! building).
#![deny(missing_docs)]

pub mod check;
pub mod devloop;
pub mod events;
pub mod new;
pub mod serve;
mod term;

pub use hotdev_host::{Event as HostEvent, LoadError, Options, Plugin};
pub use reloadable;

/// The README's code, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
