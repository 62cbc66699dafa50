//! The first step: opening the library file, making sure it is one regular file, and
//! reading of it only what the checks look at.
//!
//! The checks (`inspect`, the world, the thread watch) read the file's headers, its section
//! table and a few of its sections (dynamic symbols and their names, relocations, the
//! symbol table), a small part of a library whose code and debug information make up the
//! rest. Each is read when first asked for, one whole section at a time, and kept. Reading
//! the whole file cost more than every other step of a load together (1.3 ms of 1.9 ms for
//! a 4.3 MB library), and it is done only where a shadow copy must be written.
//!
//! What is loaded is what was checked: the file's identity (device, inode, size,
//! modification and change times) is taken when it is opened, and
//! - the shadow link is made only if that identity is unchanged at that moment (nothing
//!   was written, renamed over or linked meanwhile), so the inode the loader maps holds
//!   the bytes the checks read;
//! - otherwise the opened file is read whole ([`Bytes::contents`]), refused if it was
//!   written since it was opened (`HD031`) or if any part the checks read differs in the
//!   whole read, and that whole read is what the shadow copy holds.

use std::cell::OnceCell;
use std::fs::{self, File};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use object::ReadRef;

use crate::{LoadError, os};

/// Opens a library file, refusing a missing path, a directory or any other file that is
/// not a regular file (a FIFO would block, `/dev/zero` never ends), an unreadable file, or
/// a path replaced between the look at it and its opening. Reads nothing yet but the
/// file's first bytes and its section table: the checks read the rest they need through
/// [`Bytes::data`].
///
/// Never reads past the size the file had when it was opened. The bytes come with the
/// identity of the file they are read from, so that the shadow directory can link that
/// same file instead of writing a copy (see [`ShadowDir::place`]).
///
/// [`ShadowDir::place`]: crate::shadow::ShadowDir::place
pub fn read_artifact(path: &Path) -> Result<Bytes, LoadError> {
    let io_err = |e| classify_io(path, e);
    let before = fs::metadata(path).map_err(io_err)?;
    check_kind(path, &before)?;
    let file = os::open_for_reading(path).map_err(io_err)?;
    let opened = file.metadata().map_err(io_err)?;
    check_kind(path, &opened)?;
    let identity = os::identity(&opened);
    if !identity.same_content(&os::identity(&before)) {
        return Err(LoadError::ChangedWhileCopying {
            path: path.to_path_buf(),
        });
    }
    let len = opened.len();
    let regions = elf_regions(&file, len).unwrap_or_default();
    Ok(Bytes {
        contents: Contents::File(Lazy {
            path: path.to_path_buf(),
            cells: regions.iter().map(|_| OnceCell::new()).collect(),
            regions,
            raw: OnceCell::new(),
            whole: OnceCell::new(),
            file,
            len,
        }),
        identity: Some(identity),
    })
}

/// A library's bytes: a file opened by [`read_artifact`], with the identity (device,
/// inode, size, times) it had when opened, read on demand; or bytes from elsewhere, without
/// one. The checks read them through [`data`](Self::data).
pub struct Bytes {
    contents: Contents,
    identity: Option<os::Identity>,
}

enum Contents {
    Memory(Vec<u8>),
    File(Lazy),
}

/// A file read a region at a time.
struct Lazy {
    path: PathBuf,
    file: File,
    /// Its size when opened: nothing past it is read.
    len: u64,
    /// The regions read whole when any byte of them is asked for: the headers, the
    /// section table, and each section with bytes in the file. Empty when the file is not
    /// an ELF file whose section table could be read: then every read reads it whole.
    regions: Vec<Range<u64>>,
    /// The regions' bytes, once read (`None`: the read failed).
    cells: Vec<OnceCell<Option<Box<[u8]>>>>,
    /// The whole file as a check read it, for a read no region holds (`None`: the read
    /// failed). Not checked: [`Bytes::contents`] compares it with its own whole read.
    raw: OnceCell<Option<Vec<u8>>>,
    /// The whole file, once read and checked (`None`: it changed, or could not be read).
    whole: OnceCell<Option<Vec<u8>>>,
}

/// The file changed between its opening and its whole read ([`Bytes::contents`]).
#[derive(Debug)]
pub(crate) struct Changed;

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the library changed while it was being loaded")
    }
}

impl std::error::Error for Changed {}

impl Bytes {
    /// The identity of the file these bytes are read from, when they are read from one.
    pub(crate) fn identity(&self) -> Option<&os::Identity> {
        self.identity.as_ref()
    }

    /// The bytes for the checks to read ([`object::ReadRef`]).
    pub fn data(&self) -> Data<'_> {
        match &self.contents {
            Contents::Memory(bytes) => Data::Memory(bytes),
            Contents::File(lazy) => Data::File(lazy),
        }
    }

    /// The size in bytes (for a file: when it was opened).
    pub fn len(&self) -> u64 {
        match &self.contents {
            Contents::Memory(bytes) => bytes.len() as u64,
            Contents::File(lazy) => lazy.len,
        }
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All the bytes. For a file, read whole now (once) from the file that was opened:
    /// refused when it was written since (its size or modification time changed), or when
    /// any region the checks read differs from the same bytes of the whole read. A new file
    /// renamed over the path meanwhile does not matter: these are the opened file's bytes.
    pub fn contents(&self) -> io::Result<&[u8]> {
        match &self.contents {
            Contents::Memory(bytes) => Ok(bytes),
            Contents::File(lazy) => lazy
                .whole
                .get_or_init(|| lazy.read_whole(self.identity.as_ref()))
                .as_deref()
                .ok_or_else(|| io::Error::other(Changed)),
        }
    }
}

impl From<Vec<u8>> for Bytes {
    /// Bytes that were not read from a file (no identity: a shadow copy of them is
    /// written, never linked).
    fn from(bytes: Vec<u8>) -> Self {
        Bytes {
            contents: Contents::Memory(bytes),
            identity: None,
        }
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bytes")
            .field("len", &self.len())
            .field("read_from_a_file", &self.identity.is_some())
            .finish()
    }
}

impl Lazy {
    /// The bytes of region `i`, read on first use.
    fn region(&self, i: usize) -> Option<&[u8]> {
        self.cells[i]
            .get_or_init(|| {
                let range = &self.regions[i];
                read_at(&self.file, range.start, range.end - range.start)
                    .ok()
                    .map(Vec::into_boxed_slice)
            })
            .as_deref()
    }

    /// The region holding all of `start..end`.
    fn region_of(&self, start: u64, end: u64) -> Option<(u64, &[u8])> {
        let i = self
            .regions
            .iter()
            .position(|r| r.start <= start && end <= r.end)?;
        Some((self.regions[i].start, self.region(i)?))
    }

    /// The whole file, read now and checked against what it was when opened and against
    /// every region read before (see [`Bytes::contents`]).
    fn read_whole(&self, opened: Option<&os::Identity>) -> Option<Vec<u8>> {
        let whole = read_at(&self.file, 0, self.len).ok()?;
        // A byte past the size it had: it grew.
        if read_at(&self.file, self.len, 1).is_ok_and(|more| !more.is_empty()) {
            return None;
        }
        // The bytes come from the file that was opened, whatever its path names now (a
        // build may have renamed a new file over it since): that file must not have been
        // written since.
        let now = os::identity(&self.file.metadata().ok()?);
        if !opened?.same_content(&now) {
            return None;
        }
        for (range, cell) in self.regions.iter().zip(&self.cells) {
            if let Some(Some(read)) = cell.get()
                && whole.get(range.start as usize..range.end as usize) != Some(&read[..])
            {
                return None;
            }
        }
        if let Some(Some(raw)) = self.raw.get()
            && *raw != whole
        {
            return None;
        }
        Some(whole)
    }
}

/// Up to `len` bytes of `file` from `offset` (fewer at its end). The buffer is reserved
/// first, so that a size no allocation can hold is an error rather than an abort, and
/// filled without being zeroed first.
fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = Vec::new();
    buf.try_reserve_exact(usize::try_from(len).map_err(io::Error::other)?)
        .map_err(io::Error::other)?;
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The regions of an ELF file: its headers (ELF and program headers), its section table,
/// and each section with bytes in the file. `None` when it is not an ELF file or its
/// section table cannot be read: then the checks read it whole.
fn elf_regions(file: &File, len: u64) -> Option<Vec<Range<u64>>> {
    use object::read::elf::{FileHeader, SectionHeader};
    use object::{Endianness, elf};
    let head = read_at(file, 0, len.min(64)).ok()?;
    let (is_64, _) = match object::FileKind::parse(&head[..]).ok()? {
        object::FileKind::Elf64 => (true, ()),
        object::FileKind::Elf32 => (false, ()),
        _ => return None,
    };
    fn regions<Elf: FileHeader<Endian = Endianness>>(
        file: &File,
        len: u64,
        head: &[u8],
    ) -> Option<Vec<Range<u64>>> {
        let header = Elf::parse(head).ok()?;
        let endian = header.endian().ok()?;
        let phoff: u64 = header.e_phoff(endian).into();
        let phend = phoff.checked_add(
            u64::from(header.e_phnum(endian)) * u64::from(header.e_phentsize(endian)),
        )?;
        let shoff: u64 = header.e_shoff(endian).into();
        let entsize = u64::from(header.e_shentsize(endian));
        if shoff == 0 || entsize != std::mem::size_of::<Elf::SectionHeader>() as u64 {
            return None;
        }
        // More sections than the header can count: the count is in the first one.
        let first = read_at(file, shoff, entsize).ok()?;
        let first: &Elf::SectionHeader = object::pod::from_bytes(&first).ok()?.0;
        let count = match header.e_shnum(endian) {
            0 => first.sh_size(endian).into(),
            n => u64::from(n),
        };
        let table = shoff..shoff.checked_add(count.checked_mul(entsize)?)?;
        if table.end > len {
            return None;
        }
        let bytes = read_at(file, table.start, table.end - table.start).ok()?;
        let sections: &[Elf::SectionHeader] = object::pod::slice_from_all_bytes(&bytes).ok()?;
        let mut out = vec![0..phend.max(head.len() as u64).min(len), table];
        for section in sections {
            if let Some((offset, size)) = section.file_range(endian)
                && size > 0
                && offset.checked_add(size).is_some_and(|end| end <= len)
                && section.sh_type(endian) != elf::SHT_NOBITS
            {
                out.push(offset..offset + size);
            }
        }
        Some(out)
    }
    if is_64 {
        regions::<elf::FileHeader64<Endianness>>(file, len, &head)
    } else {
        regions::<elf::FileHeader32<Endianness>>(file, len, &head)
    }
}

/// What the checks read: [`Bytes`] as an [`object::ReadRef`]. In memory, a slice; from a
/// file, each read served from the region that holds it (read whole on first use), or, for
/// a read no region holds, from the whole file ([`Bytes::contents`]).
#[derive(Clone, Copy)]
pub enum Data<'a> {
    /// Bytes in memory.
    Memory(&'a [u8]),
    /// A file read a region at a time.
    #[allow(private_interfaces)]
    File(&'a Lazy),
}

impl std::fmt::Debug for Data<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Data::Memory(bytes) => write!(f, "Data::Memory({} bytes)", bytes.len()),
            Data::File(lazy) => write!(f, "Data::File({})", lazy.path.display()),
        }
    }
}

impl<'a> Data<'a> {
    /// The whole file, for a read no region holds.
    fn whole(lazy: &'a Lazy) -> Result<&'a [u8], ()> {
        lazy.raw
            .get_or_init(|| read_at(&lazy.file, 0, lazy.len).ok())
            .as_deref()
            .ok_or(())
    }
}

impl<'a> ReadRef<'a> for Data<'a> {
    fn len(self) -> Result<u64, ()> {
        match self {
            Data::Memory(bytes) => Ok(bytes.len() as u64),
            Data::File(lazy) => Ok(lazy.len),
        }
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'a [u8], ()> {
        let lazy = match self {
            Data::Memory(bytes) => return bytes.read_bytes_at(offset, size),
            Data::File(lazy) => lazy,
        };
        if size == 0 {
            return Ok(&[]);
        }
        let end = offset
            .checked_add(size)
            .filter(|&end| end <= lazy.len)
            .ok_or(())?;
        match lazy.region_of(offset, end) {
            Some((start, bytes)) => bytes
                .get((offset - start) as usize..(end - start) as usize)
                .ok_or(()),
            None => Data::whole(lazy)?.read_bytes_at(offset, size),
        }
    }

    fn read_bytes_at_until(self, range: Range<u64>, delimiter: u8) -> Result<&'a [u8], ()> {
        let lazy = match self {
            Data::Memory(bytes) => return bytes.read_bytes_at_until(range, delimiter),
            Data::File(lazy) => lazy,
        };
        let end = range.end.min(lazy.len);
        if range.start >= end {
            return Err(());
        }
        // The region holding the start (a string table): the string ends in it.
        if let Some(i) = lazy
            .regions
            .iter()
            .position(|r| r.start <= range.start && range.start < r.end)
            && let Some(bytes) = lazy.region(i)
        {
            let region = &lazy.regions[i];
            let from = (range.start - region.start) as usize;
            let to = (end.min(region.end) - region.start) as usize;
            if let Some(at) = bytes
                .get(from..to)
                .and_then(|b| b.iter().position(|&c| c == delimiter))
            {
                return Ok(&bytes[from..from + at]);
            }
        }
        Data::whole(lazy)?.read_bytes_at_until(range.start..end, delimiter)
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

    /// A copy of the C library this test runs with: a real ELF shared library.
    fn library_in(dir: &Path) -> PathBuf {
        let libc = crate::testing::system_library().expect("the C library is mapped");
        let path = dir.join("libplugin.so");
        fs::copy(libc, &path).unwrap();
        path
    }

    /// What the checks read: the headers and the sections they ask for, not the whole file.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_elf_library_is_read_a_region_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = library_in(dir.path());
        let bytes = read_artifact(&path).unwrap();
        let Contents::File(lazy) = &bytes.contents else {
            panic!("read from a file")
        };
        assert!(lazy.regions.len() > 10, "{:?}", lazy.regions);
        crate::library::inspect(&path, bytes.data()).unwrap();
        let read: u64 = lazy
            .regions
            .iter()
            .zip(&lazy.cells)
            .filter(|(_, c)| c.get().is_some())
            .map(|(r, _)| r.end - r.start)
            .sum();
        assert!(
            read > 0 && read < bytes.len() / 2,
            "read {read} of {} bytes",
            bytes.len()
        );
        assert!(lazy.raw.get().is_none(), "no whole read for the checks");
        // The whole file, when asked for, is the file, and agrees with what was read.
        assert_eq!(bytes.contents().unwrap(), &fs::read(&path).unwrap()[..]);
    }

    /// A file written after it was opened: its whole read is refused (written in place at
    /// the same size, grown), so no copy of bytes other than those checked is ever loaded.
    /// A new file renamed over its path leaves the opened file as it was: its bytes are
    /// read.
    #[test]
    fn a_file_written_after_it_was_opened_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libplugin.so");
        fs::write(&path, vec![1u8; 4096]).unwrap();
        let bytes = read_artifact(&path).unwrap();
        let other = dir.path().join("next.so");
        fs::write(&other, vec![3u8; 4096]).unwrap();
        fs::rename(&other, &path).unwrap();
        assert_eq!(bytes.contents().unwrap(), &[1u8; 4096][..]);

        let changes: [&dyn Fn(); 2] = [
            &|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let mut f = fs::OpenOptions::new().write(true).open(&path).unwrap();
                std::io::Write::write_all(&mut f, &[2u8; 2048]).unwrap();
            },
            &|| {
                let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
                std::io::Write::write_all(&mut f, b"more").unwrap();
            },
        ];
        for change in changes {
            fs::write(&path, vec![1u8; 4096]).unwrap();
            let bytes = read_artifact(&path).unwrap();
            change();
            let err = bytes.contents().unwrap_err();
            assert!(err.get_ref().is_some_and(|e| e.is::<Changed>()), "{err}");
        }
        fs::write(&path, vec![1u8; 4096]).unwrap();
        assert_eq!(
            read_artifact(&path).unwrap().contents().unwrap(),
            &[1u8; 4096][..]
        );
    }

    /// A hard link added or removed meanwhile (hotdev's own shadow links) is not a change;
    /// a write in place whose writer puts the modification time back is one when it
    /// touches a part the checks read.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_link_is_not_a_change_but_a_write_under_a_restored_mtime_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = library_in(dir.path());
        let link = dir.path().join("shadow.so");
        let bytes = read_artifact(&path).unwrap();
        crate::library::inspect(&path, bytes.data()).unwrap();
        fs::hard_link(&path, &link).unwrap();
        fs::remove_file(&link).unwrap();
        assert!(bytes.contents().is_ok());

        let bytes = read_artifact(&path).unwrap();
        crate::library::inspect(&path, bytes.data()).unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        // The ELF header's OS/ABI byte: inspected, and not what it was.
        std::os::unix::fs::FileExt::write_all_at(&f, &[0x61], 7).unwrap();
        f.set_modified(mtime).unwrap();
        let err = bytes.contents().unwrap_err();
        assert!(err.get_ref().is_some_and(|e| e.is::<Changed>()), "{err}");
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
        assert!(
            Bytes::from(bytes.contents().unwrap().to_vec())
                .identity()
                .is_none()
        );
    }
}
