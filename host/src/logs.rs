//! Where a plugin's log records go: this process's `log` logger (and from there, when the
//! host's `tracing` subscriber reads `log` records, as `tracing-subscriber`'s default
//! set-up does, its subscriber), with the plugin's level, target, file and line kept.

use reloadable::RawStr;
use reloadable::hooks::HostHooks;

/// The hooks handed to a plugin's `init`: this process's allocator and logger.
pub(crate) fn hooks() -> HostHooks {
    HostHooks {
        allocator: &reloadable::alloc::THIS_PROCESS,
        log: Some(plugin_log),
        log_max_level: log::max_level() as u32,
    }
}

/// Receives one record from a plugin's log bridge.
///
/// # Safety
///
/// Called by reloadable's log bridge in a plugin (through [`HostHooks::log`]): `target`,
/// `message` and `file` are UTF-8 strings (from `&str`s) alive for the length of the call.
unsafe extern "C" fn plugin_log(
    level: u32,
    target: RawStr,
    message: RawStr,
    file: RawStr,
    line: u32,
) {
    let level = match level {
        1 => log::Level::Error,
        2 => log::Level::Warn,
        3 => log::Level::Info,
        4 => log::Level::Debug,
        _ => log::Level::Trace,
    };
    // SAFETY: the plugin's bridge passes strings alive for this call.
    let (target, message, file) = unsafe { (target.get(), message.get(), file.get()) };
    log::logger().log(
        &log::Record::builder()
            .level(level)
            .target(target)
            .args(format_args!("{message}"))
            .file((!file.is_empty()).then_some(file))
            .line((line != 0).then_some(line))
            .build(),
    );
}
