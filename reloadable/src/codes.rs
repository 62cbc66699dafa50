//! The codes of what happens while a plugin runs, in one place: the reports of the host
//! (events and logs), the errors of calls and the dev server's refusals of requests. Load errors (`HD001`–`HD031`), build and
//! watch errors (`HD060`–`HD079`) and the command line's (`HD080`–`HD090`) carry theirs
//! on their error types. `docs/errors.md` has a row for each code; a test checks that
//! every code the sources report has exactly one row there and every row a code.

/// Calls still running in a retired generation after the drain timeout.
pub const DRAIN_TIMEOUT: &str = "HD040";
/// A library still mapped after it was closed.
pub const STILL_MAPPED: &str = "HD041";
/// Threads a retired generation started still run; its library stays loaded.
pub const THREADS_RUNNING: &str = "HD042";
/// The host's event channel is full; events are dropped and counted.
pub const EVENTS_DROPPED: &str = "HD043";
/// A plugin function panicked.
pub const PANICKED: &str = "HD050";
/// A generation on probation failed a call and was rolled back.
pub const ROLLED_BACK: &str = "HD051";
/// A request handler ran past the handler timeout (`hotdev serve`).
pub const HANDLER_TIMEOUT: &str = "HD052";
/// A route's breaker opened (`hotdev serve`).
pub const BREAKER_OPEN: &str = "HD053";
/// The limit of stuck calls was reached (`hotdev serve`).
pub const STUCK_LIMIT: &str = "HD054";
/// A plugin call crashed (a fault caught under `Options::catch_crashes`).
pub const CRASHED: &str = "HD055";
/// Crash catching could not be turned on.
pub const CRASH_CATCHING: &str = "HD056";
/// A request was refused: its `Host` (or, for the dev server's own endpoints, its
/// `Origin`) is not one the server answers to (DNS rebinding; `hotdev::allowed_hosts`).
pub const HOST_NOT_ALLOWED: &str = "HD057";
