//! Shared fixtures for the end-to-end tests: a generated cdylib plugin crate with a local
//! path dependency, in a temp dir of its own, and helpers that wait for events.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use hotdev_watcher::{Artifact, Config, Event, Watcher};

/// How long to wait for any one event; a cold cargo build of a tiny crate takes seconds.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A 32-byte marker, so a test can tell from an artifact's bytes which sources built it.
pub fn marker(tag: &str) -> String {
    let marker = format!("HOTDEV-MARKER:{tag}");
    assert!(marker.len() <= 32, "marker too long: {marker}");
    format!("{marker:_<32}")
}

/// A plugin crate `<name>` in `<tmp>/plugin` depending on `<name>_dep` in `<tmp>/dep`.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub name: String,
    pub plugin: PathBuf,
    pub dep: PathBuf,
    /// Extra items appended to the plugin's lib.rs.
    pub extra: String,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        Self::with_build_script(name, None)
    }

    /// `build_rs`: the plugin's build script, if any.
    pub fn with_build_script(name: &str, build_rs: Option<&str>) -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("hotdev-watcher-e2e-")
            .tempdir()
            .unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let plugin = root.join("plugin");
        let dep = root.join("dep");
        fs::create_dir_all(plugin.join("src")).unwrap();
        fs::create_dir_all(dep.join("src")).unwrap();
        let build = if build_rs.is_some() {
            "build = \"build.rs\"\n"
        } else {
            ""
        };
        fs::write(
            plugin.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n{build}\n\
                 [lib]\ncrate-type = [\"cdylib\"]\n\n\
                 [dependencies]\n{name}_dep = {{ path = \"../dep\" }}\n\n\
                 # Not part of any enclosing workspace.\n[workspace]\n"
            ),
        )
        .unwrap();
        if let Some(build_rs) = build_rs {
            fs::write(plugin.join("build.rs"), build_rs).unwrap();
        }
        fs::write(plugin.join(".gitignore"), "*.log\n/scratch/\n").unwrap();
        fs::write(
            dep.join("Cargo.toml"),
            format!("[package]\nname = \"{name}_dep\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"),
        )
        .unwrap();
        let fixture = Fixture {
            tmp,
            name: name.to_string(),
            plugin,
            dep,
            extra: String::new(),
        };
        fixture.write_plugin(&marker("plugin-v1"));
        fixture.write_dep(&marker("dep-v1"));
        fixture
    }

    pub fn lib_rs(&self) -> PathBuf {
        self.plugin.join("src/lib.rs")
    }

    /// The plugin's lib.rs source exporting `marker` and the dependency's marker.
    pub fn plugin_source(&self, marker: &str) -> String {
        let mut source = String::new();
        writeln!(source, "#[unsafe(no_mangle)]").unwrap();
        writeln!(
            source,
            "pub static PLUGIN_MARKER: [u8; 32] = *b\"{marker}\";"
        )
        .unwrap();
        writeln!(source, "#[unsafe(no_mangle)]").unwrap();
        writeln!(
            source,
            "pub extern \"C\" fn dep_marker() -> *const u8 {{ {}_dep::DEP_MARKER.as_ptr() }}",
            self.name
        )
        .unwrap();
        source.push_str(&self.extra);
        source
    }

    /// Saves the plugin's lib.rs in place.
    pub fn write_plugin(&self, marker: &str) {
        fs::write(self.lib_rs(), self.plugin_source(marker)).unwrap();
    }

    /// Saves the dependency's lib.rs.
    pub fn write_dep(&self, marker: &str) {
        fs::write(
            self.dep.join("src/lib.rs"),
            format!("pub static DEP_MARKER: [u8; 32] = *b\"{marker}\";\n"),
        )
        .unwrap();
    }

    pub fn config(&self) -> Config {
        let mut config = Config::new([&self.plugin]);
        // The default location, inside the watched package root, set explicitly so that a
        // CARGO_TARGET_DIR of the outer build does not leak in: the watcher must ignore its
        // own build output there.
        config
            .envs
            .push(("CARGO_TARGET_DIR".into(), self.plugin.join("target").into()));
        config
    }

    pub fn start(&self) -> Session {
        Session::start(self.config())
    }
}

/// A running loop and everything it reported so far.
pub struct Session {
    pub dev: Watcher,
    pub events: Receiver<Event>,
    pub log: Vec<String>,
}

impl Session {
    pub fn start(config: Config) -> Session {
        let (dev, events) = Watcher::start(config).expect("the loop starts");
        Session {
            dev,
            events,
            log: Vec::new(),
        }
    }

    /// The next event; panics with the history after [`EVENT_TIMEOUT`].
    pub fn next(&mut self) -> Event {
        match self.events.recv_timeout(EVENT_TIMEOUT) {
            Ok(event) => {
                self.log.push(summary(&event));
                event
            }
            Err(error) => panic!(
                "no event within {EVENT_TIMEOUT:?} ({error}); so far: {:#?}",
                self.log
            ),
        }
    }

    /// Events up to and including the first that `stop` accepts.
    pub fn until(&mut self, mut stop: impl FnMut(&Event) -> bool) -> Vec<Event> {
        let mut seen = Vec::new();
        loop {
            let event = self.next();
            let done = stop(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// Waits for the next artifact; panics if a build fails first.
    pub fn artifact(&mut self) -> (Artifact, Vec<Event>) {
        let mut events = self.until(|e| {
            matches!(
                e,
                Event::ArtifactReady(_) | Event::BuildFailed { .. } | Event::Fatal(_)
            )
        });
        match events.pop() {
            Some(Event::ArtifactReady(artifact)) => (artifact, events),
            other => panic!(
                "expected an artifact, got {other:?}; so far: {:#?}",
                self.log
            ),
        }
    }

    pub fn panic_with_log(&self, message: &str) -> ! {
        panic!("{message}; events: {:#?}", self.log)
    }
}

/// One line describing an event, for failure messages.
pub fn summary(event: &Event) -> String {
    match event {
        Event::BuildFailed {
            packages,
            diagnostics,
            ..
        } => {
            format!(
                "BuildFailed {packages:?}: {}",
                diagnostics.lines().take(12).collect::<Vec<_>>().join(" | ")
            )
        }
        other => format!("{other:?}"),
    }
}

/// Whether the file at `path` contains `needle`.
pub fn contains(path: &Path, needle: &str) -> bool {
    let bytes = fs::read(path).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

pub fn count_builds(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::BuildStarted { .. }))
        .count()
}

/// A process found in /proc.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub comm: String,
    pub state: char,
}

/// The processes whose process group is `pgid` (zombies included, marked by state `Z`).
pub fn processes_in_group(pgid: u32) -> Vec<Proc> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let mut fields = stat[close + 1..].split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let _ppid = fields.next();
        let pgrp: u32 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if pgrp == pgid {
            found.push(Proc { pid, comm, state });
        }
    }
    found
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
