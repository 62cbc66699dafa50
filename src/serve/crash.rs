//! Crash records: what the worker process was doing when a signal ended it.
//!
//! The supervisor sees *that* its worker died and from which signal; only the worker
//! knows the request it was serving. So each HTTP worker thread keeps its current call
//! (generation and route) in a thread-local buffer, set before it calls the plugin and
//! cleared after ([`enter`], [`leave`]); loading a generation sets it too (no route). The
//! worker installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT
//! ([`install`]) that write one pre-formatted line from that buffer to a dedicated pipe
//! with a single `write(2)`, then hand the signal on ([`hotdev_host::signals::Chain`]): to
//! the handler installed before (the standard library's, which tells a stack overflow
//! from other faults), or to the default action, so that the process still dies from the
//! signal.
//!
//! A handler may only make async-signal-safe calls: it reads the thread-local buffer
//! (constant-initialised, without destructor: a plain TLS access), formats digits into a
//! stack buffer, and calls `write`, `sigaction` and `raise`. It allocates nothing and
//! takes no lock.
//!
//! A stack overflow is a SIGSEGV (or SIGBUS) whose fault address lies just below the
//! stack pointer of the interrupted code ([`hotdev_host::signals::is_stack_overflow`], the
//! same test as the crash guard of plugin calls): the record says so. The standard
//! library's handler, called next, prints "has overflowed its stack" and aborts; its
//! SIGABRT may or may not get a record of its own (the nested handler can run out of
//! alternate stack, and the kernel then ends the process with SIGSEGV). Where the stack
//! pointer cannot be read, a SIGSEGV record followed by death from SIGABRT is read as a
//! stack overflow too ([`Crash::from_records`]): that abort is the standard library's own
//! verdict (it aborts only for a fault in a thread's guard page).
//!
//! Each record also says how many requests the crashing generation had answered in this
//! process ([`leave`] counts them in one atomic word the handler reads): the supervisor's
//! restart policy tells a crash loop (none since the restart) from a route that crashes
//! now and then.
//!
//! Record format, one line each:
//! `hotdev-crash <signo> <generation> <in_call 0|1> <overflow 0|1> <answered> <route>`.

use std::cell::Cell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering, compiler_fence};

use hotdev_host::signals::{self, Chain};

/// The longest route kept (longer ones are cut).
const ROUTE_MAX: usize = 200;

/// The signals that get a crash record.
const SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
];

/// The current call of one thread.
struct Context {
    /// 0: nothing; 1: loading a generation; 2: serving a request.
    phase: Cell<u8>,
    generation: Cell<u64>,
    len: Cell<usize>,
    route: Cell<[u8; ROUTE_MAX]>,
}

thread_local! {
    // Constant-initialised and without destructor: reading it is a plain TLS access, safe
    // in a signal handler.
    static CONTEXT: Context = const {
        Context {
            phase: Cell::new(0),
            generation: Cell::new(0),
            len: Cell::new(0),
            route: Cell::new([0; ROUTE_MAX]),
        }
    };
}

/// The write end of the crash pipe; -1 until [`install`].
static CRASH_FD: AtomicI32 = AtomicI32::new(-1);

/// The handlers, over those installed before them.
static CHAIN: Chain<5> = Chain::new(SIGNALS);

/// This thread is about to call the plugin for `route` in `generation`.
pub fn enter(generation: u64, route: &str) {
    let bytes = route.as_bytes();
    let n = bytes.len().min(ROUTE_MAX);
    let mut buf = [0u8; ROUTE_MAX];
    buf[..n].copy_from_slice(&bytes[..n]);
    CONTEXT.with(|c| {
        c.phase.set(0);
        // A handler on this thread sees either the old call or the whole new one.
        compiler_fence(Ordering::SeqCst);
        c.route.set(buf);
        c.len.set(n);
        c.generation.set(generation);
        compiler_fence(Ordering::SeqCst);
        c.phase.set(2);
    });
}

/// This thread is about to load `generation` (its load hook runs).
pub fn enter_load(generation: u64) {
    CONTEXT.with(|c| {
        c.phase.set(0);
        compiler_fence(Ordering::SeqCst);
        c.len.set(0);
        c.generation.set(generation);
        compiler_fence(Ordering::SeqCst);
        c.phase.set(1);
    });
}

/// This thread's call returned (a request's call counts as answered).
pub fn leave() {
    CONTEXT.with(|c| {
        if c.phase.get() == 2 {
            count_answer(c.generation.get());
        }
        c.phase.set(0);
    });
}

/// Bits of [`ANSWERED`] that hold the count; the generation is above them.
const COUNT_BITS: u32 = 24;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

/// The newest generation that answered a request in this process, and how many it
/// answered (saturating), in one word so that a signal handler reads both at once.
static ANSWERED: AtomicU64 = AtomicU64::new(0);

/// One more request answered by `generation` (an older generation's are not counted).
fn count_answer(generation: u64) {
    let _ = ANSWERED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
        let (counted, n) = (word >> COUNT_BITS, word & COUNT_MAX);
        if generation < counted {
            None
        } else if generation == counted {
            Some(word + u64::from(n < COUNT_MAX))
        } else {
            Some((generation << COUNT_BITS) | 1)
        }
    });
}

/// How many requests `generation` answered in this process.
fn answered(generation: u64) -> u64 {
    let word = ANSWERED.load(Ordering::Relaxed);
    if word >> COUNT_BITS == generation {
        word & COUNT_MAX
    } else {
        0
    }
}

/// Installs the handlers (once per process); records go to `fd` (the write end of the
/// crash pipe, which stays open for the life of the process).
pub fn install(fd: RawFd) -> std::io::Result<()> {
    CRASH_FD.store(fd, Ordering::SeqCst);
    CHAIN.install(on_signal)
}

/// The signal handler: writes the record, then hands the signal on.
extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let overflow = unsafe { signals::is_stack_overflow(signal, info, ctx) };
    write_record(signal, overflow);
    // SAFETY: the handler `CHAIN` installed, with the arguments it received. The standard
    // library's handler, when it was there, returns after resetting the action to the
    // default (a fault that is not a stack overflow): returning re-runs the faulting
    // instruction, which now ends the process.
    unsafe { CHAIN.pass_on(signal, info, ctx) };
}

/// Formats this thread's record and writes it in one `write(2)`. Async-signal-safe.
fn write_record(signal: libc::c_int, overflow: bool) {
    let fd = CRASH_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; ROUTE_MAX + 96];
    let mut at = 0;
    let mut put = |bytes: &[u8], at: &mut usize| {
        let n = bytes.len().min(buf.len() - *at);
        buf[*at..*at + n].copy_from_slice(&bytes[..n]);
        *at += n;
    };
    put(b"hotdev-crash ", &mut at);
    put(digits(signal.unsigned_abs() as u64).as_slice(), &mut at);
    // `try_with` fails only while the thread is being torn down.
    let (phase, generation, len, route) = CONTEXT
        .try_with(|c| {
            (
                c.phase.get(),
                c.generation.get(),
                c.len.get(),
                c.route.get(),
            )
        })
        .unwrap_or((0, 0, 0, [0; ROUTE_MAX]));
    let generation = if phase == 0 { 0 } else { generation };
    put(b" ", &mut at);
    put(digits(generation).as_slice(), &mut at);
    put(if phase == 2 { b" 1" } else { b" 0" }, &mut at);
    put(if overflow { b" 1 " } else { b" 0 " }, &mut at);
    put(digits(answered(generation)).as_slice(), &mut at);
    put(b" ", &mut at);
    if phase == 2 {
        put(&route[..len.min(ROUTE_MAX)], &mut at);
    }
    put(b"\n", &mut at);
    // SAFETY: `buf[..at]` is initialised memory on this stack; write is async-signal-safe.
    // A short or failed write loses the record, nothing else.
    unsafe { libc::write(fd, buf.as_ptr().cast(), at) };
}

/// The decimal digits of `n`, without allocating.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn digits(mut n: u64) -> Digits {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Digits { buf, start }
}

/// One line of the crash pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The signal number.
    pub signal: i32,
    /// The generation that was running (0: none).
    pub generation: u64,
    /// The route, when the thread was serving a request.
    pub route: Option<String>,
    /// The fault hit the stack's end.
    pub overflow: bool,
    /// How many requests the generation had answered in this process.
    pub answered: u64,
}

impl Record {
    /// Reads one line written by the handler.
    pub fn parse(line: &str) -> Option<Record> {
        let rest = line.strip_prefix("hotdev-crash ")?;
        let mut parts = rest.splitn(6, ' ');
        let signal = parts.next()?.parse().ok()?;
        let generation = parts.next()?.parse().ok()?;
        let in_call = parts.next()? == "1";
        let overflow = parts.next()? == "1";
        let answered = parts.next()?.parse().ok()?;
        let route = parts.next().unwrap_or("").trim_end().to_string();
        Some(Record {
            signal,
            generation,
            route: in_call.then_some(route),
            overflow,
            answered,
        })
    }
}

/// What ended a worker, as the supervisor tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    /// `SIGSEGV`, or `exit status 1` for a worker that exited without a signal.
    pub signal: String,
    /// `stack overflow`, `invalid memory access`, ...
    pub cause: String,
    /// The generation that was running, when a record says so.
    pub generation: Option<u64>,
    /// The request being served.
    pub route: Option<String>,
    /// How many requests that generation had answered in the worker.
    pub answered: u64,
}

impl Crash {
    /// Reads the records a worker wrote before it died from `signal` (`None`: it exited
    /// with `code`).
    pub fn from_records(signal: Option<i32>, code: Option<i32>, records: &[Record]) -> Crash {
        let Some(signal) = signal else {
            return Crash {
                signal: match code {
                    Some(code) => format!("exit status {code}"),
                    None => "exit".into(),
                },
                cause: "the worker exited".into(),
                generation: records.first().map(|r| r.generation).filter(|&g| g > 0),
                route: records.first().and_then(|r| r.route.clone()),
                answered: records.first().map_or(0, |r| r.answered),
            };
        };
        let first = records.first();
        let overflow = first.is_some_and(|r| r.overflow)
            || (signal == libc::SIGABRT
                && first.is_some_and(|r| r.signal == libc::SIGSEGV || r.signal == libc::SIGBUS));
        let cause = if overflow {
            "stack overflow".to_string()
        } else {
            match signal {
                libc::SIGSEGV => "invalid memory access",
                libc::SIGBUS => "bus error",
                libc::SIGILL => "illegal instruction",
                libc::SIGFPE => "arithmetic fault",
                libc::SIGABRT => "abort",
                libc::SIGKILL => "killed",
                _ => "signal",
            }
            .to_string()
        };
        Crash {
            signal: signal_name(signal),
            cause,
            generation: first.map(|r| r.generation).filter(|&g| g > 0),
            route: first.and_then(|r| r.route.clone()),
            answered: first.map_or(0, |r| r.answered),
        }
    }
}

/// `SIGSEGV`, or `signal 42`.
pub fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => return format!("signal {signal}"),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_line() {
        assert_eq!(
            Record::parse("hotdev-crash 11 3 1 1 7 GET /deep path\n"),
            Some(Record {
                signal: 11,
                generation: 3,
                route: Some("GET /deep path".into()),
                overflow: true,
                answered: 7,
            })
        );
        assert_eq!(
            Record::parse("hotdev-crash 6 4 0 0 0 \n"),
            Some(Record {
                signal: 6,
                generation: 4,
                route: None,
                overflow: false,
                answered: 0,
            })
        );
        assert_eq!(Record::parse("noise"), None);
    }

    #[test]
    fn answers_are_counted_for_the_newest_generation_only() {
        count_answer(5);
        count_answer(5);
        assert_eq!(answered(5), 2);
        count_answer(4);
        assert_eq!(
            answered(5),
            2,
            "an older generation's answer is not counted"
        );
        count_answer(6);
        assert_eq!((answered(5), answered(6)), (0, 1));
    }

    #[test]
    fn a_guard_page_fault_is_a_stack_overflow_and_a_plain_fault_is_not() {
        let segv = Record {
            signal: libc::SIGSEGV,
            generation: 3,
            route: Some("GET /deep".into()),
            overflow: false,
            answered: 0,
        };
        let abrt = Record {
            signal: libc::SIGABRT,
            ..segv.clone()
        };
        let guard = Record {
            overflow: true,
            ..segv.clone()
        };
        // The guard-page fault, where the nested abort found no stack left.
        let crash = Crash::from_records(Some(libc::SIGSEGV), None, &[guard]);
        assert_eq!(crash.cause, "stack overflow");
        let crash = Crash::from_records(Some(libc::SIGABRT), None, &[segv.clone(), abrt.clone()]);
        assert_eq!(crash.cause, "stack overflow");
        assert_eq!(crash.signal, "SIGABRT");
        assert_eq!(crash.generation, Some(3));
        assert_eq!(crash.route.as_deref(), Some("GET /deep"));
        let crash = Crash::from_records(Some(libc::SIGSEGV), None, &[segv]);
        assert_eq!(crash.cause, "invalid memory access");
        let crash = Crash::from_records(Some(libc::SIGABRT), None, &[abrt]);
        assert_eq!(crash.cause, "abort");
        let crash = Crash::from_records(Some(libc::SIGKILL), None, &[]);
        assert_eq!((crash.generation, crash.route), (None, None));
    }

    #[test]
    fn digits_are_written_without_allocating() {
        assert_eq!(digits(0).as_slice(), b"0");
        assert_eq!(digits(1234).as_slice(), b"1234");
        assert_eq!(digits(u64::MAX).as_slice(), b"18446744073709551615");
    }
}
