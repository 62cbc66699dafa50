//! A fast start: `hotdev serve` serves the library its last run served at once, while
//! cargo checks in the background whether it is still current.
//!
//! Asking cargo first costs about 100 ms before the first answer (`cargo metadata`, then a
//! build that finds nothing to do). Each time a build is handed to the server, a record
//! goes into the cargo target directory (`hotdev/serve-<profile>-<key>.json`): the plugin
//! crate, the library's path and identity (size, modification time, device and inode),
//! the source folders the watcher followed, the `RUSTFLAGS` in force and hotdev's version.
//! The next start finds the record before cargo is asked (in `$CARGO_TARGET_DIR`, else in
//! a `target` folder beside the crate or one of its parents), and serves the library when:
//!
//! - it is still the very file recorded (a rebuild, a `cargo clean` or another tool's
//!   build changes its identity);
//! - no source file under the recorded folders is newer than it (so an edit made while
//!   the server was stopped waits for its build instead);
//! - the profile, `RUSTFLAGS` and hotdev's version are the same.
//!
//! Cargo's build runs as always. When it hands back the same file, nothing more happens;
//! when it built something new (a change the look at the sources could not see: a
//! dependency, the lock file), that build goes live as the next generation, like any
//! reload. A record that cannot be read or written only costs the fast start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Past this many entries under the source folders, the look for newer files gives up and
/// the start waits for cargo (a folder that large is not a plugin's sources).
const MAX_ENTRIES: usize = 20_000;

/// What identifies one version of a file: a rebuild writes a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileId {
    len: u64,
    modified_s: u64,
    modified_ns: u32,
    dev: u64,
    ino: u64,
}

impl FileId {
    pub(super) fn of(path: &Path) -> io::Result<FileId> {
        let meta = fs::metadata(path)?;
        let modified = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Ok(FileId {
            len: meta.len(),
            modified_s: modified.as_secs(),
            modified_ns: modified.subsec_nanos(),
            dev,
            ino,
        })
    }

    fn modified(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::new(self.modified_s, self.modified_ns)
    }
}

/// The record of the last library handed to the server for one crate and profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    plugin_dir: PathBuf,
    release: bool,
    rustflags: Vec<Option<String>>,
    hotdev: String,
    artifact: PathBuf,
    file: FileId,
    sources: Vec<PathBuf>,
}

/// A library from the last run that can serve before cargo is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LastBuild {
    /// The library in the target directory.
    pub(super) artifact: PathBuf,
    /// Its identity when it was found.
    pub(super) file: FileId,
}

/// What one crate's record is looked up and written by.
#[derive(Debug, Clone)]
pub(super) struct Key {
    /// The canonical plugin directory.
    plugin_dir: PathBuf,
    release: bool,
    /// Where to look for a target directory: `$CARGO_TARGET_DIR` (as cargo reads it,
    /// relative to the working directory) before the folders beside the crate.
    target_dir_env: Option<PathBuf>,
    /// Folders under the sources whose files never build (the static folder).
    skip: Vec<PathBuf>,
}

impl Key {
    /// The key of `plugin_dir` (canonical) built with or without `--release`, with the
    /// environment of this process; files under `skip` never count as newer sources.
    pub(super) fn new(plugin_dir: &Path, release: bool, skip: Vec<PathBuf>) -> Key {
        let target_dir_env = ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"]
            .iter()
            .find_map(std::env::var_os)
            .filter(|dir| !dir.is_empty())
            .map(|dir| std::path::absolute(PathBuf::from(&dir)).unwrap_or(dir.into()));
        Key {
            plugin_dir: plugin_dir.to_path_buf(),
            release,
            target_dir_env,
            skip,
        }
    }

    fn file_name(&self) -> String {
        let profile = if self.release { "release" } else { "debug" };
        format!(
            "serve-{profile}-{:016x}.json",
            fnv1a(self.plugin_dir.as_os_str())
        )
    }

    /// The target directories where a record may be: `$CARGO_TARGET_DIR`, else `target`
    /// in the crate's folder and in each of its parents (a workspace's).
    fn target_dirs(&self) -> Vec<PathBuf> {
        match &self.target_dir_env {
            Some(dir) => vec![dir.clone()],
            None => self
                .plugin_dir
                .ancestors()
                .map(|dir| dir.join("target"))
                .collect(),
        }
    }

    /// The last run's library, if it can serve now (see the module docs). Says at debug
    /// level why a record was not used.
    pub(super) fn find(&self) -> Option<LastBuild> {
        let name = self.file_name();
        let (target, path, text) = self.target_dirs().into_iter().find_map(|dir| {
            let path = dir.join("hotdev").join(&name);
            fs::read_to_string(&path).ok().map(|text| (dir, path, text))
        })?;
        let record: Record = match serde_json::from_str(&text) {
            Ok(record) => record,
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "last build: unreadable record");
                return None;
            }
        };
        // Only a library of the target directory that holds the record is served (a path
        // with `..` in it could lead anywhere).
        let climbs = record
            .artifact
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
        if climbs || !record.artifact.starts_with(&target) {
            tracing::debug!(path = %path.display(), "last build: a library outside its target directory");
            return None;
        }
        match self.usable(&record) {
            Ok(found) => Some(found),
            Err(reason) => {
                tracing::debug!(path = %path.display(), reason, "last build not served");
                None
            }
        }
    }

    fn usable(&self, record: &Record) -> Result<LastBuild, String> {
        if record.plugin_dir != self.plugin_dir || record.release != self.release {
            return Err("another crate or profile".into());
        }
        if record.rustflags != rustflags() {
            return Err("RUSTFLAGS changed".into());
        }
        if record.hotdev != env!("CARGO_PKG_VERSION") {
            return Err("another version of hotdev".into());
        }
        let file = FileId::of(&record.artifact).map_err(|e| format!("the library: {e}"))?;
        if file != record.file {
            return Err("the library was rebuilt or replaced".into());
        }
        if let Some(newer) = newer_source(&record.sources, &self.skip, file.modified()) {
            return Err(format!("{} is newer than the library", newer.display()));
        }
        Ok(LastBuild {
            artifact: record.artifact.clone(),
            file,
        })
    }

    /// Records `artifact`, just handed to the server, built from the folders `sources`.
    /// Best effort: a failure is logged at debug level.
    pub(super) fn remember(&self, artifact: &Path, sources: &[PathBuf]) {
        if let Err(error) = self.write(artifact, sources) {
            tracing::debug!(artifact = %artifact.display(), %error, "last build not recorded");
        }
    }

    fn write(&self, artifact: &Path, sources: &[PathBuf]) -> io::Result<()> {
        // The target directory holding the library: cargo tags it with CACHEDIR.TAG.
        let target = artifact
            .ancestors()
            .skip(1)
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .ok_or_else(|| io::Error::other("the library is not in a cargo target directory"))?;
        let record = Record {
            plugin_dir: self.plugin_dir.clone(),
            release: self.release,
            rustflags: rustflags(),
            hotdev: env!("CARGO_PKG_VERSION").to_string(),
            artifact: artifact.to_path_buf(),
            file: FileId::of(artifact)?,
            sources: sources.to_vec(),
        };
        let dir = target.join("hotdev");
        fs::create_dir_all(&dir)?;
        let path = dir.join(self.file_name());
        let tmp = dir.join(format!(".{}.{}", self.file_name(), std::process::id()));
        fs::write(&tmp, serde_json::to_vec_pretty(&record)?)?;
        fs::rename(&tmp, &path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }
}

/// The flags cargo passes to rustc from the environment: a change rebuilds everything.
fn rustflags() -> Vec<Option<String>> {
    ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"]
        .iter()
        .map(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
        .collect()
}

/// A source file under `dirs` modified after `than`, if there is one. Hidden entries,
/// `target` folders and the folders in `skip` (static files, which never build) are
/// passed over; a walk past [`MAX_ENTRIES`] answers with the folder it gave up in.
fn newer_source(dirs: &[PathBuf], skip: &[PathBuf], than: SystemTime) -> Option<PathBuf> {
    let mut stack: Vec<PathBuf> = dirs.iter().filter(|d| !skip.contains(d)).cloned().collect();
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Some(dir);
            }
            let name = entry.file_name();
            if name.as_encoded_bytes().first() == Some(&b'.') || name == "target" {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let path = entry.path();
                if !skip.contains(&path) {
                    stack.push(path);
                }
            } else if entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified > than)
            {
                return Some(entry.path());
            }
        }
    }
    None
}

/// FNV-1a, 64 bits: a name for the record that stays the same across builds of hotdev
/// (std's hasher promises no such thing).
fn fnv1a(text: &std::ffi::OsStr) -> u64 {
    text.as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A crate folder with `src/lib.rs` and a cargo-like target directory beside it holding
    /// the crate's library, written after the source.
    struct Fixture {
        _root: tempfile::TempDir,
        crate_dir: PathBuf,
        target: PathBuf,
        artifact: PathBuf,
    }

    impl Fixture {
        fn new() -> Fixture {
            let root = tempfile::tempdir().unwrap();
            let crate_dir = root.path().join("plugin");
            fs::create_dir_all(crate_dir.join("src")).unwrap();
            fs::write(crate_dir.join("Cargo.toml"), "[package]\n").unwrap();
            fs::write(crate_dir.join("src/lib.rs"), "// v1\n").unwrap();
            let target = crate_dir.join("target");
            fs::create_dir_all(target.join("debug")).unwrap();
            fs::write(
                target.join("CACHEDIR.TAG"),
                "Signature: 8a477f597d28d172789f06886806bc55",
            )
            .unwrap();
            let artifact = target.join("debug/libplugin.so");
            fs::write(&artifact, b"library v1").unwrap();
            age(&crate_dir.join("src/lib.rs"), 60);
            age(&crate_dir.join("Cargo.toml"), 60);
            Fixture {
                _root: root,
                crate_dir,
                target,
                artifact,
            }
        }

        /// The key with the target directory found beside the crate, as with no
        /// `$CARGO_TARGET_DIR`.
        fn key(&self, release: bool) -> Key {
            Key {
                plugin_dir: self.crate_dir.clone(),
                release,
                target_dir_env: None,
                skip: vec![self.crate_dir.join("static")],
            }
        }

        fn remember(&self) {
            self.key(false)
                .remember(&self.artifact, std::slice::from_ref(&self.crate_dir));
        }
    }

    /// Sets `path`'s modification time `seconds` into the past.
    fn age(path: &Path, seconds: u64) {
        let file = fs::File::options().append(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(seconds))
            .unwrap();
    }

    /// Sets `path`'s modification time `seconds` into the future (a save after the build).
    fn touch_later(path: &Path, seconds: u64) {
        let file = fs::File::options().append(true).open(path).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(seconds))
            .unwrap();
    }

    #[test]
    fn a_recorded_library_with_no_newer_source_is_found() {
        let f = Fixture::new();
        assert_eq!(f.key(false).find(), None, "nothing recorded yet");
        f.remember();
        let found = f.key(false).find().expect("the recorded library");
        assert_eq!(found.artifact, f.artifact);
        assert_eq!(found.file, FileId::of(&f.artifact).unwrap());
        // The record is in the target directory, which `cargo clean` removes with it.
        assert_eq!(fs::read_dir(f.target.join("hotdev")).unwrap().count(), 1);
    }

    #[test]
    fn another_profile_or_crate_does_not_find_it() {
        let f = Fixture::new();
        f.remember();
        assert_eq!(f.key(true).find(), None, "the release profile");
        let mut other = f.key(false);
        other.plugin_dir = f.crate_dir.with_file_name("other");
        assert_eq!(other.find(), None, "another crate");
    }

    #[test]
    fn a_source_saved_after_the_build_waits_for_cargo() {
        let f = Fixture::new();
        f.remember();
        touch_later(&f.crate_dir.join("src/lib.rs"), 5);
        assert_eq!(f.key(false).find(), None);
    }

    #[test]
    fn hidden_files_target_folders_and_static_files_are_not_sources() {
        let f = Fixture::new();
        f.remember();
        for (dir, file) in [
            ("src", ".lib.rs.swp"),
            ("target/debug", "libother.so"),
            ("static", "style.css"),
        ] {
            fs::create_dir_all(f.crate_dir.join(dir)).unwrap();
            let path = f.crate_dir.join(dir).join(file);
            fs::write(&path, "x").unwrap();
            touch_later(&path, 5);
        }
        assert!(f.key(false).find().is_some());
        // A new source file in a new folder is one.
        fs::create_dir_all(f.crate_dir.join("src/more")).unwrap();
        let new = f.crate_dir.join("src/more/mod.rs");
        fs::write(&new, "// new").unwrap();
        touch_later(&new, 5);
        assert_eq!(f.key(false).find(), None);
    }

    #[test]
    fn a_rebuilt_or_removed_library_is_not_served() {
        let f = Fixture::new();
        f.remember();
        // A build replaces the file (a new inode, another time).
        let next = f.artifact.with_file_name("next.so");
        fs::write(&next, b"library v2").unwrap();
        fs::rename(&next, &f.artifact).unwrap();
        assert_eq!(f.key(false).find(), None, "rebuilt");
        f.remember();
        assert!(f.key(false).find().is_some());
        fs::remove_file(&f.artifact).unwrap();
        assert_eq!(f.key(false).find(), None, "removed");
    }

    #[test]
    fn other_rustflags_a_foreign_path_or_a_corrupt_record_are_not_used() {
        let f = Fixture::new();
        f.remember();
        let path = f.target.join("hotdev").join(f.key(false).file_name());
        let mut record: Record = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        record.rustflags = vec![Some("-C opt-level=1".into()), None];
        fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(f.key(false).find(), None, "other RUSTFLAGS");
        record.rustflags = rustflags();
        record.artifact = PathBuf::from("/usr/lib/libelsewhere.so");
        fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(
            f.key(false).find(),
            None,
            "a library outside the target directory"
        );
        record.artifact = f.target.join("../../../usr/lib/libelsewhere.so");
        fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(f.key(false).find(), None, "a path climbing out of it");
        fs::write(&path, b"{\"plugin_dir\": ").unwrap();
        assert_eq!(f.key(false).find(), None, "a half-written record");
    }

    #[test]
    fn the_target_directory_is_found_in_a_parent_or_from_the_environment() {
        let f = Fixture::new();
        // A workspace: the target directory beside the crate's parent.
        let member = f.crate_dir.join("members/one");
        fs::create_dir_all(member.join("src")).unwrap();
        let key = Key {
            plugin_dir: member.clone(),
            release: false,
            target_dir_env: None,
            skip: Vec::new(),
        };
        key.remember(&f.artifact, std::slice::from_ref(&member));
        assert_eq!(key.find().map(|b| b.artifact), Some(f.artifact.clone()));
        // `$CARGO_TARGET_DIR` elsewhere: only there.
        let elsewhere = tempfile::tempdir().unwrap();
        let key = Key {
            target_dir_env: Some(elsewhere.path().to_path_buf()),
            ..key
        };
        assert_eq!(key.find(), None);
    }

    #[test]
    fn a_library_outside_a_target_directory_is_not_recorded() {
        let f = Fixture::new();
        let loose = f.crate_dir.join("libloose.so");
        fs::write(&loose, b"x").unwrap();
        f.key(false).remember(&loose, &[]);
        assert!(!f.target.join("hotdev").exists());
    }
}
