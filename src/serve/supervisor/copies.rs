//! The supervisor's copies of the builds' artifacts: the next build overwrites an
//! artifact, and a worker started after a crash loads the last good generation again.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The private directory of artifact copies (owner-only, removed at exit).
#[derive(Debug)]
pub(super) struct Copies {
    dir: PathBuf,
    next: u64,
}

impl Copies {
    pub(super) fn create() -> anyhow::Result<Copies> {
        Self::remove_stale();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("hotdev-serve-{}-{nanos:08x}", std::process::id()));
        // `create`, not `create_all`: a directory someone else made at this name is refused.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| {
                format!(
                    "[HD065] could not create the directory for build copies {}",
                    dir.display()
                )
            })?;
        Ok(Copies { dir, next: 1 })
    }

    /// Removes the directories of supervisors that were killed before they could (their
    /// pid is gone). Linux only: it reads `/proc`.
    fn remove_stale() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
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
            let mine = std::os::unix::fs::MetadataExt::uid(&meta) == current_uid();
            if mine && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// The directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies a build's artifact (which the next build overwrites) under a new name.
    pub(super) fn store(&mut self, artifact: &Path) -> io::Result<PathBuf> {
        let n = self.next;
        self.next += 1;
        let name = artifact
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let path = self.dir.join(format!("build-{n}-{name}"));
        hotdev_host::shadow::copy_into_place(artifact, &path)?;
        Ok(path)
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// This process's user id.
fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}
