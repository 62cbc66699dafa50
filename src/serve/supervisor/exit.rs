//! A worker ended: what the restart policy ([`restarts`](crate::serve::restarts)) decides,
//! what the terminal, `--events` and the next worker's browsers are told, and the next
//! worker, now or after a backoff.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::Supervisor;
use crate::events::Event;
use crate::serve::crash::{Crash, Record};
use crate::serve::restarts::{CrashOf, Verdict};
use crate::serve::worker::Command;

/// The longest wait between restarts of a worker that keeps crashing on start.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Supervisor {
    pub(super) fn on_exit(&mut self, id: u64, status: io::Result<ExitStatus>, records: &[Record]) {
        let Some(worker) = self.worker.take_if(|w| w.id == id) else {
            return;
        };
        let (signal, code) = match &status {
            Ok(status) => (status.signal(), status.code()),
            Err(_) => (None, None),
        };
        tracing::debug!(?records, ?signal, ?code, "the worker exited");
        let crash = Crash::from_records(signal, code, records);
        let verdict = crash.generation.map(|generation| {
            let earlier_good = self
                .good
                .keys()
                .any(|&g| g < generation && !self.bad.contains(&g));
            let of = CrashOf {
                generation,
                loading: crash.route.is_none(),
                answered: crash.answered,
                at: Instant::now(),
            };
            (generation, self.restarts.decide(of, earlier_good))
        });
        let mut restarted = None;
        match &verdict {
            Some((generation, Verdict::Restart { .. })) if self.good.contains_key(generation) => {
                restarted = Some(*generation);
            }
            Some((generation, _)) => {
                self.bad.insert(*generation);
                self.max_seen = self.max_seen.max(*generation);
                self.drop_copy(*generation);
            }
            None => {}
        }
        // Builds sent to the dead worker that never served: the first was loading when a
        // crash came outside any request (it is the culprit); the newest of the others is
        // loaded again by the next worker.
        let mut pending = std::mem::take(&mut self.pending);
        let culprits = usize::from(crash.route.is_none() && crash.generation.is_some());
        self.retry = (pending.len() > culprits).then(|| pending.pop()).flatten();
        for path in pending {
            if !self.good.values().any(|p| *p == path) {
                let _ = std::fs::remove_file(path);
            }
        }
        if worker.served {
            self.start_crashes = 0;
        } else {
            self.start_crashes += 1;
        }
        let fallback = match restarted {
            Some(generation) => self.good.get(&generation).map(|p| (generation, p.clone())),
            None => self.last_good(),
        };
        let what = match (&crash.generation, &crash.route) {
            (Some(g), Some(route)) => {
                format!("{} in generation {g} while serving {route}", crash.cause)
            }
            (Some(g), None) => format!("{} in generation {g} while loading it", crash.cause),
            (None, _) => match self.serving {
                Some(g) => format!("{} while generation {g} served", crash.cause),
                None => crash.cause.clone(),
            },
        };
        let serving = match &fallback {
            Some((g, _)) => format!("serving generation {g}"),
            None => "no generation that did not crash is left: waiting for a fix".into(),
        };
        let (next, reason) = match &verdict {
            Some((g, Verdict::Restart { crash, of })) if restarted.is_some() => (
                format!("restarted generation {g} (crash {crash} of {of})"),
                None,
            ),
            Some((g, Verdict::GiveUp(reason))) => {
                (format!("generation {g} {reason}: {serving}"), Some(reason))
            }
            _ => (serving, None),
        };
        let state = match &self.state {
            Some((from, _)) => {
                format!("state restored as saved when generation {from} went live")
            }
            None => "state reset".into(),
        };
        let message = format!("{what}; {next}; {state}");
        self.shared.term.line(&format!(
            "[HD063] the worker (pid {}) died from {} after {:.1} s: {message}",
            worker.pid,
            crash.signal,
            worker.started.elapsed().as_secs_f64()
        ));
        let waiting = fallback.is_none().then(|| {
            let crashes = crash
                .generation
                .map_or(1, |g| self.restarts.crashes(g).max(1));
            let times = if crashes == 1 { "once" } else { "times" };
            let count = if crashes == 1 {
                String::new()
            } else {
                format!("{crashes} ")
            };
            let generation = crash
                .generation
                .map_or("the plugin".into(), |g| format!("generation {g}"));
            let place = crash
                .route
                .as_ref()
                .map_or(String::new(), |r| format!(" while serving {r}"));
            format!(
                "[HD064] {generation} crashed {count}{times}: {}{place}; save a fix",
                crash.cause
            )
        });
        if let Some(waiting) = &waiting {
            self.shared.term.line(waiting);
        }
        self.shared.emit(&Event::Crashed {
            signal: crash.signal.clone(),
            cause: crash.cause.clone(),
            generation: crash.generation,
            route: crash.route.clone(),
            serving: fallback.as_ref().map(|(g, _)| *g),
            state_reset: self.state.is_none(),
            restarted: restarted.is_some(),
            reason: reason.map(|r| r.name().to_string()),
            crashes: crash.generation.map_or(0, |g| self.restarts.crashes(g)),
            message: message.clone(),
        });
        self.serving = fallback.as_ref().map(|(g, _)| *g);
        self.notice = Some((
            self.serving.unwrap_or(0),
            match waiting {
                Some(waiting) => waiting,
                None => format!("the plugin crashed ({}): {message}", crash.signal),
            },
        ));
        let delay = backoff(self.start_crashes);
        if delay.is_zero() {
            self.restart();
        } else {
            self.shared.term.line(&format!(
                "the worker crashed {} times before serving: the next one starts in {} ms",
                self.start_crashes,
                delay.as_millis()
            ));
            self.restart_at = Some(Instant::now() + delay);
        }
    }

    /// The newest generation that served and did not crash, with its library.
    fn last_good(&self) -> Option<(u64, PathBuf)> {
        self.good
            .iter()
            .rev()
            .find(|(g, _)| !self.bad.contains(g))
            .map(|(g, p)| (*g, p.clone()))
    }

    /// Starts the next worker with the last generation that did not crash.
    pub(super) fn restart(&mut self) {
        if self.worker.is_some() {
            return;
        }
        let fallback = self.last_good();
        match self.spawn(fallback, None) {
            Ok(()) => {
                if let Some(artifact) = self.retry.take() {
                    self.pending.push(artifact.clone());
                    self.send(&Command::Load {
                        artifact,
                        build_ms: None,
                    });
                }
            }
            Err(error) => {
                self.shared.term.line(&format!("{error:#}"));
                self.start_crashes += 1;
                self.restart_at = Some(
                    Instant::now() + backoff(self.start_crashes).max(Duration::from_millis(100)),
                );
            }
        }
    }
}

/// The wait before restarting a worker after `crashes` crashes in a row before serving:
/// none for the first, then 100 ms doubling up to [`MAX_BACKOFF`].
fn backoff(crashes: u32) -> Duration {
    if crashes <= 1 {
        return Duration::ZERO;
    }
    Duration::from_millis(100)
        .saturating_mul(1 << (crashes - 2).min(16))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(200));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
