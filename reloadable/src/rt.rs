//! The plugin-side runtime: panic capture for the call shims and hooks.
//!
//! A panic must never unwind out of an `extern "C"` shim into the host. Each shim runs
//! the plugin's function under [`guard`], which catches the panic and returns a
//! [`Report`] carrying the message and the plugin's source location. The location comes
//! from a panic hook installed in the plugin's own copy of std when the host loads it
//! (each `cdylib` links its own std, so the hook sees only the plugin's panics). A plugin in
//! the host's one world shares the host's std: there the hook notes the location and hands
//! every panic on to the host's hook (see [`init`]).
//!
//! Nothing here uses a thread-local with a destructor: on glibc such a destructor pins the
//! library in memory until its thread exits, and plugins must be able to unload.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::ptr;

use crate::ffi::{RString, sys_box, sys_unbox};

/// What went wrong inside a plugin call or hook. Allocated with the system allocator
/// (see [`ffi`](crate::ffi)) and freed by whoever receives it.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// [`Report::PANIC`] or [`Report::ERROR`].
    pub kind: u32,
    /// The panic message or the error's text.
    pub message: RString,
    /// The plugin source file where it panicked (empty when unknown).
    pub file: RString,
    /// The line (0 when unknown).
    pub line: u32,
    /// The column (0 when unknown).
    pub column: u32,
}

impl Report {
    /// The code panicked.
    pub const PANIC: u32 = 1;
    /// A hook returned an error.
    pub const ERROR: u32 = 2;

    /// Whether this is a panic.
    pub fn is_panic(&self) -> bool {
        self.kind == Self::PANIC
    }

    /// `file:line:column`, or `None` when the location is unknown.
    pub fn location(&self) -> Option<String> {
        (!self.file.is_empty()).then(|| format!("{}:{}:{}", self.file, self.line, self.column))
    }

    /// Takes ownership of a report a plugin returned; `None` for a null pointer.
    ///
    /// # Safety
    /// `p` must be null or a report returned by a plugin shim or hook, not taken before.
    pub unsafe fn take(p: *mut Report) -> Option<Report> {
        // SAFETY: non-null reports are made by `sys_box` in this module (in the plugin's
        // copy of it), and the caller promises this one was not taken before.
        (!p.is_null()).then(|| unsafe { sys_unbox(p) })
    }

    fn boxed_error(message: &str) -> *mut Report {
        sys_box(Report {
            kind: Self::ERROR,
            message: message.into(),
            file: RString::new(),
            line: 0,
            column: 0,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location() {
            Some(at) => write!(f, "{} (at {at})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

thread_local! {
    // The report made by the panic hook for the panic now unwinding on this thread.
    // A raw pointer in a `Cell`: no destructor is registered (see the module docs).
    static LAST_PANIC: Cell<*mut Report> = const { Cell::new(ptr::null_mut()) };
}

fn panic_hook(info: &PanicHookInfo<'_>) {
    let (file, line, column) = match info.location() {
        Some(l) => (l.file(), l.line(), l.column()),
        None => ("", 0, 0),
    };
    let report = sys_box(Report {
        kind: Report::PANIC,
        message: payload_message(info.payload()).into(),
        file: file.into(),
        line,
        column,
    });
    let previous = LAST_PANIC.replace(report);
    // SAFETY: pointers in `LAST_PANIC` come from `sys_box` and are taken exactly once.
    drop(unsafe { Report::take(previous) });
}

fn payload_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>")
}

/// Runs `f`, catching a panic: null on success, else the panic's report.
#[inline]
pub fn guard<F: FnOnce()>(f: F) -> *mut Report {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => ptr::null_mut(),
        Err(payload) => caught(payload),
    }
}

#[cold]
#[inline(never)]
fn caught(payload: Box<dyn Any + Send>) -> *mut Report {
    let report = LAST_PANIC.replace(ptr::null_mut());
    // SAFETY: a non-null report in `LAST_PANIC` comes from `sys_box` and is alive.
    let stale =
        !report.is_null() && unsafe { (*report).message.as_str() } != payload_message(&*payload);
    if stale {
        // Noted for a panic that ended elsewhere (outside any call, where the one world's
        // hook also sees panics), and this one came without the hook (`resume_unwind`).
        // SAFETY: as above; taken once, here.
        drop(unsafe { Report::take(report) });
    }
    if report.is_null() || stale {
        // The hook did not run (the plugin's hook was replaced, or `resume_unwind`).
        sys_box(Report {
            kind: Report::PANIC,
            message: payload_message(&*payload).into(),
            file: RString::new(),
            line: 0,
            column: 0,
        })
    } else {
        report
    }
}

/// Runs a fallible hook: null on `Ok`, else a report of the error or panic.
pub fn guard_result<E: fmt::Display, F: FnOnce() -> Result<(), E>>(f: F) -> *mut Report {
    let mut failure = None;
    let report = guard(|| {
        if let Err(e) = f() {
            failure = Some(e.to_string());
        }
    });
    match failure {
        Some(message) if report.is_null() => Report::boxed_error(&message),
        _ => report,
    }
}

/// Takes the host's allocator and logger (for `log`, and for `tracing` with the `tracing`
/// feature) and installs the plugin's panic hook. Exported through every descriptor's
/// `init`.
///
/// A plugin in its host's one world (a Rust `dylib` linking the host's std and crates)
/// shares this very copy of reloadable with the host: the allocator and the loggers are
/// already one, and the panic hook is the host's. It then installs, once per process, a
/// hook that notes the location of each panic for the call shims and hands the panic on
/// to the hook that was there, so a panic in plugin code is reported as a panic in host
/// code would be.
///
/// # Safety
/// Called by the host once per load, from one thread, before any shim runs, with its
/// hooks (see [`HostHooks`](crate::hooks::HostHooks)) or null.
pub unsafe extern "C" fn init(host: *const crate::hooks::HostHooks) {
    // SAFETY: the caller's promise: `host` is null or valid for this call.
    if unsafe { crate::hooks::same_world(host) } {
        // The allocator is already one: the plugin reaches `__rust_alloc` through its
        // global offset table, which the loader binds to the process's (the host's
        // `#[global_allocator]`, or std's), never to the plugin's own `Forward`.
        static CHAINED: std::sync::Once = std::sync::Once::new();
        CHAINED.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                panic_hook(info);
                previous(info);
            }));
        });
        return;
    }
    // SAFETY: the host's promise (above); nothing of the plugin has allocated yet.
    unsafe { crate::hooks::take(host) };
    // `panic_hook` is a function item, so the box holds nothing and allocates nothing.
    panic::set_hook(Box::new(panic_hook));
}

/// The [`TypeId`](std::any::TypeId) of `T` in this build, for the host's check that both
/// sides mean the same type.
pub fn type_id_of<T: ?Sized + 'static>() -> std::any::TypeId {
    std::any::TypeId::of::<T>()
}

/// The name of `T` with its crate's path (`alloc::string::String`), for the host's diffs.
pub fn type_name_of<T: ?Sized>() -> &'static str {
    std::any::type_name::<T>()
}

/// Restores the default panic hook of a plugin with its own std. Exported through every
/// descriptor's `fini`. In the host's one world the hook is the host's and stays.
///
/// # Safety
/// Called by the host once before unloading, after every call has returned.
pub unsafe extern "C" fn fini() {
    if !crate::hooks::is_own_world() {
        drop(panic::take_hook());
    }
    // SAFETY: pointers in `LAST_PANIC` come from `sys_box` and are taken exactly once.
    drop(unsafe { Report::take(LAST_PANIC.replace(ptr::null_mut())) });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_turns_a_panic_into_a_report_with_location() {
        // SAFETY: test-only; the hook is process-wide in this test binary; no host allocator.
        unsafe { init(ptr::null()) };
        let line = line!() + 1;
        let p = guard(|| panic!("boom {}", 7));
        // SAFETY: `p` comes from `guard`.
        let report = unsafe { Report::take(p) }.expect("a report");
        assert!(report.is_panic());
        assert_eq!(report.message, "boom 7");
        assert!(report.file.ends_with("rt.rs"), "{}", report.file);
        assert_eq!(report.line, line);
        // SAFETY: as above.
        unsafe { fini() };
    }

    #[test]
    fn guard_result_reports_errors() {
        let p = guard_result(|| Err::<(), _>("no database"));
        // SAFETY: `p` comes from `guard_result`.
        let report = unsafe { Report::take(p) }.expect("a report");
        assert_eq!(report.kind, Report::ERROR);
        assert_eq!(report.message, "no database");
        assert!(guard_result(|| Ok::<(), String>(())).is_null());
    }
}
