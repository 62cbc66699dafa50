//! The supervisor's copies of the builds' artifacts: the next build replaces an
//! artifact, and a worker started after a crash loads the last good generation again.
//!
//! A build's artifact in a cargo target directory is kept as a hard link, not a copy
//! ([`link_or_copy`]): cargo gives every build a new file, so the link keeps the bytes of
//! its build, and no time is spent writing them between the build and the swap. The
//! directory carries a `CACHEDIR.TAG`, as cargo's target directory does: backup tools skip
//! it, and the worker's shadow directory links the files kept here, as it links cargo's
//! outputs, since nothing rewrites them in place either (each is created once, under a
//! new name, and removed with the directory).

use std::fs::Permissions;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use hotdev_host::shadow::link_or_copy;
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
        std::fs::write(dir.path().join("CACHEDIR.TAG"), CACHEDIR_TAG).with_context(|| {
            format!(
                "[HD065] could not write {}",
                dir.path().join("CACHEDIR.TAG").display()
            )
        })?;
        Ok(Copies { dir, next: 1 })
    }

    /// The directory.
    pub(super) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps a build's artifact (which the next build replaces) under a new name: a link
    /// or a copy ([`link_or_copy`]).
    pub(super) fn store(&mut self, artifact: &Path) -> io::Result<PathBuf> {
        let n = self.next;
        self.next += 1;
        let name = artifact
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let path = self.dir().join(format!("build-{n}-{name}"));
        link_or_copy(artifact, &path)?;
        Ok(path)
    }
}

/// The cache directory tag (<https://bford.info/cachedir/>): its first line is the
/// signature the specification fixes.
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by hotdev serve: the builds it keeps while it\n\
# runs, removed when it exits. See https://bford.info/cachedir/\n";

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

    /// An artifact in a cargo target directory is kept as a link to the build's file: the
    /// next build's new file at the artifact path leaves it as it was. The directory is
    /// tagged, so that the worker's shadow directory links what is kept here in turn.
    #[cfg(target_os = "linux")]
    #[test]
    fn builds_in_a_target_directory_are_kept_as_links() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        std::fs::create_dir_all(target.join("debug")).unwrap();
        std::fs::write(target.join("CACHEDIR.TAG"), CACHEDIR_TAG).unwrap();
        let artifact = target.join("debug/libplugin.so");
        std::fs::write(&artifact, b"first build").unwrap();
        let mut copies = Copies::create_in(tmp.path()).unwrap();
        assert!(copies.dir().join("CACHEDIR.TAG").is_file());

        let first = copies.store(&artifact).unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&first), ino(&artifact), "a link, not a copy");
        // The next build, as cargo makes it: a new file renamed over the artifact path.
        let next = target.join("debug/.libplugin.so.tmp");
        std::fs::write(&next, b"second build").unwrap();
        std::fs::rename(&next, &artifact).unwrap();
        let second = copies.store(&artifact).unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), b"first build");
        assert_eq!(std::fs::read(&second).unwrap(), b"second build");
        assert_eq!(
            hotdev_host::shadow::default_root(&second),
            copies.dir().join("hotdev-shadow"),
            "the worker's shadow directory lies in the tagged directory, beside the builds"
        );

        // Outside a target directory: a copy, its own file.
        let loose = tmp.path().join("libloose.so");
        std::fs::write(&loose, b"loose").unwrap();
        let kept = copies.store(&loose).unwrap();
        assert_ne!(ino(&kept), ino(&loose));
        assert_eq!(std::fs::read(&kept).unwrap(), b"loose");
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
