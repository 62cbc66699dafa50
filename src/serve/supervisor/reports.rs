//! What the worker reports: terminal lines, `--events` (forwarded), and the generations
//! that go live, whose artifact copies the supervisor keeps to fall back to.

use std::path::PathBuf;

use serde_json::Value;

use super::Supervisor;
use super::spawn::FromWorker;

/// How many generations that served keep their artifact copy (to fall back to).
const KEEP_GOOD: usize = 4;

impl Supervisor {
    pub(super) fn on_worker(&mut self, message: FromWorker) {
        match message {
            FromWorker::Report(line) => self.on_report(&line),
            FromWorker::Exited {
                id,
                status,
                records,
            } => self.on_exit(id, status, &records),
        }
    }

    pub(super) fn on_report(&mut self, line: &str) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            tracing::warn!(%line, "the worker reported a line that is not JSON");
            return;
        };
        match value["report"].as_str() {
            Some("line") => self.shared.term.line(value["text"].as_str().unwrap_or("")),
            Some("serving") => {
                let (Some(generation), Some(artifact)) =
                    (value["generation"].as_u64(), value["artifact"].as_str())
                else {
                    return;
                };
                let artifact = PathBuf::from(artifact);
                if let Ok(bytes) = serde_json::from_value::<Vec<u8>>(value["state"].clone()) {
                    self.state = Some((generation, bytes));
                }
                self.pending.retain(|p| *p != artifact);
                self.good.insert(generation, artifact);
                self.serving = Some(generation);
                if generation > self.max_seen {
                    self.restarts.went_live(generation);
                }
                self.max_seen = self.max_seen.max(generation);
                self.failed = None;
                self.start_crashes = 0;
                if let Some(worker) = &mut self.worker {
                    worker.served = true;
                }
                self.forget_old_copies();
                if let Some(url) = self.open.take() {
                    crate::serve::open_browser(&url);
                }
            }
            Some(other) => tracing::debug!(report = other, "unknown worker report"),
            None => {
                match value["event"].as_str() {
                    Some("rolled_back") => {
                        if let Some(from) = value["from"].as_u64() {
                            self.bad.insert(from);
                            self.drop_copy(from);
                        }
                        self.serving = value["to"].as_u64();
                    }
                    Some("reload_rejected") if !self.pending.is_empty() => {
                        let path = self.pending.remove(0);
                        let _ = std::fs::remove_file(path);
                    }
                    Some("shutdown") => self.saw_shutdown = true,
                    _ => {}
                }
                if let Some(events) = &self.shared.events {
                    events.emit_line(line);
                }
            }
        }
    }

    /// Keeps the artifact copies of the last few generations that served.
    fn forget_old_copies(&mut self) {
        while self.good.len() > KEEP_GOOD {
            let Some((&oldest, _)) = self.good.iter().next() else {
                break;
            };
            self.drop_copy(oldest);
        }
    }

    pub(super) fn drop_copy(&mut self, generation: u64) {
        if let Some(path) = self.good.remove(&generation)
            && !self.pending.contains(&path)
        {
            let _ = std::fs::remove_file(path);
        }
    }
}
