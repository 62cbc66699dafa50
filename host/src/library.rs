//! One step at a time along the load path: read the artifact, inspect its object-file
//! headers, open it with the system loader, find the descriptor, check the interface.
//!
//! [`Plugin`](crate::Plugin) runs every step; `hotdev check` runs them one by one and
//! reports each.

use std::fs;
use std::io;
use std::path::Path;

use object::{Object, ObjectKind};
use reloadable::Descriptor;
use reloadable::descriptor::{DESCRIPTOR_VERSION, ENTRY_SYMBOL, MAGIC};

use crate::LoadError;
use crate::fingerprint::{self, Build, Part};

/// Reads a library file whole, refusing a missing path, a directory, an unreadable file,
/// or a file that changes while it is read (a build still writing it).
pub fn read_artifact(path: &Path) -> Result<Vec<u8>, LoadError> {
    let p = || path.to_path_buf();
    let before = fs::metadata(path).map_err(|e| classify_io(path, e))?;
    if before.is_dir() {
        return Err(LoadError::NotAFile { path: p() });
    }
    let bytes = fs::read(path).map_err(|e| classify_io(path, e))?;
    let after = fs::metadata(path).map_err(|e| classify_io(path, e))?;
    let same = before.len() == after.len()
        && before.len() == bytes.len() as u64
        && before.modified().ok() == after.modified().ok();
    if !same {
        return Err(LoadError::ChangedWhileCopying { path: p() });
    }
    Ok(bytes)
}

fn classify_io(path: &Path, e: io::Error) -> LoadError {
    let path = path.to_path_buf();
    match e.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound { path },
        io::ErrorKind::PermissionDenied => LoadError::PermissionDenied { path, source: e },
        _ if e.raw_os_error() == Some(21) && cfg!(unix) => LoadError::NotAFile { path },
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
    let known_magic = bytes.starts_with(b"\x7fELF")
        || bytes.starts_with(b"MZ")
        || [
            [0xfe, 0xed, 0xfa, 0xcf],
            [0xcf, 0xfa, 0xed, 0xfe],
            [0xca, 0xfe, 0xba, 0xbe],
        ]
        .iter()
        .any(|m| bytes.starts_with(m));
    if !known_magic {
        return Err(not_lib(describe_foreign(bytes)));
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
    if let Some(expected) = host_architecture() {
        if file.architecture() != expected {
            return Err(not_lib(format!(
                "it is built for {:?}, this machine is {expected:?}",
                file.architecture()
            )));
        }
    }
    if let object::File::Elf64(elf) = &file {
        check_elf_segments(elf, bytes.len() as u64).map_err(truncated)?;
    }
    Ok(())
}

fn check_elf_segments(
    elf: &object::read::elf::ElfFile64<'_, object::Endianness>,
    len: u64,
) -> Result<(), String> {
    use object::read::elf::ProgramHeader;
    let endian = elf.endian();
    for ph in elf.elf_program_headers() {
        let (offset, size) = ph.file_range(endian);
        if offset.saturating_add(size) > len {
            return Err(format!(
                "a segment ends at byte {} but the file has {len} bytes",
                offset.saturating_add(size)
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

/// Opens a library with the system loader. This runs the library's initialisers
/// (constructors in `.init_array`), and nothing else of it.
///
/// # Safety
/// Loading a library runs its initialisers, which may do anything. The caller must trust
/// the library (it is the user's own plugin) and should [`inspect`] it first, so that a
/// truncated file is refused before the loader maps it.
pub unsafe fn open(path: &Path) -> Result<libloading::Library, LoadError> {
    // SAFETY: the caller accepts the initialiser hazard (see above).
    unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Loader {
        path: path.to_path_buf(),
        source,
    })
}

/// Finds the descriptor and checks its header (magic, version, size) before reading any
/// other field.
pub fn descriptor<'lib>(
    lib: &'lib libloading::Library,
    path: &Path,
) -> Result<&'lib Descriptor, LoadError> {
    let symbol = format!("{ENTRY_SYMBOL}\0");
    // SAFETY: the symbol is looked up as a data address; nothing is called.
    let found = unsafe { lib.get::<*const u8>(symbol.as_bytes()) };
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
    if addr.is_null() || addr.align_offset(std::mem::align_of::<u64>()) != 0 {
        return Err(bad(format!(
            "the `{ENTRY_SYMBOL}` symbol is at an unusable address {addr:p}"
        )));
    }
    // SAFETY: the symbol names a static in the mapped library; every descriptor version
    // starts with an aligned u64 magic and a u32 version, which are read before anything
    // whose layout depends on the version.
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
    // SAFETY: magic and version match, so the static is a `Descriptor` of this layout,
    // living as long as the library (`'lib`).
    let desc = unsafe { &*addr.cast::<Descriptor>() };
    if desc.descriptor_size != std::mem::size_of::<Descriptor>() {
        return Err(bad(format!(
            "descriptor size {} bytes, expected {}",
            desc.descriptor_size,
            std::mem::size_of::<Descriptor>()
        )));
    }
    Ok(desc)
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
    if diff.is_empty() {
        Ok(())
    } else {
        Err(LoadError::FingerprintMismatch {
            path: path.to_path_buf(),
            diff,
        })
    }
}
