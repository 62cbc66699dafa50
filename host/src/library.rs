//! One step at a time along the load path: read the artifact, inspect its object-file
//! headers, open it with the system loader, find the descriptor, check the interface.
//!
//! [`Plugin`](crate::Plugin) runs every step; `hotdev check` runs them one by one and
//! reports each.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use object::{FileKind, Object, ObjectKind};
use reloadable::descriptor::{DESCRIPTOR_VERSION, ENTRY_SYMBOL, MAGIC};
use reloadable::{Descriptor, FnDecl, InterfaceDecl, StateDecl, StaticStr, TypeLayout};

use crate::fingerprint::{self, Build, Part};
use crate::image::Image;
use crate::world::World;
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

fn classify_io(path: &Path, e: io::Error) -> LoadError {
    let path = path.to_path_buf();
    match e.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound { path },
        io::ErrorKind::PermissionDenied => LoadError::PermissionDenied { path, source: e },
        io::ErrorKind::IsADirectory => LoadError::NotAFile { path },
        _ => LoadError::Io { path, source: e },
    }
}

/// Checks, from the bytes alone, that this is a complete shared library for this machine:
/// an object file the loader understands, of the dynamic-library kind, for this
/// architecture, with every loadable segment inside the file.
pub fn inspect(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let not_lib = |reason: String| LoadError::NotALibrary {
        path: path.to_path_buf(),
        reason,
    };
    let truncated = |reason: String| LoadError::Truncated {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(truncated("the file is empty (0 bytes)".into()));
    }
    match FileKind::parse(bytes) {
        Ok(FileKind::Elf32 | FileKind::Elf64)
        | Ok(FileKind::MachO32 | FileKind::MachO64)
        | Ok(FileKind::Pe32 | FileKind::Pe64) => {}
        Ok(FileKind::MachOFat32 | FileKind::MachOFat64) => return inspect_fat(path, bytes),
        Ok(FileKind::Coff | FileKind::CoffBig) => {
            return Err(not_lib("it is an object file, not a shared library".into()));
        }
        Ok(other) => {
            return Err(not_lib(format!(
                "it is a {other:?} file, not a shared library"
            )));
        }
        // The start of an object file the loader knows, cut short.
        Err(_) if has_object_magic(bytes) => {
            return Err(truncated(format!(
                "it ends after {} bytes, inside its headers",
                bytes.len()
            )));
        }
        Err(_) => return Err(not_lib(describe_foreign(bytes))),
    }
    let file = object::File::parse(bytes)
        .map_err(|e| truncated(format!("{e} ({} bytes)", bytes.len())))?;
    match file.kind() {
        ObjectKind::Dynamic => {}
        ObjectKind::Executable => {
            return Err(not_lib("it is an executable, not a shared library".into()));
        }
        ObjectKind::Relocatable => {
            return Err(not_lib("it is an object file, not a shared library".into()));
        }
        other => {
            return Err(not_lib(format!(
                "it is a {other:?} object, not a shared library"
            )));
        }
    }
    if let Some(expected) = host_architecture()
        && file.architecture() != expected
    {
        return Err(not_lib(format!(
            "it is built for {:?}, this machine is {expected:?}",
            file.architecture()
        )));
    }
    match &file {
        object::File::Elf64(elf) => check_elf(elf, bytes.len() as u64).map_err(truncated)?,
        object::File::Elf32(elf) => check_elf(elf, bytes.len() as u64).map_err(truncated)?,
        _ => {}
    }
    Ok(())
}

/// Whether `bytes` start like an ELF, PE or Mach-O file.
fn has_object_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
        || bytes.starts_with(b"MZ")
        || [
            [0xfe, 0xed, 0xfa, 0xce],
            [0xce, 0xfa, 0xed, 0xfe],
            [0xfe, 0xed, 0xfa, 0xcf],
            [0xcf, 0xfa, 0xed, 0xfe],
            [0xca, 0xfe, 0xba, 0xbe],
            [0xca, 0xfe, 0xba, 0xbf],
        ]
        .iter()
        .any(|m| bytes.starts_with(m))
}

/// A universal (fat) Mach-O: the loader picks the slice for this machine, so that slice
/// is what is inspected.
fn inspect_fat(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    use object::read::macho::{FatArch, MachOFatFile32, MachOFatFile64};
    let truncated = |reason: String| LoadError::Truncated {
        path: path.to_path_buf(),
        reason,
    };
    let slices: Vec<(object::Architecture, Result<&[u8], object::Error>)> =
        match FileKind::parse(bytes) {
            Ok(FileKind::MachOFat64) => MachOFatFile64::parse(bytes)
                .map_err(|e| truncated(format!("a universal binary: {e}")))?
                .arches()
                .iter()
                .map(|a| (a.architecture(), a.data(bytes)))
                .collect(),
            _ => MachOFatFile32::parse(bytes)
                .map_err(|e| truncated(format!("a universal binary: {e}")))?
                .arches()
                .iter()
                .map(|a| (a.architecture(), a.data(bytes)))
                .collect(),
        };
    let found: Vec<String> = slices.iter().map(|(a, _)| format!("{a:?}")).collect();
    let wanted = host_architecture();
    match slices.into_iter().find(|(a, _)| Some(*a) == wanted) {
        Some((_, Ok(slice))) => inspect(path, slice),
        Some((arch, Err(e))) => Err(truncated(format!(
            "a universal binary whose {arch:?} slice lies outside the file: {e}"
        ))),
        None => Err(LoadError::NotALibrary {
            path: path.to_path_buf(),
            reason: format!(
                "it is a universal binary for {}, without a slice for this machine ({wanted:?})",
                found.join(", ")
            ),
        }),
    }
}

/// The consistency of an ELF library's headers, which a file written in place over
/// another build (new program headers, old section headers, or the reverse) breaks:
///
/// - every segment and section lies within the file;
/// - every allocated section lies in a loadable segment, at the address its file offset
///   maps to;
/// - every place the loader's relocations write lies in a writable segment, every address
///   they write lies in the library, and the initialisers and finalisers they set up point
///   into its code.
///
/// A pass does not prove the file is one build's output (nothing inside a library says
/// so); it does mean the loader will not write or jump outside the library's own image.
fn check_elf<Elf: object::read::elf::FileHeader<Endian = object::Endianness>>(
    elf: &object::read::elf::ElfFile<'_, Elf>,
    len: u64,
) -> Result<(), String> {
    use object::elf;
    use object::read::elf::{ProgramHeader, SectionHeader};

    struct Load {
        vaddr: u64,
        end: u64,
        offset: u64,
        flags: u32,
    }
    let e = elf.endian();
    let mut loads = Vec::new();
    for ph in elf.elf_program_headers() {
        let (offset, size) = ph.file_range(e);
        if offset.saturating_add(size) > len {
            return Err(format!(
                "a segment ends at byte {} but the file has {len} bytes",
                offset.saturating_add(size)
            ));
        }
        if ph.p_type(e) == elf::PT_LOAD {
            let vaddr: u64 = ph.p_vaddr(e).into();
            let memsz: u64 = ph.p_memsz(e).into();
            loads.push(Load {
                vaddr,
                end: vaddr.saturating_add(memsz),
                offset,
                flags: ph.p_flags(e),
            });
        }
    }
    if loads.is_empty() {
        return Err("it has no loadable segment".into());
    }
    let mut arrays = Vec::new();
    for sh in elf.elf_section_table().iter() {
        let file_range = sh.file_range(e);
        if let Some((offset, size)) = file_range
            && offset.saturating_add(size) > len
        {
            return Err(format!(
                "a section ends at byte {} but the file has {len} bytes",
                offset.saturating_add(size)
            ));
        }
        let flags: u64 = sh.sh_flags(e).into();
        let (addr, size): (u64, u64) = (sh.sh_addr(e).into(), sh.sh_size(e).into());
        // Thread-local zero-initialised data (`.tbss`) takes no room in the segments; its
        // addresses may run past the end of the one it sits in.
        let tbss = flags & u64::from(elf::SHF_TLS) != 0 && sh.sh_type(e) == elf::SHT_NOBITS;
        if flags & u64::from(elf::SHF_ALLOC) == 0 || size == 0 || tbss {
            continue;
        }
        let end = addr.saturating_add(size);
        let Some(load) = loads.iter().find(|l| l.vaddr <= addr && end <= l.end) else {
            return Err(format!(
                "a section at address {addr:#x} lies outside every loadable segment \
                 (its headers disagree, as when one build is written over another)"
            ));
        };
        if let Some((offset, _)) = file_range
            && addr - load.vaddr != offset.wrapping_sub(load.offset)
        {
            return Err(format!(
                "the section at file offset {offset:#x} does not map to its address \
                     {addr:#x} (its headers disagree, as when one build is written over another)"
            ));
        }
        if matches!(
            sh.sh_type(e),
            elf::SHT_INIT_ARRAY | elf::SHT_FINI_ARRAY | elf::SHT_PREINIT_ARRAY
        ) {
            arrays.push((addr, end));
        }
    }
    let relative = match elf.elf_header().e_machine(e) {
        elf::EM_X86_64 => Some(elf::R_X86_64_RELATIVE),
        elf::EM_AARCH64 => Some(elf::R_AARCH64_RELATIVE),
        elf::EM_386 => Some(elf::R_386_RELATIVE),
        elf::EM_RISCV => Some(elf::R_RISCV_RELATIVE),
        _ => None,
    };
    let span = (
        loads.iter().map(|l| l.vaddr).min().unwrap_or(0),
        loads.iter().map(|l| l.end).max().unwrap_or(0),
    );
    let word = if elf.is_64() { 8 } else { 4 };
    for (offset, reloc) in elf.dynamic_relocations().into_iter().flatten() {
        let writable = loads.iter().any(|l| {
            l.flags & elf::PF_W != 0 && l.vaddr <= offset && offset.saturating_add(word) <= l.end
        });
        if !writable {
            return Err(format!(
                "a relocation writes at address {offset:#x}, outside the writable segments"
            ));
        }
        let object::RelocationFlags::Elf { r_type } = reloc.flags() else {
            continue;
        };
        if Some(r_type) != relative || reloc.has_implicit_addend() {
            continue;
        }
        let target = reloc.addend() as u64;
        if target < span.0 || target > span.1 {
            return Err(format!(
                "a relocation sets address {target:#x}, outside the library"
            ));
        }
        let in_array = arrays.iter().any(|&(a, b)| a <= offset && offset < b);
        let code = loads
            .iter()
            .any(|l| l.flags & elf::PF_X != 0 && l.vaddr <= target && target < l.end);
        if in_array && !code {
            return Err(format!(
                "an initialiser or finaliser points at address {target:#x}, outside the library's code"
            ));
        }
    }
    Ok(())
}

fn host_architecture() -> Option<object::Architecture> {
    use object::Architecture as A;
    match std::env::consts::ARCH {
        "x86_64" => Some(A::X86_64),
        "aarch64" => Some(A::Aarch64),
        "x86" => Some(A::I386),
        "arm" => Some(A::Arm),
        "riscv64" => Some(A::Riscv64),
        _ => None,
    }
}

fn describe_foreign(bytes: &[u8]) -> String {
    if bytes.starts_with(b"!<arch>\n") {
        return "it is an archive (a static library or an rlib), not a shared library: \
                build the crate with crate-type = [\"cdylib\"]"
            .into();
    }
    let head = &bytes[..bytes.len().min(512)];
    if std::str::from_utf8(head).is_ok() || head.iter().all(|b| b.is_ascii()) {
        let first = String::from_utf8_lossy(head);
        let first = first
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(40)
            .collect::<String>();
        format!("it is a text file (starts with {first:?})")
    } else {
        format!(
            "unknown file format (starts with bytes {:02x?})",
            &bytes[..bytes.len().min(4)]
        )
    }
}

/// A library opened by the system loader, with the absolute path it was opened from.
#[derive(Debug)]
pub struct Opened {
    lib: libloading::Library,
    path: PathBuf,
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
/// the library (it is the user's own plugin) and should [`inspect`] it first, so that a
/// truncated file, or one whose headers would make the loader write or jump outside the
/// library, is refused before the loader maps it.
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

/// Finds the descriptor and checks it before anything else reads it: its header (magic,
/// version, size) first, then, where the library's loaded image can be read (Linux), that
/// every pointer it holds lies inside that image (data in readable segments, functions in
/// executable ones), that every string is UTF-8, and that type layouts do not nest without
/// end. A descriptor with null or wild pointers is refused (HD011) instead of crashing
/// the host.
///
/// A plugin in the host's one world ([`World`]) may point into the world libraries it
/// links and this process loaded (its `init` function lives with reloadable, in the
/// interface crate's library); the descriptor itself must lie in the plugin.
pub fn descriptor<'lib>(
    opened: &'lib Opened,
    path: &Path,
    world: &World,
) -> Result<&'lib Descriptor, LoadError> {
    let symbol = format!("{ENTRY_SYMBOL}\0");
    // SAFETY: the symbol is looked up as a data address; nothing is called.
    let found = unsafe { opened.lib.get::<*const u8>(symbol.as_bytes()) };
    let addr: *const u8 = match found {
        Ok(sym) => *sym,
        Err(_) => {
            return Err(LoadError::NoEntrySymbol {
                path: path.to_path_buf(),
                symbol: ENTRY_SYMBOL,
            });
        }
    };
    let bad = |reason: String| LoadError::BadDescriptor {
        path: path.to_path_buf(),
        reason,
    };
    let image = opened.image();
    if image.is_none() && cfg!(target_os = "linux") {
        return Err(bad(format!(
            "the loader does not list {} among the loaded libraries",
            opened.path.display()
        )));
    }
    let header = 16;
    let in_image = |len: usize| {
        image
            .as_ref()
            .is_none_or(|i| i.holds_data(addr as usize, len))
    };
    if addr.is_null()
        || addr.align_offset(std::mem::align_of::<Descriptor>()) != 0
        || !in_image(header)
    {
        return Err(bad(format!(
            "the `{ENTRY_SYMBOL}` symbol is at an unusable address {addr:p}, outside the library's data"
        )));
    }
    // SAFETY: the symbol names aligned, readable data of the library (checked above where
    // the image is known); every descriptor version starts with a u64 magic and a u32
    // version, which are read before anything whose layout depends on the version.
    let (magic, version) = unsafe { (addr.cast::<u64>().read(), addr.add(8).cast::<u32>().read()) };
    if magic != MAGIC {
        return Err(bad(format!(
            "wrong magic number {magic:#018x} (expected {MAGIC:#018x})"
        )));
    }
    if version != DESCRIPTOR_VERSION {
        return Err(bad(format!(
            "descriptor version {version}, this host reads version {DESCRIPTOR_VERSION}: \
             rebuild the plugin against the host's reloadable"
        )));
    }
    let size = std::mem::size_of::<Descriptor>();
    if !in_image(size) {
        return Err(bad(format!(
            "the descriptor's {size} bytes at {addr:p} run past the library's data"
        )));
    }
    let d = addr.cast::<Descriptor>();
    // SAFETY: `size` readable bytes at `d` (checked above); a usize has no invalid values.
    let descriptor_size = unsafe { std::ptr::addr_of!((*d).descriptor_size).read() };
    if descriptor_size != size {
        return Err(bad(format!(
            "descriptor size {descriptor_size} bytes, expected {size}"
        )));
    }
    if let Some(image) = &image {
        let images = std::iter::once(image).chain(world.images()).collect();
        Walk { images, nodes: 0 }.descriptor(d).map_err(bad)?;
    }
    // SAFETY: magic and version match, so the static is a `Descriptor` of this layout,
    // living as long as the library (`'lib`); every reference and string in it was checked
    // to point into the library's own image (where it can be read; see above).
    Ok(unsafe { &*d })
}

/// Follows a descriptor's pointers as raw addresses, checking each against the image
/// before reading through it.
struct Walk<'a> {
    /// The plugin's image, then those of the world libraries it links.
    images: Vec<&'a Image>,
    nodes: usize,
}

/// How deep type layouts may nest, and how many the walk visits at most: far more than any
/// interface needs, few enough that a cyclic or exploding descriptor is refused quickly.
const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 100_000;
const MAX_ENTRIES: usize = 1 << 16;

/// Reads a field of the struct at raw pointer `$p` as a value of type `$as` (a raw pointer,
/// `usize` or a `#[repr(C)]` struct of them), without forming a reference to the struct.
macro_rules! field {
    ($p:expr, $field:ident as $as:ty) => {
        // SAFETY: the struct's bytes were checked to lie in the library's readable data,
        // and `$as` has the field's size and no invalid values (addresses are read as
        // integers or raw pointers, never as references).
        unsafe { std::ptr::addr_of!((*$p).$field).cast::<$as>().read() }
    };
}

impl Walk<'_> {
    fn data(&self, addr: usize, len: usize, align: usize, what: &str) -> Result<(), String> {
        if !addr.is_multiple_of(align.max(1))
            || !self.images.iter().any(|i| i.holds_data(addr, len.max(1)))
        {
            return Err(format!(
                "{what} at {addr:#x} lies outside the library's data"
            ));
        }
        Ok(())
    }

    fn code(&self, addr: usize, what: &str) -> Result<(), String> {
        if !self.images.iter().any(|i| i.holds_code(addr)) {
            return Err(format!(
                "{what} at {addr:#x} lies outside the library's code"
            ));
        }
        Ok(())
    }

    fn optional_code(&self, addr: usize, what: &str) -> Result<(), String> {
        if addr == 0 {
            Ok(())
        } else {
            self.code(addr, what)
        }
    }

    fn text(&self, s: StaticStr, what: &str) -> Result<(), String> {
        let (ptr, len) = s.raw_parts();
        if len == 0 {
            return if ptr.is_null() {
                Err(format!("{what} is a null string"))
            } else {
                Ok(())
            };
        }
        if len > MAX_ENTRIES {
            return Err(format!("{what} is {len} bytes long"));
        }
        self.data(ptr as usize, len, 1, what)?;
        // SAFETY: `len` readable bytes of the library at `ptr` (checked above).
        let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
        std::str::from_utf8(bytes).map_err(|_| format!("{what} is not UTF-8"))?;
        Ok(())
    }

    fn slice<T>(&self, (ptr, len): (*const T, usize), what: &str) -> Result<(), String> {
        if len == 0 {
            return Ok(());
        }
        if len > MAX_ENTRIES {
            return Err(format!("{what} has {len} entries"));
        }
        let bytes = len * std::mem::size_of::<T>();
        self.data(ptr as usize, bytes, std::mem::align_of::<T>(), what)
    }

    fn descriptor(&mut self, d: *const Descriptor) -> Result<(), String> {
        let interface = field!(d, interface as usize);
        self.interface(interface)?;
        for (s, what) in [
            (field!(d, plugin_name as StaticStr), "the plugin name"),
            (field!(d, build_id as StaticStr), "the build id"),
            (field!(d, rustc as StaticStr), "the compiler version"),
            (field!(d, target as StaticStr), "the target"),
            (field!(d, panic as StaticStr), "the panic strategy"),
        ] {
            self.text(s, what)?;
        }
        let (table, table_size) = (field!(d, table as usize), field!(d, table_size as usize));
        let word = std::mem::size_of::<usize>();
        if table_size % word != 0 || table_size / word > MAX_ENTRIES {
            return Err(format!("a function table of {table_size} bytes"));
        }
        self.data(table, table_size, word, "the function table")?;
        for i in 0..table_size / word {
            // SAFETY: inside the table, whose bytes lie in the library's data (checked).
            let f = unsafe { (table as *const usize).add(i).read() };
            self.code(f, &format!("function {} of the table", i + 1))?;
        }
        self.code(field!(d, init as usize), "the init function")?;
        self.code(field!(d, fini as usize), "the fini function")?;
        self.optional_code(field!(d, on_load as usize), "the load hook")?;
        self.optional_code(field!(d, on_unload as usize), "the unload hook")?;
        let state = field!(d, state as usize);
        if state != 0 {
            self.data(
                state,
                std::mem::size_of::<StateDecl>(),
                std::mem::align_of::<StateDecl>(),
                "the state declaration",
            )?;
            let st = state as *const StateDecl;
            self.layout(field!(st, layout as usize), 0)?;
            self.code(field!(st, init as usize), "the state's init hook")?;
            self.code(field!(st, drop as usize), "the state's drop hook")?;
            self.optional_code(field!(st, save as usize), "the state's save hook")?;
            self.optional_code(field!(st, restore as usize), "the state's restore hook")?;
        }
        Ok(())
    }

    fn interface(&mut self, addr: usize) -> Result<(), String> {
        self.data(
            addr,
            std::mem::size_of::<InterfaceDecl>(),
            std::mem::align_of::<InterfaceDecl>(),
            "the interface declaration",
        )?;
        let i = addr as *const InterfaceDecl;
        self.text(field!(i, name as StaticStr), "the interface name")?;
        let functions = field!(i, functions as reloadable::StaticSlice<FnDecl>).raw_parts();
        self.slice(functions, "the interface's functions")?;
        for n in 0..functions.1 {
            let f = functions.0.wrapping_add(n);
            self.text(field!(f, name as StaticStr), "a function's name")?;
            self.text(field!(f, signature as StaticStr), "a function's signature")?;
            let (types, len) = field!(f, types as reloadable::StaticSlice<usize>).raw_parts();
            self.slice((types, len), "a function's types")?;
            for t in 0..len {
                // SAFETY: inside the slice, whose bytes lie in the library's data (checked).
                let ty = unsafe { types.add(t).read() };
                self.layout(ty, 0)?;
            }
        }
        Ok(())
    }

    fn layout(&mut self, addr: usize, depth: usize) -> Result<(), String> {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return Err("its type layouts nest without end".into());
        }
        self.data(
            addr,
            std::mem::size_of::<TypeLayout>(),
            std::mem::align_of::<TypeLayout>(),
            "a type layout",
        )?;
        let t = addr as *const TypeLayout;
        self.text(field!(t, name as StaticStr), "a type's name")?;
        self.text(field!(t, path as StaticStr), "a type's module path")?;
        let fields = field!(t, fields as reloadable::StaticSlice<reloadable::Field>).raw_parts();
        self.slice(fields, "a struct's fields")?;
        for n in 0..fields.1 {
            let f = fields.0.wrapping_add(n);
            self.text(field!(f, name as StaticStr), "a field's name")?;
            self.layout(field!(f, ty as usize), depth + 1)?;
        }
        let element = field!(t, element as usize);
        if element != 0 {
            self.layout(element, depth + 1)?;
        }
        self.optional_code(field!(t, type_id as usize), "a type's TypeId function")?;
        self.optional_code(field!(t, type_name as usize), "a type's name function")?;
        Ok(())
    }
}

/// The fingerprint parts of the interface a descriptor declares, with the plugin's build
/// facts.
pub fn plugin_parts(desc: &Descriptor) -> Vec<Part> {
    fingerprint::parts(
        desc.interface,
        Build {
            abi_version: desc.abi_version,
            rustc: desc.rustc.as_str(),
            target: desc.target.as_str(),
            panic: desc.panic.as_str(),
            table_size: desc.table_size,
        },
    )
}

/// Checks that a descriptor implements interface `I` with the host's fingerprint.
pub fn check_interface<I: reloadable::Interface>(
    desc: &Descriptor,
    path: &Path,
) -> Result<(), LoadError> {
    let expected = I::DECL.name.as_str();
    let found = desc.interface.name.as_str();
    if expected != found {
        return Err(LoadError::WrongInterface {
            path: path.to_path_buf(),
            expected: expected.into(),
            found: found.into(),
        });
    }
    let host = fingerprint::parts(I::DECL, Build::current(std::mem::size_of::<I::Table>()));
    let diff = fingerprint::diff(&host, &plugin_parts(desc));
    if !diff.is_empty() {
        return Err(LoadError::FingerprintMismatch {
            path: path.to_path_buf(),
            diff,
        });
    }
    if I::DECL.rust_types {
        let types = rust_type_diff(I::DECL, desc.interface);
        if !types.is_empty() {
            return Err(LoadError::TypeMismatch {
                path: path.to_path_buf(),
                types,
            });
        }
    }
    Ok(())
}

/// For a Rust-typed interface whose fingerprint matched (same compiler, target,
/// signatures, sizes): the types whose `TypeId` in the plugin differs from the host's,
/// one line each, by full name. A `TypeId` derives from the defining crate's build
/// (`-C metadata`: its version, source, features, profile and those of its dependencies),
/// so a difference means the two sides compiled that crate differently.
fn rust_type_diff(host: &InterfaceDecl, plugin: &InterfaceDecl) -> Vec<String> {
    let mut out = Vec::new();
    let fns = host
        .functions
        .as_slice()
        .iter()
        .zip(plugin.functions.as_slice());
    for (h, p) in fns {
        for (ht, pt) in h.types.as_slice().iter().zip(p.types.as_slice()) {
            let (Some(h_id), Some(h_name)) = (ht.type_id, ht.type_name) else {
                continue;
            };
            let (Some(p_id), Some(p_name)) = (pt.type_id, pt.type_name) else {
                out.push(format!("{}: no type identity in the plugin", h_name()));
                continue;
            };
            // The plugin's functions are called only now that its compiler and target are
            // known to be the host's (the fingerprint matched), so they share the host's
            // calling convention and `TypeId` layout. They only return constants.
            let (host_name, plugin_name) = (h_name(), p_name());
            let line = if host_name != plugin_name {
                format!("{host_name} -> {plugin_name}")
            } else if h_id() != p_id() {
                format!(
                    "{host_name}: the plugin's is another build of its crate (a different \
                     version, source, features or profile)"
                )
            } else {
                continue;
            };
            if !out.contains(&line) {
                out.push(line);
            }
        }
    }
    out
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

    /// A shared library of this machine: the C library this test runs with.
    fn system_library() -> Vec<u8> {
        let maps = fs::read_to_string("/proc/self/maps").unwrap();
        let path = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .find(|p| p.contains("libc.so") || p.contains("libc-"))
            .expect("the C library is mapped");
        fs::read(path).unwrap()
    }

    /// A universal Mach-O holding `slices` (CPU type, bytes), big-endian as on disk.
    fn fat(slices: &[(u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xcafe_babe_u32.to_be_bytes());
        out.extend_from_slice(&(slices.len() as u32).to_be_bytes());
        let mut offset = 4096u32;
        for (cpu, bytes) in slices {
            for field in [*cpu, 3, offset, bytes.len() as u32, 12] {
                out.extend_from_slice(&field.to_be_bytes());
            }
            offset += (bytes.len() as u32).next_multiple_of(4096);
        }
        for (_, bytes) in slices {
            out.resize(out.len().next_multiple_of(4096), 0);
            out.extend_from_slice(bytes);
        }
        out
    }

    #[test]
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn a_universal_binary_is_judged_by_the_slice_for_this_machine() {
        const X86_64: u32 = 0x0100_0007;
        const ARM64: u32 = 0x0100_000c;
        let lib = system_library();
        let path = Path::new("libuniversal.dylib");
        inspect(path, &lib).unwrap();
        inspect(path, &fat(&[(ARM64, b"not looked at"), (X86_64, &lib)])).unwrap();

        let err = inspect(path, &fat(&[(ARM64, &lib)])).unwrap_err();
        assert_eq!(err.code(), "HD004", "{err}");
        assert!(err.to_string().contains("Aarch64"), "{err}");
        assert!(err.to_string().contains("X86_64"), "{err}");

        // The slice for this machine is cut short: truncated, not "not a library".
        let mut cut = fat(&[(X86_64, &lib)]);
        cut.truncate(4096 + lib.len() / 2);
        let err = inspect(path, &cut).unwrap_err();
        assert_eq!(err.code(), "HD005", "{err}");
    }

    #[test]
    fn an_object_file_cut_inside_its_headers_is_truncated_and_other_files_are_named() {
        let path = Path::new("libplugin.so");
        let err = inspect(path, b"\x7fELF\x02\x01").unwrap_err();
        assert_eq!(err.code(), "HD005", "{err}");
        let err = inspect(
            path,
            b"!<arch>\nlib.rmeta/      0           0     0     644     1234      `\n",
        )
        .unwrap_err();
        assert_eq!(err.code(), "HD004", "{err}");
        assert!(err.to_string().contains("an rlib"), "{err}");
        let err = inspect(path, b"fn main() {}\n").unwrap_err();
        assert_eq!(err.code(), "HD004", "{err}");
        assert!(err.to_string().contains("text file"), "{err}");
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
