//! Watches plugin crates, rebuilds them with cargo and reports complete artifacts.
//!
//! A hot-reload loop needs a fresh library each time a source file is saved, and it must
//! never be handed a stale or half-written one. [`Watcher`] owns that part: it asks cargo
//! which local packages a plugin crate compiles, watches their sources, filters out what
//! is not a source change (build output, `.git`, gitignored paths, editor droppings,
//! reads and metadata changes), batches bursts of saves, runs one cargo build at a time,
//! and reports the library path of each successful build from cargo's own JSON. Progress
//! arrives as plain [`Event`]s on a channel; the root `hotdev` package turns
//! [`Event::ArtifactReady`] into a reload.
//!
//! ```no_run
//! use std::time::Duration;
//! use hotdev_watcher::{Config, Watcher, Event};
//!
//! let mut config = Config::new(["examples/counter/plugin"]);
//! config.debounce = Duration::from_millis(50);
//! let (mut dev, events) = Watcher::start(config)?;
//! println!("watching {:?}", dev.watched());
//! for event in events {
//!     match event {
//!         Event::ArtifactReady(artifact) => println!("load {}", artifact.path.display()),
//!         Event::BuildFailed { diagnostics, .. } => eprint!("{diagnostics}"),
//!         Event::Fatal(error) => return Err(error.into()),
//!         _ => {}
//!     }
//! }
//! dev.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is watched
//!
//! `cargo metadata` (with dependency resolution) names the plugin package and the local
//! packages (`source == null`: path dependencies, workspace members) that it reaches
//! through normal and build dependencies. Their package directories are watched as trees,
//! except target directories and `.git`; a directory created later is picked up when it
//! appears. The [`filter`](#what-counts-as-a-change) decides what counts.
//!
//! # What counts as a change
//!
//! See the rules in the source of the `filter` module; in short: file contents, creation,
//! deletion and renames of source files, but not reads, metadata, build output, `.git`,
//! `Cargo.lock`, gitignored paths or editor droppings (`*.swp`, `*~`, `#*#`, `.#*`,
//! `4913`, `*.kate-swp`, `.DS_Store`, `*___jb_tmp___`, ...). A save by rename (write a
//! temporary file, then rename it over the original) is reported as a change to the
//! original.
//!
//! # When a build starts
//!
//! A save is *complete* when its writer closed the file after writing (inotify's
//! `IN_CLOSE_WRITE`) or renamed a finished file into place. A complete save starts the
//! build at once (after [`Config::complete_settle`], 1 ms, so that "save all" is one
//! build). Any other change — a write whose writer has not closed the file, a creation, a
//! deletion — may still be in progress and waits until the path has been left alone for
//! [`Config::debounce`] and then [`Config::settle`], so a file being written is not built
//! half-written. Where the platform reports no closes (macOS, Windows), every in-place
//! save waits for the debounce window; only Linux is tested.
//!
//! # Assets
//!
//! Files under [`Config::asset_dirs`] (a web plugin's `static/` folder, say) are served
//! as they are, not compiled: they are watched, but a change to one never starts a build.
//! It is reported at once as [`Event::AssetsChanged`] with the files that were written,
//! created or renamed into place and still exist when the batch is reported, so an
//! editor's temporary file, a save by rename and a delete-and-recreate all come out as
//! the file itself. An asset directory may lie inside a watched package (it is then taken
//! out of that package's sources) or anywhere else.
//!
//! # Builds and changes during a build
//!
//! One cargo invocation builds every changed plugin of a workspace (`cargo build -p a -p b
//! --lib --message-format=json-diagnostic-rendered-ansi`), in its own process group. A
//! failed build reports the compiler's errors and warnings as data
//! ([`Event::BuildFailed`]'s `messages`: level, code, places, rustc's rendering) beside
//! the text a terminal shows. At most one
//! build runs and one is pending. If a change to anything a running build compiles is
//! seen after the build started, the build is *superseded*: when it ends its result is
//! dropped ([`Event::BuildSuperseded`], no artifact, no diagnostics) and the pending build
//! starts at once. So a burst of saves costs a bounded number of builds, and once files
//! stop changing the last [`Event::ArtifactReady`] was built from the last saved sources.
//! With [`Config::restart_build_on_change`] a superseded build is killed instead of
//! waited for.
//!
//! Every [`Event::BuildStarted`] is followed by exactly one of [`Event::BuildFinished`],
//! [`Event::BuildFailed`] or [`Event::BuildSuperseded`] (unless the loop shuts down
//! first). `BuildFinished` is followed by one [`Event::ArtifactReady`] per plugin built.
//!
//! A build is reported finished the moment cargo says it succeeded (its `build-finished`
//! message), not when cargo exits: cargo's own teardown takes 3–5 ms more on a small
//! crate, and every reload would wait for it. The next build still waits for that exit.
//! If cargo then exits with an error anyway, an [`Event::Warning`] says so.
//!
//! # Known problems
//!
//! - Linux: each watched directory takes one inotify watch. When the limit is reached
//!   the error says how to raise it (`sysctl fs.inotify.max_user_watches=524288`).
//! - When a `Cargo.toml` changes, `cargo metadata` runs again and newly added path
//!   dependencies are watched; packages no longer used stay watched until restart.
//! - Symlinked directories inside a package are not followed.
//! - Only unix has process groups; elsewhere stopping a build stops cargo, not the
//!   compilers it started.

#![deny(missing_docs)]

mod cargo;
mod diagnostic;
mod error;
mod filter;
mod metadata;
mod runtime;
mod schedule;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub use diagnostic::{Diagnostic, Level, Span, strip_ansi};
pub use error::Error;
pub use runtime::Watcher;

/// How to watch and build.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The plugin crate directories (each holds the plugin's `Cargo.toml`).
    pub crate_dirs: Vec<PathBuf>,
    /// Build with `--release`.
    pub release: bool,
    /// How long a change that may still be in progress (a write whose writer has not
    /// closed the file yet, a creation, a deletion) must be left alone before it counts.
    /// A complete save (the file closed after writing, or renamed into place) does not
    /// wait for it. Default 50 ms.
    pub debounce: Duration,
    /// How long after an in-progress change's debounce window the batch of changes stays
    /// open; lets saves of several files become one build. Default 10 ms.
    pub settle: Duration,
    /// How long after a complete save (closed after writing, renamed into place) the batch
    /// stays open, so that an editor's "save all" becomes one build. Default 1 ms.
    pub complete_settle: Duration,
    /// Run cargo at a lower CPU and I/O priority than this process (unix: `nice` +10 for
    /// cargo and everything it starts; Linux: I/O class best-effort, lowest level), so the
    /// program being developed keeps its latency while a build runs. Default on. Not
    /// applied on Windows.
    pub low_priority_builds: bool,
    /// Ask cargo for coloured diagnostics (`--color=always`), for example when the
    /// caller's stderr is a terminal. Otherwise `--color=never`.
    pub color: bool,
    /// On a change during a build, kill the build (its whole process group) and start
    /// again instead of letting it finish.
    pub restart_build_on_change: bool,
    /// The cargo binary. Default: `$CARGO`, else `cargo`.
    pub cargo: PathBuf,
    /// Extra arguments appended to `cargo build` (for example `--features`, `hot`).
    pub extra_args: Vec<OsString>,
    /// Environment variables set for every cargo command (metadata and builds), for
    /// example `CARGO_TARGET_DIR`.
    pub envs: Vec<(OsString, OsString)>,
    /// How long a stopped build gets after SIGTERM before its process group is killed.
    /// Default 2 s.
    pub kill_grace: Duration,
    /// Directories of files that are used as they are (stylesheets, scripts, images):
    /// watched, reported as [`Event::AssetsChanged`], never a reason to build. Default none.
    pub asset_dirs: Vec<PathBuf>,
    /// Packages selected with every build of a plugin of their workspace (`-p`), though
    /// not built (`--lib` builds libraries only): the host program's package, so that the
    /// dependencies it shares with the plugin resolve the same features as in the host's
    /// own build. Cargo resolves features per selection, and a Rust-typed interface needs
    /// both sides to compile each shared crate alike. A name that is not a member of the
    /// plugin's workspace is left out; `*` selects every member (as a plain `cargo build`
    /// in the workspace does). Default none.
    pub companions: Vec<String>,
    /// Build this binary target (`--bin NAME`) instead of the library (`--lib`); each
    /// [`Artifact::path`] is then the executable. For a program's own loop (`hotdev run`),
    /// with one crate directory.
    pub bin: Option<String>,
}

impl Config {
    /// A configuration with the defaults for these plugin crate directories.
    pub fn new(crate_dirs: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        Config {
            crate_dirs: crate_dirs.into_iter().map(Into::into).collect(),
            release: false,
            debounce: Duration::from_millis(50),
            settle: Duration::from_millis(10),
            complete_settle: Duration::from_millis(1),
            low_priority_builds: true,
            color: false,
            restart_build_on_change: false,
            cargo: std::env::var_os("CARGO")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("cargo")),
            extra_args: Vec::new(),
            envs: Vec::new(),
            kill_grace: Duration::from_secs(2),
            asset_dirs: Vec::new(),
            companions: Vec::new(),
            bin: None,
        }
    }
}

/// A complete library built from the current sources of one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The plugin's package name.
    pub package: String,
    /// The plugin crate directory, as given in [`Config::crate_dirs`].
    pub crate_dir: PathBuf,
    /// The library cargo wrote (in the target directory; copy it before loading), or the
    /// executable when [`Config::bin`] is set.
    pub path: PathBuf,
    /// Cargo found it up to date and did not rebuild it: the change that caused the build
    /// did not change this file.
    pub fresh: bool,
}

/// What the loop reports, in order, on the channel returned by [`Watcher::start`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Source files changed (after filtering and batching).
    Changed {
        /// The changed paths.
        paths: Vec<PathBuf>,
    },
    /// A cargo build started.
    BuildStarted {
        /// The plugin packages being built.
        packages: Vec<String>,
        /// The changed paths that caused it; empty for the first build and
        /// [`Watcher::rebuild`].
        cause: Vec<PathBuf>,
    },
    /// The build succeeded (cargo said so; it may still be exiting); one
    /// [`Event::ArtifactReady`] per plugin follows.
    BuildFinished {
        /// The plugin packages built.
        packages: Vec<String>,
        /// How long cargo ran, up to its report of success.
        duration: Duration,
    },
    /// The build failed.
    BuildFailed {
        /// The plugin packages that were being built.
        packages: Vec<String>,
        /// How long cargo ran.
        duration: Duration,
        /// What a terminal shows: rustc's rendering of each message, then cargo's own
        /// lines (colour codes included when [`Config::color`] is set).
        diagnostics: String,
        /// The compiler's errors and warnings as data, in the order reported. Empty when
        /// cargo failed before compiling (a broken manifest: `diagnostics` says why).
        messages: Vec<Diagnostic>,
    },
    /// The build ended (or was killed), but sources it compiles changed while it ran:
    /// its result is dropped and a newer build follows.
    BuildSuperseded {
        /// The plugin packages that were being built.
        packages: Vec<String>,
        /// How long cargo ran.
        duration: Duration,
    },
    /// A plugin library is ready to load.
    ArtifactReady(Artifact),
    /// Files under an asset directory ([`Config::asset_dirs`]) were written, created or
    /// renamed into place. No build follows.
    AssetsChanged {
        /// The files, each once, as they exist now (deleted ones are left out).
        paths: Vec<PathBuf>,
    },
    /// Something went wrong that the loop survives.
    Warning(String),
    /// The loop stopped because of this error; no further events follow.
    Fatal(Error),
}
