//! The load path, one step at a time. Every library the host loads ([`Plugin::load_with`],
//! [`Plugin::reload`]) and every library `hotdev check` checks goes through these steps,
//! in this order, and nothing else is done to it before its code runs:
//!
//! 1. [`read`](Steps::read): a regular file only, opened, its identity taken, and read a
//!    region at a time as the checks ask (`HD001`–`HD008`); step 4 refuses it if it was
//!    written since (`HD031`);
//! 2. [`inspect`](Steps::inspect): its object headers, complete and consistent, for this
//!    machine (`HD004`, `HD005`);
//! 3. [`world`](Steps::world): for a plugin in the host's one world, the world libraries
//!    it links are the files this process loaded, and every Rust symbol it needs is
//!    defined here (`HD017`, `HD018`; see [`world`](crate::world));
//! 4. [`copy`](Steps::copy): the shadow copy (or link) the loader opens (`HD030`);
//! 5. [`open`](Steps::open): the system loader, every symbol bound at once (`HD006`);
//! 6. [`descriptor`](Steps::descriptor): the plugin's descriptor, every pointer checked
//!    against the library's own image and its world's (`HD010`, `HD011`);
//! 7. [`interface`](Steps::interface): the interface, its fingerprint and, for a
//!    Rust-typed interface, each crossing type's identity (`HD012`, `HD013`, `HD015`).
//!
//! What follows for a load (threads counted, the table read, the load hook run, the swap)
//! is the generation's business (`plugin/`).
//!
//! [`Plugin::load_with`]: crate::Plugin::load_with
//! [`Plugin::reload`]: crate::Plugin::reload

use std::fmt;
use std::path::{Path, PathBuf};

use reloadable::{Descriptor, PluginInterface};

use crate::LoadError;
use crate::library::{self, Bytes, Opened};
use crate::shadow::ShadowDir;
use crate::world::World;

/// A step of the load path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Reading the file.
    Read,
    /// Checking its object headers.
    Inspect,
    /// Checking the world libraries it links.
    World,
    /// Making the shadow copy.
    Copy,
    /// The system loader.
    Open,
    /// Reading and checking the descriptor.
    Descriptor,
    /// Checking the interface.
    Interface,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Read => "read",
            Step::Inspect => "inspect",
            Step::World => "world",
            Step::Copy => "shadow copy",
            Step::Open => "open",
            Step::Descriptor => "descriptor",
            Step::Interface => "interface",
        })
    }
}

/// The steps for one library file (`artifact`).
#[derive(Debug, Clone, Copy)]
pub struct Steps<'a> {
    artifact: &'a Path,
}

/// A shadow copy made by [`Steps::copy`]: removed when dropped, unless kept.
#[derive(Debug)]
pub struct ShadowCopy<'a> {
    path: PathBuf,
    shadow: &'a ShadowDir,
    keep: bool,
}

impl ShadowCopy<'_> {
    /// Where the copy is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the copy (its generation is live): its path, which the generation removes
    /// when it leaves.
    pub(crate) fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for ShadowCopy<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = self.shadow.remove(&self.path);
        }
    }
}

impl<'a> Steps<'a> {
    /// The steps for the library file `artifact`.
    pub fn new(artifact: &'a Path) -> Self {
        Steps { artifact }
    }

    /// 1. Reads the file ([`library::read_artifact`]).
    pub fn read(&self) -> Result<Bytes, LoadError> {
        timed(Step::Read, || library::read_artifact(self.artifact))
    }

    /// 2. Checks the object headers ([`library::inspect`]).
    pub fn inspect(&self, bytes: &Bytes) -> Result<(), LoadError> {
        timed(Step::Inspect, || {
            library::inspect(self.artifact, bytes.data())
        })
    }

    /// 3. Checks the world libraries the plugin links, and the Rust symbols it needs
    ///    ([`world::check`](crate::world::check)).
    pub fn world(&self, bytes: &Bytes) -> Result<World, LoadError> {
        timed(Step::World, || {
            crate::world::check(self.artifact, bytes.data())
        })
    }

    /// 4. Makes the shadow copy the loader opens for generation `id`, in `shadow` (a link
    ///    where that is safe: see [`ShadowDir::place`]). The shadow directory is created
    ///    by the caller only once the file was read: a path that names nothing must not
    ///    make directories.
    pub fn copy<'s>(
        &self,
        bytes: &Bytes,
        shadow: &'s ShadowDir,
        id: u64,
    ) -> Result<ShadowCopy<'s>, LoadError> {
        let placed = timed(Step::Copy, || shadow.place(self.artifact, bytes, id));
        let path = placed.map_err(|source| {
            // The file changed since it was opened: a copy would not hold what the checks
            // read.
            if source.get_ref().is_some_and(|e| e.is::<library::Changed>()) {
                return LoadError::ChangedWhileCopying {
                    path: self.artifact.to_path_buf(),
                };
            }
            LoadError::Shadow {
                path: self.artifact.to_path_buf(),
                dir: shadow.path().to_path_buf(),
                source,
            }
        })?;
        Ok(ShadowCopy {
            path,
            shadow,
            keep: false,
        })
    }

    /// 5. Opens the copy with the system loader.
    ///
    /// # Safety
    ///
    /// The loader runs the library's initialisers: the caller accepts running them, as for
    /// any library it loads ([`library::open`]). The copy passed [`inspect`](Self::inspect)
    /// (complete, for this machine, relocations inside its own image).
    pub unsafe fn open(&self, copy: &ShadowCopy<'_>) -> Result<Opened, LoadError> {
        // SAFETY: the caller's contract, above.
        timed(Step::Open, || unsafe { library::open(copy.path()) })
    }

    /// 6. Reads the descriptor, checking every pointer in it against the library's image
    ///    and those of the `world` libraries it links.
    pub fn descriptor<'l>(
        &self,
        opened: &'l Opened,
        world: &World,
    ) -> Result<&'l Descriptor, LoadError> {
        timed(Step::Descriptor, || {
            library::descriptor(opened, self.artifact, world)
        })
    }

    /// 7. Checks that the library implements interface `I` as this host declares it.
    pub fn interface<I: PluginInterface>(&self, descriptor: &Descriptor) -> Result<(), LoadError> {
        timed(Step::Interface, || {
            library::check_interface::<I>(descriptor, self.artifact)
        })
    }

    /// The library the steps are about.
    pub fn artifact(&self) -> &Path {
        self.artifact
    }
}

/// Runs one step, and says how long it took in a debug-level record (`RUST_LOG=
/// hotdev_host=debug`), for finding where a slow load spends its time.
fn timed<T>(step: Step, run: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = run();
    tracing::debug!(%step, us = started.elapsed().as_micros() as u64, "load step done");
    out
}
