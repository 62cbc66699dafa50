//! hotdev: hot reload for Rust plugins, as a library and a development server.
//!
//! - [`devloop::HotPlugin`]: a plugin handle that follows its crate's sources (watch,
//!   rebuild with cargo, swap), for any host program.
//! - `serve`: `hotdev serve`, the development server for HTTP apps written as plugins.
//! - `run`: `hotdev run`, a host program's whole loop: hot reload where possible,
//!   restart (listening sockets kept) where not.
//! - `new`: `hotdev new`, a plugin crate that `serve` runs at once.
//! - [`check`]: `hotdev check`, the load path step by step.
//! - [`allowed_hosts`]: which `Host` and `Origin` headers a development server answers
//!   (the defence against DNS rebinding), for `hotdev serve` and any other dev server.
//!
//! `serve`, `new` and the `hotdev` command come with the default cargo feature `cli`
//! (clap, an HTTP server and their dependencies). A host program that only reloads its
//! plugins depends on `hotdev = { version = "0.1", default-features = false }` and builds
//! without them; `init-tracing` adds [`init_tracing`] back (tracing-subscriber).
//!
//! The pieces underneath are their own crates: [`reloadable`] (what plugins use),
//! [`hotdev_host`] (loading, swapping, draining) and [`hotdev_watcher`] (watching and
//! building).
#![deny(missing_docs)]

pub mod allowed_hosts;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(any(feature = "cli", feature = "axum"))]
pub(crate) mod browser;
pub mod check;
pub mod devloop;
#[cfg(feature = "cli")]
pub mod events;
#[cfg(feature = "cli")]
pub mod new;
mod reload_hooks;
#[cfg(feature = "cli")]
pub mod run;
#[cfg(feature = "cli")]
pub mod serve;
mod term;

pub use hotdev_host::{Event as HostEvent, LoadError, Options, Plugin};

/// Sends hotdev's logs (watching, building, loading, unloading) to stderr, filtered by
/// `RUST_LOG` (warnings only when it is unset). For host programs and the `hotdev` command;
/// call it once, at start. (Cargo feature `init-tracing`, on with the default `cli`.)
#[cfg(feature = "init-tracing")]
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}
pub use reloadable;

/// The README's code, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
