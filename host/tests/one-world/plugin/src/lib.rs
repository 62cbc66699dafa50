use std::time::Duration;

use world_api::rayon::prelude::*;
use world_api::{BoxFuture, app, tokio, tracing};

struct Plugin;

#[cfg(feature = "missing")]
unsafe extern "Rust" {
    #[link_name = "_ZN11world_api_x7nowhere17h0123456789abcdefE"]
    fn nowhere() -> u64;
}

impl app::Implementation for Plugin {
    fn sleepy(ms: u64) -> BoxFuture<String> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            format!("slept {ms} ms")
        })
    }

    fn spawner(n: u64) -> BoxFuture<u64> {
        Box::pin(async move {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..n {
                set.spawn(async move {
                    tokio::task::yield_now().await;
                    i
                });
            }
            let mut sum = 0;
            while let Some(r) = set.join_next().await {
                sum += r.expect("a task");
            }
            sum
        })
    }

    fn failing_task() -> BoxFuture<u64> {
        Box::pin(async move {
            let handle = tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if std::hint::black_box(true) {
                    panic!("boom in a plugin task");
                }
                1u64
            });
            match handle.await {
                Ok(v) => v,
                Err(e) if e.is_panic() => 99,
                Err(_) => 0,
            }
        })
    }

    fn closure() -> Box<dyn Fn() -> u64 + Send> {
        Box::new(|| {
            if std::hint::black_box(true) {
                panic!("boom in a plugin closure");
            }
            0
        })
    }

    fn traced(id: u64) -> u64 {
        let span = tracing::info_span!("request", id, route = "/traced");
        let _entered = span.enter();
        tracing::info!(answer = id * 2, "plugin says hello");
        world_api::log::info!("a log record from the plugin, id {id}");
        #[cfg(feature = "missing")]
        // SAFETY: never reached: the host refuses this build (the symbol is defined nowhere).
        return unsafe { nowhere() };
        #[cfg(feature = "more")]
        return world_api::more();
        #[allow(unreachable_code)]
        {
            id * 2
        }
    }

    fn par_sum(n: u64) -> u64 {
        (0..n).into_par_iter().map(|i| i * 2).sum()
    }

    fn request_id() -> BoxFuture<u64> {
        Box::pin(async { world_api::REQUEST_ID.try_with(|id| *id).unwrap_or(0) })
    }

    fn echo(text: String) -> BoxFuture<String> {
        Box::pin(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = String::new();
                socket.read_to_string(&mut buf).await.unwrap();
                buf.to_uppercase()
            });
            let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
            client.write_all(text.as_bytes()).await.unwrap();
            client.shutdown().await.unwrap();
            server.await.unwrap()
        })
    }

    fn explode(n: u64) -> u64 {
        if std::hint::black_box(n) > 0 {
            panic!("explode {n}");
        }
        n
    }

    fn build_name() -> &'static str {
        option_env!("WORLD_GENERATION").unwrap_or("one")
    }
}

reloadable::export_plugin!(interface: world_api::app, implementation: Plugin);
