//! The HTTP side: a tiny_http server, a pool of workers, and the conversion between
//! tiny_http's requests and responses and the plugin's [`Request`] and [`Response`].
//!
//! Requests under `/__hotdev/` are the server's own (event stream, client script,
//! status); requests under `/static/` are answered from the static directory when there
//! is one ([`static_files`](super::static_files)); every other request goes to the
//! plugin's generation serving at that moment.

use std::io::{Cursor, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use reloadable::web::app::Calls;
use reloadable::web::{Header, Request, Response};
use reloadable::{CallError, RVec};
use tiny_http::StatusCode;

use super::Shared;
use super::pages;
use super::static_files::{self, StaticDir};
use crate::events::Event;

/// How many requests are served at once (event streams do not count: they have their own
/// threads).
pub const WORKERS: usize = 16;

/// The largest request body passed to the plugin.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// How often an idle worker checks whether the server is stopping.
const POLL: Duration = Duration::from_millis(200);

/// A running HTTP server.
pub struct HttpServer {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Binds `addr` and starts the workers.
    pub fn start(addr: SocketAddr, shared: Arc<Shared>) -> anyhow::Result<Self> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("[HD082] could not listen on {addr}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| anyhow!("the server is not listening on an IP address"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::with_capacity(WORKERS);
        for n in 0..WORKERS {
            let (server, stop, shared) = (Arc::clone(&server), Arc::clone(&stop), shared.clone());
            let worker = thread::Builder::new()
                .name(format!("hotdev-http-{n}"))
                .spawn(move || work(&server, &stop, &shared))
                .context("[HD078] could not start an HTTP worker thread")?;
            workers.push(worker);
        }
        Ok(HttpServer {
            server,
            workers,
            stop,
            addr,
        })
    }

    /// The address the server listens on (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking requests: lets each worker finish its request, then closes the socket.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for worker in self.workers {
            if worker.join().is_err() {
                tracing::error!("an HTTP worker panicked");
            }
        }
        // Dropping the last handle closes the listening socket.
        drop(self.server);
    }
}

fn work(server: &tiny_http::Server, stop: &AtomicBool, shared: &Shared) {
    while !stop.load(Ordering::SeqCst) {
        match server.recv_timeout(POLL) {
            Ok(Some(request)) => serve(request, shared),
            Ok(None) => {}
            Err(error) => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                tracing::debug!(%error, "could not read a request");
            }
        }
    }
}

/// Answers one request.
fn serve(mut rq: tiny_http::Request, shared: &Shared) {
    let started = Instant::now();
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let method = rq.method().as_str().to_string();

    if let Some(name) = path.strip_prefix("/__hotdev/") {
        own(rq, name, shared);
        return;
    }
    if let Some(files) = &shared.static_dir {
        if let Some(rest) = path.strip_prefix(static_files::PREFIX) {
            serve_static(rq, files, rest, shared);
            return;
        }
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
        return;
    }
    if body.len() as u64 > MAX_BODY {
        respond(rq, text(413, "request body too large\n"));
        return;
    }

    let plugin = shared.plugin();
    let Some(plugin) = plugin else {
        respond(rq, html(503, pages::starting_page().into_bytes()));
        return;
    };

    let request = Request {
        method: method.as_str().into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: RVec::from(body),
    };
    let result = {
        let _call = shared.enter_call();
        plugin.handle(&request, &plugin.state())
    };
    let generation = plugin.generation();
    let response = match result {
        Ok(response) => convert(response, generation),
        Err(error) => panicked(&error, &method, path, shared),
    };
    tracing::debug!(
        %method, %path, status = response.status_code().0,
        us = started.elapsed().as_micros() as u64, "request"
    );
    respond(rq, response);
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
        shared.plugin().map_or(0, |p| p.generation()),
    );
    respond(rq, response);
}

/// The server's own routes, under `/__hotdev/`.
fn own(rq: tiny_http::Request, name: &str, shared: &Shared) {
    match name {
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
            *generation,
            *rolled_back_to,
        ),
        _ => (
            "the plugin call failed",
            None,
            shared.plugin().map_or(0, |p| p.generation()),
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
    html(
        500,
        pages::panic_page(message, location, generation, rolled_back_to).into_bytes(),
    )
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    // Only called with constant, valid names and values.
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|()| unreachable!("invalid constant header {name}"))
}

fn text(status: u16, body: &str) -> tiny_http::Response<Cursor<Vec<u8>>> {
    tiny_http::Response::from_data(body.as_bytes().to_vec())
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
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
