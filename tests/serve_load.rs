//! `hotdev serve` under load across many reloads, in a test binary of its own (it is the
//! longest test; two copies of it at once on two cores pass too).
//!
//! Regression test for a keep-alive request left unanswered under load (issue 22). The
//! cause was tiny_http's connection pool: a connection accepted while the pool's woken
//! threads had not yet run was queued behind them, and each of them then served another
//! keep-alive connection for as long as it stayed open, so the queued connection's
//! requests were never read (seen with `ss`: its request in the socket's receive queue;
//! with gdb: the pool's 4 threads in `recv` on other connections, 16 idle HTTP workers).
//! hotdev uses a copy of tiny_http with that fixed (`vendor/tiny_http/PATCHED.md`).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::{Http, Server, edit, new_plugin};

/// Eight clients keep requests in flight on keep-alive connections while the plugin is
/// rebuilt and swapped 50 times: not one request fails, and both versions are seen.
#[test]
fn no_request_fails_across_50_reloads_under_load() {
    const RELOADS: u64 = 50;
    const CLIENTS: usize = 8;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("under-load");
    new_plugin(&dir);
    let lib = dir.join("src/lib.rs");
    edit(&lib, "Hello from hotdev", "version 0");
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let addr = server.addr;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, ok) = (Arc::clone(&stop), Arc::clone(&ok));
            thread::spawn(move || -> Result<(), String> {
                let mut http = Http::connect(addr);
                let deadline = Instant::now() + Duration::from_secs(900);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let reply = http
                        .request("GET", "/", &[], b"")
                        .map_err(|e| format!("request failed: {e}"))?;
                    let text = reply.text();
                    if reply.status != 200 || !text.contains("version ") {
                        return Err(format!("bad reply {}: {text}", reply.status));
                    }
                    ok.fetch_add(1, Ordering::Relaxed);
                    // Requests keep coming on every connection through every swap; the
                    // pause leaves the builds the CPU they need (without it, the clients
                    // and a debug build of the server took most of two cores, and each
                    // build took three times as long).
                    thread::sleep(Duration::from_millis(1));
                }
                Ok(())
            })
        })
        .collect();

    for n in 1..=RELOADS {
        edit(&lib, &format!("version {}", n - 1), &format!("version {n}"));
        let reloaded = server.wait_reloaded(n + 1);
        assert!(reloaded["swap_us"].is_u64());
        let before = ok.load(Ordering::Relaxed);
        // Let the clients make progress on the new generation before the next swap.
        support::eventually("clients progress", Duration::from_secs(30), || {
            (ok.load(Ordering::Relaxed) >= before + CLIENTS as u64).then_some(())
        });
    }
    let page = server.get("/");
    assert!(
        page.text().contains(&format!("version {RELOADS}")),
        "{}",
        page.text()
    );

    stop.store(true, Ordering::SeqCst);
    for client in clients {
        if let Err(e) = client.join().expect("client thread") {
            panic!("a request failed: {e}\nserver stderr:\n{}", server.stderr());
        }
    }
    assert!(ok.load(Ordering::Relaxed) > RELOADS * CLIENTS as u64);
    let status = server.interrupt();
    assert!(status.success(), "hotdev serve exited with {status}");
}
