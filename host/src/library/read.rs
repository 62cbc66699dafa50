//! The first step of the load path: reading the library file whole, and making sure it is
//! one regular file that did not change while it was read.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use crate::{LoadError, os};

/// Reads a library file whole, refusing a missing path, a directory or any other file
/// that is not a regular file (a FIFO would block, `/dev/zero` never ends), an unreadable
/// file, or a file that changes while it is read (a build still writing it).
///
/// Never reads more than the size the file had when it was opened. The file's identity
/// (device, inode, size, modification and change times) is compared before and after the
/// read, through the open file and through the path, so a write in place or a rename over
/// the path during the read is refused (HD031). A change time that moved together with
/// the link count is not a change: hotdev's own shadow links to the file come and go.
///
/// The bytes come with the identity of the file they were read from, so that the shadow
/// directory can link that same file instead of writing a copy (see
/// [`ShadowDir::place`]).
///
/// [`ShadowDir::place`]: crate::shadow::ShadowDir::place
pub fn read_artifact(path: &Path) -> Result<Bytes, LoadError> {
    let (bytes, identity) = read_checked(path, || {})?;
    Ok(Bytes {
        bytes,
        identity: Some(identity),
    })
}

/// A library's bytes as [`read_artifact`] read them, with the identity (device, inode,
/// size, times) the file had throughout the read; or bytes from elsewhere, without one.
/// Dereferences to the bytes.
#[derive(Clone)]
pub struct Bytes {
    bytes: Vec<u8>,
    identity: Option<os::Identity>,
}

impl Bytes {
    /// The identity of the file these bytes are the whole of, when they were read from one.
    pub(crate) fn identity(&self) -> Option<&os::Identity> {
        self.identity.as_ref()
    }
}

impl From<Vec<u8>> for Bytes {
    /// Bytes that were not read from a file (no identity: a shadow copy of them is
    /// written, never linked).
    fn from(bytes: Vec<u8>) -> Self {
        Bytes {
            bytes,
            identity: None,
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bytes")
            .field("len", &self.bytes.len())
            .field("read_from_a_file", &self.identity.is_some())
            .finish()
    }
}

/// [`read_artifact`], running `mid_read` after the bytes are read and before the file is
/// checked again (the tests change the file there).
fn read_checked(
    path: &Path,
    mid_read: impl FnOnce(),
) -> Result<(Vec<u8>, os::Identity), LoadError> {
    let p = || path.to_path_buf();
    let io_err = |e| classify_io(path, e);
    let before = fs::metadata(path).map_err(io_err)?;
    check_kind(path, &before)?;
    let mut file = os::open_for_reading(path).map_err(io_err)?;
    let opened = file.metadata().map_err(io_err)?;
    check_kind(path, &opened)?;
    let identity = os::identity(&opened);
    if !identity.same_content(&os::identity(&before)) {
        return Err(LoadError::ChangedWhileCopying { path: p() });
    }
    let len = opened.len();
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // One byte more than the size: a file that grew is noticed without reading it all.
    (&mut file)
        .take(len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    mid_read();
    let changed = || LoadError::ChangedWhileCopying { path: p() };
    let after = os::identity(&file.metadata().map_err(io_err)?);
    let now = os::identity(&fs::metadata(path).map_err(io_err)?);
    if bytes.len() as u64 != len || !identity.same_content(&after) || !identity.same_content(&now) {
        return Err(changed());
    }
    if identity.unchanged(&after) && identity.unchanged(&now) {
        return Ok((bytes, identity));
    }
    // Only the inode's change time moved: a hard link came or went (another load of this
    // file made or removed its shadow link), or a writer put the modification time back.
    // The file is read once more: bytes equal to those read are the file's whole content.
    if !reads_the_same(&mut file, &bytes).map_err(io_err)? {
        return Err(changed());
    }
    let last = os::identity(&fs::metadata(path).map_err(io_err)?);
    if !identity.same_content(&last) {
        return Err(changed());
    }
    Ok((bytes, last))
}

/// Whether `file`, read again from its start, holds exactly `bytes`.
fn reads_the_same(file: &mut fs::File, bytes: &[u8]) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut at = 0;
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            return Ok(at == bytes.len());
        }
        if bytes.get(at..at + n) != Some(&chunk[..n]) {
            return Ok(false);
        }
        at += n;
    }
}

fn check_kind(path: &Path, meta: &fs::Metadata) -> Result<(), LoadError> {
    if meta.is_dir() {
        Err(LoadError::NotAFile {
            path: path.to_path_buf(),
        })
    } else if !meta.is_file() {
        Err(LoadError::NotRegular {
            path: path.to_path_buf(),
            kind: os::special_kind(meta),
        })
    } else {
        Ok(())
    }
}

pub(super) fn classify_io(path: &Path, e: io::Error) -> LoadError {
    let path = path.to_path_buf();
    match e.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound { path },
        io::ErrorKind::PermissionDenied => LoadError::PermissionDenied { path, source: e },
        io::ErrorKind::IsADirectory => LoadError::NotAFile { path },
        _ => LoadError::Io { path, source: e },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_while_it_is_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libplugin.so");
        fs::write(&path, vec![1u8; 4096]).unwrap();
        assert_eq!(read_checked(&path, || {}).unwrap().0.len(), 4096);
        // Written in place, at the same size, between the read and the second look.
        let err = read_checked(&path, || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let mut f = fs::OpenOptions::new().write(true).open(&path).unwrap();
            std::io::Write::write_all(&mut f, &[2u8; 2048]).unwrap();
        })
        .unwrap_err();
        assert_eq!(err.code(), "HD031", "{err}");
        // Replaced by a rename.
        let other = dir.path().join("next.so");
        fs::write(&other, vec![3u8; 4096]).unwrap();
        let err = read_checked(&path, || fs::rename(&other, &path).unwrap()).unwrap_err();
        assert_eq!(err.code(), "HD031", "{err}");
        // Grown.
        let err = read_checked(&path, || {
            let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
            std::io::Write::write_all(&mut f, b"more").unwrap();
        })
        .unwrap_err();
        assert_eq!(err.code(), "HD031", "{err}");
    }

    /// A hard link added or removed during the read (hotdev's own shadow links) moves the
    /// inode's change time, and is not a change, nor is a link added and removed again
    /// (two other loads of the file); a write in place whose writer puts the modification
    /// time back moves the change time alone, and is refused.
    #[cfg(unix)]
    #[test]
    fn a_link_added_during_the_read_is_not_a_change_but_a_restored_mtime_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libplugin.so");
        fs::write(&path, vec![1u8; 4096]).unwrap();
        let link = dir.path().join("shadow.so");
        let (bytes, _) = read_checked(&path, || fs::hard_link(&path, &link).unwrap()).unwrap();
        assert_eq!(bytes.len(), 4096);
        let (bytes, _) = read_checked(&path, || fs::remove_file(&link).unwrap()).unwrap();
        assert_eq!(bytes.len(), 4096);
        let (bytes, identity) = read_checked(&path, || {
            fs::hard_link(&path, &link).unwrap();
            fs::remove_file(&link).unwrap();
        })
        .unwrap();
        assert_eq!(bytes.len(), 4096);
        let now = os::identity(&fs::metadata(&path).unwrap());
        assert!(identity.unchanged(&now), "the identity after the links");

        let err = read_checked(&path, || {
            let mtime = fs::metadata(&path).unwrap().modified().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
            std::io::Write::write_all(&mut &f, &[2u8; 2048]).unwrap();
            f.set_modified(mtime).unwrap();
        })
        .unwrap_err();
        assert_eq!(err.code(), "HD031", "{err}");
    }

    /// Bytes read from a file carry its identity; bytes from elsewhere carry none.
    #[test]
    fn only_bytes_read_from_a_file_carry_its_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libplugin.so");
        fs::write(&path, vec![1u8; 64]).unwrap();
        let bytes = read_artifact(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        let identity = bytes.identity().expect("read from a file");
        assert!(identity.unchanged(&os::identity(&meta)));
        assert!(Bytes::from(bytes.to_vec()).identity().is_none());
    }
}
