//! [`Reloader`]: loads and swaps generations in the process that serves, reports each
//! load, and shuts the serving side down in order ([`stop_serving`]).

use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context;
use hotdev_host::{StateChange, StatePolicy};

#[cfg(unix)]
use super::crash;
use super::diagnostics::Failure;
use super::host_events::follow_host;
use super::plugin_state::{report_state, restore_state, save_state};
use super::shared::WebPlugin;
use super::watch::Target;
use super::{SHUTDOWN_GRACE, Shared, calls, http, open_browser};
use crate::events::{Event, millis};

/// A generation went live (for the worker: its report to the supervisor), with the
/// plugin's state saved by its hooks, if it has them.
pub(super) type OnServing = Box<dyn Fn(u64, &Path, Option<Vec<u8>>) + Send>;

/// Loads and swaps generations in the process that serves.
pub(super) struct Reloader {
    shared: Arc<Shared>,
    pub(super) host_events: Option<crossbeam_channel::Sender<hotdev_host::Event>>,
    /// Open this URL in a browser once the first generation serves.
    open: Option<String>,
    drain_timeout: Duration,
    state_policy: StatePolicy,
    /// The host's number for the next generation it loads.
    next_host: u64,
    pub(super) on_serving: Option<OnServing>,
    /// State bytes to restore into the first generation loaded, and the generation that
    /// saved them (a worker after a crash).
    pub(super) restore: Option<(u64, Vec<u8>)>,
}

impl Target for Reloader {
    type Message = ();

    fn building(&mut self) {
        self.shared.hub.building();
    }

    fn build_failed(&mut self, failure: Failure, ms: u64) {
        self.shared.hub.build_failed(failure, ms);
    }

    fn assets_changed(&mut self, urls: &[String]) {
        self.shared.hub.assets_changed(urls);
    }

    fn load(&mut self, path: &Path, build_ms: Option<u64>) {
        Reloader::load(self, path, build_ms);
    }

    fn serving(&self) -> Option<u64> {
        self.shared.generation()
    }
}

impl Reloader {
    /// A reloader for `shared`, and the thread that reports the host's events.
    pub(super) fn start(
        shared: Arc<Shared>,
        drain_timeout: Duration,
        keep_state: bool,
        open: Option<String>,
    ) -> anyhow::Result<(Reloader, JoinHandle<()>)> {
        let (host_tx, host_rx) = crossbeam_channel::unbounded();
        let host_thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("hotdev-host-events".into())
                .spawn(move || follow_host(&host_rx, &shared))
                .context("[HD078] could not start the host event thread")?
        };
        let reloader = Reloader {
            shared,
            host_events: Some(host_tx),
            open,
            drain_timeout,
            state_policy: if keep_state {
                StatePolicy::Refuse
            } else {
                StatePolicy::Reset
            },
            next_host: 1,
            on_serving: None,
            restore: None,
        };
        Ok((reloader, host_thread))
    }

    /// Loads the first generation, or swaps in the next one.
    pub(super) fn load(&mut self, path: &Path, build_ms: Option<u64>) {
        let shared = &*self.shared;
        let current = shared.plugin();
        let before = shared.calls.snapshot();
        let started = Instant::now();
        #[cfg(unix)]
        crash::enter_load(shared.gens.display(self.next_host));
        let result = match &current {
            Some(plugin) => plugin
                .reload(path)
                .map(|r| (r.generation, r.load, r.swap, r.state)),
            None => {
                let options = hotdev_host::Options {
                    events: self.host_events.clone(),
                    drain_timeout: self.drain_timeout,
                    state_policy: self.state_policy,
                    ..Default::default()
                };
                WebPlugin::load_with(path, options).map(|plugin| {
                    let generation = plugin.generation();
                    *shared.plugin.write().unwrap_or_else(|p| p.into_inner()) = Some(plugin);
                    (
                        generation,
                        started.elapsed(),
                        Duration::ZERO,
                        StateChange::Kept,
                    )
                })
            }
        };
        #[cfg(unix)]
        crash::leave();
        match result {
            Ok((host_generation, load, swap, state)) => {
                self.next_host = host_generation + 1;
                let generation = shared.gens.display(host_generation);
                report_state(shared, generation, state);
                if let Some((from, bytes)) = self.restore.take() {
                    restore_state(shared, generation, from, &bytes);
                }
                let flight = shared.calls.since(&before, generation);
                shared.breaker.forget_before(generation);
                let build = build_ms
                    .map(|ms| format!("build {ms} ms, "))
                    .unwrap_or_default();
                let line = if current.is_some() {
                    format!(
                        "reloaded generation {generation}: {build}load {} ms, swap {:.1} µs{}",
                        millis(load),
                        swap.as_nanos() as f64 / 1000.0,
                        describe_flight(flight)
                    )
                } else {
                    format!(
                        "loaded generation {generation}: {build}load {} ms",
                        millis(load)
                    )
                };
                shared.term.line(&line);
                shared.hub.reloaded(generation, build_ms);
                if let Some(on_serving) = &self.on_serving {
                    on_serving(generation, path, save_state(shared));
                }
                shared.emit(&Event::Reloaded {
                    generation,
                    build_ms: build_ms.unwrap_or(0),
                    load_ms: millis(load),
                    swap_us: u64::try_from(swap.as_micros()).unwrap_or(u64::MAX),
                    in_flight: flight.total(),
                    drained: flight.drained,
                    running: flight.running,
                    stuck: flight.stuck,
                });
                if current.is_none()
                    && let Some(url) = self.open.take()
                {
                    open_browser(&url);
                }
            }
            Err(error) => {
                let code = error.code();
                let message = error.to_string();
                let serving = match shared.generation() {
                    Some(g) => format!("generation {g} keeps serving"),
                    None => "nothing is serving yet".to_string(),
                };
                shared
                    .term
                    .line(&format!("reload rejected: {message}; {serving}"));
                shared
                    .hub
                    .rejected(Failure::refused(message.clone(), code, path));
                shared.emit(&Event::ReloadRejected {
                    code: code.to_string(),
                    message,
                });
            }
        }
    }
}

/// Shuts the HTTP side down in order: no new requests, tell listeners, stop cargo (`then`),
/// unload the plugin.
pub(super) fn stop_serving(
    shared: &Shared,
    server: http::HttpServer,
    mut reloader: Reloader,
    host_thread: JoinHandle<()>,
    then: impl FnOnce(),
) {
    let by_generation = shared.calls.by_generation();
    let abandoned = server.stop(SHUTDOWN_GRACE);
    if abandoned > 0 {
        let detail = by_generation
            .iter()
            .map(|(g, (running, _))| format!("{running} in generation {g}"))
            .collect::<Vec<_>>()
            .join(", ");
        shared.term.line(&format!(
            "abandoning {abandoned} calls still running ({detail}): their threads cannot be \
             stopped; exiting without them"
        ));
    }
    shared.emit(&Event::Shutdown {
        abandoned: abandoned as u64,
    });
    shared.hub.close(Duration::from_secs(1));
    then();
    drop(reloader.host_events.take());
    let plugin = shared
        .plugin
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if abandoned == 0 {
        drop(plugin);
        join_within(host_thread, Duration::from_secs(10));
    } else {
        // Dropping the plugin would wait for the abandoned calls (a drain timeout) and
        // could never unload their library; the process exits with it still loaded.
        std::mem::forget(plugin);
        // The host's event channel stays open with the plugin: do not wait for its end.
        drop(host_thread);
    }
}

fn join_within(thread: JoinHandle<()>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            tracing::warn!("the host event thread did not finish; leaving it");
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = thread.join();
}

/// `; calls in older generations: 2 drained, 1 still running (1 stuck)`, or nothing.
fn describe_flight(flight: calls::InFlight) -> String {
    if flight.total() == 0 {
        return String::new();
    }
    let stuck = if flight.stuck > 0 {
        format!(" ({} stuck)", flight.stuck)
    } else {
        String::new()
    };
    format!(
        "; calls in older generations: {} drained, {} still running{stuck}",
        flight.drained, flight.running
    )
}
