//! The supervisor's copies of the builds' artifacts: the next build overwrites an
//! artifact, and a worker started after a crash loads the last good generation again.

use std::fs::Permissions;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use tempfile::TempDir;

/// The private directory of artifact copies: owner-only, under a fresh random name in the
/// temporary directory (`hotdev-serve-<pid>-<random>`), removed at exit.
#[derive(Debug)]
pub(super) struct Copies {
    dir: TempDir,
    next: u64,
}

impl Copies {
    /// Creates the directory in the system's temporary directory, after removing those of
    /// supervisors that were killed.
    pub(super) fn create() -> anyhow::Result<Copies> {
        Self::create_in(&std::env::temp_dir())
    }

    fn create_in(tmp: &Path) -> anyhow::Result<Copies> {
        remove_stale(tmp);
        // Created exclusively under a new name: a directory someone else made is never used.
        let dir = tempfile::Builder::new()
            .prefix(&format!("hotdev-serve-{}-", std::process::id()))
            .permissions(Permissions::from_mode(0o700))
            .tempdir_in(tmp)
            .with_context(|| {
                format!(
                    "[HD065] could not create a directory for build copies in {}",
                    tmp.display()
                )
            })?;
        Ok(Copies { dir, next: 1 })
    }

    /// The directory.
    pub(super) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Copies a build's artifact (which the next build overwrites) under a new name.
    pub(super) fn store(&mut self, artifact: &Path) -> io::Result<PathBuf> {
        let n = self.next;
        self.next += 1;
        let name = artifact
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let path = self.dir().join(format!("build-{n}-{name}"));
        hotdev_host::shadow::copy_into_place(artifact, &path)?;
        Ok(path)
    }
}

/// Removes the directories in `tmp` of supervisors that were killed before they could
/// (their pid is gone). Linux only: it reads `/proc`.
fn remove_stale(tmp: &Path) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("hotdev-serve-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let mine = meta.uid() == current_uid();
        if mine && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// This process's user id.
fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_live_in_a_private_directory_removed_with_them() {
        let tmp = tempfile::tempdir().unwrap();
        let artifact = tmp.path().join("libplugin.so");
        std::fs::write(&artifact, b"first build").unwrap();
        let mut copies = Copies::create_in(tmp.path()).unwrap();
        let dir = copies.dir().to_path_buf();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("hotdev-serve-{}-", std::process::id())));
        let mode = std::fs::metadata(&dir).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");

        let first = copies.store(&artifact).unwrap();
        std::fs::write(&artifact, b"second build").unwrap();
        let second = copies.store(&artifact).unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), b"first build");
        assert_eq!(std::fs::read(&second).unwrap(), b"second build");

        drop(copies);
        assert!(!dir.exists());
    }

    #[test]
    fn directories_of_dead_supervisors_are_removed_at_start() {
        let tmp = tempfile::tempdir().unwrap();
        // No process has this pid (Linux pids stay below 2^22).
        let dead = tmp.path().join(format!("hotdev-serve-{}-abc123", u32::MAX));
        let alive = tmp
            .path()
            .join(format!("hotdev-serve-{}-abc123", std::process::id()));
        let other = tmp.path().join("hotdev-serve-notapid");
        for dir in [&dead, &alive, &other] {
            std::fs::create_dir(dir).unwrap();
        }
        let copies = Copies::create_in(tmp.path()).unwrap();
        assert_eq!(!dead.exists(), cfg!(target_os = "linux"));
        assert!(alive.exists() && other.exists() && copies.dir().exists());
    }
}
