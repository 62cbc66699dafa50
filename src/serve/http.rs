//! The HTTP side: a tiny_http server, a pool of workers, and the conversion between
//! tiny_http's requests and responses and the plugin's [`Request`] and [`Response`].
//!
//! Every request is first checked for its `Host`, and a request to the server's own routes
//! for its `Origin` too ([`hosts`], [`crate::allowed_hosts`]): the defence
//! against DNS rebinding. Requests under `/__hotdev/` are the server's own (event stream, client script,
//! status); requests under `/static/` are answered from the static directory when there
//! is one ([`static_files`]); every other request goes to the
//! plugin's generation serving at that moment.

use std::io::{Cursor, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use crossbeam_channel::{RecvTimeoutError, Sender};
use reloadable::web::app::Calls as _;
use reloadable::web::{Header, Request, Response};
use reloadable::{CallError, RVec, codes};
use tiny_http::StatusCode;

use super::Shared;
use super::calls::{Ended, Expired, MAX_STUCK, Slot};
use super::responses::{header, text};
use super::static_files::{self, StaticDir};
use super::{diagnostics, hosts, pages};
use crate::events::Event;

/// How many requests are served at once (event streams do not count: they have their own
/// threads). A worker stuck in a call past the handler timeout is replaced, so this many
/// stay free (up to [`MAX_STUCK`] stuck calls).
pub const WORKERS: usize = 16;

/// The largest request body passed to the plugin.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// How often an idle worker checks whether the server is stopping.
const POLL: Duration = Duration::from_millis(200);

/// How often the watchdog looks for calls past the handler timeout.
const TICK: Duration = Duration::from_millis(50);

/// A running HTTP server.
pub struct HttpServer {
    pool: Arc<Pool>,
    watchdog: Option<(Sender<()>, JoinHandle<()>)>,
    addr: SocketAddr,
}

/// The workers, which come and go: one ends when its call, abandoned past the handler
/// timeout, finally returns (its replacement took over).
struct Pool {
    server: tiny_http::Server,
    stop: AtomicBool,
    shared: Arc<Shared>,
    threads: Mutex<Vec<(Arc<Slot>, JoinHandle<()>)>>,
    next_id: AtomicUsize,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Serves on `listener` (bound by the caller, possibly in another process) and starts
    /// the workers and the watchdog. The workers accept connections themselves.
    pub fn start(listener: std::net::TcpListener, shared: Arc<Shared>) -> anyhow::Result<Self> {
        let server = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| anyhow!("{e}"))
            .context("[HD082] could not serve on the listening socket")?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| anyhow!("the server is not listening on an IP address"))?;
        let pool = Arc::new(Pool {
            server,
            stop: AtomicBool::new(false),
            shared,
            threads: Mutex::new(Vec::with_capacity(WORKERS)),
            next_id: AtomicUsize::new(0),
        });
        let mut server = HttpServer {
            pool,
            watchdog: None,
            addr,
        };
        for _ in 0..WORKERS {
            if let Err(error) = Pool::spawn(&server.pool) {
                server.stop(Duration::ZERO);
                return Err(error);
            }
        }
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let pool = Arc::clone(&server.pool);
        let watchdog = thread::Builder::new()
            .name("hotdev-watchdog".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    for expired in pool.shared.calls.expire() {
                        timed_out(&pool, expired);
                    }
                }
            });
        match watchdog {
            Ok(handle) => server.watchdog = Some((stop, handle)),
            Err(error) => {
                server.stop(Duration::ZERO);
                return Err(error).context("[HD078] could not start the watchdog thread");
            }
        }
        Ok(server)
    }

    /// The address the server listens on (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking requests and gives the running ones up to `grace` to finish. Calls
    /// still running then (and calls already stuck) are abandoned: their clients get a 503,
    /// their threads are left behind. Returns how many calls were abandoned.
    pub fn stop(mut self, grace: Duration) -> usize {
        if let Some((stop, watchdog)) = self.watchdog.take() {
            drop(stop);
            let _ = watchdog.join();
        }
        let pool = &self.pool;
        pool.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        loop {
            let threads = pool.threads.lock().unwrap_or_else(|p| p.into_inner());
            for _ in 0..threads.len() {
                pool.server.unblock();
            }
            let waiting = threads
                .iter()
                .any(|(slot, t)| !t.is_finished() && !pool.shared.calls.is_abandoned(slot));
            drop(threads);
            if !waiting || Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        for request in pool.shared.calls.abandon_all() {
            respond(request, text(503, "hotdev is shutting down\n"));
        }
        let abandoned = pool.shared.calls.stuck();
        let threads = std::mem::take(&mut *pool.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, thread) in threads {
            // The others are inside calls that have not returned: leave them.
            if thread.is_finished() && thread.join().is_err() {
                tracing::error!("an HTTP worker panicked");
            }
        }
        abandoned
    }
}

impl Pool {
    /// Starts one worker.
    fn spawn(pool: &Arc<Pool>) -> anyhow::Result<()> {
        let slot = pool.shared.calls.register();
        let n = pool.next_id.fetch_add(1, Ordering::Relaxed);
        let (p, s) = (Arc::clone(pool), Arc::clone(&slot));
        let spawned = thread::Builder::new()
            .name(format!("hotdev-http-{n}"))
            .spawn(move || {
                work(&p, &s);
                p.shared.calls.unregister(&s);
            });
        match spawned {
            Ok(thread) => {
                let mut threads = pool.threads.lock().unwrap_or_else(|p| p.into_inner());
                // Forget workers that ended (their stuck call returned).
                threads.retain(|(_, t)| !t.is_finished());
                threads.push((slot, thread));
                Ok(())
            }
            Err(error) => {
                pool.shared.calls.unregister(&slot);
                Err(error).context("[HD078] could not start an HTTP worker thread")
            }
        }
    }
}

fn work(pool: &Pool, slot: &Slot) {
    while !pool.stop.load(Ordering::SeqCst) {
        match pool.server.recv_timeout(POLL) {
            Ok(Some(request)) => {
                if serve(request, &pool.shared, slot) == Next::Retire {
                    return;
                }
            }
            Ok(None) => {}
            Err(error) => {
                if pool.stop.load(Ordering::SeqCst) {
                    break;
                }
                tracing::debug!(%error, "could not read a request");
            }
        }
    }
}

/// What a worker does after a request.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Take the next request.
    Serve,
    /// End: the call was abandoned and another worker took this one's place.
    Retire,
}

/// Answers a call the watchdog gave up on, and keeps the number of free workers.
fn timed_out(pool: &Arc<Pool>, expired: Expired) {
    let shared = &*pool.shared;
    let calls = &shared.calls;
    let limit = calls.limit();
    let stuck = calls.stuck();
    shared.hub.set_stuck(stuck as u64);
    let Expired {
        request,
        route,
        generation,
        elapsed,
        replace,
    } = expired;
    if let Some(request) = request {
        let page = pages::timeout_page(&route, generation, elapsed, limit, stuck);
        respond(request, html(504, page.into_bytes()));
    }
    // Counted before a replacement starts, so that it finds the breaker open if this was
    // the failure too many.
    let what = format!("did not return within {}", seconds(limit));
    let opened = shared.breaker.record(generation, &route, &what);
    let place = if replace {
        match Pool::spawn(pool) {
            Ok(()) => "a new worker takes its place",
            Err(error) => {
                tracing::warn!(%error, "could not start a replacement worker");
                "no new worker could be started"
            }
        }
    } else {
        "no new worker is started"
    };
    shared.term.line(&format!(
        "[{}] {route} (generation {generation}) has not returned after {}: answered 504. \
         Its thread cannot be stopped and keeps running ({stuck} stuck); {place}",
        codes::HANDLER_TIMEOUT,
        seconds(elapsed)
    ));
    shared.emit(&Event::HandlerTimeout {
        route: route.clone(),
        generation,
        ms: crate::events::millis(elapsed),
        stuck: stuck as u64,
        replaced: replace,
    });
    if !replace && calls.at_limit() && !shared.cap_reported.swap(true, Ordering::SeqCst) {
        shared.term.line(&format!(
            "[{}] {stuck} calls are stuck, the limit is {MAX_STUCK}: no more workers are \
             started for stuck calls, so fewer requests are served at once; restart hotdev \
             to free their threads",
            codes::STUCK_LIMIT
        ));
        shared.emit(&Event::StuckLimit {
            stuck: stuck as u64,
            limit: MAX_STUCK as u64,
        });
    }
    if opened {
        breaker_opened(shared, generation, &route);
    }
}

/// Counts a failure of `route` for the breaker, and says when it opens.
fn trip(shared: &Shared, generation: u64, route: &str, what: &str) {
    if shared.breaker.record(generation, route, what) {
        breaker_opened(shared, generation, route);
    }
}

/// Says that the breaker of `route` opened.
fn breaker_opened(shared: &Shared, generation: u64, route: &str) {
    shared.term.line(&format!(
        "[{}] {route} failed {} times in generation {generation}: its breaker is open, it \
         is answered at once with the error page until the next generation goes live",
        codes::BREAKER_OPEN,
        super::breaker::FAILURES
    ));
    shared.emit(&Event::BreakerOpen {
        route: route.to_string(),
        generation,
        failures: super::breaker::FAILURES,
    });
}

/// `1.2 s`.
fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Answers one request.
fn serve(mut rq: tiny_http::Request, shared: &Shared, slot: &Slot) -> Next {
    let started = Instant::now();
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let method = rq.method().as_str().to_string();

    let own_endpoint = path.starts_with("/__hotdev/");
    let host = header_values(&rq, "Host");
    let origin = own_endpoint.then(|| header_values(&rq, "Origin")).flatten();
    let route = format!("{method} {path}");
    if let Err(refused) = hosts::check(
        shared,
        host.as_deref(),
        origin.as_deref(),
        own_endpoint,
        &route,
    ) {
        respond(rq, html(refused.status, refused.page.into_bytes()));
        return Next::Serve;
    }

    if let Some(name) = path.strip_prefix("/__hotdev/") {
        own(rq, name, query, shared);
        return Next::Serve;
    }
    if let Some(files) = &shared.static_dir
        && let Some(rest) = path.strip_prefix(static_files::PREFIX)
    {
        serve_static(rq, files, rest, shared);
        return Next::Serve;
    }

    let headers: RVec<Header> = rq
        .headers()
        .iter()
        .map(|h| Header {
            name: h.field.as_str().as_str().into(),
            value: h.value.as_str().into(),
        })
        .collect();
    let mut body = Vec::new();
    if let Err(error) = rq.as_reader().take(MAX_BODY + 1).read_to_end(&mut body) {
        tracing::debug!(%error, %path, "could not read a request body");
        respond(rq, text(400, "could not read the request body\n"));
        return Next::Serve;
    }
    if body.len() as u64 > MAX_BODY {
        respond(rq, text(413, "request body too large\n"));
        return Next::Serve;
    }

    let plugin = shared.plugin();
    let Some(plugin) = plugin else {
        respond(
            rq,
            html(503, pages::starting_page(&shared.hub.status()).into_bytes()),
        );
        return Next::Serve;
    };

    // The generation is pinned for the call, so that what is reported about it (a timeout,
    // the breaker, the calls a reload waits for) names the generation that ran it.
    let pinned = plugin.pin();
    let generation = shared.gens.display(pinned.generation());
    if let Some(open) = shared.breaker.check(generation, &route) {
        drop(pinned);
        let page = pages::breaker_page(&route, generation, open.failures, &open.last);
        respond(rq, html(503, page.into_bytes()));
        return Next::Serve;
    }
    let request = Request {
        method: method.as_str().into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: RVec::from(body),
    };
    #[cfg(unix)]
    super::crash::enter(generation, &route);
    shared.calls.begin(slot, rq, route, generation);
    let result = pinned.handle(&request, &plugin.state());
    drop(pinned);
    #[cfg(unix)]
    super::crash::leave();
    let rq = match shared.calls.end(slot) {
        Some(Ended::Returned(rq)) => rq,
        Some(Ended::Late {
            route,
            generation,
            elapsed,
            replaced,
        }) => {
            let stuck = shared.calls.stuck();
            shared.hub.set_stuck(stuck as u64);
            shared.term.line(&format!(
                "a stuck call returned: {route} (generation {generation}) after {} ({stuck} \
                 still stuck)",
                seconds(elapsed)
            ));
            shared.emit(&Event::StuckReturned {
                route,
                generation,
                ms: crate::events::millis(elapsed),
                stuck: stuck as u64,
            });
            return if replaced { Next::Retire } else { Next::Serve };
        }
        None => return Next::Serve,
    };
    let response = match result {
        Ok(response) => convert(response, generation),
        Err(error) => panicked(&error, &method, path, shared),
    };
    tracing::debug!(
        %method, %path, status = response.status_code().0,
        us = started.elapsed().as_micros() as u64, "request"
    );
    respond(rq, response);
    Next::Serve
}

/// The values of the request's headers named `name`, joined with `, ` as HTTP joins a
/// repeated field (so that two `Host` headers make a value the host check refuses), or
/// `None` when it has none.
fn header_values(rq: &tiny_http::Request, name: &'static str) -> Option<String> {
    let mut values = rq
        .headers()
        .iter()
        .filter(|h| h.field.equiv(name))
        .map(|h| h.value.as_str());
    let first = values.next()?.to_string();
    Some(values.fold(first, |all, value| format!("{all}, {value}")))
}

/// A request under `/static/`: the file, or 404 for anything that is not a file inside the
/// static directory.
fn serve_static(rq: tiny_http::Request, files: &StaticDir, encoded: &str, shared: &Shared) {
    use tiny_http::Method;
    if !matches!(rq.method(), Method::Get | Method::Head) {
        respond(rq, static_files::method_not_allowed());
        return;
    }
    let Some(file) = files.resolve(encoded) else {
        tracing::debug!(path = %rq.url(), "static file refused or missing");
        respond(rq, static_files::not_found());
        return;
    };
    let request_header = |name: &'static str| {
        rq.headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_string())
    };
    let response = static_files::response(
        &file,
        request_header("If-None-Match").as_deref(),
        request_header("If-Modified-Since").as_deref(),
        shared.generation().unwrap_or(0),
    );
    respond(rq, response);
}

/// The server's own routes, under `/__hotdev/`.
fn own(rq: tiny_http::Request, name: &str, query: &str, shared: &Shared) {
    match name {
        "source" => respond(rq, source(query, shared)),
        "events" => {
            shared.hub.stream(rq);
        }
        "client.js" => {
            let response = tiny_http::Response::from_string(pages::CLIENT_JS)
                .with_header(header("Content-Type", "text/javascript; charset=utf-8"))
                .with_header(header("Cache-Control", "no-store"));
            respond(rq, response);
        }
        "status" => {
            let response = tiny_http::Response::from_string(shared.hub.status_json())
                .with_header(header("Content-Type", "application/json"))
                .with_header(header("Cache-Control", "no-store"));
            respond(rq, response);
        }
        _ => respond(rq, text(404, "no such hotdev resource\n")),
    }
}

/// `/__hotdev/source?file=PATH&line=N`: the source around a place the failure on show
/// points at. Any other file is refused: the overlay's links are the only way in.
fn source(query: &str, shared: &Shared) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let mut file = None;
    let mut line = 1;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(&value.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        match key {
            "file" => file = Some(std::path::PathBuf::from(value)),
            "line" => line = value.parse().unwrap_or(1),
            _ => {}
        }
    }
    let failure = shared.hub.status().failure;
    let (Some(file), Some(failure)) = (file, failure) else {
        return text(404, "no failure on show\n");
    };
    if !failure.names(&file) {
        return text(404, "not a file the failure on show points at\n");
    }
    match std::fs::read_to_string(&file) {
        Ok(source) => tiny_http::Response::from_string(diagnostics::source_page(
            &file, &source, line, &failure,
        ))
        .with_header(header("Content-Type", "text/html; charset=utf-8"))
        .with_header(header("Cache-Control", "no-store")),
        Err(error) => text(
            404,
            &format!("could not read {}: {error}\n", file.display()),
        ),
    }
}

/// The plugin's response for tiny_http, with the live-reload script in HTML pages.
fn convert(response: Response, generation: u64) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let is_html = response
        .header("content-type")
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let body = if is_html {
        pages::inject(&response.body, generation)
    } else {
        response.body.to_vec()
    };
    let mut out = tiny_http::Response::from_data(body).with_status_code(response.status);
    for h in response.headers.iter() {
        // tiny_http frames the body itself.
        let name = h.name.as_str();
        if ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue;
        }
        match tiny_http::Header::from_bytes(name.as_bytes(), h.value.as_bytes()) {
            Ok(h) => out.add_header(h),
            Err(()) => tracing::warn!(header = %name, "the plugin returned an invalid header"),
        }
    }
    if is_html {
        out.add_header(header("Cache-Control", "no-store"));
    }
    out
}

/// The 500 page for a panicking handler; the panic is reported to the terminal and events.
fn panicked(
    error: &CallError,
    method: &str,
    path: &str,
    shared: &Shared,
) -> tiny_http::Response<Cursor<Vec<u8>>> {
    #[allow(unreachable_patterns)] // `CallError` is non-exhaustive.
    let (message, location, generation, rolled_back_to) = match error {
        CallError::Panicked {
            message,
            location,
            generation,
            rolled_back_to,
        } => (
            message.as_str(),
            location.as_deref(),
            shared.gens.display(*generation),
            rolled_back_to.map(|g| shared.gens.display(g)),
        ),
        _ => (
            "the plugin call failed",
            None,
            shared.generation().unwrap_or(0),
            None,
        ),
    };
    let at = location.map(|at| format!(" at {at}")).unwrap_or_default();
    shared.term.line(&format!(
        "{}: {method} {path} panicked{at}: {message}",
        error.code()
    ));
    shared.emit(&Event::Panic {
        message: message.to_string(),
        location: location.map(str::to_string),
        generation,
        path: path.to_string(),
    });
    trip(
        shared,
        generation,
        &format!("{method} {path}"),
        &format!("panicked{at}: {message}"),
    );
    html(
        500,
        pages::panic_page(message, location, generation, rolled_back_to).into_bytes(),
    )
}

fn html(status: u16, body: Vec<u8>) -> tiny_http::Response<Cursor<Vec<u8>>> {
    tiny_http::Response::from_data(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/html; charset=utf-8"))
        .with_header(header("Cache-Control", "no-store"))
}

fn respond(rq: tiny_http::Request, response: tiny_http::Response<Cursor<Vec<u8>>>) {
    if let Err(error) = rq.respond(response) {
        tracing::debug!(%error, "could not send a response");
    }
}
