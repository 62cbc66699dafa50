//! Crash catching: a fault raised inside a plugin call ends that call, not the process.
//!
//! With [`Options::catch_crashes`](crate::Options::catch_crashes) on, each plugin call runs
//! under a *guard*: a jump buffer set by a small C trampoline (`csrc/guard.c`, because
//! `sigsetjmp` returns twice and Rust cannot call it soundly), published in a thread-local
//! for the length of the call. One process-wide handler for `SIGSEGV`, `SIGBUS`, `SIGILL`
//! and `SIGFPE`, installed when the first such plugin is loaded, looks at the faulting
//! thread's guard:
//!
//! - a guard is set and the kernel raised the signal (a real fault, not `kill`): the handler
//!   records the signal and the fault address and jumps back to the trampoline, which
//!   returns 1; the call then returns [`CallError::Crashed`](reloadable::CallError);
//! - otherwise the fault is not a plugin's: the handler passes it on
//!   ([`signals::Chain`](crate::signals::Chain)) to the handler that was installed before
//!   (Rust's own, which prints "has overflowed its stack" for a guard-page hit), or
//!   restores the default action and returns, so that the faulting instruction runs again
//!   and the process ends with the signal it would have ended with anyway.
//!
//! A stack overflow is a `SIGSEGV` whose address lies just below the interrupted stack
//! pointer ([`signals::is_stack_overflow`](crate::signals::is_stack_overflow)); the
//! handler runs on an alternate signal stack, which every thread that makes a guarded call
//! gets (Rust's threads have one already; others get one on their first guarded call).
//!
//! What this cannot guarantee, and the Windows design, are in `docs/crash-recovery.md`.

/// A fault caught inside a guarded call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The signal number.
    pub signal: i32,
    /// The faulting address (`si_addr`).
    pub address: usize,
    /// Whether the address lies just below the interrupted stack pointer.
    pub stack_overflow: bool,
}

pub(crate) use imp::{guarded, install};

#[cfg(unix)]
mod imp {
    use std::cell::{Cell, RefCell};
    use std::ffi::{c_int, c_void};
    use std::io;
    use std::mem::{ManuallyDrop, MaybeUninit};
    use std::ptr;

    use super::Fault;
    use crate::signals::{self, Chain};

    unsafe extern "C" {
        /// `csrc/guard.c`: calls `f(data)` with a jump buffer published in `*env_slot`;
        /// returns 1 when `hotdev_jump` came back, 0 when `f` returned.
        fn hotdev_guarded_call(
            f: unsafe extern "C" fn(*mut c_void),
            data: *mut c_void,
            env_slot: *mut *mut c_void,
        ) -> c_int;
        /// `csrc/guard.c`: `siglongjmp`s to a jump buffer published by a live
        /// `hotdev_guarded_call` frame of this thread.
        fn hotdev_jump(env: *mut c_void) -> !;
    }

    /// The signals caught. Stack overflow arrives as `SIGSEGV` (or `SIGBUS` on macOS).
    const SIGNALS: [c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

    /// One guarded call's jump buffer and what the handler found.
    #[repr(C)]
    struct Guard {
        /// Set by the trampoline before the call, cleared after; read by the handler.
        env: *mut c_void,
        signal: c_int,
        address: usize,
        stack_overflow: bool,
    }

    thread_local! {
        /// The innermost guard of this thread's running guarded call, or null. Read by the
        /// signal handler: a `const`-initialised thread-local without a destructor is a
        /// plain TLS slot, with no lazy initialisation, so reading it there is
        /// async-signal-safe.
        static CURRENT: Cell<*mut Guard> = const { Cell::new(ptr::null_mut()) };
        /// Whether this thread was prepared (its alternate signal stack).
        static READY: Cell<bool> = const { Cell::new(false) };
        /// The alternate signal stack this module gave the thread, freed when it exits.
        static ALT_STACK: RefCell<Option<AltStack>> = const { RefCell::new(None) };
    }

    /// The handler, over the actions installed before it.
    static CHAIN: Chain<4> = Chain::new(SIGNALS);

    /// Installs the process-wide handler once. Later calls return the first outcome.
    pub(crate) fn install() -> io::Result<()> {
        CHAIN.install(handler)
    }

    /// The process-wide handler. Only async-signal-safe work: thread-local reads, plain
    /// stores, `sigaction`, `raise`, and the jump.
    extern "C" fn handler(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        let guard = CURRENT.with(Cell::get);
        // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler.
        let (fault, address) = unsafe { (signals::raised_by_fault(info), (*info).si_addr()) };
        let address = address as usize;
        // Raised by the kernel for this thread's instruction, not sent by `kill` or
        // `sigqueue` (those are not the plugin's fault, wherever they land).
        if !guard.is_null() && fault {
            // SAFETY: a non-null `CURRENT` points at the `Guard` of a guarded call running
            // on this thread (set and cleared around the call in `guarded`), whose frame is
            // below this handler's on the same thread.
            let env = unsafe { ptr::read_volatile(&raw const (*guard).env) };
            if !env.is_null() {
                // SAFETY: the handler's own arguments, during the signal.
                let stack_overflow = unsafe { signals::is_stack_overflow(sig, info, ctx) };
                // SAFETY: as above; plain stores into the live guard.
                unsafe {
                    ptr::write_volatile(&raw mut (*guard).signal, sig);
                    ptr::write_volatile(&raw mut (*guard).address, address);
                    ptr::write_volatile(&raw mut (*guard).stack_overflow, stack_overflow);
                    // The frames between the trampoline and the fault are abandoned: no
                    // destructor of theirs runs (documented in docs/crash-recovery.md).
                    hotdev_jump(env);
                }
            }
        }
        // SAFETY: the handler `CHAIN` installed, with the arguments it received.
        unsafe { CHAIN.pass_on(sig, info, ctx) };
    }

    /// Runs `f` under a guard: its result, or `Err` when a caught signal interrupted it
    /// (then `f` did not finish, and none of the destructors of the frames it had entered
    /// ran, `f`'s own captures included).
    ///
    /// `f` and the slot for its result share one struct in this frame, which a trampoline
    /// made for their types reads once, so that `f` is inlined there and each capture is
    /// stored once.
    #[inline(always)]
    pub(crate) fn guarded<T, F: FnOnce() -> T>(f: F) -> Result<T, Fault> {
        let mut frame = Frame {
            f: ManuallyDrop::new(f),
            out: MaybeUninit::uninit(),
        };
        let data: *mut Frame<F, T> = &mut frame;
        // SAFETY: `trampoline::<F, T>` takes `data` as the `Frame<F, T>` that lives in
        // this frame until after the call; it is called at most once.
        unsafe { guarded_raw(trampoline::<F, T>, data.cast()) }?;
        // SAFETY: the call returned without a jump, so the trampoline ran to its end and
        // wrote `out`.
        Ok(unsafe { frame.out.assume_init() })
    }

    /// What [`trampoline`] reads: the closure, taken once, and where its result goes. If
    /// a jump abandons the call, the closure (taken or not) is never dropped.
    struct Frame<F, T> {
        f: ManuallyDrop<F>,
        out: MaybeUninit<T>,
    }

    /// Calls `trampoline(data)` under a guard.
    ///
    /// Inlined into the host's slow call path (itself out of line, so the plain path
    /// never sees it), with the work after a fault out of line.
    ///
    /// # Safety
    /// `trampoline(data)` must be safe to call once.
    #[inline(always)]
    unsafe fn guarded_raw(
        trampoline: unsafe extern "C" fn(*mut c_void),
        data: *mut c_void,
    ) -> Result<(), Fault> {
        if !READY.with(Cell::get) {
            prepare_thread();
        }
        // Only `env` is read before a fault; the handler writes the other fields before
        // it jumps, and they are read only after a jump.
        let mut guard = MaybeUninit::<Guard>::uninit();
        let g: *mut Guard = guard.as_mut_ptr();
        // SAFETY: `g` points at this frame's guard; a field is written through it.
        unsafe { (&raw mut (*g).env).write(ptr::null_mut()) };
        let outer = CURRENT.with(|c| c.replace(g));
        // SAFETY:
        // - `trampoline(data)` may be called once (the caller's promise);
        // - `env_slot` points into `guard`, alive (in this frame) until after the call;
        // - a jump returns to the trampoline's frame, which is live; the frames it abandons
        //   are `trampoline`, `f` and what `f` called (the plugin's), none of them this one.
        let jumped = unsafe { hotdev_guarded_call(trampoline, data, (&raw mut (*g).env).cast()) };
        CURRENT.with(|c| c.set(outer));
        if jumped == 0 {
            return Ok(());
        }
        // SAFETY: the handler wrote the fields of the live guard before jumping.
        Err(unsafe { fault_caught(g) })
    }

    /// What the handler found, once it jumped back; unblocks the caught signal.
    ///
    /// # Safety
    /// `g` points at the live guard of the guarded call the handler jumped out of.
    #[cold]
    #[inline(never)]
    unsafe fn fault_caught(g: *const Guard) -> Fault {
        // SAFETY: the caller's promise; the handler wrote these fields before jumping.
        let fault = unsafe {
            Fault {
                signal: ptr::read_volatile(&raw const (*g).signal),
                address: ptr::read_volatile(&raw const (*g).address),
                stack_overflow: ptr::read_volatile(&raw const (*g).stack_overflow),
            }
        };
        // The jump left the handler without restoring the signal mask (the trampoline
        // does not save it, to spare a system call per call): the caught signal is still
        // blocked on this thread.
        // SAFETY: `set` is a valid signal set holding the caught signal.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, fault.signal);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut());
        }
        fault
    }

    /// Calls the closure of the `Frame` that `data` points to and writes its result there.
    ///
    /// # Safety
    /// `data` points at a live `Frame<F, T>` whose closure was not taken, not otherwise
    /// borrowed during the call; called once.
    unsafe extern "C" fn trampoline<F: FnOnce() -> T, T>(data: *mut c_void) {
        // SAFETY: the caller's promise.
        let frame = unsafe { &mut *data.cast::<Frame<F, T>>() };
        // SAFETY: taken once (the caller's promise); `Frame` never drops it.
        let f = unsafe { ManuallyDrop::take(&mut frame.f) };
        frame.out.write(f());
    }

    /// Gives this thread what a caught fault needs: an alternate signal stack (a stack
    /// overflow's handler cannot run on the overflowed stack).
    #[cold]
    #[inline(never)]
    fn prepare_thread() {
        READY.with(|r| r.set(true));
        let mut old: libc::stack_t = empty_stack();
        // SAFETY: queries the current alternate stack into a valid `stack_t`.
        let queried = unsafe { libc::sigaltstack(ptr::null(), &mut old) } == 0;
        if queried && old.ss_flags & libc::SS_DISABLE == 0 {
            return; // One is set (Rust's threads and main thread have one).
        }
        match AltStack::new() {
            Ok(stack) => ALT_STACK.with(|s| *s.borrow_mut() = Some(stack)),
            Err(e) => tracing::warn!(
                code = reloadable::codes::CRASH_CATCHING,
                error = %e,
                "no alternate signal stack on this thread: a stack overflow in a plugin call will end the process"
            ),
        }
    }

    fn empty_stack() -> libc::stack_t {
        // SAFETY: `stack_t` is plain data; all-zero is valid.
        unsafe { std::mem::zeroed() }
    }

    /// An alternate signal stack with a guard page below it, installed on this thread.
    struct AltStack {
        map: *mut c_void,
        len: usize,
    }

    impl AltStack {
        /// Far more than the handler needs (it jumps at once, or hands over to Rust's
        /// handler, which prints one line); above `MINSIGSTKSZ` on every platform.
        const SIZE: usize = 64 << 10;

        fn new() -> io::Result<AltStack> {
            let page = page_size();
            let len = Self::SIZE + page;
            // SAFETY: an anonymous private mapping; the result is checked.
            let map = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANON,
                    -1,
                    0,
                )
            };
            if map == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let stack = AltStack { map, len };
            // SAFETY: the first page of our own mapping becomes a guard page.
            if unsafe { libc::mprotect(map, page, libc::PROT_NONE) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let new = libc::stack_t {
                // SAFETY: `page` < `len`: inside the mapping.
                ss_sp: unsafe { map.cast::<u8>().add(page) }.cast(),
                ss_flags: 0,
                ss_size: Self::SIZE,
            };
            // SAFETY: `new` describes writable memory owned by `stack`, which stays mapped
            // until `drop` has disabled the alternate stack.
            if unsafe { libc::sigaltstack(&new, ptr::null_mut()) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(stack)
        }
    }

    impl Drop for AltStack {
        fn drop(&mut self) {
            let disable = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: Self::SIZE,
            };
            // SAFETY: disables this thread's alternate stack (ours: installed by `new` on
            // this thread, a thread-local's value), then unmaps it; the thread is exiting
            // or the stack was never installed, and no handler runs on it now.
            unsafe {
                libc::sigaltstack(&disable, ptr::null_mut());
                libc::munmap(self.map, self.len);
            }
        }
    }

    fn page_size() -> usize {
        // SAFETY: `sysconf` has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n).unwrap_or(4096).max(4096)
    }
}

/// Not implemented on this platform yet: loading with crash catching on fails with
/// `HD056`. The Windows design (a vectored exception handler) is in
/// `docs/crash-recovery.md`.
#[cfg(not(unix))]
mod imp {
    use std::io;

    use super::Fault;

    pub(crate) fn install() -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "crash catching is implemented for Unix only (see docs/crash-recovery.md)",
        ))
    }

    pub(crate) fn guarded<T, F: FnOnce() -> T>(f: F) -> Result<T, Fault> {
        Ok(f())
    }
}
