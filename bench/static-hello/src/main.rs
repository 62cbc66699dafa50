//! `examples/hello`'s handler compiled into this binary and served by tiny_http with the
//! worker setup of `hotdev serve` (16 threads taking requests from one server): the
//! baseline that the HTTP and start-up benchmarks compare `hotdev serve` with.
//!
//! The example's source is compiled here as a module, so the very same handler (and its
//! panic-catching shim) runs, called through its function table without any loading,
//! epoch protocol or reload machinery.
//!
//! Usage: `hotdev-bench-static-hello [ADDR]` (default `127.0.0.1:7879`).

#[allow(dead_code, unreachable_pub)]
#[path = "../../../examples/hello/src/lib.rs"]
mod hello;

use std::io::Cursor;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::thread;

use reloadable::web::app::{self, Calls};
use reloadable::web::{Header, Request};
use reloadable::{CallError, Invoke, RVec, Report, State};

/// As many workers as `hotdev serve` runs.
const WORKERS: usize = 16;

/// Calls the handler linked into this binary.
struct Linked {
    table: &'static app::Table,
}

// SAFETY:
// - the table is a static of this binary, so it stays valid for every call;
// - `Ok` is returned only for a null report, when the shim wrote the result.
unsafe impl Invoke<app::Interface> for Linked {
    fn invoke<R>(
        &self,
        call: impl FnOnce(&app::Table, *mut R) -> *mut Report,
    ) -> Result<R, CallError> {
        let mut out = MaybeUninit::<R>::uninit();
        let report = call(self.table, out.as_mut_ptr());
        if report.is_null() {
            // SAFETY: a null report means the shim wrote the result.
            return Ok(unsafe { out.assume_init() });
        }
        // SAFETY: a non-null report was boxed by the shim and is handed over to us.
        let report = unsafe { Report::take(report) }.expect("a non-null report");
        Err(CallError::Panicked {
            location: report.location(),
            message: report.message.to_string(),
            generation: 0,
            rolled_back_to: None,
        })
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7879".into());
    let descriptor = &hello::HOTDEV_PLUGIN_V1;
    // SAFETY: the descriptor's table was built by `export_plugin!` for `app`, the
    // interface named in it; it is a static of this binary.
    let table = unsafe { &*descriptor.table.cast::<app::Table>() };
    // SAFETY: called once, before any handler runs, as a host would after loading; no
    // hooks (null): linked into this binary, the plugin already allocates with its
    // allocator and has no other logger to reach.
    unsafe { (descriptor.init)(std::ptr::null()) };
    let visits: &'static mut hello::Visits = Box::leak(Box::default());
    // SAFETY: `visits` is a live, leaked `Visits`, the state type the example declares,
    // with its own size and alignment.
    let state = unsafe {
        State::from_raw(
            (visits as *mut hello::Visits).cast(),
            size_of::<hello::Visits>(),
            align_of::<hello::Visits>(),
        )
    };
    let state = Arc::new(state);
    let app = Arc::new(Linked { table });

    let server = Arc::new(tiny_http::Server::http(&addr).expect("binding the address"));
    println!("listening on http://{}/", server.server_addr());
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (server, app, state) = (server.clone(), app.clone(), state.clone());
            thread::spawn(move || {
                for rq in server.incoming_requests() {
                    serve(rq, &app, &state);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}

fn serve(mut rq: tiny_http::Request, app: &Linked, state: &State) {
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut body = Vec::new();
    if rq.as_reader().read_to_end(&mut body).is_err() {
        let _ = rq.respond(tiny_http::Response::empty(400));
        return;
    }
    let request = Request {
        method: rq.method().as_str().into(),
        path: path.into(),
        query: query.into(),
        headers: rq
            .headers()
            .iter()
            .map(|h| Header {
                name: h.field.as_str().as_str().into(),
                value: h.value.as_str().into(),
            })
            .collect::<RVec<Header>>(),
        body: RVec::from(body),
    };
    let response = match app.handle(&request, state) {
        Ok(r) => {
            let mut out = tiny_http::Response::new(
                r.status.into(),
                Vec::new(),
                Cursor::new(r.body.to_vec()),
                Some(r.body.len()),
                None,
            );
            for h in r.headers.iter() {
                if let Ok(h) = tiny_http::Header::from_bytes(h.name.as_bytes(), h.value.as_bytes())
                {
                    out.add_header(h);
                }
            }
            out
        }
        Err(e) => tiny_http::Response::new(
            500.into(),
            Vec::new(),
            Cursor::new(e.to_string().into_bytes()),
            None,
            None,
        ),
    };
    let _ = rq.respond(response);
}
