//! Drives a one-world plugin through what a real host does with it, one scenario per
//! argument, printing one `name: result` line each. Used by host/tests/one_world.rs.
//!
//!   world-host PLUGIN SCENARIO...
//!
//! Exits 0 when every scenario ran, 1 with the load error when the plugin is refused.

use std::sync::{Arc, Mutex};

use hotdev_host::Plugin;
use world_api::app::{self, Calls};
use world_api::tokio;

/// Every formatted log line, for the `tracing` scenario.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What this process maps, in KiB: `VmRSS`, `RssFile` and `VmSize` of `/proc/self/status`,
/// the size of its file-backed mappings (libraries; `VmSize` also counts the address space
/// malloc reserves for each new arena) and the number of its mappings.
fn memory() -> [(&'static str, u64); 5] {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let file_backed: u64 = maps
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(5)
                .is_some_and(|p| p.starts_with('/'))
        })
        .filter_map(|l| {
            let (start, end) = l.split_whitespace().next()?.split_once('-')?;
            let start = u64::from_str_radix(start, 16).ok()?;
            Some(u64::from_str_radix(end, 16).ok()? - start)
        })
        .sum();
    [
        ("rss_kib", kib("VmRSS:")),
        ("rss_file_kib", kib("RssFile:")),
        ("vmsize_kib", kib("VmSize:")),
        ("file_mapped_kib", file_backed / 1024),
        ("maps", maps.lines().count() as u64),
    ]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: world-host PLUGIN SCENARIO...");
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let plugin = match Plugin::<app::Interface>::load(&path) {
        Ok(p) => p,
        Err(e) => {
            println!("refused: {} {e}", e.code());
            std::process::exit(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for scenario in args {
        let result = match scenario.as_str() {
            "sleep" => runtime.block_on(plugin.sleepy(20).unwrap()),
            "spawn" => runtime.block_on(plugin.spawner(10).unwrap()).to_string(),
            "task-panic" => runtime.block_on(plugin.failing_task().unwrap()).to_string(),
            "closure-panic" => {
                let f = plugin.closure().unwrap();
                let joined = std::thread::spawn(move || f()).join();
                match joined {
                    Ok(v) => format!("returned {v}"),
                    Err(payload) => format!(
                        "panicked: {}",
                        payload
                            .downcast_ref::<&str>()
                            .copied()
                            .or(payload.downcast_ref::<String>().map(String::as_str))
                            .unwrap_or("?")
                    ),
                }
            }
            "call-panic" => match plugin
                .closure()
                .map(|f| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)))
            {
                Ok(Err(_)) => "caught by the host".into(),
                other => format!("unexpected {}", other.is_ok()),
            },
            "tracing" => {
                let v = plugin.traced(21).unwrap();
                let text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
                let line = text
                    .lines()
                    .find(|l| l.contains("plugin says hello"))
                    .unwrap_or("no line")
                    .to_string();
                format!("{v} {line}")
            }
            "log" => {
                plugin.traced(5).unwrap();
                let text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
                text.lines()
                    .find(|l| l.contains("a log record from the plugin"))
                    .unwrap_or("no line")
                    .to_string()
            }
            "rayon" => {
                // The world's rayon pool serves every generation: the thread count after ten
                // reloads, each calling into its own generation, is the count after one.
                plugin.par_sum(1000).unwrap();
                let before = threads();
                for _ in 0..10 {
                    plugin.reload(&path).expect("reload");
                    assert_eq!(plugin.par_sum(1000).unwrap(), 999_000);
                }
                format!("threads {before} -> {} over 10 reloads", threads())
            }
            "call-error" => match plugin.explode(3) {
                Ok(v) => format!("returned {v}"),
                Err(e) => format!("error: {e}"),
            },
            "task-local" => runtime
                .block_on(world_api::REQUEST_ID.scope(7, plugin.request_id().unwrap()))
                .to_string(),
            "net" => runtime.block_on(plugin.echo("over loopback".into()).unwrap()),
            "build-name" => plugin.build_name().unwrap().to_string(),
            reloads if reloads.starts_with("memory:") => {
                // bench/one_world.py: what N reloads of this plugin leave mapped (retired
                // Rust-typed generations stay mapped), each generation called once.
                let n: usize = reloads["memory:".len()..].parse().expect("memory:N");
                plugin.traced(1).unwrap();
                let before = memory();
                for _ in 0..n {
                    plugin.reload(&path).expect("reload");
                    plugin.traced(1).unwrap();
                }
                let after = memory();
                let mut out = format!("reloads={n}");
                for ((name, a), (_, b)) in before.iter().zip(after) {
                    out.push_str(&format!(" {name}={a} {name}_after={b}"));
                }
                out
            }
            "wait-reload" => {
                // Reloads from the path given on standard input, once per line.
                let mut line = String::new();
                let mut out = Vec::new();
                while std::io::stdin().read_line(&mut line).unwrap() > 0 {
                    match plugin.reload(line.trim()) {
                        Ok(_) => {
                            out.push(format!("reloaded {}", plugin.build_name().unwrap_or("?")))
                        }
                        Err(e) => out.push(format!("refused {} {e}", e.code())),
                    }
                    println!("{}", out.last().unwrap());
                    line.clear();
                }
                out.join("; ")
            }
            other => format!("unknown scenario {other}"),
        };
        println!("{scenario}: {result}");
    }
}
