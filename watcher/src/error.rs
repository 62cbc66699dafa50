//! The watcher's errors.

use std::io;
use std::path::PathBuf;

/// Why the watcher could not start, or why it stopped.
///
/// Runtime problems that the watcher survives (a failed build, a directory it could not
/// watch later on) are reported as [`Event::Warning`](crate::Event::Warning) or
/// [`Event::BuildFailed`](crate::Event::BuildFailed) instead; an `Error` arriving as
/// [`Event::Fatal`](crate::Event::Fatal) means the watcher is gone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No plugin crate directory was given.
    #[error("[HD070] no plugin crate directory was given")]
    NoCrates,

    /// A plugin crate directory could not be resolved.
    #[error("[HD071] could not open the plugin crate directory {}", path.display())]
    CrateDir {
        /// The directory as given.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },

    /// The cargo binary could not be started.
    #[error("[HD072] could not run cargo at {}", cargo.display())]
    CargoSpawn {
        /// The cargo binary that was tried.
        cargo: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },

    /// `cargo metadata` failed; `stderr` is what cargo printed.
    #[error("[HD073] cargo metadata failed for {}: {}", manifest.display(), stderr.trim_end())]
    Metadata {
        /// The manifest cargo was asked about.
        manifest: PathBuf,
        /// Cargo's own error output.
        stderr: String,
    },

    /// `cargo metadata` printed something that is not the JSON it documents.
    #[error("[HD074] could not read the output of cargo metadata for {}", manifest.display())]
    MetadataParse {
        /// The manifest cargo was asked about.
        manifest: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// The directory holds no package (for example a virtual workspace manifest).
    #[error("[HD075] no package has its manifest at {}", manifest.display())]
    NotAPackage {
        /// The manifest that was expected to describe a package.
        manifest: PathBuf,
    },

    /// A path could not be watched.
    #[error("[HD076] could not watch {}", path.display())]
    Watch {
        /// The path that could not be watched.
        path: PathBuf,
        /// notify's error.
        #[source]
        source: notify::Error,
    },

    /// The OS ran out of file watches (inotify's `max_user_watches` on Linux).
    #[cfg_attr(
        target_os = "linux",
        error(
            "[HD077] ran out of inotify watches while watching {}; raise the limit with \
             `sudo sysctl fs.inotify.max_user_watches=524288` (add \
             `fs.inotify.max_user_watches=524288` to /etc/sysctl.conf to keep it)",
            path.display()
        )
    )]
    #[cfg_attr(
        not(target_os = "linux"),
        error(
            "[HD077] ran out of file watches while watching {}; raise the open-files limit \
             (`ulimit -n`) or watch fewer files",
            path.display()
        )
    )]
    WatchLimit {
        /// The path whose watch could not be added.
        path: PathBuf,
    },

    /// A thread of the watcher could not be started.
    #[error("[HD078] could not start the {name} thread")]
    Thread {
        /// The thread's name.
        name: &'static str,
        /// What the OS said.
        #[source]
        source: io::Error,
    },

    /// The file watcher stopped delivering events.
    #[error("[HD079] the file watcher stopped unexpectedly")]
    WatcherDied,
}

impl Error {
    /// The stable code (`HD070` …), with an entry in `docs/errors.md`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NoCrates => "HD070",
            Error::CrateDir { .. } => "HD071",
            Error::CargoSpawn { .. } => "HD072",
            Error::Metadata { .. } => "HD073",
            Error::MetadataParse { .. } => "HD074",
            Error::NotAPackage { .. } => "HD075",
            Error::Watch { .. } => "HD076",
            Error::WatchLimit { .. } => "HD077",
            Error::Thread { .. } => "HD078",
            Error::WatcherDied => "HD079",
        }
    }

    /// Wraps a notify error for `path`, recognising the out-of-watches case.
    pub(crate) fn from_notify(path: PathBuf, source: notify::Error) -> Self {
        if is_watch_limit(&source) {
            Error::WatchLimit { path }
        } else {
            Error::Watch { path, source }
        }
    }
}

/// Whether notify's error means the OS ran out of watches (inotify answers `ENOSPC`).
pub(crate) fn is_watch_limit(error: &notify::Error) -> bool {
    match &error.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        #[cfg(target_os = "linux")]
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(libc::ENOSPC),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_limit_message_gives_the_fix_not_enospc() {
        let notify_error = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        let error = Error::from_notify(PathBuf::from("/p/src"), notify_error);
        let message = error.to_string();
        assert!(message.contains("/p/src"), "{message}");
        #[cfg(target_os = "linux")]
        assert!(
            message.contains("sysctl fs.inotify.max_user_watches=524288"),
            "{message}"
        );
        assert!(!message.contains("No space left"), "{message}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn enospc_from_inotify_is_the_watch_limit() {
        let io = io::Error::from_raw_os_error(libc::ENOSPC);
        let error = Error::from_notify(PathBuf::from("/p"), notify::Error::io(io));
        assert!(matches!(error, Error::WatchLimit { .. }), "{error:?}");
    }
}
