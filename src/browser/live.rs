//! Live reload: the build status and the server-sent-events stream that carries it to the
//! browser.
//!
//! Every `GET /__hotdev/events` gets its own thread that writes the stream, fed by a
//! channel from the [`Hub`]; request workers never wait on a browser. Each stream starts
//! with `event: hello` (the generation serving), then carries `building`, `reload`,
//! `build_failed`, `rejected` and `assets` (static files that changed) as they happen, and a comment every few seconds so that
//! dead connections are noticed. [`Hub::close`] ends every stream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;

use super::diagnostics::Failure;

/// How often an idle stream sends a comment line.
pub const KEEPALIVE: Duration = Duration::from_secs(10);

/// The last build's outcome, as `/__hotdev/status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildState {
    /// The first build has not finished yet.
    Starting,
    /// A build is running.
    Building,
    /// The last build succeeded and its library is serving.
    Ok,
    /// The last build failed.
    Failed,
    /// The last build succeeded but the host refused its library.
    Rejected,
}

/// What `/__hotdev/status` returns.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The generation serving (0 before the first load).
    pub generation: u64,
    /// The state of the last build.
    pub state: BuildState,
    /// The last build's duration in milliseconds, once one finished.
    pub build_ms: Option<u64>,
    /// The failure of the last build, when it failed or was rejected.
    pub failure: Option<Failure>,
    /// Calls abandoned past the handler timeout that are still running (their threads
    /// cannot be stopped).
    pub stuck: u64,
    /// Something the page should tell about the generation serving (a banner), such as
    /// a state reset.
    pub notice: Option<Notice>,
}

/// A note about one generation, shown as a banner by the browser script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// The generation it is about.
    pub generation: u64,
    /// What happened: `state_reset`, or `crashed` (the previous worker process died from a
    /// signal; the browser shows it in an overlay).
    pub kind: &'static str,
    /// One line for people.
    pub message: String,
}

/// One message for the browsers: an event name and its JSON.
#[derive(Debug, Clone)]
pub struct Message {
    /// `building`, `reload`, `assets`, `build_failed` or `rejected`.
    pub event: &'static str,
    /// The event's data (JSON).
    pub data: String,
}

/// The set of open event streams, and the status they report.
#[derive(Debug)]
pub struct Hub {
    inner: Mutex<HubInner>,
    open_streams: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct HubInner {
    status: Status,
    subscribers: Vec<Sender<Message>>,
    closed: bool,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            inner: Mutex::new(HubInner {
                status: Status {
                    generation: 0,
                    state: BuildState::Starting,
                    build_ms: None,
                    failure: None,
                    stuck: 0,
                    notice: None,
                },
                subscribers: Vec::new(),
                closed: false,
            }),
            open_streams: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.lock().status.clone()
    }

    /// The current status as JSON.
    pub fn status_json(&self) -> String {
        serde_json::to_string(&self.status()).unwrap_or_else(|_| "{}".into())
    }

    fn broadcast(inner: &mut HubInner, event: &'static str, data: String) {
        let message = Message { event, data };
        inner
            .subscribers
            .retain(|tx| tx.send(message.clone()).is_ok());
    }

    /// A build started.
    pub fn building(&self) {
        let mut inner = self.lock();
        if inner.status.state != BuildState::Starting {
            inner.status.state = BuildState::Building;
        }
        Self::broadcast(&mut inner, "building", "{}".into());
    }

    /// Records a notice about a generation about to serve; it stays in the status while
    /// that generation serves.
    pub fn notice(&self, notice: Notice) {
        self.lock().status.notice = Some(notice);
    }

    /// A generation is serving: browsers reload.
    pub fn reloaded(&self, generation: u64, build_ms: Option<u64>) {
        let mut inner = self.lock();
        let notice = inner
            .status
            .notice
            .take()
            .filter(|n| n.generation == generation);
        inner.status = Status {
            generation,
            state: BuildState::Ok,
            build_ms,
            failure: None,
            stuck: inner.status.stuck,
            notice,
        };
        let data = format!("{{\"generation\":{generation}}}");
        Self::broadcast(&mut inner, "reload", data);
    }

    /// Static files changed (their URLs): browsers swap stylesheets or reload. The build
    /// status does not change.
    pub fn assets_changed(&self, urls: &[String]) {
        let mut inner = self.lock();
        let data = serde_json::json!({ "urls": urls }).to_string();
        Self::broadcast(&mut inner, "assets", data);
    }

    /// How many abandoned calls are still running.
    pub fn set_stuck(&self, stuck: u64) {
        self.lock().status.stuck = stuck;
    }

    /// The build failed: browsers show the overlay.
    pub fn build_failed(&self, failure: Failure, build_ms: u64) {
        self.failed(BuildState::Failed, "build_failed", failure, Some(build_ms));
    }

    /// The host refused the new library: browsers show the overlay.
    pub fn rejected(&self, failure: Failure) {
        self.failed(BuildState::Rejected, "rejected", failure, None);
    }

    fn failed(
        &self,
        state: BuildState,
        event: &'static str,
        failure: Failure,
        build_ms: Option<u64>,
    ) {
        let mut inner = self.lock();
        let data = serde_json::to_string(&failure).unwrap_or_else(|_| "{}".into());
        inner.status.state = state;
        inner.status.failure = Some(failure);
        if build_ms.is_some() {
            inner.status.build_ms = build_ms;
        }
        Self::broadcast(&mut inner, event, data);
    }

    /// Ends every stream, and refuses new ones; waits up to `wait` for their threads.
    pub fn close(&self, wait: Duration) {
        {
            let mut inner = self.lock();
            inner.closed = true;
            inner.subscribers.clear();
        }
        let deadline = Instant::now() + wait;
        while self.open_streams.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// A new subscriber: the `hello` event's data (the generation serving, the state and
    /// the notice) and the messages that follow. `None` once the hub is closed.
    pub fn subscribe(&self) -> Option<(String, Receiver<Message>)> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        inner.subscribers.push(tx);
        let hello = serde_json::json!({
            "generation": inner.status.generation,
            "state": inner.status.state,
            "notice": inner.status.notice,
        })
        .to_string();
        Some((hello, rx))
    }

    /// Serves one event stream on its own thread. Returns false when the hub is closed.
    #[cfg(feature = "cli")]
    pub fn stream(&self, request: tiny_http::Request) -> bool {
        let Some((hello, rx)) = self.subscribe() else {
            let response =
                tiny_http::Response::from_string("shutting down\n").with_status_code(503);
            let _ = request.respond(response);
            return false;
        };
        let open = Arc::clone(&self.open_streams);
        open.fetch_add(1, Ordering::SeqCst);
        let spawned = thread::Builder::new()
            .name("hotdev-sse".into())
            .spawn(move || {
                let _guard = Decrement(Arc::clone(&open));
                write_stream(request, rx, hello);
            });
        if let Err(error) = spawned {
            self.open_streams.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(%error, "could not start an event stream thread");
        }
        true
    }
}

struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Writes the stream until the hub closes it or the browser goes away.
#[cfg(feature = "cli")]
fn write_stream(request: tiny_http::Request, rx: Receiver<Message>, hello: String) {
    use crossbeam_channel::RecvTimeoutError;
    use std::io::Write;

    // tiny_http's chunked encoder buffers its output, so the stream is written raw: the
    // head, then one flushed block per event, and the connection closes at the end.
    let mut out = request.into_writer();
    let head = "HTTP/1.1 200 OK\r\n\
                Content-Type: text/event-stream\r\n\
                Cache-Control: no-store\r\n\
                Connection: close\r\n\
                X-Accel-Buffering: no\r\n\r\n";
    let mut send = |block: String| -> bool {
        out.write_all(block.as_bytes())
            .and_then(|()| out.flush())
            .is_ok()
    };
    if !send(format!(
        "{head}retry: 1000\nevent: hello\ndata: {hello}\n\n"
    )) {
        return;
    }
    loop {
        let block = match rx.recv_timeout(KEEPALIVE) {
            Ok(message) => format!("event: {}\n{}\n", message.event, data_lines(&message.data)),
            Err(RecvTimeoutError::Timeout) => ": keep-alive\n\n".to_string(),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if !send(block) {
            tracing::debug!("event stream closed by the browser");
            return;
        }
    }
}

/// `data:` lines for a payload (one per line of the payload, as the format requires).
pub fn data_lines(data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 8);
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_data_becomes_one_data_line_each() {
        assert_eq!(data_lines("a\nb"), "data: a\ndata: b\n");
        assert_eq!(data_lines("{}"), "data: {}\n");
    }

    #[test]
    fn status_follows_builds() {
        let hub = Hub::default();
        assert_eq!(hub.status().state, BuildState::Starting);
        hub.building();
        assert_eq!(hub.status().state, BuildState::Starting);
        hub.reloaded(1, Some(10));
        hub.building();
        assert_eq!(hub.status().state, BuildState::Building);
        hub.build_failed(
            Failure::from_build(&[], "error: boom\n", std::path::Path::new("/p")),
            5,
        );
        let status = hub.status();
        assert_eq!(status.state, BuildState::Failed);
        assert_eq!(status.generation, 1);
        assert_eq!(status.failure.unwrap().diagnostics[0].message, "boom");
        hub.reloaded(2, Some(7));
        assert!(hub.status().failure.is_none());
    }

    #[test]
    fn a_notice_lasts_while_its_generation_serves() {
        let hub = Hub::default();
        hub.notice(Notice {
            generation: 2,
            kind: "state_reset",
            message: "reset".into(),
        });
        hub.reloaded(2, Some(1));
        assert_eq!(hub.status().notice.unwrap().kind, "state_reset");
        hub.building();
        hub.build_failed(
            Failure::from_build(&[], "error: boom\n", std::path::Path::new("/p")),
            5,
        );
        assert_eq!(hub.status().notice.unwrap().generation, 2);
        hub.reloaded(3, Some(1));
        assert!(hub.status().notice.is_none());
    }
}
