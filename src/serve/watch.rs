//! `hotdev serve`'s part of the dev loop: what it does at each step of
//! [`Core::run`](crate::devloop::Core::run). What the watcher reports (changes, builds,
//! failures, static files) goes to the terminal, `--events` and a [`Target`] that loads
//! the artifacts: the server in this process (`single.rs`) or the supervisor's worker
//! (`supervisor/`).

use std::io::{self, IsTerminal};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use hotdev_watcher::{Config, Diagnostic};

use super::diagnostics::Failure;
use super::last_build::{FileId, Key, LastBuild};
use super::{ServeOptions, Shared, display_dir};
use crate::devloop::{Core, Follower, Ready};
use crate::events::{Event, millis};

/// Where the watcher's news goes: the server in this process, or the worker process.
pub(super) trait Target {
    /// The target's own messages, read beside the watcher's events (`()` for none).
    type Message;

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
    /// One of the target's own messages.
    fn message(&mut self, _message: Self::Message) {}
    /// When [`deadline_passed`](Self::deadline_passed) should be called, if ever.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// The [`deadline`](Self::deadline) passed with nothing else to do.
    fn deadline_passed(&mut self) {}
}

/// The watcher on the plugin crate (the dev loop's [`Core`]) and what serve shows about
/// the crate. The two are apart so that the core can run while a [`Follow`] borrows the
/// rest.
pub(super) struct Watch {
    core: Core,
    plugin: PluginCrate,
}

/// What the terminal says about the plugin crate, and what the next start needs to know
/// of its builds.
struct PluginCrate {
    /// The plugin directory as the user gave it.
    name: String,
    /// The canonical plugin directory (asset paths are shown relative to it).
    dir: PathBuf,
    /// Where the builds handed to the server are recorded ([`super::last_build`]).
    key: Key,
    /// The source folders the watcher follows (not the static folder).
    sources: Vec<PathBuf>,
    /// The last run's library, served before the first build, until that build ends.
    preloaded: Option<LastBuild>,
}

/// The record of the builds of `plugin_dir` for these options.
fn last_build_key(shared: &Shared, opts: &ServeOptions, plugin_dir: &Path) -> Key {
    let skip = shared
        .static_dir
        .iter()
        .map(|files| files.root().to_path_buf())
        .collect();
    Key::new(plugin_dir, opts.release, skip)
}

/// Serves the library the last run served, before cargo is asked, if it is still current
/// (`last_build.rs`): the fast start. Returns it, for [`Watch::start`].
pub(super) fn serve_last_build<T: Target>(
    shared: &Shared,
    opts: &ServeOptions,
    plugin_dir: &Path,
    target: &mut T,
) -> Option<LastBuild> {
    let last = last_build_key(shared, opts, plugin_dir).find()?;
    shared.term.line(&format!(
        "serving the last build ({}) while cargo checks it",
        last.artifact.display()
    ));
    target.load(&last.artifact, None);
    Some(last)
}

impl Watch {
    /// Starts the watcher on the plugin crate (and the static folder). `preloaded` is the
    /// library [`serve_last_build`] served: when the first build hands back that very
    /// file, it is not loaded again.
    pub(super) fn start(
        shared: &Shared,
        opts: &ServeOptions,
        plugin_dir: PathBuf,
        preloaded: Option<LastBuild>,
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
        let key = last_build_key(shared, opts, &plugin_dir);
        let sources = core
            .watched()
            .iter()
            .filter(|dir| {
                shared
                    .static_dir
                    .as_ref()
                    .is_none_or(|files| files.root() != dir.as_path())
            })
            .cloned()
            .collect();
        Ok(Watch {
            core,
            plugin: PluginCrate {
                name: display_dir(&opts.plugin_dir),
                dir: plugin_dir,
                key,
                sources,
                preloaded,
            },
        })
    }

    /// Follows the watcher until `stop` receives, reporting to the terminal and
    /// `--events` and handing builds, failures and static files to `target` (and
    /// `messages` to [`Target::message`]). Ends with an error when the watcher stops.
    pub(super) fn run<T: Target>(
        &mut self,
        shared: &Shared,
        target: &mut T,
        stop: &Receiver<()>,
        messages: &Receiver<T::Message>,
    ) -> anyhow::Result<()> {
        let mut follow = Follow {
            shared,
            plugin: &mut self.plugin,
            target,
        };
        self.core
            .run(&mut follow, stop, messages)
            .map_err(anyhow::Error::new)
    }

    /// Stops the watcher and its cargo.
    pub(super) fn shutdown(&mut self) {
        self.core.shutdown();
    }
}

/// Serve's [`Follower`]: the terminal and `--events` through `shared`, the rest to the
/// target.
struct Follow<'a, T> {
    shared: &'a Shared,
    plugin: &'a mut PluginCrate,
    target: &'a mut T,
}

impl<T: Target> Follower for Follow<'_, T> {
    type Message = T::Message;

    fn changed(&mut self, paths: &[PathBuf]) {
        tracing::debug!(?paths, "changed");
        self.shared.emit(&Event::Change {
            paths: paths.iter().map(|p| p.display().to_string()).collect(),
        });
    }

    fn build_started(&mut self, _packages: &[String], _cause: &[PathBuf]) {
        // The hub (what browsers and /__hotdev/status see) is told before the JSON event
        // goes out: in one process a script reacting to the event sees the same state;
        // under the supervisor the worker hears it over its pipe a moment later
        // (docs/events.md).
        self.target.building();
        self.shared.emit(&Event::BuildStarted);
        self.shared.term.build_started(&self.plugin.name);
    }

    fn build_finished(&mut self, duration: Duration) {
        self.shared.term.stop_spinner();
        self.shared.emit(&Event::BuildFinished {
            ms: millis(duration),
        });
    }

    fn build_failed(&mut self, duration: Duration, diagnostics: &str, messages: &[Diagnostic]) {
        let shared = self.shared;
        shared.term.stop_spinner();
        let ms = millis(duration);
        let serving = match self.target.serving() {
            Some(g) => format!("generation {g} keeps serving"),
            None => "nothing is serving yet".to_string(),
        };
        shared
            .term
            .line(&format!("build failed after {ms} ms; {serving}"));
        shared.term.verbatim(diagnostics);
        let failure = Failure::from_build(messages, diagnostics, &self.plugin.dir);
        let message = failure.rendered.clone();
        self.target.build_failed(failure, ms);
        shared.emit(&Event::BuildFailed { message, ms });
    }

    fn build_superseded(&mut self, duration: Duration) {
        tracing::debug!(ms = millis(duration), "build superseded by a newer change");
    }

    /// Static files changed (no build): the terminal, the events and the browsers hear it.
    fn assets_changed(&mut self, paths: &[PathBuf]) {
        let shared = self.shared;
        let Some(files) = &shared.static_dir else {
            return;
        };
        let mut urls = Vec::with_capacity(paths.len());
        for path in paths {
            let Some(url) = files.url_for(path) else {
                continue;
            };
            let shown = path.strip_prefix(&self.plugin.dir).unwrap_or(path);
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
            self.target.assets_changed(&urls);
        }
    }

    fn warning(&mut self, message: &str) {
        self.shared.term.line(&format!("warning: {message}"));
        self.shared.emit(&Event::Warning {
            message: message.to_string(),
        });
    }

    fn ready(&mut self, ready: Ready) -> ControlFlow<()> {
        // The first build after a fast start: the library serving already is kept when
        // cargo hands back that very file.
        if let Some(last) = self.plugin.preloaded.take()
            && last.artifact == ready.artifact
            && FileId::of(&ready.artifact).is_ok_and(|file| file == last.file)
            && let Some(generation) = self.target.serving()
        {
            self.shared.term.line(&format!(
                "the last build is up to date: generation {generation} keeps serving"
            ));
            return ControlFlow::Continue(());
        }
        self.target.load(&ready.artifact, Some(millis(ready.build)));
        self.plugin
            .key
            .remember(&ready.artifact, &self.plugin.sources);
        ControlFlow::Continue(())
    }

    fn message(&mut self, message: T::Message) -> ControlFlow<()> {
        self.target.message(message);
        ControlFlow::Continue(())
    }

    fn deadline(&self) -> Option<Instant> {
        self.target.deadline()
    }

    fn deadline_passed(&mut self) {
        self.target.deadline_passed();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::allowed_hosts::AllowedHosts;
    use crate::events::EventWriter;
    use crate::serve::shared::Gens;
    use crate::term::Term;

    /// What the terminal, `--events` and the target were told, in order.
    type Log = Arc<Mutex<Vec<String>>>;

    /// Writes each event's JSON line into the log.
    struct Lines(Log, Vec<u8>);

    impl Write for Lines {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.1.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            let text = String::from_utf8_lossy(&self.1).trim_end().to_string();
            self.1.clear();
            self.0.lock().unwrap().push(format!("event {text}"));
            Ok(())
        }
    }

    struct Fake {
        log: Log,
        serving: Option<u64>,
        restart_at: Option<Instant>,
    }

    impl Target for Fake {
        type Message = &'static str;

        fn building(&mut self) {
            self.log.lock().unwrap().push("target building".into());
        }
        fn build_failed(&mut self, failure: Failure, ms: u64) {
            let line = format!("target build_failed {ms} {}", failure.rendered.trim_end());
            self.log.lock().unwrap().push(line);
        }
        fn assets_changed(&mut self, urls: &[String]) {
            let line = format!("target assets {}", urls.join(","));
            self.log.lock().unwrap().push(line);
        }
        fn load(&mut self, path: &Path, build_ms: Option<u64>) {
            let line = format!("target load {} {build_ms:?}", path.display());
            self.log.lock().unwrap().push(line);
        }
        fn serving(&self) -> Option<u64> {
            self.serving
        }
        fn message(&mut self, message: &'static str) {
            self.log
                .lock()
                .unwrap()
                .push(format!("target message {message}"));
        }
        fn deadline(&self) -> Option<Instant> {
            self.restart_at
        }
        fn deadline_passed(&mut self) {
            self.restart_at = None;
            self.log.lock().unwrap().push("target deadline".into());
        }
    }

    /// A crate with nothing to record into (no target directory) and no last build.
    fn plugin_crate(name: &str, dir: &str) -> PluginCrate {
        PluginCrate {
            name: name.into(),
            dir: PathBuf::from(dir),
            key: Key::new(Path::new(dir), false, Vec::new()),
            sources: Vec::new(),
            preloaded: None,
        }
    }

    /// A `Shared` whose terminal lines and events go to `log`.
    fn shared(log: &Log) -> Shared {
        let lines = Arc::clone(log);
        let term = Term::forwarding(Box::new(move |text| {
            lines.lock().unwrap().push(format!("term {text}"));
        }));
        let events = EventWriter::new(Lines(Arc::clone(log), Vec::new()));
        Shared::new(
            term,
            Some(events),
            None,
            Duration::from_secs(1),
            Gens::ONE_PROCESS,
            AllowedHosts::new(),
        )
    }

    #[test]
    fn each_step_reaches_the_terminal_the_events_and_the_target_in_order() {
        let log = Log::default();
        let shared = shared(&log);
        let mut plugin = plugin_crate("my-plugin", "/ws/my-plugin");
        let mut target = Fake {
            log: Arc::clone(&log),
            serving: Some(3),
            restart_at: None,
        };
        let mut follow = Follow {
            shared: &shared,
            plugin: &mut plugin,
            target: &mut target,
        };
        follow.changed(&[PathBuf::from("/ws/my-plugin/src/lib.rs")]);
        follow.build_started(&["my-plugin".into()], &[]);
        follow.build_failed(Duration::from_millis(12), "error: oops\n", &[]);
        follow.build_finished(Duration::from_millis(34));
        let ready = Ready {
            artifact: PathBuf::from("/t/lib.so"),
            changed: Vec::new(),
            build: Duration::from_millis(34),
            outside: None,
            fresh: false,
        };
        assert!(follow.ready(ready).is_continue());
        follow.warning("careful");
        assert!(follow.message("hello").is_continue());
        assert_eq!(follow.deadline(), None);

        let mut log = log.lock().unwrap().clone();
        // Off a terminal, a build says so in a line; on one, a spinner shows instead.
        log.retain(|line| line != "term building my-plugin");
        assert_eq!(
            log,
            [
                r#"event {"event":"change","paths":["/ws/my-plugin/src/lib.rs"]}"#,
                // The hub hears of the build before a script does.
                "target building",
                r#"event {"event":"build_started"}"#,
                "term build failed after 12 ms; generation 3 keeps serving",
                "term error: oops",
                "target build_failed 12 error: oops",
                r#"event {"event":"build_failed","message":"error: oops\n","ms":12}"#,
                r#"event {"event":"build_finished","ms":34}"#,
                "target load /t/lib.so Some(34)",
                "term warning: careful",
                r#"event {"event":"warning","message":"careful"}"#,
                "target message hello",
            ]
        );
    }

    #[test]
    fn the_targets_deadline_is_the_loops() {
        let log = Log::default();
        let shared = shared(&log);
        let mut plugin = plugin_crate("p", "/ws/p");
        let at = Instant::now();
        let mut target = Fake {
            log: Arc::clone(&log),
            serving: None,
            restart_at: Some(at),
        };
        let mut follow = Follow {
            shared: &shared,
            plugin: &mut plugin,
            target: &mut target,
        };
        assert_eq!(follow.deadline(), Some(at));
        follow.deadline_passed();
        assert_eq!(follow.deadline(), None);
        assert_eq!(*log.lock().unwrap(), ["target deadline"]);
    }
}
