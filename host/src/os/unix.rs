//! Unix: `membarrier` (Linux), owner-only directories, `flock`, `/proc/self/maps`,
//! non-blocking opens, file identity, the loaded image of a library (Linux).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Whether this platform has a heavy barrier, so that callers need only a compiler fence.
/// Elsewhere callers pay a full fence per call.
pub const HAS_HEAVY_BARRIER: bool = cfg!(target_os = "linux");

#[cfg(target_os = "linux")]
mod barrier {
    use std::sync::atomic::{AtomicU8, Ordering};

    // From linux/membarrier.h.
    const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
    const MEMBARRIER_CMD_GLOBAL: libc::c_int = 1;
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    const UNPREPARED: u8 = 0;
    const PRIVATE_EXPEDITED: u8 = 1;
    const GLOBAL: u8 = 2;
    const MPROTECT: u8 = 3;

    static METHOD: AtomicU8 = AtomicU8::new(UNPREPARED);

    fn membarrier(cmd: libc::c_int) -> libc::c_long {
        // SAFETY: membarrier takes two integer arguments and touches no user memory.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_int) }
    }

    /// Chooses the barrier once: the expedited private `membarrier` (microseconds), the
    /// global one (slower, older kernels), or the `mprotect` trick (a TLB shoot-down
    /// interrupts every CPU running this process, which serialises it) where seccomp or
    /// an old kernel forbids `membarrier`. Registering for the expedited `membarrier`
    /// waits for the kernel's grace period (about 10 ms here), so each plugin's reaper
    /// thread does it when it starts ([`prepare_heavy_barrier`]), rather than the first
    /// reload that retires a generation.
    pub fn prepare_heavy_barrier() {
        if METHOD.load(Ordering::Acquire) != UNPREPARED {
            return;
        }
        let supported = membarrier(MEMBARRIER_CMD_QUERY);
        let method = if supported >= 0
            && supported & libc::c_long::from(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0
            && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
        {
            PRIVATE_EXPEDITED
        } else if supported >= 0 && supported & libc::c_long::from(MEMBARRIER_CMD_GLOBAL) != 0 {
            GLOBAL
        } else {
            MPROTECT
        };
        tracing::debug!(method, "heavy barrier chosen");
        METHOD.store(method, Ordering::Release);
    }

    /// Forces every running thread of this process through a full memory barrier.
    pub fn heavy_barrier() {
        match METHOD.load(Ordering::Acquire) {
            PRIVATE_EXPEDITED => {
                let r = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
                assert_eq!(r, 0, "membarrier failed after registration");
            }
            GLOBAL => {
                let r = membarrier(MEMBARRIER_CMD_GLOBAL);
                assert_eq!(r, 0, "membarrier failed after query");
            }
            MPROTECT => mprotect_barrier(),
            _ => {
                prepare_heavy_barrier();
                heavy_barrier();
            }
        }
    }

    fn mprotect_barrier() {
        use std::sync::Mutex;
        static PAGE: Mutex<usize> = Mutex::new(0);
        let mut page = PAGE.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: sysconf has no memory effects.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        if *page == 0 {
            // SAFETY: an anonymous private mapping of one page, checked below.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    size,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED, "mmap of the barrier page failed");
            *page = p as usize;
        }
        let p = *page as *mut libc::c_void;
        // SAFETY:
        // - `p` is our own one-page mapping, never unmapped and used only under `PAGE`;
        // - the write happens while the page is writable.
        unsafe {
            assert_eq!(
                libc::mprotect(p, size, libc::PROT_READ | libc::PROT_WRITE),
                0
            );
            p.cast::<u8>().write_volatile(0);
            assert_eq!(libc::mprotect(p, size, libc::PROT_READ), 0);
        }
    }
}

#[cfg(target_os = "linux")]
pub use barrier::{heavy_barrier, prepare_heavy_barrier};

/// Without a heavy barrier, callers fence every call and nothing needs doing here.
#[cfg(not(target_os = "linux"))]
pub fn heavy_barrier() {}

/// Without a heavy barrier there is nothing to prepare.
#[cfg(not(target_os = "linux"))]
pub fn prepare_heavy_barrier() {}

/// Creates `dir` (and missing parents) readable only by its owner, or checks that an
/// existing one is ours and makes it owner-only.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        ));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("owned by uid {}, not by this user (uid {me})", meta.uid()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Whether a file at `path` is mapped into this process: `None` where that cannot be told.
pub fn is_mapped(path: &Path) -> Option<bool> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let maps = fs::read_to_string("/proc/self/maps").ok()?;
    let wanted = path.to_string_lossy();
    Some(maps.lines().any(|line| {
        // address perms offset dev inode path [(deleted)]
        line.splitn(6, char::is_whitespace)
            .nth(5)
            .map(|p| p.trim_start().trim_end_matches(" (deleted)") == wanted)
            .unwrap_or(false)
    }))
}

/// Opens a file for reading without blocking on a FIFO or device (`O_NONBLOCK`, which
/// regular files ignore), so that its kind can be checked before anything is read.
pub fn open_for_reading(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// Creates a new file that did not exist, never following a symbolic link at `path`
/// (`O_CREAT | O_EXCL` refuses every existing entry, links included), owner-only.
pub fn create_new_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// What identifies one version of a file: which file (device, inode), its size, and when
/// its content and its inode last changed. A write in place changes the times; a rename
/// over the path changes the inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    /// Whether `later` is the same version of the file, inode and all: nothing about it
    /// changed, not even its change time.
    pub fn unchanged(&self, later: &Identity) -> bool {
        self == later
    }

    /// Whether `later` is the same file with the same size and modification time: its
    /// content was not written, as far as its metadata can tell. Its change time may have
    /// moved: adding or removing a hard link (hotdev's own shadow links, by this process or
    /// another one) changes the inode's ctime and nothing of its content, and so do
    /// `chmod` and `chown`. So does a write in place whose writer put the modification
    /// time back, which is why a file whose change time moved is never linked: its whole
    /// read is compared with what the checks read (see `library::Bytes::contents`).
    pub fn same_content(&self, later: &Identity) -> bool {
        self.dev == later.dev
            && self.ino == later.ino
            && self.len == later.len
            && self.mtime == later.mtime
    }

    /// The file's device and inode numbers.
    pub fn file_key(&self) -> Option<(u64, u64)> {
        Some((self.dev, self.ino))
    }
}

/// The [`Identity`] of the file `meta` describes.
pub fn identity(meta: &fs::Metadata) -> Identity {
    Identity {
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    }
}

/// Makes `dest` (which must not exist) a hard link to `artifact` if `artifact` is still
/// the version `read` describes, so that a shadow copy costs no bytes. Returns
/// `Ok(false)` when a link cannot be used here and the caller must copy: `artifact` is
/// not a regular file (a symbolic link would be linked itself), it changed since it was
/// read, or the file system refuses the link (another device, no hard links, too many
/// links). An error is returned only when `dest` exists.
///
/// Linux only. Why a link is safe there, for a cargo build output: the build tools never
/// write an existing output in place; they make a new inode (checked on Linux x86_64
/// with rustc 1.95, `inode` numbers before and after rebuilds and `strace -f`):
///
/// - the linkers unlink the old output before writing: rust-lld (rustc's default on
///   x86_64 Linux) and `ld.lld` write `<output>.tmpXXXX` and rename it over the output;
///   GNU `ld.bfd` and `gold` unlink the output, then create it anew (`O_CREAT|O_TRUNC`
///   on a name that no longer exists: a new inode);
/// - cargo uplifts `target/<profile>/lib<name>.so` from `deps/` by unlinking the old
///   file and hard-linking (or, across devices, copying to) the new one.
///
/// So the inode loaded through a shadow link is never written again by a build, and the
/// pages `dlopen` maps (`MAP_PRIVATE`, faulted in lazily) keep the bytes that were
/// checked. A tool that writes a library in place (`cp` over an existing file) would
/// change a loaded generation's pages under it; links are therefore only used for
/// artifacts in a cargo target directory (see the shadow module), and
/// `HOTDEV_SHADOW_COPY=1` turns them off. mold was not installed here and is not
/// verified.
#[cfg(target_os = "linux")]
pub fn link_unchanged(artifact: &Path, dest: &Path, read: &Identity) -> io::Result<bool> {
    let before = fs::symlink_metadata(artifact)?;
    if !before.file_type().is_file() || !read.unchanged(&identity(&before)) {
        return Ok(false);
    }
    // glibc's dlopen returns the library already loaded from the same device and inode,
    // whatever its path: an inode the loader holds already (loaded from the artifact path
    // by other code, or an earlier generation still loaded) must be copied.
    if loaded_already(artifact) {
        return Ok(false);
    }
    match fs::hard_link(artifact, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
        Err(e) => {
            tracing::debug!(artifact = %artifact.display(), error = %e, "no hard link; copying");
            return Ok(false);
        }
    }
    // The link shares the inode that was read: the same device and inode, not written
    // since (size, modification time). Its change time moved with the link.
    let linked = fs::symlink_metadata(dest);
    if linked.is_ok_and(|m| m.file_type().is_file() && read.same_content(&identity(&m))) {
        Ok(true)
    } else {
        fs::remove_file(dest)?;
        Ok(false)
    }
}

/// Whether the dynamic loader holds `path`'s file already, under any name: the very test
/// `dlopen` makes before it maps a file (`RTLD_NOLOAD`: the same name, or the same device
/// and inode, as a loaded object). It costs an open, a `fstat` and a read of the ELF
/// header, where a scan of `/proc/self/maps` cost about 300 µs in a server with a few
/// hundred mappings. A file mapped by other means (`mmap`, a debugger's symbol reader)
/// does not count: `dlopen` would not hand it back.
#[cfg(target_os = "linux")]
fn loaded_already(path: &Path) -> bool {
    // SAFETY: with `RTLD_NOLOAD` nothing is mapped and no initialiser runs: `dlopen` only
    // returns an object that is loaded already, with its count of users raised by one,
    // which dropping the handle (`dlclose`) lowers again.
    let held = unsafe {
        libloading::os::unix::Library::open(Some(path), libc::RTLD_NOLOAD | libc::RTLD_LAZY)
    };
    held.is_ok()
}

/// Elsewhere the shadow copy is always written.
#[cfg(not(target_os = "linux"))]
pub fn link_unchanged(_artifact: &Path, _dest: &Path, _read: &Identity) -> io::Result<bool> {
    Ok(false)
}

/// Describes a file type that is not a regular file or directory.
pub fn special_kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "FIFO (named pipe)"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Calls `f` with the name and the loader's record of every loaded object, from one
/// consistent snapshot: `dl_iterate_phdr` walks the loader's list under its lock, unlike a
/// read of `/proc/self/maps`, which can mix two moments. `f` returns true to stop.
#[cfg(target_os = "linux")]
fn each_loaded(f: &mut dyn FnMut(&[u8], &libc::dl_phdr_info) -> bool) {
    use std::ffi::{CStr, c_int, c_void};

    /// The callback `dl_iterate_phdr` calls once per loaded object.
    ///
    /// # Safety
    ///
    /// Called by `dl_iterate_phdr` with the `data` given to it below: a pointer to a live
    /// `&mut dyn FnMut` not otherwise borrowed, and a valid `info` for this call.
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY:
        // - `data` is the `&mut dyn FnMut` passed to `dl_iterate_phdr` below, alive and not
        //   otherwise borrowed during the walk;
        // - `info` and its `dlpi_name` (when not null) are valid during this callback.
        unsafe {
            let f = &mut *data.cast::<&mut dyn FnMut(&[u8], &libc::dl_phdr_info) -> bool>();
            let info = &*info;
            let name = if info.dlpi_name.is_null() {
                &[][..]
            } else {
                CStr::from_ptr(info.dlpi_name).to_bytes()
            };
            c_int::from(f(name, info))
        }
    }

    let mut f = f;
    // SAFETY: `each` has the callback's signature and only uses what it is given; `f`
    // outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(each),
            (&mut f as *mut &mut dyn FnMut(&[u8], &libc::dl_phdr_info) -> bool).cast(),
        )
    };
}

/// Calls `f` with the name of every loaded object (the path the loader lists; empty for
/// the program itself), from one snapshot of the loader's list.
pub fn each_loaded_name(f: &mut dyn FnMut(&[u8])) {
    #[cfg(target_os = "linux")]
    each_loaded(&mut |name, _| {
        f(name);
        false
    });
    #[cfg(not(target_os = "linux"))]
    let _ = f;
}

/// How many libraries under `dir` the dynamic loader has loaded, from one consistent
/// snapshot of its list. `None` where that walk is not available.
pub fn loaded_under(dir: &Path) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let prefix = dir.as_os_str().as_bytes();
        let mut n = 0;
        each_loaded(&mut |name, _| {
            n += usize::from(name.starts_with(prefix));
            false
        });
        Some(n)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        None
    }
}

/// The segments of the library the loader loaded from exactly `path`, from one snapshot
/// of the loader's list. `None` if it is not loaded, or where `dl_iterate_phdr` is not
/// available (only Linux is supported).
pub fn loaded_image(path: &Path) -> Option<crate::image::Image> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;

        use crate::image::{Image, Segment};

        let wanted = path.as_os_str().as_bytes();
        let mut found = None;
        each_loaded(&mut |name, info| {
            if name != wanted {
                return false;
            }
            let base = info.dlpi_addr as usize;
            // SAFETY: the loader's record lists `dlpi_phnum` program headers at
            // `dlpi_phdr`, valid during the walk.
            let headers =
                unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
            let mut image = Image {
                base,
                ..Image::default()
            };
            for h in headers {
                let start = base.wrapping_add(h.p_vaddr as usize);
                let end = start.wrapping_add(h.p_memsz as usize);
                match h.p_type {
                    libc::PT_LOAD => image.segments.push(Segment {
                        start,
                        end,
                        read: h.p_flags & libc::PF_R != 0,
                        write: h.p_flags & libc::PF_W != 0,
                        exec: h.p_flags & libc::PF_X != 0,
                    }),
                    libc::PT_GNU_RELRO => image.relro = Some((start, end)),
                    _ => {}
                }
            }
            found = Some(image);
            true
        });
        found
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

/// Files that must be copied along with a library: none on Unix.
pub fn companion_files(_library: &Path) -> Vec<(PathBuf, &'static str)> {
    Vec::new()
}

/// Why a library may stay loaded after unloading, for the pinned-library warning.
pub const PIN_REASON: &str = "a thread-local with a destructor (or another reference) keeps it \
     loaded until the thread that used it exits (glibc; rust-lang/rust#59629)";
