//! Opening an inspected library with the system loader, which runs its initialisers.

use std::path::{Path, PathBuf};

use crate::LoadError;
use crate::image::Image;

use super::read::classify_io;

/// A library opened by the system loader, with the absolute path it was opened from.
#[derive(Debug)]
pub struct Opened {
    pub(super) lib: libloading::Library,
    pub(super) path: PathBuf,
}

impl Opened {
    /// The path given to the loader (absolute, so the loader never searches for it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the loader mapped it (see [`Image::of_loaded`]).
    pub fn image(&self) -> Option<Image> {
        Image::of_loaded(&self.path)
    }

    /// The library handle; dropping it closes the library.
    pub fn into_library(self) -> libloading::Library {
        self.lib
    }
}

/// Opens a library with the system loader. This runs the library's initialisers
/// (constructors in `.init_array`), and nothing else of it. A relative path is made
/// absolute first, so the loader opens that file and never searches its library path.
///
/// # Safety
/// Loading a library runs its initialisers, which may do anything. The caller must trust
/// the library (it is the user's own plugin) and should [`inspect`](super::inspect) it
/// first, so that a truncated file, or one whose headers would make the loader write or
/// jump outside the library, is refused before the loader maps it.
pub unsafe fn open(path: &Path) -> Result<Opened, LoadError> {
    let absolute = std::path::absolute(path).map_err(|e| classify_io(path, e))?;
    // SAFETY: the caller accepts the initialiser hazard (see above).
    let lib = unsafe { open_now(&absolute) }.map_err(|source| LoadError::Loader {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Opened {
        lib,
        path: absolute,
    })
}

/// Opens a library binding every symbol at once (`RTLD_NOW`): a symbol missing from the
/// process is refused here, by the loader, instead of ending the process at the first
/// call that needs it (what lazy binding would do).
///
/// # Safety
/// As for [`open`]: the library's initialisers run.
unsafe fn open_now(path: &Path) -> Result<libloading::Library, libloading::Error> {
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
        // SAFETY: the caller's contract.
        unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map(Into::into)
    }
    #[cfg(not(unix))]
    {
        // SAFETY: the caller's contract. Windows binds imports at load.
        unsafe { libloading::Library::new(path) }
    }
}
