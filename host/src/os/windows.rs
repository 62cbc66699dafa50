//! Windows: written to the design, not compiled or run on the Linux machines that build
//! hotdev today. Callers fence every call (`FlushProcessWriteBuffers` would allow the
//! cheaper protocol); directories rely on the per-user profile's ACLs; the debug-symbol
//! file (`.pdb`) travels with each shadow copy so that debuggers and backtraces work.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Callers pay a full fence per call on Windows.
pub const HAS_HEAVY_BARRIER: bool = false;

/// Callers fence every call, so there is nothing to do here.
pub fn heavy_barrier() {}

/// Nothing to prepare (see `heavy_barrier`).
pub fn prepare_heavy_barrier() {}

/// Creates `dir`; under the user's target directory it inherits the user's ACLs.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Unknown on Windows.
pub fn is_mapped(_path: &Path) -> Option<bool> {
    None
}

/// Not read on Windows yet: descriptors are not checked against the image there.
pub fn loaded_image(_path: &Path) -> Option<crate::image::Image> {
    None
}

/// Unknown on Windows.
pub fn loaded_under(_dir: &Path) -> Option<usize> {
    None
}

/// The `.pdb` next to a `.dll`, copied with it under the same unique stem.
pub fn companion_files(library: &Path) -> Vec<(PathBuf, &'static str)> {
    let pdb = library.with_extension("pdb");
    if pdb.is_file() {
        vec![(pdb, "pdb")]
    } else {
        Vec::new()
    }
}

/// Opens a file for reading.
pub fn open_for_reading(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Creates a new file that did not exist (`CREATE_NEW` refuses every existing entry,
/// links included).
pub fn create_new_private(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// What identifies one version of a file: its size and last write time (Windows has no
/// inode in std's stable metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    len: u64,
    mtime: Option<std::time::SystemTime>,
}

/// The [`Identity`] of the file `meta` describes.
pub fn identity(meta: &fs::Metadata) -> Identity {
    Identity {
        len: meta.len(),
        mtime: meta.modified().ok(),
    }
}

impl Identity {
    /// Whether `later` is the same version of the file.
    pub fn unchanged(&self, later: &Identity) -> bool {
        self == later
    }

    /// Whether `later` is the same version of the file: here, [`Identity::unchanged`].
    pub fn same_content(&self, later: &Identity) -> bool {
        self == later
    }

    /// No device and inode numbers here.
    pub fn file_key(&self) -> Option<(u64, u64)> {
        None
    }
}

/// Windows always copies: the copy is what keeps the build output free of the loader's
/// lock, so that the next build can replace it.
pub fn link_unchanged(_artifact: &Path, _dest: &Path, _read: &Identity) -> io::Result<bool> {
    Ok(false)
}

/// Describes a file type that is not a regular file or directory.
pub fn special_kind(_meta: &fs::Metadata) -> &'static str {
    "special file"
}

/// Why a library may stay loaded after unloading.
pub const PIN_REASON: &str = "another reference to the DLL keeps it loaded";

/// The loaded objects' names: not listed on Windows (no world is recognised there).
pub fn each_loaded_name(_f: &mut dyn FnMut(&[u8])) {}
