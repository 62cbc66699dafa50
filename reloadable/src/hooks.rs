//! What a host hands a plugin when it initialises it: its allocator and its logger.
//!
//! A plugin in its host's one world (a Rust `dylib`, see `docs/rust-types.md`) shares the
//! host's std and crates, so none of this is needed there: it is recognised by the
//! allocator the host hands over being this very copy's (`same_world`). A plugin with its
//! own std (a `cdylib`) links its own copy of std and of every crate it uses, so the
//! globals of those crates exist twice: the plugin's copy of `log` has no logger unless one is set in it.
//! With the `log` feature (on by default), [`init`](crate::rt::init) sets a bridge as the
//! plugin's logger that forwards every record, with its level, target, file and line, to
//! the host through a C function, and the host passes it on to its own logger (and so to
//! its `tracing` subscriber when that one reads `log` records, as `tracing-subscriber`'s
//! default set-up does). With the `tracing` feature (on by default), a plugin's `tracing`
//! events take the same way without tracing's `log` feature: a small subscriber, set as
//! the plugin's global default when it has none of its own, formats each event with its
//! fields and the spans it happens in (`request{id=7}: answer computed answer=42`) and
//! forwards it through the same function (see `hooks/trace.rs`).

use crate::alloc::HostAllocator;
use crate::ffi::RawStr;

/// Receives one log record from a plugin: level (1 error … 5 trace), target, message,
/// file (empty when unknown) and line (0 when unknown).
///
/// # Safety
/// The three strings must be valid UTF-8 and alive for the call (they are made with
/// [`RawStr::new`] from the caller's `&str`s).
pub type HostLog = unsafe extern "C" fn(u32, RawStr, RawStr, RawStr, u32);

/// What the host hands a plugin at initialisation, valid during the `init` call (the
/// allocator for as long as the library is loaded).
#[repr(C)]
#[derive(Debug)]
pub struct HostHooks {
    /// The host's allocator (see [`alloc`](crate::alloc)), or null.
    pub allocator: *const HostAllocator,
    /// Where the plugin's log records go, if anywhere.
    pub log: Option<HostLog>,
    /// The most verbose level the host's logger takes now (0 off, 1 error … 5 trace).
    pub log_max_level: u32,
}

#[cfg(feature = "tracing")]
mod trace;

#[cfg(feature = "log")]
mod bridge {
    use std::sync::OnceLock;

    use super::HostLog;
    use crate::ffi::RawStr;

    static HOST_LOG: OnceLock<HostLog> = OnceLock::new();

    struct Bridge;

    impl log::Log for Bridge {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            HOST_LOG.get().is_some() && metadata.level() <= log::max_level()
        }

        fn log(&self, record: &log::Record<'_>) {
            let Some(host) = HOST_LOG.get() else { return };
            if record.level() > log::max_level() {
                return;
            }
            let formatted;
            let message = match record.args().as_str() {
                Some(s) => s,
                None => {
                    formatted = record.args().to_string();
                    &formatted
                }
            };
            // SAFETY: the host's function, set at init; the strings live for the call.
            unsafe {
                host(
                    record.level() as u32,
                    RawStr::new(record.target()),
                    RawStr::new(message),
                    RawStr::new(record.file().unwrap_or("")),
                    record.line().unwrap_or(0),
                )
            }
        }

        fn flush(&self) {}
    }

    static BRIDGE: Bridge = Bridge;

    /// Makes the bridge this copy of `log`'s logger.
    pub(crate) fn install(host: HostLog, max_level: u32) {
        let _ = HOST_LOG.set(host);
        if log::set_logger(&BRIDGE).is_ok() {
            log::set_max_level(match max_level {
                0 => log::LevelFilter::Off,
                1 => log::LevelFilter::Error,
                2 => log::LevelFilter::Warn,
                3 => log::LevelFilter::Info,
                4 => log::LevelFilter::Debug,
                _ => log::LevelFilter::Trace,
            });
        }
    }
}

/// Whether the host that handed over `hooks` runs this very copy of reloadable: the plugin
/// is in the host's one world (one std, one copy of every shared crate), so the allocator,
/// the loggers and the panic hook are already the host's. Remembered for
/// [`is_own_world`].
///
/// # Safety
/// `hooks` must be null or valid for this call.
pub(crate) unsafe fn same_world(hooks: *const HostHooks) -> bool {
    if hooks.is_null() {
        return false;
    }
    // SAFETY: the caller's promise.
    let allocator = unsafe { (*hooks).allocator };
    let same = std::ptr::eq(allocator, &crate::alloc::THIS_PROCESS);
    if same {
        SHARED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    same
}

/// Set once a host of this copy of reloadable's own process initialised a plugin through
/// it: this copy is the one world's, shared by host and plugins.
static SHARED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this copy of reloadable is shared by a host and its plugins (see
/// [`same_world`]).
pub(crate) fn is_own_world() -> bool {
    SHARED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Takes what the host handed over (see [`rt::init`](crate::rt::init)).
///
/// # Safety
/// `hooks` must be null or valid for this call, its allocator null or alive while the
/// library is loaded.
pub(crate) unsafe fn take(hooks: *const HostHooks) {
    if hooks.is_null() {
        return;
    }
    // SAFETY: the caller's promise.
    let hooks = unsafe { &*hooks };
    // SAFETY: as above; nothing of the plugin has allocated yet.
    unsafe { crate::alloc::set_host(hooks.allocator) };
    #[cfg(feature = "log")]
    if let Some(log) = hooks.log {
        bridge::install(log, hooks.log_max_level);
    }
    #[cfg(feature = "tracing")]
    if let Some(log) = hooks.log {
        trace::install(log, hooks.log_max_level);
    }
}
