//! The dev server's browser experience for an axum app whose routes live in a hot-reloaded
//! plugin (feature `axum`).
//!
//! The plugin (a Rust `dylib` in the host's one world, see `docs/rust-types.md`) builds
//! the app's [`Router`]; the host serves a [`DevRouter`] that hands each request to the
//! router of the generation serving, and adds what `hotdev serve` gives a page:
//!
//! - **live reload**: HTML responses get the client script, which reloads the page when
//!   a new generation goes live;
//! - **the build-error overlay**: a failed build or a refused library shows the
//!   compiler's errors over the page;
//! - **static files** under `/static/` from the plugin crate's `static/` folder, with a
//!   saved stylesheet swapped in place, without a reload;
//! - **panics and stuck handlers**: a handler that panics gets its client a 500 page
//!   with the message, and the process goes on; one that has not answered within the
//!   handler timeout gets a 504 page naming the route;
//! - **the host check** of `hotdev serve` (`docs/allowed-hosts.md`): a request whose
//!   `Host` names a foreign host is refused (`HD057`), and hotdev's own endpoints refuse a
//!   foreign `Origin`, so no web page can read the app through DNS rebinding.
//!
//! ```no_run
//! # fn doc(plugin_router: impl Fn() -> Result<axum::Router, reloadable::CallError> + Send + Sync + 'static,
//! #        events: crossbeam_channel::Receiver<hotdev::devloop::DevEvent>) {
//! // `plugin_router` calls the plugin: `move || plugin.router(state.clone())`.
//! let app: axum::Router = hotdev::axum::DevRouter::new(plugin_router)
//!     .follow(events, "plugin")  // HotPlugin's events, and the plugin crate's folder
//!     .into_router();
//! # let _ = app; }
//! ```
//!
//! A handler is run on the host's runtime like any other; a timeout can only answer the
//! client of a handler that yields (awaits): one that loops without awaiting holds its
//! runtime thread, as it would in any axum app.

use std::any::Any;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crossbeam_channel::Receiver;
use reloadable::CallError;
use tower::ServiceExt;

use crate::allowed_hosts::{AllowedHosts, Refusal};
use crate::browser::diagnostics::Failure;
use crate::browser::live::{self, Hub};
use crate::browser::pages;
use crate::devloop::{DevEvent, WatchEvent};

/// The largest HTML response the client script is injected into (larger ones pass as
/// they are).
const MAX_INJECTED: usize = 16 << 20;

/// Makes the plugin's router: called once per generation, on the first request it serves.
type MakeRouter = dyn Fn() -> Result<Router, CallError> + Send + Sync;

/// An axum [`Router`] for the host: the plugin's routes, with the dev server's live
/// reload, overlay, static files, panic and timeout pages, and host check. See the
/// module docs.
pub struct DevRouter {
    make: Arc<MakeRouter>,
    hub: Arc<Hub>,
    events: Option<(Receiver<DevEvent>, PathBuf)>,
    static_dir: Option<PathBuf>,
    hosts: AllowedHosts,
    handler_timeout: Duration,
}

impl std::fmt::Debug for DevRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevRouter")
            .field("static_dir", &self.static_dir)
            .field("handler_timeout", &self.handler_timeout)
            .finish_non_exhaustive()
    }
}

impl DevRouter {
    /// A router whose routes are those `make` returns: a call into the plugin, such as
    /// `move || plugin.router(state.clone())`. It is called again after each reload.
    pub fn new(make: impl Fn() -> Result<Router, CallError> + Send + Sync + 'static) -> Self {
        DevRouter {
            make: Arc::new(make),
            hub: Arc::new(Hub::default()),
            events: None,
            static_dir: None,
            hosts: AllowedHosts::new(),
            handler_timeout: Duration::from_secs(10),
        }
    }

    /// Follows the dev loop's events (from `HotPlugin::watch`) for the plugin crate in
    /// `plugin_dir`: browsers reload after a swap and show the overlay for a failed build.
    /// The plugin crate's `static/` folder, when it exists, is served under `/static/`.
    pub fn follow(mut self, events: Receiver<DevEvent>, plugin_dir: impl AsRef<Path>) -> Self {
        let dir = plugin_dir.as_ref().to_path_buf();
        let assets = dir.join("static");
        if self.static_dir.is_none() && assets.is_dir() {
            self.static_dir = Some(assets);
        }
        self.events = Some((events, dir));
        self
    }

    /// Serves `dir` under `/static/` (default: the plugin crate's `static/` folder). To
    /// have saved stylesheets swapped in place, watch the folder too:
    /// `HotOptions::asset_dirs`.
    pub fn static_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_dir = Some(dir.into());
        self
    }

    /// The names requests may give in `Host` besides IP addresses, `localhost` and
    /// `*.localhost` (default: none; `AllowedHosts::any()` turns the check off).
    pub fn allowed_hosts(mut self, hosts: AllowedHosts) -> Self {
        self.hosts = hosts;
        self
    }

    /// How long a handler may run before its client gets a 504 page (default 10 s).
    pub fn handler_timeout(mut self, limit: Duration) -> Self {
        self.handler_timeout = limit;
        self
    }

    /// The router to serve.
    pub fn into_router(self) -> Router {
        let dev = Arc::new(Dev {
            make: self.make,
            hub: self.hub,
            version: AtomicU64::new(0),
            generation: AtomicU64::new(1),
            cached: Mutex::new(None),
            static_dir: self.static_dir,
            hosts: self.hosts,
            handler_timeout: self.handler_timeout,
        });
        if let Some((events, dir)) = self.events {
            let follower = Arc::clone(&dev);
            std::thread::Builder::new()
                .name("hotdev-axum-events".into())
                .spawn(move || follower.follow(&events, &dir))
                .expect("a thread for the dev loop's events");
        }
        Router::new().fallback(serve).with_state(dev)
    }
}

/// What every request of a [`DevRouter`] shares.
struct Dev {
    make: Arc<MakeRouter>,
    hub: Arc<Hub>,
    /// Bumped by every event that may change the generation serving (a reload, a
    /// rollback): the cached router is made again.
    version: AtomicU64,
    /// The generation serving, as the dev loop reported it.
    generation: AtomicU64,
    cached: Mutex<Option<(u64, Router)>>,
    static_dir: Option<PathBuf>,
    hosts: AllowedHosts,
    handler_timeout: Duration,
}

impl Dev {
    /// Feeds the browsers from the dev loop's events, until the loop ends.
    fn follow(&self, events: &Receiver<DevEvent>, plugin_dir: &Path) {
        // The watcher reports canonical paths; the folder may have been named through `..`.
        let statics = plugin_dir.join("static");
        let statics = statics.canonicalize().unwrap_or(statics);
        for event in events {
            match event {
                DevEvent::Watch(WatchEvent::BuildStarted { .. }) => self.hub.building(),
                DevEvent::Watch(WatchEvent::BuildFailed {
                    messages,
                    diagnostics,
                    duration,
                    ..
                }) => {
                    let failure = Failure::from_build(&messages, &diagnostics, plugin_dir);
                    self.hub.build_failed(failure, duration.as_millis() as u64);
                }
                DevEvent::Watch(WatchEvent::AssetsChanged { paths, .. }) => {
                    let urls: Vec<String> = paths
                        .iter()
                        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
                        .filter_map(|p| {
                            p.strip_prefix(&statics)
                                .ok()
                                .map(std::path::Path::to_path_buf)
                        })
                        .map(|rel| format!("/static/{}", rel.to_string_lossy().replace('\\', "/")))
                        .collect();
                    if !urls.is_empty() {
                        self.hub.assets_changed(&urls);
                    }
                }
                DevEvent::Reloaded {
                    generation, build, ..
                } => {
                    self.generation.store(generation, Ordering::SeqCst);
                    self.version.fetch_add(1, Ordering::SeqCst);
                    self.hub
                        .reloaded(generation, Some(build.as_millis() as u64));
                }
                DevEvent::Rejected(error) => {
                    self.hub.rejected(Failure::refused(
                        error.to_string(),
                        error.code(),
                        plugin_dir,
                    ));
                }
                DevEvent::Host(event) => {
                    if let hotdev_host::Event::RolledBack { to, .. } = &event {
                        self.generation.store(*to, Ordering::SeqCst);
                    }
                    self.version.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    }

    /// The router of the generation serving, made on its first request.
    fn router(&self) -> Result<Router, CallError> {
        let version = self.version.load(Ordering::SeqCst);
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((v, router)) = cached.as_ref()
            && *v == version
        {
            return Ok(router.clone());
        }
        let router = (self.make)()?;
        *cached = Some((version, router.clone()));
        Ok(router)
    }
}

async fn serve(State(dev): State<Arc<Dev>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let route = format!("{} {}", request.method(), path);
    let host = header_values(request.headers(), header::HOST);
    let origin = header_values(request.headers(), header::ORIGIN);
    let own = path.starts_with("/__hotdev/");
    let checked = if own {
        dev.hosts.check(host.as_deref(), origin.as_deref())
    } else {
        dev.hosts.check_host(host.as_deref())
    };
    if let Err(refusal) = checked {
        return refused(&refusal, &route);
    }
    let generation = dev.generation.load(Ordering::SeqCst);
    match path.as_str() {
        "/__hotdev/client.js" => {
            return (
                [
                    (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                pages::CLIENT_JS,
            )
                .into_response();
        }
        "/__hotdev/events" => return events(&dev.hub),
        "/__hotdev/status" => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                dev.hub.status_json(),
            )
                .into_response();
        }
        _ => {}
    }
    if let (Some(dir), Some(rel)) = (&dev.static_dir, path.strip_prefix("/static/")) {
        return static_file(dir, rel).await;
    }
    let router = match dev.router() {
        Ok(router) => router,
        Err(error) => return plugin_failed(&error.to_string(), generation),
    };
    let started = Instant::now();
    let answer = tokio::time::timeout(
        dev.handler_timeout,
        CatchUnwind(Box::pin(router.oneshot(request))),
    )
    .await;
    match answer {
        Ok(Ok(Ok(response))) => with_script(response, generation).await,
        Ok(Ok(Err(never))) => match never {},
        Ok(Err(payload)) => {
            let message = panic_message(&*payload);
            tracing::error!(%route, generation, "[{}] the handler panicked: {message}", reloadable::codes::PANICKED);
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::panic_page(&format!("{route}: {message}"), None, generation, None),
            )
        }
        Err(_) => {
            let elapsed = started.elapsed();
            tracing::error!(%route, generation, "[{}] the handler did not answer within {:?}", reloadable::codes::HANDLER_TIMEOUT, dev.handler_timeout);
            html(
                StatusCode::GATEWAY_TIMEOUT,
                pages::page(
                    "handler timed out",
                    &format!(
                        "<h1>the handler did not answer</h1><pre id=\"hotdev-timeout\">[{code}] \
                         {route} did not answer within {limit:.1} s (it ran {elapsed:.1} s) in \
                         generation {generation}</pre><p>Its future was dropped; the server \
                         goes on. Fix the code and save: this page reloads by itself.</p>",
                        code = reloadable::codes::HANDLER_TIMEOUT,
                        route = pages::escape(&route),
                        limit = dev.handler_timeout.as_secs_f64(),
                        elapsed = elapsed.as_secs_f64(),
                    ),
                    generation,
                ),
            )
        }
    }
}

/// Every value of a header, joined with `,` (two `Host` headers are then refused as
/// malformed); `None` when absent.
fn header_values(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn refused(refusal: &Refusal, route: &str) -> Response {
    tracing::warn!("{refusal}");
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    html(status, pages::host_refused_page(refusal, route))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn plugin_failed(message: &str, generation: u64) -> Response {
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::panic_page(message, None, generation, None),
    )
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".into())
}

/// The event stream: `hello`, then the hub's messages, with a comment every few seconds.
fn events(hub: &Hub) -> Response {
    let Some((hello, rx)) = hub.subscribe() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    };
    let (tx, body_rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    let _ = tx.try_send(Ok(format!("retry: 1000\nevent: hello\ndata: {hello}\n\n")));
    // The hub's channel blocks; a thread of its own forwards it to the response body and
    // ends when the browser goes away (the body's receiver is dropped).
    std::thread::Builder::new()
        .name("hotdev-axum-sse".into())
        .spawn(move || {
            loop {
                let block = match rx.recv_timeout(live::KEEPALIVE) {
                    Ok(m) => format!("event: {}\n{}\n", m.event, live::data_lines(&m.data)),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => ": keep-alive\n\n".into(),
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                };
                if tx.blocking_send(Ok(block)).is_err() {
                    return;
                }
            }
        })
        .ok();
    let stream = futures_stream(body_rx);
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .header("X-Accel-Buffering", "no")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A receiver as a stream of body chunks.
fn futures_stream(
    rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<String, std::io::Error>> + Send + 'static {
    struct Chunks(tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>);
    impl futures_core::Stream for Chunks {
        type Item = Result<String, std::io::Error>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
    Chunks(rx)
}

/// A static file under `dir`, or 404; never a file outside it.
async fn static_file(dir: &Path, rel: &str) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found\n").into_response();
    let decoded = percent_decode(rel);
    let Some(decoded) = decoded else {
        return not_found();
    };
    let rel = Path::new(&decoded);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return not_found();
    }
    let path = dir.join(rel);
    let (Ok(root), Ok(real)) = (dir.canonicalize(), path.canonicalize()) else {
        return not_found();
    };
    if !real.starts_with(&root) || !real.is_file() {
        return not_found();
    }
    match tokio::fs::read(&real).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type(&real)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The response, with the client script injected when it is HTML.
async fn with_script(response: Response, generation: u64) -> Response {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let encoded = response.headers().contains_key(header::CONTENT_ENCODING);
    if !is_html || encoded {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_INJECTED).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::BAD_GATEWAY, "the response body failed\n").into_response(),
    };
    let injected = pages::inject(&bytes, generation);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Response::from_parts(parts, Body::from(injected))
}

/// A future whose panic is returned as its payload instead of unwinding into the server.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
