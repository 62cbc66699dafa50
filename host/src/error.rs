//! Load-path errors, each with a stable code documented in `docs/errors.md`.

use std::io;
use std::path::PathBuf;

/// Why a library could not become a generation. The current generation (if any) keeps
/// serving; nothing of the refused library has run except its loader's initialisers, and
/// for `HD020`–`HD023` its load or state hooks.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The library file does not exist.
    #[error("[HD001] library not found: {}", path.display())]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The library file may not be read.
    #[error("[HD002] permission denied reading {}", path.display())]
    PermissionDenied {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The path is a directory.
    #[error("[HD003] {} is a directory, not a library", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is not a shared library for this machine.
    #[error("[HD004] {} is not a loadable library: {reason}", path.display())]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The file is cut short, or its headers disagree with each other.
    #[error("[HD005] {} is truncated or half-written: {reason}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The system loader refused the library.
    #[error("[HD006] the system loader refused {}", path.display())]
    Loader {
        /// The shadow copy given to the loader.
        path: PathBuf,
        /// The loader's message.
        source: libloading::Error,
    },
    /// Reading the file failed.
    #[error("[HD007] could not read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The path is not a regular file (a FIFO, a device, a socket).
    #[error("[HD008] {} is a {kind}, not a regular file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is (`FIFO (named pipe)`, `character device`, ...).
        kind: &'static str,
    },
    /// The library exports no plugin descriptor.
    #[error("[HD010] {} has no `{symbol}` symbol: not a hotdev plugin", path.display())]
    NoEntrySymbol {
        /// The library.
        path: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
    },
    /// The plugin descriptor is unusable (another version, or a pointer outside the library).
    #[error("[HD011] {} has an unusable plugin descriptor: {reason}", path.display())]
    BadDescriptor {
        /// The library.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The library implements another interface.
    #[error("[HD012] {} implements interface `{found}`, not `{expected}`", path.display())]
    WrongInterface {
        /// The library.
        path: PathBuf,
        /// The interface the host asked for.
        expected: String,
        /// The interface the plugin implements.
        found: String,
    },
    /// The interface was built differently (signatures, layouts, compiler, target).
    #[error("[HD013] {} was built against a different ABI: {}", path.display(), diff.join("; "))]
    FingerprintMismatch {
        /// The library.
        path: PathBuf,
        /// Each difference, host side first: `CounterState: size 16 -> 24`.
        diff: Vec<String>,
    },
    /// A type crossing a Rust-typed interface is another build of its crate.
    #[error(
        "[HD015] {} was built in another build world: {}",
        path.display(),
        types.join("; ")
    )]
    TypeMismatch {
        /// The library.
        path: PathBuf,
        /// Each Rust type whose identity differs, by full name, with the cause.
        types: Vec<String>,
    },
    /// The plugin was rebuilt for a change outside its crate (Rust-typed interfaces).
    #[error(
        "[HD016] {} was rebuilt for a change in {}, outside the plugin crate: a Rust-typed interface cannot take it without restarting the host",
        path.display(),
        packages.join(", ")
    )]
    OutsideChange {
        /// The library.
        path: PathBuf,
        /// The packages (or directories) whose files changed.
        packages: Vec<String>,
    },
    /// A Rust symbol the plugin needs is defined nowhere in this process's world.
    #[error(
        "[HD017] {} needs `{symbol}`, which this process does not define{}",
        path.display(),
        if *more > 0 { format!(" (and {more} more symbols)") } else { String::new() }
    )]
    MissingSymbol {
        /// The library.
        path: PathBuf,
        /// The first missing symbol, demangled.
        symbol: String,
        /// The same, as the library names it.
        mangled: String,
        /// How many more are missing.
        more: usize,
    },
    /// The plugin links a world library other than the one this process loaded.
    #[error(
        "[HD018] {} links {}, which {reason}",
        path.display(),
        library.display()
    )]
    WorldChanged {
        /// The library.
        path: PathBuf,
        /// The world library, as the plugin's build made it.
        library: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The threads the library starts could not be watched.
    #[error("[HD014] could not watch the threads {} starts: {reason}", path.display())]
    ThreadWatch {
        /// The library.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The plugin's load hook returned an error.
    #[error("[HD020] the load hook of {} failed: {message}", path.display())]
    OnLoadFailed {
        /// The library.
        path: PathBuf,
        /// The hook's error.
        message: String,
    },
    /// A hook of the plugin panicked.
    #[error("[HD021] the {hook} hook of {} panicked{}: {message}", path.display(), at(location))]
    HookPanicked {
        /// The library.
        path: PathBuf,
        /// Which hook.
        hook: Hook,
        /// The panic message.
        message: String,
        /// The plugin's `file:line:column`.
        location: Option<String>,
    },
    /// The state changed layout and cannot be migrated.
    #[error(
        "[HD022] the state of {} changed layout ({}) and {missing}, so it cannot be migrated",
        path.display(),
        diff.join("; ")
    )]
    StateLayoutChanged {
        /// The library.
        path: PathBuf,
        /// What changed, old layout first.
        diff: Vec<String>,
        /// Which hook is missing.
        missing: &'static str,
    },
    /// The state's save or restore hook failed.
    #[error("[HD023] migrating the state to {} failed: {message}", path.display())]
    StateMigrationFailed {
        /// The library.
        path: PathBuf,
        /// The hook's error.
        message: String,
    },
    /// The shadow copy could not be made.
    #[error("[HD030] could not make a shadow copy of {} in {}", path.display(), dir.display())]
    Shadow {
        /// The artifact.
        path: PathBuf,
        /// The shadow directory.
        dir: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file was written (or grew) after it was opened, before its shadow copy.
    #[error("[HD031] {} changed while it was being copied: a build is still writing it", path.display())]
    ChangedWhileCopying {
        /// The artifact.
        path: PathBuf,
    },
    /// Crash catching could not be turned on.
    #[error("[HD056] could not turn on crash catching for {}", path.display())]
    CrashCatching {
        /// The library being loaded.
        path: PathBuf,
        /// Why (`sigaction` failed, or the platform has no implementation).
        source: io::Error,
    },
}

fn at(location: &Option<String>) -> String {
    location
        .as_ref()
        .map(|l| format!(" at {l}"))
        .unwrap_or_default()
}

impl LoadError {
    /// The stable code (`HD001` …), with an entry in `docs/errors.md`.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::NotFound { .. } => "HD001",
            LoadError::PermissionDenied { .. } => "HD002",
            LoadError::NotAFile { .. } => "HD003",
            LoadError::NotALibrary { .. } => "HD004",
            LoadError::Truncated { .. } => "HD005",
            LoadError::Loader { .. } => "HD006",
            LoadError::Io { .. } => "HD007",
            LoadError::NotRegular { .. } => "HD008",
            LoadError::NoEntrySymbol { .. } => "HD010",
            LoadError::BadDescriptor { .. } => "HD011",
            LoadError::WrongInterface { .. } => "HD012",
            LoadError::FingerprintMismatch { .. } => "HD013",
            LoadError::ThreadWatch { .. } => "HD014",
            LoadError::TypeMismatch { .. } => "HD015",
            LoadError::OutsideChange { .. } => "HD016",
            LoadError::MissingSymbol { .. } => "HD017",
            LoadError::WorldChanged { .. } => "HD018",
            LoadError::OnLoadFailed { .. } => "HD020",
            LoadError::HookPanicked { .. } => "HD021",
            LoadError::StateLayoutChanged { .. } => "HD022",
            LoadError::StateMigrationFailed { .. } => "HD023",
            LoadError::Shadow { .. } => "HD030",
            LoadError::ChangedWhileCopying { .. } => "HD031",
            LoadError::CrashCatching { .. } => "HD056",
        }
    }

    /// What to do about it, in one line.
    pub fn fix(&self) -> &'static str {
        match self {
            LoadError::NotFound { .. } => {
                "check the path; build the plugin first (cargo build --lib)"
            }
            LoadError::PermissionDenied { .. } => "make the file readable by this user",
            LoadError::NotAFile { .. } => {
                "pass the library file (target/debug/lib<name>.so), or a plugin crate to `hotdev check`"
            }
            LoadError::NotALibrary { .. } => {
                "pass the cdylib cargo built (crate-type = [\"cdylib\"]), built for this machine"
            }
            LoadError::Truncated { .. } => "wait for the build to finish, or rebuild the plugin",
            LoadError::Loader { .. } => {
                "the loader's message names the missing library or symbol; rebuild the plugin"
            }
            LoadError::Io { .. } => "check the file and the disk",
            LoadError::NotRegular { .. } => {
                "pass the library file cargo built; hotdev reads only regular files"
            }
            LoadError::NoEntrySymbol { .. } => {
                "export the plugin with reloadable::export_plugin! in the crate's lib.rs"
            }
            LoadError::BadDescriptor { .. } => {
                "rebuild the plugin against the same reloadable version as the host"
            }
            LoadError::WrongInterface { .. } => "load a plugin of the interface this host expects",
            LoadError::FingerprintMismatch { .. } => {
                "a running host cannot adopt a changed interface: stop it and start it again \
                 (so that host and plugin are built from the same interface crate, with the \
                 same compiler); to keep this host running, undo the interface change"
            }
            LoadError::OutsideChange { .. } => {
                "restart the host to use the change (hotdev run restarts it by itself); the running generation keeps serving"
            }
            LoadError::MissingSymbol { .. } => {
                "the plugin was built against another build of its world (the interface crate's library): restart the host so that both are built together (hotdev run does); a crate's private item reached through inlining is a bug to report"
            }
            LoadError::WorldChanged { .. } => {
                "restart the host to take the new world (hotdev run restarts it by itself); add crates the plugin needs to the interface crate's dependencies, not to the plugin's"
            }
            LoadError::TypeMismatch { .. } => {
                "build host and plugin together: same profile, and one version, source and feature set of each crate whose types cross (hotdev's dev loop builds the plugin with the host's)"
            }
            LoadError::ThreadWatch { .. } => {
                "rebuild the plugin; report it if a regular cargo build is refused"
            }
            LoadError::OnLoadFailed { .. } => "fix what the load hook reports",
            LoadError::HookPanicked { .. } => "fix the panic at the location shown",
            LoadError::StateLayoutChanged { .. } => {
                "add `migrate: (save, restore)` to export_plugin!, or restart the host"
            }
            LoadError::StateMigrationFailed { .. } => "fix the plugin's save/restore hooks",
            LoadError::Shadow { .. } => "check free space and permissions of the shadow directory",
            LoadError::ChangedWhileCopying { .. } => {
                "nothing: the next finished build is picked up"
            }
            LoadError::CrashCatching { .. } => {
                "load with `Options::catch_crashes` off (crash catching is implemented for Unix only), or find what replaced the signal handlers"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: HD013's fix said "rebuild host and plugin", but a host that is running
    /// cannot pick up a new interface by any rebuild: it must be restarted.
    #[test]
    fn the_fix_for_a_changed_interface_says_to_restart_the_host() {
        let e = LoadError::FingerprintMismatch {
            path: PathBuf::from("libp.so"),
            diff: vec!["fn step: signature changed".into()],
        };
        assert_eq!(e.code(), "HD013");
        assert!(
            e.fix().contains("stop it and start it again"),
            "{}",
            e.fix()
        );
    }
}

/// A plugin's hook that the host runs around a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hook {
    /// `on_load`, run once the library is validated.
    Load,
    /// The state's `Default`, making the first state.
    StateInit,
    /// `save`, carrying the state out of the old generation.
    StateSave,
    /// `restore`, carrying the state into the new generation.
    StateRestore,
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hook::Load => "load",
            Hook::StateInit => "state init",
            Hook::StateSave => "state save",
            Hook::StateRestore => "state restore",
        })
    }
}
