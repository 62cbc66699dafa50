//! The example `hotdev serve examples/hello` runs.
//!
//! Edit the page below and save: the browser reloads by itself, and the visit counter
//! keeps counting, because it lives in the plugin's [`State`], which the server keeps
//! while generations of this library come and go. The page's look is in
//! `static/style.css`, which the server serves at `/static/style.css`: save a change
//! there and the open page restyles without a build or a reload.

use std::sync::atomic::{AtomicU64, Ordering};

use reloadable::State;
use reloadable::web::{Request, Response, app};

reloadable::abi_struct! {
    /// What survives reloads: the number of page visits.
    #[derive(Debug, Default)]
    pub struct Visits {
        /// Visits of `/` since the server started.
        pub count: AtomicU64,
    }
}

struct Hello;

impl app::Implementation for Hello {
    fn handle(request: &Request, state: &State) -> Response {
        let visits = state.get::<Visits>();
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => {
                let n = visits.count.fetch_add(1, Ordering::Relaxed) + 1;
                Response::html(page(n))
            }
            ("GET", "/api/visits") => {
                let n = visits.count.load(Ordering::Relaxed);
                Response::json(format!("{{\"visits\":{n}}}"))
            }
            _ => Response::text("not found\n").with_status(404),
        }
    }
}

fn page(visits: u64) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>hello from hotdev</title>
  <link rel="stylesheet" href="/static/style.css">
</head>
<body>
  <h1>Hello from hotdev</h1>
  <p>This page is served by a plugin library that reloads while the server runs.
     Edit <code>examples/hello/src/lib.rs</code> and save; or edit
     <code>examples/hello/static/style.css</code> and watch the page restyle in place.</p>
  <p>Visits: <strong id="visits">{visits}</strong> (kept across reloads; also at
     <a href="/api/visits"><code>/api/visits</code></a>)</p>
</body>
</html>
"#
    )
}

reloadable::export_plugin!(
    interface: reloadable::web::app,
    implementation: Hello,
    state: Visits,
);
