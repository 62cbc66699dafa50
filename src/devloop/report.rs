//! The dev loop's lines on stderr (through the same [`Term`] as `hotdev serve`).

use std::time::Duration;

use crate::term::Term;

/// Prints the loop's progress on stderr (through the same [`Term`] as `hotdev serve`):
/// a spinner with the elapsed time while cargo builds, one line per reload, diagnostics
/// verbatim. Silent when reporting is off.
pub(super) struct Reporter(Option<Term>);

impl Reporter {
    pub(super) fn new(enabled: bool) -> Self {
        Reporter(enabled.then(Term::default))
    }

    pub(super) fn line(&self, text: &str) {
        if let Some(t) = &self.0 {
            t.line(text);
        }
    }

    pub(super) fn watch(&self, event: &hotdev_watcher::Event) {
        use hotdev_watcher::Event as W;
        match event {
            W::BuildStarted { packages, .. } => {
                if let Some(t) = &self.0 {
                    t.build_started(&packages.join(", "));
                }
            }
            W::BuildFailed {
                diagnostics,
                duration,
                ..
            } => {
                self.line(&format!(
                    "hotdev: build failed after {}; the current generation keeps serving",
                    ms(*duration)
                ));
                if let Some(t) = &self.0 {
                    t.verbatim(diagnostics);
                }
            }
            W::BuildFinished { .. } | W::BuildSuperseded { .. } => {
                if let Some(t) = &self.0 {
                    t.stop_spinner();
                }
            }
            W::Warning(w) => self.line(&format!("hotdev: warning: {w}")),
            W::Fatal(e) => self.line(&format!("hotdev: the watcher stopped: {e}")),
            _ => {}
        }
    }

    pub(super) fn host(&self, event: &hotdev_host::Event) {
        use hotdev_host::Event as H;
        match event {
            H::Drained {
                generation,
                calls,
                waited,
            } if *calls > 0 => self.line(&format!(
                "hotdev: generation {generation} drained after {}: the {calls} call(s) that \
                 entered before it was retired returned",
                ms(*waited)
            )),
            H::DrainTimeout {
                generation,
                calls,
                waited,
            } => self.line(&format!(
                "hotdev: [HD040] generation {generation} is not drained after {}: {calls} call(s) \
                 that entered before it was retired (in it or an older generation) are still \
                 running; it stays loaded until they return",
                ms(*waited)
            )),
            H::ThreadsRunning {
                generation,
                threads,
            } => self.line(&format!(
                "hotdev: [HD042] generation {generation} started {threads} thread(s) that still run; it stays loaded until they end"
            )),
            H::Unloaded {
                generation,
                pinned: Some(why),
            } => self.line(&format!(
                "hotdev: [HD041] generation {generation} stays mapped after unloading: {why}"
            )),
            H::Panicked {
                generation,
                message,
                location,
            } => self.line(&format!(
                "hotdev: [HD050] generation {generation} panicked{}: {message}",
                location
                    .as_ref()
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default()
            )),
            H::RolledBack { from, to, reason } => self.line(&format!(
                "hotdev: [HD051] rolled back from generation {from} to {to}: {reason}"
            )),
            H::StateReset { to, diff, reason, .. } => self.line(&format!(
                "hotdev: the plugin's state was reset: {} ({reason}); generation {to} starts from Default",
                diff.join("; ")
            )),
            _ => {}
        }
    }
}

/// `12 ms`.
pub(super) fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// The changed files' names, for a line: `lib.rs, style.rs` or `a.rs, b.rs and 3 more`.
pub(super) fn describe_changes(paths: &[std::path::PathBuf]) -> String {
    let names: Vec<String> = paths
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    match names.len() {
        0 => "rebuilt".to_string(),
        1..=3 => names.join(", "),
        n => format!("{} and {} more", names[..2].join(", "), n - 2),
    }
}
