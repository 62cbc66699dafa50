//! Shadow copies: the host never loads a build output in place.
//!
//! Each generation is copied to a unique file name in a private directory, written under
//! a temporary name and renamed into place, so the loader never sees a half-written file,
//! a rebuild can overwrite the artifact while the old copy is still loaded (Windows locks
//! loaded DLLs), and no two generations share a path (macOS's `dlopen` would return the
//! cached first one).
//!
//! # Links instead of copies
//!
//! On Linux, a build output inside a cargo target directory (a directory holding cargo's
//! `CACHEDIR.TAG` above it) is not copied but hard-linked under the temporary name: the
//! same inode, no bytes written, which makes a reload of a multi-megabyte library several
//! times faster. It is linked only if it is still the very file that
//! [`read_artifact`](crate::library::read_artifact) opened and the checks read (same
//! device, inode, size, modification and change times, as a regular file, not a symbolic
//! link), and the link is checked to share that inode, unwritten, afterwards; otherwise
//! the opened file is read whole and written ([`Bytes::contents`]: refused if it was
//! written since it was opened, or differs from what the checks read). That is safe because cargo and the linkers never
//! write an existing output in place: each build makes a new inode (verified on this
//! platform; see `os::link_unchanged`), so the linked inode keeps the bytes that were
//! checked for as long as it is loaded. A library written in place by other tools (`cp`
//! over an existing file) must not be loaded from a target directory while
//! `HOTDEV_SHADOW_COPY=1` is unset: it turns links off. Anything else (Windows, where the
//! copy keeps the loader's lock off the build output; macOS and other Unixes, untested;
//! another file system (`EXDEV`); a file system without hard links) copies.
//!
//! The system loader knows a library by its device and inode: `dlopen` of a second path
//! to an inode already loaded returns the loaded one (glibc), which would make two
//! generations one, or make a generation the library some other code loaded from the
//! artifact path. So an inode is linked only if it is not mapped in the process
//! (`/proc/self/maps`) and no shadow link of it made by this process is still in use; a
//! reload of the same unchanged file is copied.
//!
//! Layout: `<root>/<pid>-<nonce>/` per process, owner-only, holding a `.lock` file locked
//! for the process's lifetime. At start-up, directories whose lock nobody holds were left
//! by a crashed run and are removed. The default root is `hotdev-shadow/` in the cargo
//! target directory that holds the artifact (never a predictable path in a shared
//! temporary directory).
//!
//! Temporary copies are created exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`), so an entry
//! planted under the next temporary name (a symbolic link to a file elsewhere) is never
//! written through; a copy that fails half-way (a full disk) is removed at once. When the
//! directory disappears while the process runs (`cargo clean` removes the target
//! directory), the next copy creates it again, privately and locked, as at start.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::library::Bytes;
use crate::os;

/// The shadow links this process made, by path, with the (device, inode) each shares;
/// an entry goes when its link is removed and the library is no longer mapped.
static LINKED: Mutex<Option<HashMap<PathBuf, (u64, u64)>>> = Mutex::new(None);

/// Held from the decision to link an inode until the link is recorded in [`LINKED`].
static LINKING: Mutex<()> = Mutex::new(());

fn linked() -> std::sync::MutexGuard<'static, Option<HashMap<PathBuf, (u64, u64)>>> {
    LINKED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a shadow link this process made to the inode `key` still exists. Entries
/// whose link is gone (its directory removed with its `ShadowDir`) are dropped first:
/// their inode numbers may since have been given to other files.
fn link_in_use(key: (u64, u64)) -> bool {
    let mut map = linked();
    let Some(map) = map.as_mut() else {
        return false;
    };
    map.retain(|path, recorded| {
        fs::symlink_metadata(path)
            .is_ok_and(|meta| os::identity(&meta).file_key() == Some(*recorded))
    });
    map.values().any(|recorded| *recorded == key)
}

/// A private per-process directory of shadow copies, removed on drop.
#[derive(Debug)]
pub struct ShadowDir {
    dir: PathBuf,
    /// The lock file, held open (and locked) for the directory's lifetime; replaced when
    /// the directory is created again.
    lock: Mutex<File>,
    counter: AtomicU64,
}

/// The default shadow root for an artifact: `hotdev-shadow` in the cargo target directory
/// holding it (found by cargo's `CACHEDIR.TAG`), else next to the artifact.
pub fn default_root(artifact: &Path) -> PathBuf {
    let artifact = fs::canonicalize(artifact).unwrap_or_else(|_| artifact.to_path_buf());
    let parent = artifact.parent().unwrap_or(Path::new("."));
    parent
        .ancestors()
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(|target| target.join("hotdev-shadow"))
        .unwrap_or_else(|| parent.join(".hotdev-shadow"))
}

fn nonce() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
}

impl ShadowDir {
    /// Creates this process's directory under `root` (owner-only), after removing stale
    /// directories left there by runs that crashed.
    pub fn create(root: &Path) -> io::Result<ShadowDir> {
        os::create_private_dir(root)?;
        let removed = sweep_stale(root);
        if removed > 0 {
            tracing::info!(root = %root.display(), removed, "removed stale shadow copies");
        }
        let dir = root.join(format!("{}-{:x}", std::process::id(), nonce()));
        let lock = make_locked_dir(&dir)?;
        Ok(ShadowDir {
            dir,
            lock: Mutex::new(lock),
            counter: AtomicU64::new(0),
        })
    }

    /// Creates the directory again if it has gone (`cargo clean` removed the target
    /// directory holding it), with the same checks as at start.
    fn ensure(&self) -> io::Result<()> {
        let exists = || match fs::symlink_metadata(&self.dir) {
            Ok(meta) if meta.is_dir() => Ok(true),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is no longer a directory", self.dir.display()),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        };
        if exists()? {
            return Ok(());
        }
        let mut lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if exists()? {
            return Ok(());
        }
        let root = self.dir.parent().unwrap_or(Path::new("."));
        os::create_private_dir(root)?;
        *lock = make_locked_dir(&self.dir)?;
        tracing::info!(dir = %self.dir.display(), "the shadow directory had been removed; created it again");
        Ok(())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` (the artifact's content) as a new shadow copy: first under a
    /// temporary name, then renamed to a unique one, which is returned. Companion files
    /// (a Windows `.pdb`) are copied alongside under the same unique stem.
    ///
    /// A name already taken in the directory (by anything, a planted link included) is
    /// skipped, never written through.
    ///
    /// When `bytes` were read from `artifact` ([`read_artifact`](crate::library::read_artifact):
    /// they carry its identity) and the artifact lies in a cargo target directory, the file
    /// is hard-linked instead (Linux; see the module docs).
    pub fn place(&self, artifact: &Path, bytes: &Bytes, generation: u64) -> io::Result<PathBuf> {
        self.ensure()?;
        let may_link = bytes.identity().is_some() && links_allowed(artifact);
        // One link decision at a time in this process: between the look at the links in
        // use and the new link's record, another thread must not link the same inode (the
        // loader would hand both the first one's mapping).
        let _deciding = may_link.then(|| LINKING.lock().unwrap_or_else(PoisonError::into_inner));
        let read = bytes
            .identity()
            .cloned()
            .filter(|_| may_link)
            .filter(|read| read.file_key().is_some_and(|key| !link_in_use(key)));
        let stem = artifact
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin");
        let ext = artifact.extension().and_then(|e| e.to_str());
        let mut attempts = 0;
        let (unique, dest) = loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let unique = format!("{stem}.g{generation}.{n}");
            let file_name = match ext {
                Some(ext) => format!("{unique}.{ext}"),
                None => unique.clone(),
            };
            let tmp = self.dir.join(format!(".tmp-{file_name}"));
            let link = match &read {
                Some(read) => os::link_unchanged(artifact, &tmp, read),
                None => Ok(false),
            };
            let is_link = matches!(link, Ok(true));
            let placed = match link {
                Ok(true) => Ok(()),
                Ok(false) => bytes.contents().and_then(|bytes| write_new(&tmp, bytes)),
                Err(e) => Err(e),
            };
            match placed {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => {
                    tracing::warn!(path = %tmp.display(), "a shadow copy's temporary name was taken; using another");
                    attempts += 1;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let dest = self.dir.join(&file_name);
            if let Err(e) = fs::rename(&tmp, &dest) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            if let Some(key) = read
                .as_ref()
                .and_then(os::Identity::file_key)
                .filter(|_| is_link)
            {
                linked()
                    .get_or_insert_with(HashMap::new)
                    .insert(dest.clone(), key);
            }
            break (unique, dest);
        };
        for (companion, ext) in os::companion_files(artifact) {
            let placed = copy_into_place(&companion, &self.dir.join(format!("{unique}.{ext}")));
            if let Err(e) = placed {
                let _ = self.remove(&dest);
                return Err(e);
            }
        }
        Ok(dest)
    }

    /// Removes a shadow copy and its companions. Errors are returned for the caller to
    /// report (a copy still locked by Windows cannot be removed yet).
    pub fn remove(&self, copy: &Path) -> io::Result<()> {
        for (companion, _) in os::companion_files(copy) {
            let _ = fs::remove_file(companion);
        }
        if os::is_mapped(copy) != Some(true)
            && let Some(map) = linked().as_mut()
        {
            map.remove(copy);
        }
        match fs::remove_file(copy) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// The shadow copies now in the directory.
    pub fn copies(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
            })
            .collect()
    }
}

impl Drop for ShadowDir {
    fn drop(&mut self) {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove the shadow directory");
            }
            _ => {}
        }
    }
}

/// Whether a shadow copy of `artifact` may be a hard link: it lies in a cargo target
/// directory (cargo's `CACHEDIR.TAG` in one of its ancestors), whose outputs cargo and the
/// linkers replace rather than rewrite, and `HOTDEV_SHADOW_COPY` is unset (or `0`).
fn links_allowed(artifact: &Path) -> bool {
    if std::env::var_os("HOTDEV_SHADOW_COPY").is_some_and(|v| v != "0") {
        return false;
    }
    artifact
        .parent()
        .into_iter()
        .flat_map(Path::ancestors)
        .any(|dir| dir.join("CACHEDIR.TAG").is_file())
}

/// Creates `dir` holding a locked `.lock` file: first under a staging name, so that a
/// concurrent sweep never sees it without its lock, then renamed into place.
fn make_locked_dir(dir: &Path) -> io::Result<File> {
    let root = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = root.join(format!(".new-{name}-{:x}", nonce()));
    os::create_private_dir(&staging)?;
    let lock = os::create_new_private(&staging.join(".lock"))?;
    if !os::try_lock(&lock)? {
        return Err(io::Error::other("could not lock a fresh shadow directory"));
    }
    fs::rename(&staging, dir)?;
    Ok(lock)
}

/// Copies `from` to `to` so that nobody ever sees `to` half-written: the bytes go to a
/// new private file `.<name>.partial` beside `to` (created fresh, never written through
/// an existing file or link), which is then renamed over `to`. On an error the partial
/// file is removed and `to` is left as it was.
///
/// The copy is its owner's alone, and keeps the owner's permissions of `from` (on Unix:
/// an executable stays executable, mode `0700`; a library is `0600`).
pub fn copy_into_place(from: &Path, to: &Path) -> io::Result<()> {
    let name = to
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let partial = to.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let copied = (|| {
        let mut source = fs::File::open(from)?;
        let mut file = os::create_new_private(&partial)?;
        io::copy(&mut source, &mut file)?;
        file.flush()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = source.metadata()?.permissions().mode() & 0o700;
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        drop(file);
        fs::rename(&partial, to)
    })();
    if copied.is_err() {
        let _ = fs::remove_file(&partial);
    }
    copied
}

/// Puts the build output `from` at the new name `to`, where later loads find it after the
/// next build has replaced `from`: a hard link (no bytes written) where [`ShadowDir::place`]
/// would link, that is on Linux, for a regular file in a cargo target directory (whose
/// outputs are replaced by each build, never rewritten), with `HOTDEV_SHADOW_COPY` unset;
/// otherwise, or when the link fails (another file system), a copy ([`copy_into_place`]).
/// Returns whether it linked.
///
/// A link is kept only if it names the very file `from` named before it was made (a
/// build that replaced `from` meanwhile gets a copy of the new file instead).
pub fn link_or_copy(from: &Path, to: &Path) -> io::Result<bool> {
    if cfg!(target_os = "linux")
        && links_allowed(from)
        && let Ok(before) = fs::symlink_metadata(from)
        && before.is_file()
    {
        match fs::hard_link(from, to) {
            Ok(()) if same_file(&before, to) => return Ok(true),
            Ok(()) => fs::remove_file(to)?,
            Err(e) => tracing::debug!(error = %e, from = %from.display(), "no link; copying"),
        }
    }
    copy_into_place(from, to)?;
    Ok(false)
}

/// Whether `path` names a regular file with the device and inode of `meta`.
fn same_file(meta: &fs::Metadata, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::symlink_metadata(path)
            .is_ok_and(|m| m.is_file() && m.dev() == meta.dev() && m.ino() == meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (meta, path);
        false
    }
}

/// Writes `bytes` to a file that must not exist yet; removes it again if the write fails
/// (a full disk), so no partial copy stays behind.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = os::create_new_private(path)?;
    let written = file.write_all(bytes).and_then(|()| file.flush());
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Removes directories under `root` left by runs that no longer hold their lock, and
/// half-created ones older than a minute. Returns how many were removed.
pub fn sweep_stale(root: &Path) -> usize {
    let Ok(entries) = fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let staging = entry.file_name().to_string_lossy().starts_with(".new-");
        let stale = if staging {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(60))
        } else {
            match File::open(path.join(".lock")) {
                Ok(f) => os::try_lock(&f).unwrap_or(false),
                Err(_) => true,
            }
        };
        if stale && fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_into_place_replaces_whole_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("build"), dir.path().join("copy"));
        fs::write(&from, b"new bytes").unwrap();
        fs::write(&to, b"old").unwrap();
        copy_into_place(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"new bytes");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "a partial file remained: {names:?}");

        // The owner's permissions come along: an executable stays executable, the copy
        // stays private.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&from, fs::Permissions::from_mode(0o755)).unwrap();
            copy_into_place(&from, &to).unwrap();
            assert_eq!(
                fs::metadata(&to).unwrap().permissions().mode() & 0o777,
                0o700
            );
            fs::set_permissions(&from, fs::Permissions::from_mode(0o644)).unwrap();
            copy_into_place(&from, &to).unwrap();
            assert_eq!(
                fs::metadata(&to).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }

        // A missing source leaves the destination as it was, and no partial file.
        let err = copy_into_place(&dir.path().join("missing"), &to).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(fs::read(&to).unwrap(), b"new bytes");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn copies_get_unique_names_and_no_temporaries_remain() {
        let root = tempfile::tempdir().unwrap();
        let shadow = ShadowDir::create(root.path()).unwrap();
        let artifact = Path::new("/build/libplugin.so");
        let a = shadow
            .place(artifact, &Bytes::from(b"one".to_vec()), 1)
            .unwrap();
        let b = shadow
            .place(artifact, &Bytes::from(b"two".to_vec()), 2)
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert!(a.file_name().unwrap().to_string_lossy().ends_with(".so"));
        let mut copies = shadow.copies();
        copies.sort();
        assert_eq!(copies, vec![a.clone(), b]);
        shadow.remove(&a).unwrap();
        assert_eq!(shadow.copies().len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn directories_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let shadow_root = root.path().join("shadow");
        let shadow = ShadowDir::create(&shadow_root).unwrap();
        for dir in [&shadow_root, &shadow.path().to_path_buf()] {
            let mode = fs::metadata(dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_group_readable_root_is_made_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let shadow_root = root.path().join("shadow");
        fs::create_dir(&shadow_root).unwrap();
        fs::set_permissions(&shadow_root, fs::Permissions::from_mode(0o755)).unwrap();
        let _shadow = ShadowDir::create(&shadow_root).unwrap();
        let mode = fs::metadata(&shadow_root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn stale_directories_are_swept_and_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        // A crashed run: a directory with an unlocked lock file and a leftover copy.
        let crashed = root.path().join("999999-dead");
        fs::create_dir(&crashed).unwrap();
        fs::write(crashed.join(".lock"), b"").unwrap();
        fs::write(crashed.join("libplugin.g1.0.so"), b"old").unwrap();
        let live = ShadowDir::create(root.path()).unwrap();
        assert!(!crashed.exists(), "the crashed run's directory is removed");
        // A second host sharing the root must not remove the first one's directory.
        let other = ShadowDir::create(root.path()).unwrap();
        assert!(live.path().exists());
        let dir = other.path().to_path_buf();
        drop(other);
        assert!(!dir.exists(), "a directory is removed with its owner");
    }

    #[test]
    fn the_default_root_is_in_the_cargo_target_dir() {
        let (root, artifact) = target_with_artifact(b"");
        let expected = fs::canonicalize(root.path().join("target"))
            .unwrap()
            .join("hotdev-shadow");
        assert_eq!(default_root(&artifact), expected);
    }

    /// A cargo-like target directory holding `debug/libplugin.so` with `bytes`.
    fn target_with_artifact(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("target");
        fs::create_dir_all(target.join("debug")).unwrap();
        fs::write(
            target.join("CACHEDIR.TAG"),
            b"Signature: 8a477f597d28d172789f06886806bc55",
        )
        .unwrap();
        let artifact = target.join("debug/libplugin.so");
        fs::write(&artifact, bytes).unwrap();
        (root, artifact)
    }

    /// Reads `artifact` as a load does and places it for `generation`.
    #[cfg(target_os = "linux")]
    fn read_and_place(shadow: &ShadowDir, artifact: &Path, generation: u64) -> PathBuf {
        let bytes = crate::library::read_artifact(artifact).unwrap();
        shadow.place(artifact, &bytes, generation).unwrap()
    }

    #[cfg(target_os = "linux")]
    fn inode(path: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).unwrap())
    }

    /// On Linux, an artifact in a cargo target directory that is still the file that was
    /// read, and not mapped in this process, becomes a hard link: the same inode, the
    /// same bytes.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_unchanged_cargo_output_is_linked_not_copied() {
        let (root, artifact) = target_with_artifact(b"library v1");
        let shadow = ShadowDir::create(&root.path().join("target/hotdev-shadow")).unwrap();
        let bytes = crate::library::read_artifact(&artifact).unwrap();
        let placed = shadow.place(&artifact, &bytes, 1).unwrap();
        assert_eq!(inode(&placed), inode(&artifact));
        assert_eq!(fs::read(&placed).unwrap(), b"library v1");
        // Bytes that are not the read's own (a copy of them) are written, not linked.
        let copy = Bytes::from(bytes.contents().unwrap().to_vec());
        let written = shadow.place(&artifact, &copy, 2).unwrap();
        assert_ne!(inode(&written), inode(&artifact));
        // Nor while a link to the same inode exists: the loader would take it for the
        // library already loaded.
        let again = read_and_place(&shadow, &artifact, 3);
        assert_ne!(inode(&again), inode(&artifact));
        shadow.remove(&placed).unwrap();
        let bytes = crate::library::read_artifact(&artifact).unwrap();
        let placed = shadow.place(&artifact, &bytes, 4).unwrap();
        assert_eq!(
            inode(&placed),
            inode(&artifact),
            "linked again once the link is gone"
        );
        // A rebuild replaces the artifact (a new inode): the linked copy keeps its bytes.
        let next = artifact.with_file_name("next.so");
        fs::write(&next, b"library v2").unwrap();
        fs::rename(&next, &artifact).unwrap();
        assert_eq!(fs::read(&placed).unwrap(), b"library v1");
    }

    /// An artifact the dynamic loader holds already (loaded from its own path by other
    /// code) is copied: `dlopen` would hand back that object for a link to it. A file
    /// only mapped by other means (`mmap`, as a symbol reader does) is linked: the loader
    /// does not know it.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_artifact_the_loader_holds_is_copied() {
        use std::os::unix::io::AsRawFd;
        // A small real library of this machine, copied into the target directory: a new
        // file, so loading it below loads a second, private instance.
        let libm = crate::testing::system_library()
            .and_then(|libc| Some(libc.parent()?.join("libm.so.6")))
            .filter(|path| path.is_file())
            .expect("libm.so.6 beside the C library");
        let (root, artifact) = target_with_artifact(&fs::read(&libm).unwrap());
        let shadow = ShadowDir::create(&root.path().join("target/hotdev-shadow")).unwrap();

        let file = File::open(&artifact).unwrap();
        // SAFETY:
        // - a fresh private read-only mapping of an open file: no memory of ours is
        //   touched, and it is unmapped below before `file` is dropped.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        let bytes = crate::library::read_artifact(&artifact).unwrap();
        let placed = shadow.place(&artifact, &bytes, 1).unwrap();
        assert_eq!(
            inode(&placed),
            inode(&artifact),
            "a plain mapping is linked"
        );
        shadow.remove(&placed).unwrap();
        // SAFETY: `map` is the mapping made above, of 8192 bytes, no longer used.
        unsafe { libc::munmap(map, 8192) };

        // Loaded under another name of the same file (as an earlier generation's shadow
        // link is): the loader matches it by device and inode.
        let other_name = artifact.with_file_name("libplugin-elsewhere.so");
        fs::hard_link(&artifact, &other_name).unwrap();
        // SAFETY: libm's initialisers only set up its own tables; the instance is
        // private to this test (a copy under a new name and inode) and no symbol of it
        // is called.
        let held = unsafe { libloading::Library::new(&other_name) }.unwrap();
        let placed = read_and_place(&shadow, &artifact, 2);
        assert_ne!(
            inode(&placed),
            inode(&artifact),
            "a loaded artifact is copied"
        );
        assert_eq!(fs::read(&placed).unwrap(), fs::read(&artifact).unwrap());
        held.close().unwrap();
        let bytes = crate::library::read_artifact(&artifact).unwrap();
        let placed = shadow.place(&artifact, &bytes, 3).unwrap();
        assert_eq!(
            inode(&placed),
            inode(&artifact),
            "linked once the loader let it go"
        );
    }

    /// An artifact replaced after it was opened is never linked: the opened file's bytes,
    /// which the checks read, are written instead. One written in place after it was
    /// opened is refused: only parts of it were read, and the rest is no longer theirs.
    #[test]
    fn a_changed_artifact_is_copied_from_the_bytes_read() {
        let (root, artifact) = target_with_artifact(b"library v1");
        let shadow = ShadowDir::create(&root.path().join("target/hotdev-shadow")).unwrap();

        let bytes = crate::library::read_artifact(&artifact).unwrap();
        let next = artifact.with_file_name("next.so");
        fs::write(&next, b"library v2").unwrap();
        fs::rename(&next, &artifact).unwrap();
        let placed = shadow.place(&artifact, &bytes, 1).unwrap();
        assert_eq!(fs::read(&placed).unwrap(), b"library v1");

        let bytes = crate::library::read_artifact(&artifact).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&artifact, b"library v3").unwrap();
        let err = shadow.place(&artifact, &bytes, 2).unwrap_err();
        assert!(
            err.get_ref()
                .is_some_and(|e| e.is::<crate::library::Changed>()),
            "{err}"
        );
        assert_eq!(shadow.copies().len(), 1, "nothing left of the refused copy");
    }

    /// Outside a cargo target directory the artifact is always copied.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_artifact_outside_a_target_dir_is_copied() {
        let root = tempfile::tempdir().unwrap();
        let artifact = root.path().join("libplugin.so");
        fs::write(&artifact, b"library").unwrap();
        let shadow = ShadowDir::create(&root.path().join("shadow")).unwrap();
        let placed = read_and_place(&shadow, &artifact, 1);
        assert_ne!(inode(&placed), inode(&artifact));
        assert_eq!(fs::read(&placed).unwrap(), b"library");
    }
}
