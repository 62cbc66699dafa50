//! Fault signals: handlers that pass on what is not theirs, and how a stack overflow is
//! told apart. Unix only.
//!
//! Two parts of hotdev handle `SIGSEGV` and its kin: the crash guard of plugin calls
//! (`Options::catch_crashes`), and the dev server's worker, which writes a record of what
//! it was serving before it dies. Both install a process-wide handler over one that may
//! already be there (the standard library's, which prints "has overflowed its stack" for
//! a guard-page hit, or another library's), and both must leave every signal that is not
//! theirs to that handler, or to the default action, as if they were not there. A
//! [`Chain`] does that:
//!
//! ```ignore
//! static CHAIN: Chain<2> = Chain::new([libc::SIGSEGV, libc::SIGBUS]);
//!
//! extern "C" fn on_fault(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
//!     // ... only async-signal-safe work ...
//!     // SAFETY: the arguments this handler, installed by `CHAIN`, received.
//!     unsafe { CHAIN.pass_on(sig, info, ctx) };
//! }
//!
//! CHAIN.install(on_fault)?;
//! ```
//!
//! A stack overflow is a fault whose address lies just below the interrupted code's stack
//! pointer: [`is_stack_overflow`].

use std::ffi::{c_int, c_void};
use std::io;
use std::ptr;
use std::sync::OnceLock;

/// A handler installed with `SA_SIGINFO`.
pub type Handler = extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);

/// A handler for a set of signals that hands each signal it does not keep to the action
/// that was installed before it. Meant for a `static`: installed once per process.
#[derive(Debug)]
pub struct Chain<const N: usize> {
    signals: [c_int; N],
    /// The actions installed before ours, one per entry of `signals`. Set once, before
    /// our handler is installed, and only read afterwards (an atomic load in `get`, which
    /// a signal handler may do).
    previous: OnceLock<[libc::sigaction; N]>,
    /// The outcome of installing (the OS error number on failure).
    installed: OnceLock<Result<(), i32>>,
}

impl<const N: usize> Chain<N> {
    /// A chain for `signals`, not installed yet.
    pub const fn new(signals: [c_int; N]) -> Self {
        Chain {
            signals,
            previous: OnceLock::new(),
            installed: OnceLock::new(),
        }
    }

    /// The signals this chain handles.
    pub fn signals(&self) -> &[c_int; N] {
        &self.signals
    }

    /// Installs `handler` for every signal of the chain (with `SA_SIGINFO` and
    /// `SA_ONSTACK`: a stack overflow's handler can only run on the alternate signal
    /// stack), after recording the actions it replaces. Once: later calls return the
    /// first outcome and install nothing (installing again would record our own handler
    /// as the previous one).
    ///
    /// `handler` may only do async-signal-safe work, and should end with
    /// [`pass_on`](Self::pass_on) for what it does not keep.
    pub fn install(&'static self, handler: Handler) -> io::Result<()> {
        self.installed
            .get_or_init(|| self.install_once(handler))
            .map_err(io::Error::from_raw_os_error)
    }

    fn install_once(&self, handler: Handler) -> Result<(), i32> {
        let mut previous = [empty_action(); N];
        for (sig, old) in self.signals.iter().zip(previous.iter_mut()) {
            // SAFETY: reads the current action into a valid, writable `sigaction`.
            if unsafe { libc::sigaction(*sig, ptr::null(), old) } != 0 {
                return Err(errno());
            }
        }
        // Stored before the handler can run, so that it always finds them.
        let _ = self.previous.set(previous);
        let mut action = empty_action();
        action.sa_sigaction = handler as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `sa_mask` is a valid, owned signal set.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        for sig in self.signals {
            // SAFETY: `action` is fully initialised and names `handler`, which has the
            // `SA_SIGINFO` signature.
            if unsafe { libc::sigaction(sig, &action, ptr::null_mut()) } != 0 {
                return Err(errno());
            }
        }
        Ok(())
    }

    /// Hands a signal on to the action installed before this chain's handler, as if the
    /// handler had not been there:
    ///
    /// - a previous handler is called with what the kernel gave ours (with or without
    ///   `SA_SIGINFO`, as it was installed);
    /// - under the default action, the action is reset to the default and, for a signal
    ///   that was sent (`kill`, `raise`, `abort`) rather than raised by a fault, the
    ///   signal is raised again; it is delivered when the handler returns. A fault needs
    ///   no raise: returning runs the faulting instruction again, and the default action
    ///   ends the process with the signal it would have ended with anyway;
    /// - a sent signal that was ignored stays ignored; an ignored fault is treated as
    ///   under the default action (the instruction cannot be skipped).
    ///
    /// Only async-signal-safe calls: `sigaction`, `raise`, and the previous handler.
    ///
    /// # Safety
    ///
    /// Called from the handler this chain [`install`](Self::install)ed, on the thread and
    /// during the signal it is handling, with the arguments it received.
    pub unsafe fn pass_on(&self, sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        // SAFETY: `info` is the kernel's, or null (the caller's promise).
        let sent = !unsafe { raised_by_fault(info) };
        let index = self.signals.iter().position(|s| *s == sig);
        let previous = index.and_then(|i| self.previous.get().map(|p| p[i]));
        let action = previous.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
        if action == libc::SIG_IGN && sent {
            return;
        }
        if action == libc::SIG_DFL || action == libc::SIG_IGN {
            let default = empty_action();
            // SAFETY: `sigaction` and `raise` are async-signal-safe; `default` is valid.
            unsafe {
                libc::sigaction(sig, &default, ptr::null_mut());
                if sent {
                    libc::raise(sig);
                }
            }
            return;
        }
        let flags = previous.map_or(0, |p| p.sa_flags);
        if flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous action was installed with `SA_SIGINFO`, so its handler
            // has this signature; it receives what the kernel gave ours, on this thread,
            // inside the same signal.
            let f: Handler = unsafe { std::mem::transmute(action) };
            f(sig, info, ctx);
        } else {
            // SAFETY: a handler installed without `SA_SIGINFO` takes the signal alone.
            let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(action) };
            f(sig);
        }
    }
}

/// Whether the kernel raised the signal for the interrupted thread's own instruction
/// (`si_code > 0`), as opposed to one sent by `kill`, `raise`, `abort` or `sigqueue`. A
/// null `info` counts as sent.
///
/// # Safety
///
/// `info` is null or points at a valid `siginfo_t` (in a handler, the one the kernel
/// passed it).
pub unsafe fn raised_by_fault(info: *const libc::siginfo_t) -> bool {
    // SAFETY: a non-null `info` is a valid `siginfo_t` (the caller's promise); `si_code`
    // is a plain field of every `siginfo_t`.
    !info.is_null() && unsafe { (*info).si_code } > 0
}

/// Whether a fault is a stack overflow: a `SIGSEGV` or `SIGBUS` whose address lies at, or
/// just below, the stack pointer of the code it interrupted.
///
/// One heuristic for every thread, read from the fault itself: the stack pointer comes
/// from the signal's machine context, so it holds on any thread (those hotdev never saw
/// before too, such as threads a plugin starts) and on any stack (one the C library does
/// not know the bounds of), with no per-thread set-up and no state for the handler to
/// read. A call or a stack probe that runs off the end of the stack faults at or just
/// under the stack pointer it has just moved; stack probes touch a large frame's pages
/// one by one, so the fault lands within a page of it. Up to [`OVERFLOW_REACH`] below is
/// allowed for code that touches a large frame without probing it.
///
/// Linux on x86_64 and aarch64 is tested; macOS on x86_64 and aarch64 is written, not
/// tested. Elsewhere the stack pointer is unknown and this returns false: an overflow is
/// then reported as a plain fault.
///
/// # Safety
///
/// `info` and `ctx` are the arguments the kernel passed to an `SA_SIGINFO` handler for
/// `sig`, during that handler (or null).
pub unsafe fn is_stack_overflow(
    sig: c_int,
    info: *const libc::siginfo_t,
    ctx: *const c_void,
) -> bool {
    if (sig != libc::SIGSEGV && sig != libc::SIGBUS) || info.is_null() || ctx.is_null() {
        return false;
    }
    // SAFETY: the kernel's `siginfo_t` for a fault carries the faulting address.
    let address = unsafe { (*info).si_addr() } as usize;
    // SAFETY: `ctx` is the kernel's `ucontext_t` for this signal (the caller's promise).
    let sp = unsafe { stack_pointer(ctx) };
    overflow_at(address, sp)
}

/// How far below the interrupted stack pointer a fault still counts as a stack overflow:
/// code that touches a large frame without stack probes can land this far past the
/// stack's end.
pub const OVERFLOW_REACH: usize = 1 << 20;

/// The heuristic of [`is_stack_overflow`]: a fault at `address` while the stack pointer
/// was `sp` (0: unknown) lies within a page above it or [`OVERFLOW_REACH`] below it.
fn overflow_at(address: usize, sp: usize) -> bool {
    const PAGE: usize = 4096;
    sp != 0 && address <= sp.saturating_add(PAGE) && sp.saturating_sub(address) < OVERFLOW_REACH
}

/// The interrupted code's stack pointer, from the signal's machine context (0 where its
/// place is not known).
///
/// # Safety
/// `ctx` is the kernel's `ucontext_t` for the signal being handled.
#[allow(unused_variables)] // `ctx` is only read where the stack pointer's place is known.
unsafe fn stack_pointer(ctx: *const c_void) -> usize {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    // SAFETY: on x86_64 Linux `ctx` is a `ucontext_t` whose general registers hold RSP.
    let sp = unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_RSP as usize] };
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    // SAFETY: on aarch64 Linux `ctx` is a `ucontext_t` whose machine context holds SP.
    let sp = unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.sp };
    #[cfg(all(target_os = "macos", target_arch = "x86_64"))]
    // SAFETY: on macOS `ctx` is a `ucontext_t` whose `uc_mcontext` points at the machine
    // context, valid during the handler; its thread state holds RSP.
    let sp = unsafe { (*(*ctx.cast::<libc::ucontext_t>()).uc_mcontext).__ss.__rsp };
    #[cfg(all(target_os = "macos", target_arch = "aarch64"))]
    // SAFETY: as above; the arm64 thread state holds SP.
    let sp = unsafe { (*(*ctx.cast::<libc::ucontext_t>()).uc_mcontext).__ss.__sp };
    #[cfg(not(all(
        any(target_os = "linux", target_os = "macos"),
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    let sp = 0;
    sp as usize
}

fn empty_action() -> libc::sigaction {
    // SAFETY: `sigaction` is plain data for which all-zero is valid (`SIG_DFL`, no flags,
    // an empty mask).
    unsafe { std::mem::zeroed() }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_at_or_just_below_the_stack_pointer_is_an_overflow_and_others_are_not() {
        let sp = 0x7fff_0000_0000usize;
        for (address, sp, overflow, why) in [
            (sp, sp, true, "a probe at the stack pointer"),
            (sp - 8, sp, true, "a call pushing its return address"),
            (
                sp - 64 * 1024,
                sp,
                true,
                "a large frame touched without probes",
            ),
            (sp + 4096, sp, true, "within a page above"),
            (
                sp + 4097,
                sp,
                false,
                "above the stack pointer: the stack is there",
            ),
            (sp - OVERFLOW_REACH, sp, false, "too far below"),
            (0x10, sp, false, "a null pointer's field"),
            (sp, 0, false, "the stack pointer is unknown"),
        ] {
            assert_eq!(overflow_at(address, sp), overflow, "{why}");
        }
    }

    #[test]
    fn a_signal_without_siginfo_counts_as_sent() {
        // SAFETY: all-zero is a valid `siginfo_t` (`si_code` 0, `SI_USER`: sent); null
        // is allowed.
        unsafe {
            assert!(!raised_by_fault(ptr::null()));
            let mut info: libc::siginfo_t = std::mem::zeroed();
            assert!(!raised_by_fault(&info));
            info.si_code = 1; // SEGV_MAPERR: raised by a fault.
            assert!(raised_by_fault(&info));
        }
    }
}
