//! What the host tells about generations (rollbacks, unloads, drain timeouts, threads
//! left running), on the terminal and `--events`, numbered as the server numbers them.

use crossbeam_channel::Receiver;

use super::Shared;
use crate::events::{Event, millis};

/// Reports what the host tells about generations (rollbacks, unloads, drain timeouts).
pub(super) fn follow_host(events: &Receiver<hotdev_host::Event>, shared: &Shared) {
    use hotdev_host::Event as H;
    let display = |g| shared.gens.display(g);
    for event in events {
        match event {
            H::RolledBack { from, to, reason } => {
                let (from, to) = (display(from), display(to));
                shared.term.line(&format!(
                    "rolled back from generation {from} to {to}: {reason}"
                ));
                shared.hub.reloaded(to, None);
                shared.emit(&Event::RolledBack { from, to, reason });
            }
            H::Unloaded { generation, pinned } => {
                let generation = display(generation);
                match &pinned {
                    Some(why) => shared.term.line(&format!(
                        "warning: generation {generation} could not leave memory: {why}"
                    )),
                    None => tracing::debug!(generation, "unloaded"),
                }
                shared.emit(&Event::Unloaded { generation, pinned });
            }
            H::DrainTimeout {
                generation,
                waited,
                calls,
            } => {
                let generation = display(generation);
                // The host counts every call that entered before the generation was retired,
                // whichever generation it runs in; the server knows which.
                let running = shared.calls.by_generation();
                let (inside, stuck) = running.get(&generation).copied().unwrap_or_default();
                let older: u64 = running.range(..generation).map(|(_, (n, _))| n).sum();
                let mut why = format!("{inside} calls still running in it ({stuck} stuck)");
                if older > 0 {
                    why.push_str(&format!(
                        ", and {older} calls running in older generations hold it too"
                    ));
                }
                // Rendered here rather than by the event's `Display`: the server numbers
                // generations across worker processes, and knows where the calls run.
                shared.term.line(&format!(
                    "warning: [{}] generation {generation} is not drained after {} ms: \
                     {why}; its library stays loaded until they return",
                    reloadable::codes::DRAIN_TIMEOUT,
                    waited.as_millis()
                ));
                shared.emit(&Event::DrainTimeout {
                    generation,
                    waited_ms: millis(waited),
                    calls: calls as u64,
                });
            }
            H::ThreadsRunning {
                generation,
                threads,
            } => {
                let generation = display(generation);
                shared.term.line(&format!(
                    "warning: [{}] generation {generation} started {threads} thread(s) that \
                     still run; its library stays loaded until they end",
                    reloadable::codes::THREADS_RUNNING
                ));
                shared.emit(&Event::ThreadsRunning {
                    generation,
                    threads: threads as u64,
                });
            }
            H::UnloadHookPanicked {
                generation,
                message,
            } => {
                let generation = display(generation);
                let message = format!("generation {generation}'s unload hook panicked: {message}");
                shared.term.line(&format!("warning: {message}"));
                shared.emit(&Event::Warning { message });
            }
            // Panics are reported by the request that met them, rejections by `load`.
            other => tracing::debug!(?other, "host event"),
        }
    }
}
