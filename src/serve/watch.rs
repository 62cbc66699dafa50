//! The watcher loop: what the watcher reports (changes, builds, failures, static files)
//! goes to the terminal, `--events` and a [`Target`] that loads the artifacts.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use hotdev_watcher::Config;

use super::diagnostics::Failure;
use super::{ServeOptions, Shared, display_dir};
use crate::devloop::Core;
use crate::events::{Event, millis};

/// Where the watcher's news goes: the server in this process, or the worker process.
pub(super) trait Target {
    /// A build started.
    fn building(&mut self);
    /// The build failed.
    fn build_failed(&mut self, failure: Failure, ms: u64);
    /// Static files changed (their URLs).
    fn assets_changed(&mut self, urls: &[String]);
    /// A build's artifact is ready: load it as the next generation.
    fn load(&mut self, path: &Path, build_ms: Option<u64>);
    /// The generation serving, for the terminal.
    fn serving(&self) -> Option<u64>;
}

/// Follows the watcher through the dev loop's [`Core`]: reports changes and builds, and
/// hands artifacts to the target.
pub(super) struct Watch {
    core: Core,
    name: String,
    /// The canonical plugin directory (asset paths are shown relative to it).
    plugin_dir: PathBuf,
}

impl Watch {
    /// Starts the watcher on the plugin crate (and the static folder).
    pub(super) fn start(
        shared: &Shared,
        opts: &ServeOptions,
        plugin_dir: PathBuf,
    ) -> anyhow::Result<Watch> {
        let mut config = Config::new([plugin_dir.clone()]);
        config.release = opts.release;
        config.color = io::stderr().is_terminal();
        if let Some(files) = &shared.static_dir {
            config.asset_dirs.push(files.root().to_path_buf());
        }
        let core = Core::start(config).map_err(|error| {
            anyhow::Error::new(error).context("could not start watching the plugin")
        })?;
        Ok(Watch {
            core,
            name: display_dir(&opts.plugin_dir),
            plugin_dir,
        })
    }

    /// The watcher's events, to pass to [`on_watch`](Self::on_watch).
    pub(super) fn events(&self) -> Receiver<hotdev_watcher::Event> {
        self.core.events().clone()
    }

    /// Stops the watcher and its cargo.
    pub(super) fn shutdown(&mut self) {
        self.core.shutdown();
    }

    pub(super) fn on_watch(
        &mut self,
        shared: &Shared,
        target: &mut dyn Target,
        event: hotdev_watcher::Event,
    ) -> anyhow::Result<()> {
        use hotdev_watcher::Event as W;
        if let Some(ready) = self.core.follow(&event) {
            target.load(&ready.artifact, Some(millis(ready.build)));
            return Ok(());
        }
        match event {
            W::Changed { paths } => {
                tracing::debug!(?paths, "changed");
                shared.emit(&Event::Change {
                    paths: paths.iter().map(|p| p.display().to_string()).collect(),
                });
            }
            W::BuildStarted { .. } => {
                // The hub (what browsers and /__hotdev/status see) changes before the JSON
                // event goes out, so that a script reacting to the event sees the same state.
                target.building();
                shared.emit(&Event::BuildStarted);
                shared.term.build_started(&self.name);
            }
            W::BuildFinished { duration, .. } => {
                shared.term.stop_spinner();
                shared.emit(&Event::BuildFinished {
                    ms: millis(duration),
                });
            }
            W::BuildFailed {
                duration,
                diagnostics,
                messages,
                ..
            } => {
                shared.term.stop_spinner();
                let ms = millis(duration);
                let serving = match target.serving() {
                    Some(g) => format!("generation {g} keeps serving"),
                    None => "nothing is serving yet".to_string(),
                };
                shared
                    .term
                    .line(&format!("build failed after {ms} ms; {serving}"));
                shared.term.verbatim(&diagnostics);
                let failure = Failure::from_build(&messages, &diagnostics, &self.plugin_dir);
                let message = failure.rendered.clone();
                target.build_failed(failure, ms);
                shared.emit(&Event::BuildFailed { message, ms });
            }
            W::BuildSuperseded { duration, .. } => {
                tracing::debug!(ms = millis(duration), "build superseded by a newer change");
            }
            W::AssetsChanged { paths } => self.assets_changed(shared, target, &paths),
            W::Warning(message) => {
                shared.term.line(&format!("warning: {message}"));
                shared.emit(&Event::Warning { message });
            }
            W::Fatal(error) => {
                shared.term.stop_spinner();
                return Err(anyhow::Error::new(error).context("the watcher stopped"));
            }
            #[allow(unreachable_patterns)] // The watcher's events are non-exhaustive.
            other => tracing::debug!(?other, "unhandled watcher event"),
        }
        Ok(())
    }

    /// Static files changed (no build): the terminal, the events and the browsers hear it.
    fn assets_changed(&self, shared: &Shared, target: &mut dyn Target, paths: &[PathBuf]) {
        let Some(files) = &shared.static_dir else {
            return;
        };
        let mut urls = Vec::with_capacity(paths.len());
        for path in paths {
            let Some(url) = files.url_for(path) else {
                continue;
            };
            let shown = path.strip_prefix(&self.plugin_dir).unwrap_or(path);
            let what = if url.to_ascii_lowercase().ends_with(".css") {
                "open pages swap the stylesheet"
            } else {
                "open pages reload"
            };
            shared
                .term
                .line(&format!("{} changed: {what}, no build", shown.display()));
            shared.emit(&Event::AssetChanged {
                path: path.display().to_string(),
                url: url.clone(),
            });
            urls.push(url);
        }
        if !urls.is_empty() {
            target.assets_changed(&urls);
        }
    }
}
