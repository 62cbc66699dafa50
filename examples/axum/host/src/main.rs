//! The host: serves the app over HTTP and keeps running while the plugin's routes reload.
//!
//!   hotdev run                           # in this folder: plugin edits reload in place,
//!                                        # host edits restart it with the socket kept
//!   hotdev run --listen 127.0.0.1:3000   # the socket hotdev run hands over
//!   cargo run -p host -- --listen 127.0.0.1:3000
//!
//! It takes the listening socket `hotdev run` hands over (`LISTEN_FDS`), else binds
//! `--listen ADDR` (default 127.0.0.1:3000). Logs go to the terminal at `info` (spans
//! included); `RUST_LOG` changes that.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use api::app::Calls;
use api::{AppState, tokio, tracing};
use hotdev::devloop::{HotOptions, HotPlugin};
use tracing_subscriber::EnvFilter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,hotdev_watcher=warn,hotdev_host=warn")),
        )
        .init();
    let listener = listener()?;
    let addr = listener.local_addr()?;

    let plugin_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin");
    let (plugin, events) = HotPlugin::<api::app::Interface>::watch_with(
        &plugin_dir,
        HotOptions {
            // Every plugin build selects this package too, as `hotdev run` builds it, so
            // that both resolve one world.
            host_package: Some(env!("CARGO_PKG_NAME").into()),
            asset_dirs: vec![plugin_dir.join("static")],
            report: true,
            ..HotOptions::default()
        },
    )?;
    let plugin = Arc::new(plugin);
    let state = Arc::new(AppState::default());

    let app = hotdev::axum::DevRouter::new(move || plugin.router(Arc::clone(&state)))
        .follow(events, &plugin_dir)
        .into_router();

    tokio::runtime::Runtime::new()?.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tracing::info!("serving on http://{addr}/");
        api::axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // `hotdev run` stops the host with SIGINT, as Ctrl-C does.
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    })?;
    Ok(())
}

/// The socket `hotdev run` hands over (descriptor 3 with `LISTEN_FDS`, the systemd
/// convention), else a new one on `--listen ADDR` or 127.0.0.1:3000.
fn listener() -> std::io::Result<TcpListener> {
    #[cfg(unix)]
    {
        use std::os::fd::FromRawFd;
        let ours = std::env::var("LISTEN_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            == Some(std::process::id());
        let fds = std::env::var("LISTEN_FDS")
            .ok()
            .and_then(|n| n.parse::<u32>().ok());
        if ours && fds.unwrap_or(0) >= 1 {
            // SAFETY: with LISTEN_PID naming this process, descriptor 3 is a listening
            // socket handed over by the parent, owned by nothing else in this process.
            return Ok(unsafe { TcpListener::from_raw_fd(3) });
        }
    }
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:3000");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => addr = args.next().unwrap_or(addr),
            other => eprintln!("host: ignoring the argument {other}"),
        }
    }
    TcpListener::bind(addr)
}
