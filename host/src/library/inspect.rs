//! The second step: inspecting a library's object-file headers (ELF, Mach-O, PE, and
//! universal Mach-O files) from its bytes alone, before the system loader sees it.

use std::path::Path;

use object::{FileKind, Object, ObjectKind, ReadRef};

use crate::LoadError;

/// Checks, from the bytes alone, that this is a complete shared library for this machine:
/// an object file the loader understands, of the dynamic-library kind, for this
/// architecture, with every loadable segment inside the file. `data` is a byte slice or a
/// library file's [`Bytes::data`](super::Bytes::data), which reads only what is looked at.
pub fn inspect<'a, R: ReadRef<'a>>(path: &Path, data: R) -> Result<(), LoadError> {
    let not_lib = |reason: String| LoadError::NotALibrary {
        path: path.to_path_buf(),
        reason,
    };
    let truncated = |reason: String| LoadError::Truncated {
        path: path.to_path_buf(),
        reason,
    };
    let len = data.len().unwrap_or(0);
    if len == 0 {
        return Err(truncated("the file is empty (0 bytes)".into()));
    }
    let head = data.read_bytes_at(0, len.min(512)).unwrap_or(&[]);
    match FileKind::parse(data) {
        Ok(FileKind::Elf32 | FileKind::Elf64)
        | Ok(FileKind::MachO32 | FileKind::MachO64)
        | Ok(FileKind::Pe32 | FileKind::Pe64) => {}
        Ok(FileKind::MachOFat32 | FileKind::MachOFat64) => return inspect_fat(path, data),
        Ok(FileKind::Coff | FileKind::CoffBig) => {
            return Err(not_lib("it is an object file, not a shared library".into()));
        }
        Ok(other) => {
            return Err(not_lib(format!(
                "it is a {other:?} file, not a shared library"
            )));
        }
        // The start of an object file the loader knows, cut short.
        Err(_) if has_object_magic(head) => {
            return Err(truncated(format!(
                "it ends after {len} bytes, inside its headers"
            )));
        }
        Err(_) => return Err(not_lib(describe_foreign(head))),
    }
    let file = object::File::parse(data).map_err(|e| truncated(format!("{e} ({len} bytes)")))?;
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
        object::File::Elf64(elf) => check_elf(elf, len).map_err(truncated)?,
        object::File::Elf32(elf) => check_elf(elf, len).map_err(truncated)?,
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
fn inspect_fat<'a, R: ReadRef<'a>>(path: &Path, data: R) -> Result<(), LoadError> {
    use object::read::macho::{FatArch, MachOFatFile32, MachOFatFile64};
    let truncated = |reason: String| LoadError::Truncated {
        path: path.to_path_buf(),
        reason,
    };
    let slices: Vec<(object::Architecture, Result<&[u8], object::Error>)> =
        match FileKind::parse(data) {
            Ok(FileKind::MachOFat64) => MachOFatFile64::parse(data)
                .map_err(|e| truncated(format!("a universal binary: {e}")))?
                .arches()
                .iter()
                .map(|a| (a.architecture(), a.data(data)))
                .collect(),
            _ => MachOFatFile32::parse(data)
                .map_err(|e| truncated(format!("a universal binary: {e}")))?
                .arches()
                .iter()
                .map(|a| (a.architecture(), a.data(data)))
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
fn check_elf<'a, Elf, R>(
    elf: &object::read::elf::ElfFile<'a, Elf, R>,
    len: u64,
) -> Result<(), String>
where
    Elf: object::read::elf::FileHeader<Endian = object::Endianness>,
    R: ReadRef<'a>,
{
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

/// What a file that is no object file is, from its first bytes.
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

#[cfg(test)]
mod tests {
    use super::*;

    use std::fs;

    /// A shared library of this machine: the C library this test runs with.
    fn system_library() -> Vec<u8> {
        fs::read(crate::testing::system_library().expect("the C library is mapped")).unwrap()
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
        inspect(path, &lib[..]).unwrap();
        inspect(path, &fat(&[(ARM64, b"not looked at"), (X86_64, &lib)])[..]).unwrap();

        let err = inspect(path, &fat(&[(ARM64, &lib)])[..]).unwrap_err();
        assert_eq!(err.code(), "HD004", "{err}");
        assert!(err.to_string().contains("Aarch64"), "{err}");
        assert!(err.to_string().contains("X86_64"), "{err}");

        // The slice for this machine is cut short: truncated, not "not a library".
        let mut cut = fat(&[(X86_64, &lib)]);
        cut.truncate(4096 + lib.len() / 2);
        let err = inspect(path, &cut[..]).unwrap_err();
        assert_eq!(err.code(), "HD005", "{err}");
    }

    #[test]
    fn an_object_file_cut_inside_its_headers_is_truncated_and_other_files_are_named() {
        let path = Path::new("libplugin.so");
        let err = inspect(path, &b"\x7fELF\x02\x01"[..]).unwrap_err();
        assert_eq!(err.code(), "HD005", "{err}");
        let err = inspect(
            path,
            &b"!<arch>\nlib.rmeta/      0           0     0     644     1234      `\n"[..],
        )
        .unwrap_err();
        assert_eq!(err.code(), "HD004", "{err}");
        assert!(err.to_string().contains("an rlib"), "{err}");
        let err = inspect(path, &b"fn main() {}\n"[..]).unwrap_err();
        assert_eq!(err.code(), "HD004", "{err}");
        assert!(err.to_string().contains("text file"), "{err}");
    }
}
