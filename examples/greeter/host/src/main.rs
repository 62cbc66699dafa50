//! The greeter example's host: a small HTTP server whose answers come from a plugin.
//!
//! Run it under hotdev's whole-program loop:
//!
//! ```text
//! hotdev run -p greeter-host --listen 127.0.0.1:7979
//! ```
//!
//! then `curl http://127.0.0.1:7979/` and edit:
//!
//! - `examples/greeter/plugin/src/lib.rs`: this process hot-reloads the plugin (its
//!   `HotPlugin` watches the plugin crate); the answer changes, the process id does not;
//! - this file (or the interface crate): `hotdev run` rebuilds the host while this process
//!   keeps answering, then stops it and starts the new build on the same listening socket,
//!   so no request is refused; the process id changes.
//!
//! The socket comes from `hotdev run --listen` (`LISTEN_FDS`, read with the `listenfd`
//! crate); run alone (`cargo run -p greeter-host -- --addr 127.0.0.1:7979`), the host binds
//! it itself.
//!
//! On SIGINT (Ctrl-C, or `hotdev run` restarting it) the host stops accepting, answers
//! every request it has accepted, and exits. The HTTP handling is written out here rather
//! than taken from an HTTP crate because that stop must be exact: an HTTP server that
//! accepts on a thread of its own may hold connections it will never answer when the
//! process ends, and those clients would see a failed request across the restart.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use greeter_interface::greeter::{Calls, Interface as Greeter};
use hotdev::Plugin;
use hotdev::devloop::HotPlugin;

/// Which build of the host answers (edit it to see a restart).
const HOST_VERSION: &str = "host v1";

fn main() {
    hotdev::init_tracing();
    if let Err(e) = run() {
        eprintln!("greeter-host: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut plugin_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin");
    let mut addr = "127.0.0.1:7979".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs an address")?,
            "--plugin" => plugin_dir = args.next().ok_or("--plugin needs a directory")?.into(),
            "-h" | "--help" => {
                println!("usage: greeter-host [--addr ADDR] [--plugin DIR]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })?;

    let listener = match listenfd::ListenFd::from_env().take_tcp_listener(0)? {
        Some(listener) => listener,
        None => TcpListener::bind(&addr)?,
    };
    let (plugin, _events) = HotPlugin::<Greeter>::watch(&plugin_dir)?;
    eprintln!(
        "greeter-host: {HOST_VERSION} (pid {}) answers at http://{}/",
        std::process::id(),
        listener.local_addr()?
    );

    // Polling accept lets the loop see the stop flag; accepted connections are answered.
    listener.set_nonblocking(true)?;
    let mut workers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let plugin = plugin.plugin().clone();
                workers.push(std::thread::spawn(move || answer(stream, &plugin)));
                workers.retain(|w| !w.is_finished());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => eprintln!("greeter-host: accept failed: {e}"),
        }
    }
    for worker in workers {
        let _ = worker.join();
    }
    plugin.stop_watching();
    eprintln!(
        "greeter-host: {HOST_VERSION} (pid {}) stopped",
        std::process::id()
    );
    Ok(())
}

/// Answers one request (`Connection: close`).
fn answer(stream: TcpStream, plugin: &Plugin<Greeter>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The rest of the head, up to the blank line.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim_end() != "" {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match plugin.greet(path) {
        Ok(text) => (
            "200 OK",
            format!("{text} [{HOST_VERSION}, pid {}]\n", std::process::id()),
        ),
        Err(e) => ("500 Internal Server Error", format!("{e}\n")),
    };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}
