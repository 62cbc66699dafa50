//! The dev loop's core: the watcher's events, followed the way every host of hotdev
//! follows them.
//!
//! [`Core`] starts the watcher on a plugin crate and reads its events one at a time
//! ([`Core::follow`]). It keeps what a reload needs to know and no single event says: the
//! files changed since the last build (the reload's cause), how long that build took, and
//! which changed files lie outside the plugin crate (a crate the host may compile too).
//! When a build's library is ready it hands out a [`Ready`]; what to do with it (swap it
//! in this process, send it to a worker process) is the host's business.
//!
//! Its users: [`HotPlugin`](super::HotPlugin) (the library's dev loop), `hotdev serve` (in
//! its own process or as a supervisor of worker processes), and `hotdev check`, which
//! builds once ([`Core::build_once`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::Receiver;
use hotdev_watcher::{Config, Event, Watcher};

/// A build's library, ready to load.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Ready {
    /// The library cargo wrote.
    pub artifact: PathBuf,
    /// The files whose changes led to this build (empty for the first build).
    pub changed: Vec<PathBuf>,
    /// How long cargo took.
    pub build: Duration,
    /// Changed files outside the plugin crate, if any.
    pub outside: Option<Outside>,
}

/// Files outside the plugin crate that changed: a crate the plugin depends on, such as an
/// interface crate. If the host compiles that crate too, the running host still has its
/// old build of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outside {
    /// The packages (by name, or directory when unknown) whose files changed.
    pub packages: Vec<String>,
    /// The changed files.
    pub paths: Vec<PathBuf>,
}

/// Why [`Core::build_once`] (or the first build of a loop) gave no library.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The watcher could not start (see its code in the message).
    #[error(transparent)]
    Watch(#[from] hotdev_watcher::Error),
    /// The build failed; the compiler's diagnostics follow.
    #[error("[HD060] the first build of {} failed:\n{diagnostics}", dir.display())]
    Failed {
        /// The plugin crate.
        dir: PathBuf,
        /// What a terminal shows (rustc's renderings and cargo's lines).
        diagnostics: String,
        /// The compiler's errors and warnings as data.
        messages: Vec<hotdev_watcher::Diagnostic>,
    },
    /// The watcher stopped before the build finished.
    #[error("[HD061] the watcher stopped before the first build of {} finished", dir.display())]
    Stopped {
        /// The plugin crate.
        dir: PathBuf,
    },
}

/// The watcher on one plugin crate, and what the loop remembers between its events.
#[derive(Debug)]
pub struct Core {
    watcher: Watcher,
    events: Receiver<Event>,
    /// The plugin crate, canonical when it could be resolved.
    plugin_dir: PathBuf,
    /// Files changed since the last library was handed out.
    changed: Vec<PathBuf>,
    /// The duration of the last finished build.
    build: Duration,
}

impl Core {
    /// Starts watching the plugin crate `config` names first, building it at once.
    pub fn start(config: Config) -> Result<Core, hotdev_watcher::Error> {
        let plugin_dir = config
            .crate_dirs
            .first()
            .map(|d| d.canonicalize().unwrap_or_else(|_| d.clone()))
            .unwrap_or_default();
        let (watcher, events) = Watcher::start(config)?;
        Ok(Core {
            watcher,
            events,
            plugin_dir,
            changed: Vec::new(),
            build: Duration::ZERO,
        })
    }

    /// Builds the plugin crate once and returns its library, then stops watching.
    /// `on_event` sees every watcher event on the way (progress, diagnostics).
    pub fn build_once(config: Config, on_event: impl FnMut(Event)) -> Result<Ready, BuildError> {
        let mut core = Core::start(config)?;
        let ready = core.first_build(on_event);
        core.shutdown();
        ready
    }

    /// Waits for the first build and returns its library; a failed first build is an
    /// error (there is nothing serving to fall back to). `on_event` gets every event,
    /// after the core has taken note of it.
    pub fn first_build(&mut self, mut on_event: impl FnMut(Event)) -> Result<Ready, BuildError> {
        loop {
            let Ok(event) = self.events.recv() else {
                return Err(BuildError::Stopped {
                    dir: self.plugin_dir.clone(),
                });
            };
            let failed = match &event {
                Event::BuildFailed {
                    diagnostics,
                    messages,
                    ..
                } => Some(BuildError::Failed {
                    dir: self.plugin_dir.clone(),
                    diagnostics: diagnostics.clone(),
                    messages: messages.clone(),
                }),
                _ => None,
            };
            let ready = self.follow(&event);
            on_event(event);
            if let Some(failed) = failed {
                return Err(failed);
            }
            if let Some(ready) = ready {
                return Ok(ready);
            }
        }
    }

    /// The watcher's events, for `select!` next to the host's own channels. Pass each
    /// one to [`follow`](Self::follow).
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Takes note of one watcher event; returns the library to load when it is one.
    pub fn follow(&mut self, event: &Event) -> Option<Ready> {
        match event {
            Event::Changed { paths } => {
                self.changed.extend(paths.iter().cloned());
                None
            }
            Event::BuildFinished { duration, .. } => {
                self.build = *duration;
                None
            }
            Event::ArtifactReady(artifact) => {
                let changed = std::mem::take(&mut self.changed);
                let outside = outside_plugin(&self.plugin_dir, &changed);
                Some(Ready {
                    artifact: artifact.path.clone(),
                    build: self.build,
                    outside: (!outside.is_empty()).then(|| Outside {
                        packages: package_names(&outside),
                        paths: outside,
                    }),
                    changed,
                })
            }
            _ => None,
        }
    }

    /// The plugin crate's directory (canonical when it could be resolved).
    pub fn plugin_dir(&self) -> &Path {
        &self.plugin_dir
    }

    /// Stops watching and ends a running cargo and its children.
    pub fn shutdown(&mut self) {
        self.watcher.shutdown();
    }
}

/// The paths not inside the plugin crate's directory.
fn outside_plugin(plugin_dir: &Path, paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|p| {
            let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            !p.starts_with(plugin_dir)
        })
        .cloned()
        .collect()
}

/// The name of the package holding each path (its nearest `Cargo.toml`'s
/// `[package] name`), or that package's directory when the name cannot be read; once each.
fn package_names(paths: &[PathBuf]) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for path in paths {
        let Some(dir) = path
            .ancestors()
            .skip(1)
            .find(|d| d.join("Cargo.toml").is_file())
        else {
            continue;
        };
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let name = manifest
            .split("[package]")
            .nth(1)
            .and_then(|pkg| {
                pkg.lines()
                    .take_while(|l| !l.trim_start().starts_with('['))
                    .find_map(|l| {
                        let (key, value) = l.split_once('=')?;
                        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_string())
                    })
            })
            .unwrap_or_else(|| dir.display().to_string());
        names.insert(name);
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_outside_the_plugin_crate_are_named_by_their_package() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for (crate_dir, name) in [("plugin", "my-plugin"), ("api", "my-api")] {
            std::fs::create_dir_all(root.join(crate_dir).join("src")).unwrap();
            std::fs::write(
                root.join(crate_dir).join("Cargo.toml"),
                format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n\n[dependencies]\n"),
            )
            .unwrap();
        }
        let inside = root.join("plugin/src/lib.rs");
        let outside = root.join("api/src/lib.rs");
        std::fs::write(&inside, "").unwrap();
        std::fs::write(&outside, "").unwrap();
        let found = outside_plugin(&root.join("plugin"), &[inside, outside.clone()]);
        assert_eq!(found, std::slice::from_ref(&outside));
        assert_eq!(package_names(&found), ["my-api"]);
    }
}
