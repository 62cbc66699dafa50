//! Threads started by plugin code, counted so that a library is never unmapped while one
//! of them may still run its code.
//!
//! A plugin may start a thread of its own (`std::thread::spawn`, or `pthread_create`
//! directly) that keeps running after its generation is retired. Unmapping the library
//! under such a thread crashes the process at its next instruction. Rust threads happen to
//! be safe on glibc (their thread-local destructors make the C library keep the library
//! loaded), a plain POSIX thread is not.
//!
//! So, on Linux, right after the loader maps a generation and before any of its code runs
//! (apart from the loader's initialisers), the host redirects the library's own imports of
//! `pthread_create` (its global offset table entries, found from its dynamic relocations)
//! to [`interposed_pthread_create`]. That wrapper counts the thread against the generation
//! whose code it starts, and uncounts it when its start routine returns. The reaper keeps
//! a generation whose count is not zero loaded (event `ThreadsRunning`, code HD042) and
//! unloads it once its threads have ended.
//!
//! Not seen: threads started by the library's initialisers (before the redirection), by
//! a raw `clone` system call, or by another library the plugin loads itself. A thread that
//! ends through `pthread_exit` or cancellation stays counted, which keeps its library
//! loaded: safe, at the cost of memory. Elsewhere than Linux nothing is counted yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The live-thread count of one generation, registered while its library is loaded.
#[derive(Debug)]
pub struct ThreadCount {
    count: Arc<AtomicUsize>,
    #[cfg(target_os = "linux")]
    range: (usize, usize),
}

impl ThreadCount {
    /// How many threads started by this generation's code are still running.
    pub fn running(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

#[cfg(target_os = "linux")]
pub use linux::watch;

/// Where threads cannot be counted, every generation reports none.
#[cfg(not(target_os = "linux"))]
pub fn watch(
    _image: &crate::image::Image,
    _elf: crate::library::Data<'_>,
) -> Result<ThreadCount, String> {
    Ok(ThreadCount {
        count: Arc::new(AtomicUsize::new(0)),
    })
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, PoisonError, RwLock};

    use object::{Object, ObjectSymbol, ObjectSymbolTable, RelocationTarget};

    use super::ThreadCount;
    use crate::image::Image;

    /// An image's address range and the count of the threads its code started.
    type Watched = ((usize, usize), Arc<AtomicUsize>);

    /// The images whose `pthread_create` imports point at the wrapper, with their counts.
    static WATCHED: RwLock<Vec<Watched>> = RwLock::new(Vec::new());

    type StartRoutine = extern "C" fn(*mut c_void) -> *mut c_void;

    /// Registers a freshly loaded image and redirects its `pthread_create` imports.
    /// `elf` is the library file's content (the shadow copy's bytes).
    pub fn watch(image: &Image, elf: crate::library::Data<'_>) -> Result<ThreadCount, String> {
        let file = object::File::parse(elf).map_err(|e| e.to_string())?;
        let symbols = file.dynamic_symbol_table();
        let mut slots = Vec::new();
        for (offset, reloc) in file.dynamic_relocations().into_iter().flatten() {
            let RelocationTarget::Symbol(index) = reloc.target() else {
                continue;
            };
            let name = symbols
                .as_ref()
                .and_then(|t| t.symbol_by_index(index).ok())
                .and_then(|s| s.name().ok());
            if name == Some("pthread_create") {
                slots.push(image.base.wrapping_add(offset as usize));
            }
        }
        let range = image.span();
        let count = Arc::new(AtomicUsize::new(0));
        WATCHED
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((range, count.clone()));
        let watched = ThreadCount { count, range };
        for slot in slots {
            // SAFETY: `slot` is a global offset table entry of the library just loaded (a
            // dynamic relocation's place, inside a writable segment: `inspect` checked
            // every relocation's place), and the library's code has not run yet apart from
            // its initialisers.
            unsafe { redirect(image, slot) }?;
        }
        Ok(watched)
    }

    impl Drop for ThreadCount {
        fn drop(&mut self) {
            WATCHED
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|(range, c)| !(*range == self.range && Arc::ptr_eq(c, &self.count)));
        }
    }

    /// Points one global offset table entry at the wrapper, making its page writable for
    /// the store and read-only again if the loader had made it so (`PT_GNU_RELRO`).
    ///
    /// # Safety
    /// `slot` must be a pointer-sized, aligned entry of `image`'s global offset table.
    unsafe fn redirect(image: &Image, slot: usize) -> Result<(), String> {
        if !slot.is_multiple_of(std::mem::align_of::<usize>()) || !image.contains(slot) {
            return Err(format!(
                "a pthread_create slot at {slot:#x} lies outside the library"
            ));
        }
        // SAFETY: sysconf has no memory effects.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let start = slot & !(page - 1);
        let protect = |prot| {
            // SAFETY: `start` is the page holding `slot`, mapped as part of the library.
            unsafe { libc::mprotect(start as *mut c_void, page, prot) == 0 }
        };
        if !protect(libc::PROT_READ | libc::PROT_WRITE) {
            return Err(format!(
                "could not make the page at {start:#x} writable: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: the caller's promise; the page is writable now.
        unsafe {
            (slot as *mut usize).write_volatile(interposed_pthread_create as *const () as usize)
        };
        // The loader protects the whole pages of the RELRO range (its end rounded down).
        let read_only = image
            .relro
            .is_some_and(|(s, e)| (s & !(page - 1)) <= start && start < (e & !(page - 1)));
        if read_only && !protect(libc::PROT_READ) {
            tracing::warn!(page = start, "could not make a RELRO page read-only again");
        }
        Ok(())
    }

    struct Start {
        routine: StartRoutine,
        arg: *mut c_void,
        counts: Vec<Arc<AtomicUsize>>,
    }

    /// Uncounts a thread when its start routine returns (or unwinds).
    struct Counted(Vec<Arc<AtomicUsize>>);

    impl Drop for Counted {
        fn drop(&mut self) {
            for c in &self.0 {
                c.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// What a watched library's `pthread_create` calls: counts the new thread against the
    /// generation whose code it starts (against every watched one when its start routine
    /// lies in none of them, to stay on the safe side), then creates it.
    ///
    /// # Safety
    /// The contract of `pthread_create`.
    pub unsafe extern "C" fn interposed_pthread_create(
        thread: *mut libc::pthread_t,
        attr: *const libc::pthread_attr_t,
        routine: StartRoutine,
        arg: *mut c_void,
    ) -> c_int {
        let at = routine as usize;
        let counts: Vec<Arc<AtomicUsize>> = {
            let watched = WATCHED.read().unwrap_or_else(PoisonError::into_inner);
            let own: Vec<_> = watched
                .iter()
                .filter(|((s, e), _)| *s <= at && at < *e)
                .map(|(_, c)| c.clone())
                .collect();
            if own.is_empty() {
                watched.iter().map(|(_, c)| c.clone()).collect()
            } else {
                own
            }
        };
        for c in &counts {
            c.fetch_add(1, Ordering::AcqRel);
        }
        let start = Box::into_raw(Box::new(Start {
            routine,
            arg,
            counts,
        }));
        // SAFETY: the caller's arguments, with our trampoline and its boxed start.
        let r = unsafe { libc::pthread_create(thread, attr, trampoline, start.cast()) };
        if r != 0 {
            // SAFETY: the thread was not created, so the box is still ours.
            let start = unsafe { Box::from_raw(start) };
            drop(Counted(start.counts));
        }
        r
    }

    extern "C" fn trampoline(start: *mut c_void) -> *mut c_void {
        // SAFETY: `interposed_pthread_create` passed a leaked `Box<Start>`, taken once here.
        let start = unsafe { Box::from_raw(start.cast::<Start>()) };
        let _counted = Counted(start.counts);
        (start.routine)(start.arg)
    }
}
