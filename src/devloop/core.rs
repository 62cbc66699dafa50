//! The dev loop's core: the watcher's events, followed the way every host of hotdev
//! follows them.
//!
//! [`Core`] starts the watcher on a plugin crate and reads its events one at a time
//! ([`Core::follow`]). It keeps what a reload needs to know and no single event says: the
//! files changed since the last build (the reload's cause), how long that build took, and
//! which changed files lie outside the plugin crate (a crate the host may compile too).
//! When a build's library is ready it hands out a [`Ready`]; what to do with it (swap it
//! in this process, send it to a worker process, restart a program) is the host's
//! business.
//!
//! [`Core::run`] is the loop every host runs; a host says what it does at each step by
//! implementing [`Follower`].
//!
//! Its users: [`HotPlugin`](super::HotPlugin) (the library's dev loop), `hotdev run` (the
//! host program's loop: its "plugin" is the host's binary), `hotdev serve` (in its own
//! process or as a supervisor of worker processes), and `hotdev check`, which builds once
//! ([`Core::build_once`]).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use hotdev_watcher::{Config, Diagnostic, Event, Watcher};

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
    /// Cargo found the library (or binary) up to date: the changes did not change it.
    pub fresh: bool,
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

/// Why [`Core::run`] ended other than by being asked to: the watcher is gone.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The watcher reported an error it does not survive ([`Event::Fatal`]).
    #[error("the watcher stopped")]
    Fatal(#[source] hotdev_watcher::Error),
    /// The watcher's channel closed without a word.
    #[error("the watcher stopped")]
    Gone,
}

/// What a host does at each step of the dev loop ([`Core::run`], [`Core::step`]).
///
/// [`Core::run`] waits for the watcher's next event, the host's own messages, a deadline
/// the host sets, or the request to stop, and hands each to the host's `Follower`, one at
/// a time on the caller's thread:
///
/// ```text
///  watcher event ──► Core::step ──► the method for its kind (changed, build_started,
///                     (notes the      build_finished, build_failed, build_superseded,
///                      changes and    assets_changed, warning), then event(whole event),
///                      the build's    then ready(Ready) when a library is ready
///                      duration)
///  host message  ──► message        deadline ──► deadline_passed
///  stop          ──► Ok(())         Event::Fatal or a closed watcher ──► Err(WatchError)
/// ```
///
/// Only [`ready`](Self::ready) must be written: every other method does nothing unless the
/// host overrides it. A host that reads channels of its own passes them as the `messages`
/// of [`Core::run`] (or runs its own `select!` and passes each watcher event to
/// [`Core::step`]).
pub trait Follower {
    /// The host's own messages, read beside the watcher's events (`()` for none).
    type Message;

    /// Source files changed (a build follows).
    fn changed(&mut self, _paths: &[PathBuf]) {}
    /// A build started, for these packages, because of these changes (none for the first
    /// build).
    fn build_started(&mut self, _packages: &[String], _cause: &[PathBuf]) {}
    /// The build succeeded after `duration`; [`ready`](Self::ready) follows.
    fn build_finished(&mut self, _duration: Duration) {}
    /// The build failed after `duration`: what a terminal shows (`diagnostics`) and the
    /// compiler's messages as data. What runs keeps running.
    fn build_failed(&mut self, _duration: Duration, _diagnostics: &str, _messages: &[Diagnostic]) {}
    /// The build's result was dropped: sources changed while it ran, a newer one follows.
    fn build_superseded(&mut self, _duration: Duration) {}
    /// Files in an asset directory changed (no build follows).
    fn assets_changed(&mut self, _paths: &[PathBuf]) {}
    /// Something went wrong that the watcher survives.
    fn warning(&mut self, _message: &str) {}
    /// Every watcher event, whole, after the method for its kind (for a host that forwards
    /// them). Not called for [`Event::Fatal`], which ends the loop with
    /// [`WatchError::Fatal`].
    fn event(&mut self, _event: Event) {}
    /// A build's library (or binary) is ready. `Break` ends the loop.
    fn ready(&mut self, ready: Ready) -> ControlFlow<()>;
    /// One of the host's own messages. `Break` ends the loop.
    fn message(&mut self, _message: Self::Message) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// When [`deadline_passed`](Self::deadline_passed) should be called, if ever; asked
    /// again before every wait.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// The [`deadline`](Self::deadline) passed with nothing else to do.
    fn deadline_passed(&mut self) {}
}

/// The watcher on one plugin crate, and what the loop remembers between its events.
#[derive(Debug)]
pub struct Core {
    /// `None` only in tests that feed events by hand.
    watcher: Option<Watcher>,
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
            watcher: Some(watcher),
            events,
            plugin_dir,
            changed: Vec::new(),
            build: Duration::ZERO,
        })
    }

    /// A core reading `events` with no watcher behind it.
    #[cfg(test)]
    fn detached(events: Receiver<Event>, plugin_dir: PathBuf) -> Core {
        Core {
            watcher: None,
            events,
            plugin_dir,
            changed: Vec::new(),
            build: Duration::ZERO,
        }
    }

    /// Follows the watcher until `stop` receives (or its senders are gone), `follower`
    /// says `Break`, or `messages` closes: then `Ok`. Ends with an error when the watcher
    /// is gone. See [`Follower`] for the order of calls. Hosts with no messages
    /// of their own pass `&crossbeam_channel::never()`.
    pub fn run<F: Follower>(
        &mut self,
        follower: &mut F,
        stop: &Receiver<()>,
        messages: &Receiver<F::Message>,
    ) -> Result<(), WatchError> {
        let events = self.events.clone();
        loop {
            let timer = match follower.deadline() {
                Some(at) => crossbeam_channel::at(at),
                None => crossbeam_channel::never(),
            };
            let flow = select! {
                recv(stop) -> _ => return Ok(()),
                recv(events) -> event => match event {
                    Ok(event) => self.step(event, follower)?,
                    Err(_) => return Err(WatchError::Gone),
                },
                recv(messages) -> message => match message {
                    Ok(message) => follower.message(message),
                    Err(_) => return Ok(()),
                },
                recv(timer) -> _ => {
                    follower.deadline_passed();
                    ControlFlow::Continue(())
                }
            };
            if flow.is_break() {
                return Ok(());
            }
        }
    }

    /// Takes note of one watcher event and hands it to `follower` (see [`Follower`]); for
    /// a host that runs a `select!` of its own over [`events`](Self::events). [`Event::Fatal`] is returned as the error.
    pub fn step<F: Follower>(
        &mut self,
        event: Event,
        follower: &mut F,
    ) -> Result<ControlFlow<()>, WatchError> {
        let event = match event {
            Event::Fatal(error) => return Err(WatchError::Fatal(error)),
            event => event,
        };
        let ready = self.follow(&event);
        match &event {
            Event::Changed { paths } => follower.changed(paths),
            Event::BuildStarted { packages, cause } => follower.build_started(packages, cause),
            Event::BuildFinished { duration, .. } => follower.build_finished(*duration),
            Event::BuildFailed {
                duration,
                diagnostics,
                messages,
                ..
            } => follower.build_failed(*duration, diagnostics, messages),
            Event::BuildSuperseded { duration, .. } => follower.build_superseded(*duration),
            Event::AssetsChanged { paths } => follower.assets_changed(paths),
            Event::Warning(message) => follower.warning(message),
            Event::ArtifactReady(_) | Event::Fatal(_) => {}
            #[allow(unreachable_patterns)] // The watcher's events are non-exhaustive.
            other => tracing::debug!(?other, "a watcher event the dev loop does not model"),
        }
        follower.event(event);
        Ok(match ready {
            Some(ready) => follower.ready(ready),
            None => ControlFlow::Continue(()),
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
                    fresh: artifact.fresh,
                })
            }
            _ => None,
        }
    }

    /// The plugin crate's directory (canonical when it could be resolved).
    pub fn plugin_dir(&self) -> &Path {
        &self.plugin_dir
    }

    /// The folders being watched (see [`Watcher::watched`]); none for a core with no
    /// watcher.
    pub fn watched(&self) -> &[PathBuf] {
        self.watcher.as_ref().map_or(&[], Watcher::watched)
    }

    /// Stops watching and ends a running cargo and its children.
    pub fn shutdown(&mut self) {
        if let Some(watcher) = &mut self.watcher {
            watcher.shutdown();
        }
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

    /// Writes down every call the loop makes, in order.
    #[derive(Default)]
    struct Log {
        calls: Vec<String>,
        ready: Vec<Ready>,
        break_on_ready: bool,
        deadline: Option<Instant>,
        /// Told when the deadline passed.
        on_deadline: Option<crossbeam_channel::Sender<()>>,
    }

    impl Follower for Log {
        type Message = &'static str;

        fn changed(&mut self, paths: &[PathBuf]) {
            self.calls.push(format!("changed {}", paths.len()));
        }
        fn build_started(&mut self, packages: &[String], cause: &[PathBuf]) {
            self.calls.push(format!(
                "build_started {} {}",
                packages.join(","),
                cause.len()
            ));
        }
        fn build_finished(&mut self, duration: Duration) {
            self.calls
                .push(format!("build_finished {}", duration.as_millis()));
        }
        fn build_failed(&mut self, duration: Duration, diagnostics: &str, messages: &[Diagnostic]) {
            self.calls.push(format!(
                "build_failed {} {diagnostics} {}",
                duration.as_millis(),
                messages.len()
            ));
        }
        fn build_superseded(&mut self, duration: Duration) {
            self.calls
                .push(format!("build_superseded {}", duration.as_millis()));
        }
        fn assets_changed(&mut self, paths: &[PathBuf]) {
            self.calls.push(format!("assets_changed {}", paths.len()));
        }
        fn warning(&mut self, message: &str) {
            self.calls.push(format!("warning {message}"));
        }
        fn event(&mut self, event: Event) {
            let kind = format!("{event:?}");
            let kind = kind.split([' ', '(', '{']).next().unwrap_or_default();
            self.calls.push(format!("event {kind}"));
        }
        fn ready(&mut self, ready: Ready) -> ControlFlow<()> {
            self.calls.push("ready".into());
            self.ready.push(ready);
            if self.break_on_ready {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        fn message(&mut self, message: &'static str) -> ControlFlow<()> {
            self.calls.push(format!("message {message}"));
            if message == "end" {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        fn deadline(&self) -> Option<Instant> {
            self.deadline
        }
        fn deadline_passed(&mut self) {
            self.calls.push("deadline_passed".into());
            self.deadline = None;
            if let Some(tx) = &self.on_deadline {
                tx.send(()).unwrap();
            }
        }
    }

    fn artifact(path: &str, fresh: bool) -> Event {
        Event::ArtifactReady(hotdev_watcher::Artifact {
            package: "plugin".into(),
            crate_dir: PathBuf::from("/ws/plugin"),
            path: PathBuf::from(path),
            fresh,
        })
    }

    fn failed(ms: u64) -> Event {
        Event::BuildFailed {
            packages: vec!["plugin".into()],
            duration: Duration::from_millis(ms),
            diagnostics: "error: oops".into(),
            messages: Vec::new(),
        }
    }

    fn finished(ms: u64) -> Event {
        Event::BuildFinished {
            packages: vec!["plugin".into()],
            duration: Duration::from_millis(ms),
        }
    }

    fn changed(path: &str) -> Event {
        Event::Changed {
            paths: vec![PathBuf::from(path)],
        }
    }

    /// A core fed `events` (then closed), run to its end with `log`.
    fn run_with(
        events: Vec<Event>,
        log: &mut Log,
        stop: &Receiver<()>,
        messages: &Receiver<&'static str>,
    ) -> Result<(), WatchError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        for event in events {
            tx.send(event).unwrap();
        }
        drop(tx);
        Core::detached(rx, PathBuf::from("/ws/plugin")).run(log, stop, messages)
    }

    #[test]
    fn each_event_reaches_the_method_for_its_kind_then_the_whole_event_then_ready() {
        let mut log = Log::default();
        let events = vec![
            Event::BuildStarted {
                packages: vec!["plugin".into()],
                cause: Vec::new(),
            },
            finished(7),
            artifact("/t/first.so", false),
            changed("/ws/plugin/src/lib.rs"),
            Event::BuildStarted {
                packages: vec!["plugin".into()],
                cause: vec![PathBuf::from("/ws/plugin/src/lib.rs")],
            },
            Event::BuildSuperseded {
                packages: vec!["plugin".into()],
                duration: Duration::from_millis(3),
            },
            Event::AssetsChanged {
                paths: vec![PathBuf::from("/ws/plugin/static/a.css")],
            },
            Event::Warning("careful".into()),
            failed(5),
        ];
        let ended = run_with(
            events,
            &mut log,
            &crossbeam_channel::never(),
            &crossbeam_channel::never(),
        );
        assert!(matches!(ended, Err(WatchError::Gone)), "{ended:?}");
        assert_eq!(
            log.calls,
            [
                "build_started plugin 0",
                "event BuildStarted",
                "build_finished 7",
                "event BuildFinished",
                "event ArtifactReady",
                "ready",
                "changed 1",
                "event Changed",
                "build_started plugin 1",
                "event BuildStarted",
                "build_superseded 3",
                "event BuildSuperseded",
                "assets_changed 1",
                "event AssetsChanged",
                "warning careful",
                "event Warning",
                "build_failed 5 error: oops 0",
                "event BuildFailed",
            ]
        );
    }

    #[test]
    fn a_ready_library_carries_the_changes_since_the_last_one_across_failed_builds() {
        let mut log = Log::default();
        let events = vec![
            finished(10),
            artifact("/t/one.so", false),
            changed("/ws/plugin/src/a.rs"),
            failed(4),
            changed("/ws/plugin/src/b.rs"),
            finished(20),
            artifact("/t/two.so", true),
        ];
        let _ = run_with(
            events,
            &mut log,
            &crossbeam_channel::never(),
            &crossbeam_channel::never(),
        );
        let [one, two] = &log.ready[..] else {
            panic!("{:?}", log.ready)
        };
        assert_eq!(one.artifact, Path::new("/t/one.so"));
        assert!(one.changed.is_empty() && !one.fresh && one.outside.is_none());
        assert_eq!(one.build, Duration::from_millis(10));
        assert_eq!(two.artifact, Path::new("/t/two.so"));
        assert_eq!(
            two.changed,
            [
                PathBuf::from("/ws/plugin/src/a.rs"),
                PathBuf::from("/ws/plugin/src/b.rs")
            ]
        );
        assert_eq!(two.build, Duration::from_millis(20));
        assert!(two.fresh, "cargo found the file up to date");
    }

    #[test]
    fn a_fatal_event_ends_the_loop_with_its_error_and_is_not_handed_on() {
        let mut log = Log::default();
        let events = vec![
            changed("/ws/plugin/src/lib.rs"),
            Event::Fatal(hotdev_watcher::Error::NoCrates),
            Event::Warning("never seen".into()),
        ];
        let ended = run_with(
            events,
            &mut log,
            &crossbeam_channel::never(),
            &crossbeam_channel::never(),
        );
        assert!(
            matches!(
                ended,
                Err(WatchError::Fatal(hotdev_watcher::Error::NoCrates))
            ),
            "{ended:?}"
        );
        assert_eq!(log.calls, ["changed 1", "event Changed"]);
    }

    #[test]
    fn stop_a_break_from_the_host_or_closed_messages_end_the_loop_without_error() {
        // Stop, asked before anything happens (the watcher's channel stays open).
        let (_events_tx, events) = crossbeam_channel::unbounded();
        let (stop_tx, stop) = crossbeam_channel::bounded(1);
        stop_tx.send(()).unwrap();
        let mut log = Log::default();
        let mut core = Core::detached(events.clone(), PathBuf::from("/ws/plugin"));
        assert!(
            core.run(&mut log, &stop, &crossbeam_channel::never())
                .is_ok()
        );
        assert!(log.calls.is_empty(), "{:?}", log.calls);

        // The host's message says Break; the messages before it were handed on.
        let (messages_tx, messages) = crossbeam_channel::unbounded();
        messages_tx.send("hello").unwrap();
        messages_tx.send("end").unwrap();
        let mut log = Log::default();
        assert!(
            core.run(&mut log, &crossbeam_channel::never(), &messages)
                .is_ok()
        );
        assert_eq!(log.calls, ["message hello", "message end"]);

        // The host's messages closed.
        drop(messages_tx);
        let mut log = Log::default();
        assert!(
            core.run(&mut log, &crossbeam_channel::never(), &messages)
                .is_ok()
        );

        // `ready` says Break: the events after it stay unread.
        let mut log = Log {
            break_on_ready: true,
            ..Log::default()
        };
        let events = vec![finished(1), artifact("/t/x.so", false), changed("/x")];
        let ended = run_with(
            events,
            &mut log,
            &crossbeam_channel::never(),
            &crossbeam_channel::never(),
        );
        assert!(ended.is_ok());
        assert_eq!(log.calls.last().map(String::as_str), Some("ready"));
    }

    #[test]
    fn a_deadline_the_host_sets_is_kept_when_nothing_else_happens() {
        let (_events_tx, events) = crossbeam_channel::unbounded();
        let (messages_tx, messages) = crossbeam_channel::unbounded();
        let (passed_tx, passed) = crossbeam_channel::unbounded();
        let mut log = Log {
            deadline: Some(Instant::now()),
            on_deadline: Some(passed_tx),
            ..Log::default()
        };
        let mut core = Core::detached(events, PathBuf::from("/ws/plugin"));
        let stop = crossbeam_channel::never();
        std::thread::scope(|s| {
            let looping = s.spawn(|| core.run(&mut log, &stop, &messages));
            // The deadline has passed at once; once it was kept (and cleared), a message
            // ends the loop.
            passed.recv().unwrap();
            messages_tx.send("end").unwrap();
            assert!(looping.join().unwrap().is_ok());
        });
        assert_eq!(log.calls, ["deadline_passed", "message end"]);
    }
}
