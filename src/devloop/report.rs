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
        // Problems (the events with a code), a drain that waited for calls, and a state
        // that was reset: the rest are the ordinary steps of a reload, reported as one
        // line by the loop itself.
        let worth_a_line = event.code().is_some()
            || matches!(event, H::Drained { calls, .. } if *calls > 0)
            || matches!(event, H::StateReset { .. });
        if worth_a_line {
            self.line(&format!("hotdev: {event}"));
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
