//! `--single-process`: the HTTP server, the plugin and the watcher in the process the user
//! started (everywhere but Unix, the only mode).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::Receiver;

use super::reloader::{Reloader, stop_serving};
use super::watch::{Watch, serve_last_build};
use super::{ServeOptions, Shared, announce, http};

/// The server in this process: HTTP workers, plugin and watcher together.
pub(super) fn single_process(
    opts: &ServeOptions,
    plugin_dir: PathBuf,
    shared: Arc<Shared>,
    shutdown: Receiver<()>,
) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(opts.addr)
        .with_context(|| format!("[HD082] could not listen on {}", opts.addr))?;
    let server = http::HttpServer::start(listener, Arc::clone(&shared))?;
    let url = announce(&shared, opts, server.addr());
    let (mut reloader, host_thread) = match Reloader::start(
        Arc::clone(&shared),
        opts.handler_timeout,
        opts.keep_state,
        opts.open.then_some(url),
    ) {
        Ok(started) => started,
        Err(error) => {
            server.stop(Duration::ZERO);
            return Err(error);
        }
    };
    // The last run's library serves while the watcher asks cargo (the fast start).
    let preloaded = serve_last_build(&shared, opts, &plugin_dir, &mut reloader);
    let mut watch = match Watch::start(&shared, opts, plugin_dir, preloaded) {
        Ok(watch) => watch,
        Err(error) => {
            stop_serving(&shared, server, reloader, host_thread, || {});
            return Err(error);
        }
    };
    let outcome = watch.run(
        &shared,
        &mut reloader,
        &shutdown,
        &crossbeam_channel::never(),
    );
    shared.term.stop_spinner();
    stop_serving(&shared, server, reloader, host_thread, || watch.shutdown());
    outcome
}
