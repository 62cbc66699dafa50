//! The host's *one world*: the shared libraries of std and of the plugin's crates that a
//! Rust-typed plugin links instead of carrying copies of its own.
//!
//! A plugin built as a Rust `dylib` with `-C prefer-dynamic` (see `docs/rust-types.md`)
//! does not contain std, tokio or its interface crate: it links the same shared libraries
//! the host was linked with (`libstd-HASH.so`, the interface crate's `libapi.so`, into which
//! every crate the plugin depends on is linked once). Code the plugin made and the host runs
//! later (a future, a closure) then finds the host's runtime, thread-locals, subscriber and
//! panic machinery, because there is only one of each.
//!
//! That is sound only if the plugin links exactly the libraries this process loaded. Before
//! the loader sees the plugin, [`check`] reads its dynamic section and refuses it:
//!
//! - when it links a library of its build (one that lies beside it in the target
//!   directory) that this process has not loaded, or whose file is not the one this
//!   process mapped: the world was rebuilt (a dependency or its features changed), and
//!   only a restart of the host can take it (`HD018`);
//! - when a Rust symbol it needs is defined nowhere in this process: the loader would
//!   refuse it, or, for a function bound lazily, end the process at its first call
//!   (`HD017`).
//!
//! A plugin that links no std of this process (a `cdylib` with its own std, an FFI plugin)
//! is not in the world: nothing is checked here, and its descriptor's pointers must all
//! lie in its own image. A plugin in the world may have descriptor pointers in the world's
//! libraries that it links (the `init` function lives with reloadable, in the interface
//! crate's library); [`World::images`] lists them for that check.
//!
//! Linux only (ELF and `dl_iterate_phdr`); elsewhere no plugin is taken to be in the world,
//! so its descriptor must lie whole in its own image, as before.

use std::path::{Path, PathBuf};

use crate::LoadError;
use crate::image::Image;

/// The world libraries a plugin links, as this process loaded them.
#[derive(Debug, Clone, Default)]
pub struct World {
    libraries: Vec<WorldLibrary>,
}

/// One library of the world: where this process loaded it from, and its image.
#[derive(Debug, Clone)]
pub struct WorldLibrary {
    /// The path the loader lists for it.
    pub path: PathBuf,
    /// Its mapped segments.
    pub image: Image,
}

impl World {
    /// Whether the plugin is in this process's world (it links this process's std).
    pub fn is_shared(&self) -> bool {
        !self.libraries.is_empty()
    }

    /// The world libraries the plugin links.
    pub fn libraries(&self) -> &[WorldLibrary] {
        &self.libraries
    }

    /// Their images, where the plugin's descriptor may point besides its own.
    pub fn images(&self) -> impl Iterator<Item = &Image> {
        self.libraries.iter().map(|l| &l.image)
    }
}

/// Checks that the plugin in `bytes` (read from `artifact`) links only world libraries this
/// process loaded, the same files, and that every Rust symbol it needs is defined here.
/// See the module docs.
pub fn check<'a, R: object::ReadRef<'a>>(artifact: &Path, bytes: R) -> Result<World, LoadError> {
    #[cfg(target_os = "linux")]
    {
        linux::check(artifact, bytes)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (artifact, bytes);
        Ok(World::default())
    }
}

/// The Rust shared libraries a plugin links (`libstd-HASH.so` and the libraries of its
/// build: the world it was built for), by name, each with where its build put it (`None`
/// for std, which lives in the toolchain). Empty for a plugin that carries its own std.
pub fn linked_world<'a, R: object::ReadRef<'a>>(
    artifact: &Path,
    bytes: R,
) -> Vec<(String, Option<PathBuf>)> {
    #[cfg(target_os = "linux")]
    {
        let needed = linux::needed(bytes);
        if !needed.iter().any(|n| is_std(n)) {
            return Vec::new();
        }
        needed
            .into_iter()
            .filter_map(|n| {
                let built = library_of_build(artifact, &n);
                (is_std(&n) || built.is_some()).then_some((n, built))
            })
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (artifact, bytes);
        Vec::new()
    }
}

/// Whether the library is a Rust `dylib` (it carries the `.rustc` metadata section that
/// other crates link against), as opposed to a `cdylib`.
pub fn is_rust_dylib<'a, R: object::ReadRef<'a>>(bytes: R) -> bool {
    use object::{Object, ObjectSection};
    object::File::parse(bytes)
        .ok()
        .is_some_and(|f| f.sections().any(|s| s.name() == Ok(".rustc")))
}

/// A Rust symbol, demangled for a message (`tokio::runtime::context::budget`).
fn demangle(symbol: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(symbol))
}

/// Whether `name` (a `DT_NEEDED` entry) is a build of Rust's std.
fn is_std(name: &str) -> bool {
    name.starts_with("libstd-") && name.ends_with(std::env::consts::DLL_SUFFIX)
}

/// Where the build that made `artifact` put a library it links by `name`: beside it, or in
/// its `deps/` folder (cargo's layout). `None` when it is not a library of that build (a
/// system library, or std, which lives in the toolchain).
fn library_of_build(artifact: &Path, name: &str) -> Option<PathBuf> {
    let dir = artifact.parent()?;
    [dir.join(name), dir.join("deps").join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    use object::read::elf::{Dyn, FileHeader, Sym};
    use object::{ReadRef, elf};

    use super::{World, WorldLibrary, demangle, is_std, library_of_build};
    use crate::LoadError;
    use crate::image::Image;

    /// What the dynamic section of an ELF library asks of the process.
    #[derive(Debug, Default)]
    struct Needs {
        /// `DT_NEEDED` entries.
        libraries: Vec<String>,
        /// Undefined, non-weak symbols with Rust's mangling (legacy `_ZN` or v0 `_R`).
        rust_symbols: Vec<String>,
    }

    pub(super) fn check<'a, R: ReadRef<'a>>(artifact: &Path, bytes: R) -> Result<World, LoadError> {
        let needs = match object::FileKind::parse(bytes) {
            Ok(object::FileKind::Elf64) => needs::<elf::FileHeader64<object::Endianness>, R>(bytes),
            Ok(object::FileKind::Elf32) => needs::<elf::FileHeader32<object::Endianness>, R>(bytes),
            _ => None,
        };
        // `inspect` already refused what is not a complete ELF library for this machine.
        let Some(needs) = needs else {
            return Ok(World::default());
        };
        let loaded = loaded_objects();
        let loaded_as = |name: &str| {
            loaded.iter().find(|l| {
                l.path
                    .file_name()
                    .is_some_and(|f| f.as_bytes() == name.as_bytes())
            })
        };
        // Not in this process's world: a plugin with its own std (or none).
        if !needs
            .libraries
            .iter()
            .any(|n| is_std(n) && loaded_as(n).is_some())
        {
            // A plugin built for a one world (std and libraries of its build linked as
            // shared libraries) cannot join a host that links std statically: it would
            // bring a second std and a second copy of its world.
            let shared_std = needs.libraries.iter().any(|n| is_std(n));
            let world_library = needs
                .libraries
                .iter()
                .find_map(|n| library_of_build(artifact, n));
            if let (true, Some(library)) = (shared_std, world_library) {
                return Err(LoadError::WorldChanged {
                    path: artifact.to_path_buf(),
                    library,
                    reason: "is not loaded in this process: the plugin is built for a one world \
                             (std linked as a shared library) and this host links std \
                             statically; build the host in the plugin's workspace, with its \
                             .cargo/config.toml (-C prefer-dynamic)"
                        .into(),
                });
            }
            return Ok(World::default());
        }
        let mut libraries = Vec::new();
        for name in &needs.libraries {
            let built = library_of_build(artifact, name);
            match (loaded_as(name), built) {
                (Some(loaded), Some(built)) => {
                    let same = std::fs::metadata(&built)
                        .ok()
                        .is_some_and(|m| Some((m.dev(), m.ino())) == mapped_file(&loaded.path));
                    if !same {
                        return Err(LoadError::WorldChanged {
                            path: artifact.to_path_buf(),
                            library: built,
                            reason: "was rebuilt since this process loaded it: a dependency, \
                                     its features or a crate the host compiles changed"
                                .into(),
                        });
                    }
                    libraries.push(WorldLibrary {
                        path: loaded.path.clone(),
                        image: loaded.image.clone(),
                    });
                }
                (Some(loaded), None) if is_std(name) => libraries.push(WorldLibrary {
                    path: loaded.path.clone(),
                    image: loaded.image.clone(),
                }),
                (None, Some(built)) => {
                    return Err(LoadError::WorldChanged {
                        path: artifact.to_path_buf(),
                        library: built,
                        reason: "is not loaded in this process: the plugin depends on a \
                                 library crate that the host does not link"
                            .into(),
                    });
                }
                // A system library (libc, libgcc_s), loaded or not: the loader's business.
                _ => {}
            }
        }
        let missing: Vec<&String> = needs
            .rust_symbols
            .iter()
            .filter(|s| !defined_in_process(s))
            .collect();
        if let Some(first) = missing.first() {
            return Err(LoadError::MissingSymbol {
                path: artifact.to_path_buf(),
                symbol: demangle(first),
                mangled: (*first).clone(),
                more: missing.len() - 1,
            });
        }
        Ok(World { libraries })
    }

    /// The `DT_NEEDED` entries of an ELF library (none for anything else).
    pub(super) fn needed<'a, R: ReadRef<'a>>(bytes: R) -> Vec<String> {
        let needs = match object::FileKind::parse(bytes) {
            Ok(object::FileKind::Elf64) => needs::<elf::FileHeader64<object::Endianness>, R>(bytes),
            Ok(object::FileKind::Elf32) => needs::<elf::FileHeader32<object::Endianness>, R>(bytes),
            _ => None,
        };
        needs.map(|n| n.libraries).unwrap_or_default()
    }

    /// The `DT_NEEDED` entries and undefined Rust symbols of an ELF library.
    fn needs<'a, Elf: FileHeader<Endian = object::Endianness>, R: ReadRef<'a>>(
        bytes: R,
    ) -> Option<Needs> {
        let header = Elf::parse(bytes).ok()?;
        let endian = header.endian().ok()?;
        let sections = header.sections(endian, bytes).ok()?;
        let mut out = Needs::default();
        if let Some((entries, strings_index)) = sections.dynamic(endian, bytes).ok().flatten() {
            let strings = sections.strings(endian, bytes, strings_index).ok()?;
            for entry in entries {
                if entry.tag32(endian) == Some(elf::DT_NEEDED) {
                    let offset: u64 = entry.d_val(endian).into();
                    let name = strings.get(u32::try_from(offset).ok()?).ok()?;
                    out.libraries
                        .push(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
        let symbols = sections.symbols(endian, bytes, elf::SHT_DYNSYM).ok()?;
        for symbol in symbols.iter() {
            let binding = symbol.st_bind();
            if !symbol.is_undefined(endian)
                || binding == elf::STB_WEAK
                || symbol.st_type() == elf::STT_TLS
            {
                continue;
            }
            let Ok(name) = symbol.name(endian, symbols.strings()) else {
                continue;
            };
            if name.starts_with(b"_ZN") || name.starts_with(b"_R") {
                out.rust_symbols
                    .push(String::from_utf8_lossy(name).into_owned());
            }
        }
        Some(out)
    }

    /// A loaded object: the path the loader lists and its image.
    struct Loaded {
        path: PathBuf,
        image: Image,
    }

    fn loaded_objects() -> Vec<Loaded> {
        let mut names = Vec::new();
        crate::os::each_loaded_name(&mut |name| {
            names.push(PathBuf::from(std::ffi::OsStr::from_bytes(name)))
        });
        names
            .into_iter()
            .filter(|p| !p.as_os_str().is_empty())
            .filter_map(|path| {
                let image = Image::of_loaded(&path)?;
                Some(Loaded { path, image })
            })
            .collect()
    }

    /// The device and inode of the file this process mapped from `path`, from
    /// `/proc/self/maps` (the file at `path` now may be another one, if it was replaced).
    fn mapped_file(path: &Path) -> Option<(u64, u64)> {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let wanted = std::fs::canonicalize(path).ok();
        for line in maps.lines() {
            // start-end perms offset dev inode pathname
            let mut fields = line.split_ascii_whitespace();
            let (Some(_), Some(_), Some(_), Some(dev), Some(inode)) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                continue;
            };
            let name: Vec<&str> = fields.collect();
            let name = name.join(" ");
            let name = name.strip_suffix(" (deleted)").unwrap_or(&name);
            let matches =
                Path::new(name) == path || wanted.as_deref().is_some_and(|w| Path::new(name) == w);
            if !matches {
                continue;
            }
            let (major, minor) = dev.split_once(':')?;
            let major = u64::from_str_radix(major, 16).ok()?;
            let minor = u64::from_str_radix(minor, 16).ok()?;
            let inode: u64 = inode.parse().ok()?;
            return Some((libc::makedev(major as u32, minor as u32), inode));
        }
        None
    }

    /// Whether the symbol is defined in the process's global scope (the host program and
    /// the libraries it was linked with).
    fn defined_in_process(symbol: &str) -> bool {
        let Ok(name) = CString::new(symbol) else {
            return false;
        };
        // SAFETY: `dlsym` with the default handle only looks the name up (a valid C
        // string); nothing is called and no library is loaded.
        !unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }.is_null()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_not_a_rust_dylib() {
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        assert!(!is_rust_dylib(&bytes[..]));
    }

    #[test]
    fn std_builds_are_told_from_other_libraries() {
        assert!(is_std("libstd-d1237ef7159db0a2.so"));
        assert!(!is_std("libstdc++.so.6"));
        assert!(!is_std("libapi.so"));
    }

    #[test]
    fn symbols_are_demangled_for_messages() {
        assert_eq!(
            demangle("_ZN5tokio7runtime7context6budget17h0123456789abcdefE"),
            "tokio::runtime::context::budget"
        );
    }

    #[test]
    fn a_library_of_the_build_is_found_beside_the_plugin_or_in_deps() {
        let dir = tempfile::tempdir().unwrap();
        let artifact = dir.path().join("libplugin.so");
        std::fs::create_dir(dir.path().join("deps")).unwrap();
        std::fs::write(dir.path().join("deps/libapi.so"), b"").unwrap();
        assert_eq!(
            library_of_build(&artifact, "libapi.so"),
            Some(dir.path().join("deps/libapi.so"))
        );
        assert_eq!(library_of_build(&artifact, "libc.so.6"), None);
    }

    /// This test binary links std statically: a plain check finds no world.
    #[test]
    fn a_library_without_this_process_std_is_not_in_the_world() {
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        let world = check(Path::new("/proc/self/exe"), &bytes[..]).unwrap();
        assert!(!world.is_shared());
    }
}
