//! The read-mostly core that lets callers enter a generation without writing shared memory.
//!
//! # The protocol
//!
//! Every thread that calls into plugins owns a [`Record`] in a [`Domain`]: one cache line
//! that only that thread writes. To call, a thread *announces* itself by storing the
//! domain's current epoch in its record, then loads the plugin's current generation and
//! calls through its table; afterwards it stores zero (idle). Nested calls on the same
//! thread announce once: an entry that finds its record already announced counts itself
//! in the record's `nested` counter instead, and an exit that finds that counter at zero
//! is the last one and goes idle. So a call that is not nested reads its own record
//! twice (is it announced? is anything nested?) and writes it twice (the epoch, then
//! zero), and never makes a value it stores depend on one it loaded: consecutive calls
//! form no chain through memory (a depth counter incremented and decremented on every
//! call did, and cost most of a nanosecond per call in store-to-load forwarding).
//!
//! A reload swaps the generation pointer, then *retires* the old generation:
//!
//! 1. advance the domain's epoch from `E` to `E + 1` (the generation pointer was swapped
//!    before, so a thread that reads `E + 1` reads the new generation);
//! 2. run a heavy barrier (`os::heavy_barrier`: Linux
//!    `membarrier`), which forces every running thread through a full memory fence;
//! 3. wait until every record shows idle or an epoch `>= E + 1`.
//!
//! A thread that still uses the old generation read the old pointer, so it announced an
//! epoch `<= E` *before* that read, and the heavy barrier makes its announcement visible to
//! the retiring thread: step 3 waits for it. Threads that announce later may be waited for
//! needlessly (they entered after the swap), never missed. Callers pay one store to their
//! own cache line and a compiler fence; the full fence is paid once per reload, by the
//! reloader (an *asymmetric* fence, as in Linux userspace RCU's membarrier flavour).
//!
//! Because a thread announces once for a whole chain of nested calls, and all
//! plugins of a process share one domain, a call that never returns keeps every generation
//! (of any plugin) retired while it runs waiting: all of them stay loaded, and each drain
//! timeout is reported, until it returns. A plugin dropped meanwhile waits once more for
//! its drain timeout, then leaves such libraries mapped for the rest of the process.
//!
//! With the `loom` feature the atomics are loom's and both fences are full `SeqCst` fences, and
//! `tests/loom.rs` checks that no reader ever sees a generation after it was freed.

#[cfg(not(feature = "loom"))]
use std::time::{Duration, Instant};

#[cfg(feature = "loom")]
pub(crate) use loom::sync::{
    Arc, Mutex,
    atomic::{AtomicU32, AtomicU64, Ordering, fence},
};
#[cfg(not(feature = "loom"))]
pub(crate) use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU32, AtomicU64, Ordering, fence},
};

/// One thread's announcement slot, alone on its cache line.
#[repr(align(128))]
#[derive(Debug)]
pub struct Record {
    /// 0 when idle; otherwise the epoch the thread read when it entered.
    active: AtomicU64,
    /// Entries beyond the first while `active` is non-zero (nested calls and pins);
    /// read and written only by the owning thread, and not at all by a call that is
    /// not nested except for one read.
    nested: AtomicU32,
    /// Whether a thread owns this record (records of exited threads are reused).
    owned: AtomicU32,
}

impl Record {
    fn new() -> Self {
        Record {
            active: AtomicU64::new(0),
            nested: AtomicU32::new(0),
            owned: AtomicU32::new(1),
        }
    }
}

/// A set of records and the epoch they announce. Production code uses one process-wide
/// domain ([`global`]); tests build their own.
#[derive(Debug)]
pub struct Domain {
    epoch: AtomicU64,
    records: Mutex<Vec<Arc<Record>>>,
}

impl Default for Domain {
    fn default() -> Self {
        Self::new()
    }
}

impl Domain {
    /// An empty domain at epoch 1.
    #[cfg(not(feature = "loom"))]
    pub const fn new() -> Self {
        Domain {
            epoch: AtomicU64::new(1),
            records: Mutex::new(Vec::new()),
        }
    }

    /// An empty domain at epoch 1.
    #[cfg(feature = "loom")]
    pub fn new() -> Self {
        Domain {
            epoch: AtomicU64::new(1),
            records: Mutex::new(Vec::new()),
        }
    }

    /// A record for the calling thread: a free one reused, or a new one.
    pub fn register(&self) -> Arc<Record> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        for r in records.iter() {
            if r.owned
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return r.clone();
            }
        }
        let r = Arc::new(Record::new());
        records.push(r.clone());
        r
    }

    /// Gives a record back for reuse when its thread exits.
    ///
    /// # Safety
    ///
    /// Called on the thread that owns `record` (the one that [`register`](Self::register)ed
    /// it), once, when that thread will not [`enter`](Self::enter) again, and while it is
    /// not inside an entry it still relies on: the record is marked idle at once, so a
    /// retire no longer waits for that thread, and what it reads afterwards (a generation,
    /// a library's code) may be freed under it.
    pub unsafe fn unregister(&self, record: &Record) {
        record.active.store(0, Ordering::Release);
        record.nested.store(0, Ordering::Relaxed);
        record.owned.store(0, Ordering::Release);
    }

    /// Announces the thread owning `record`. Must be paired with [`exit`](Self::exit) on the
    /// same thread. Everything the thread reads after this is protected. Entries nest, and
    /// their exits may come in any order: the thread stays announced until the last one.
    ///
    /// # Safety
    ///
    /// - `record` was [`register`](Self::register)ed in this domain by the calling thread
    ///   and not given back: only its owner writes a record, without atomic
    ///   read-modify-write, so an entry from another thread can be lost and leave the
    ///   owner looking idle inside a call;
    /// - the entry is ended by exactly one [`exit`](Self::exit) on this thread, after the
    ///   last use of what was read under it.
    ///
    /// An entry that is never exited only keeps retired generations waiting (a drain
    /// timeout); the hazards are in the pairing and the ownership.
    #[inline(always)]
    pub unsafe fn enter(&self, record: &Record) {
        // Only this thread writes `active` (and `unregister`, on this thread, at its exit):
        // a relaxed load reads its own last store.
        if record.active.load(Ordering::Relaxed) != 0 {
            self.enter_nested(record);
            return;
        }
        // Acquire: a thread that reads the advanced epoch also reads the swapped pointer.
        let epoch = self.epoch.load(Ordering::Acquire);
        record.active.store(epoch, Ordering::Relaxed);
        light_barrier();
    }

    /// An entry while the thread is already announced: counted, nothing else.
    #[cold]
    #[inline(never)]
    fn enter_nested(&self, record: &Record) {
        let nested = record.nested.load(Ordering::Relaxed);
        record.nested.store(nested + 1, Ordering::Relaxed);
    }

    /// Ends what [`enter`](Self::enter) began.
    ///
    /// # Safety
    ///
    /// Ends one earlier [`enter`](Self::enter) of the calling thread with the same
    /// `record`, not yet ended, and nothing read under that entry is used afterwards. An
    /// exit without its entry (or one too many) marks the thread idle while another of
    /// its entries still uses a generation: a retire then stops waiting for it, and the
    /// library can be unmapped under a running call.
    #[inline(always)]
    pub unsafe fn exit(&self, record: &Record) {
        if record.nested.load(Ordering::Relaxed) != 0 {
            Self::exit_nested(record);
            return;
        }
        // Release: the thread's reads of the generation happen before it is seen idle.
        record.active.store(0, Ordering::Release);
    }

    /// An exit while other entries of this thread remain.
    #[cold]
    #[inline(never)]
    fn exit_nested(record: &Record) {
        let nested = record.nested.load(Ordering::Relaxed);
        record.nested.store(nested - 1, Ordering::Relaxed);
    }

    /// Starts a grace period: call after the generation pointer was swapped. The returned
    /// [`Grace`] completes once every thread that could have read the old pointer has left.
    pub fn retire(&self) -> Grace {
        let target = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        heavy_barrier();
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let waiting = records
            .iter()
            .filter(|r| {
                let a = r.active.load(Ordering::Acquire);
                a != 0 && a < target
            })
            .cloned()
            .collect();
        Grace { target, waiting }
    }
}

/// A grace period in progress (see the module docs).
#[derive(Debug)]
pub struct Grace {
    target: u64,
    waiting: Vec<Arc<Record>>,
}

impl Grace {
    /// Whether every thread that could use the retired generation has left; drops the
    /// records already seen to leave, so repeated polls get cheaper.
    pub fn poll(&mut self) -> bool {
        let target = self.target;
        self.waiting.retain(|r| {
            let a = r.active.load(Ordering::Acquire);
            a != 0 && a < target
        });
        self.waiting.is_empty()
    }

    /// How many threads are still inside a call that may use the retired generation.
    pub fn pending(&self) -> usize {
        self.waiting.len()
    }

    /// Whether every thread this grace period waits for is still inside a call that one of
    /// `older` (earlier grace periods, not complete) waits for too. Then this one cannot
    /// complete before those calls return, and waiting for it now is pointless. A thread
    /// that left and entered again in between may be counted as held: that only reports
    /// it early, it never lets a generation go while a call is inside it.
    #[cfg(not(feature = "loom"))]
    pub fn held_by(&self, older: &[&Grace]) -> bool {
        self.waiting.iter().all(|record| {
            let a = record.active.load(Ordering::Acquire);
            a == 0
                || older
                    .iter()
                    .any(|g| a < g.target && g.waiting.iter().any(|w| Arc::ptr_eq(w, record)))
        })
    }

    /// Polls until complete or until `timeout` passes, spinning briefly, then sleeping with
    /// a growing interval (at most 5 ms) so that a long wait costs no CPU.
    #[cfg(not(feature = "loom"))]
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let start = Instant::now();
        let mut round = 0u32;
        loop {
            if self.poll() {
                return true;
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                return false;
            }
            round += 1;
            if round < 64 {
                std::hint::spin_loop();
            } else if round < 128 {
                std::thread::yield_now();
            } else {
                let nap = Duration::from_micros(50u64 << ((round - 128) / 16).min(7));
                std::thread::sleep(nap.min(timeout - elapsed).min(Duration::from_millis(5)));
            }
        }
    }
}

#[cfg(not(feature = "loom"))]
#[inline(always)]
fn light_barrier() {
    if crate::os::HAS_HEAVY_BARRIER {
        // The heavy barrier orders this thread's announcement before its next load.
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

#[cfg(not(feature = "loom"))]
fn heavy_barrier() {
    fence(Ordering::SeqCst);
    crate::os::heavy_barrier();
}

// Loom cannot model membarrier: model it as the full fence it stands for on both sides.
#[cfg(feature = "loom")]
fn light_barrier() {
    fence(Ordering::SeqCst);
}

#[cfg(feature = "loom")]
fn heavy_barrier() {
    fence(Ordering::SeqCst);
}

#[cfg(not(feature = "loom"))]
mod global_domain {
    use super::*;
    use std::cell::Cell;

    // A plain static (no lazy initialisation on the call path). The heavy barrier
    // prepares itself on first use, which is a reloader's, never a caller's.
    static GLOBAL: Domain = Domain::new();

    /// The process-wide domain shared by every plugin handle.
    #[inline(always)]
    pub fn global() -> &'static Domain {
        &GLOBAL
    }

    thread_local! {
        // The calling thread's record in the global domain: a raw pointer so that the hot
        // path is one TLS load; owned by `OWNER`, which gives the record back at exit.
        static RECORD: Cell<*const Record> = const { Cell::new(std::ptr::null()) };
        static OWNER: Owner = const { Owner(Cell::new(None)) };
    }

    struct Owner(Cell<Option<Arc<Record>>>);

    impl Drop for Owner {
        fn drop(&mut self) {
            if let Some(r) = self.0.take() {
                RECORD.with(|c| c.set(std::ptr::null()));
                // SAFETY: `r` is this thread's record (registered by `register_local` on
                // it), given back once, as its thread-locals are destroyed: no code of the
                // thread runs any more but destructors, and a destructor that calls a
                // plugin enters afresh with a new record (`RECORD` is null now).
                unsafe { global().unregister(&r) };
            }
        }
    }

    /// The calling thread's record in the global domain.
    #[inline(always)]
    pub fn local_record() -> &'static Record {
        let p = RECORD.with(Cell::get);
        if p.is_null() {
            return register_local();
        }
        // SAFETY: `p` was set by `register_local` from an `Arc<Record>` held in `OWNER` and
        // in the domain's list; the domain is a static and never drops its records.
        unsafe { &*p }
    }

    #[cold]
    #[inline(never)]
    fn register_local() -> &'static Record {
        let r = global().register();
        let p = Arc::as_ptr(&r);
        // If this thread is already tearing down its thread-locals, `OWNER` is gone: keep
        // the record (it is small) rather than fail the call.
        if OWNER.try_with(|o| o.0.set(Some(r.clone()))).is_ok() {
            RECORD.with(|c| c.set(p));
        }
        // SAFETY: the domain's list holds a clone of `r` forever (records are reused,
        // never freed), so the pointer is valid for `'static`.
        unsafe { &*p }
    }

    /// Entered state for the calling thread in the global domain; exits on drop.
    #[derive(Debug)]
    pub struct Guard {
        record: &'static Record,
        // Not `Send`: it must exit on the thread that entered.
        _not_send: std::marker::PhantomData<*const ()>,
    }

    /// Enters the global domain on the calling thread.
    #[inline(always)]
    pub fn pin() -> Guard {
        let record = local_record();
        // SAFETY: `record` is the calling thread's own record in the global domain; the
        // entry is ended once, by the returned guard's `drop`, on this thread (the guard is
        // not `Send`).
        unsafe { global().enter(record) };
        Guard {
            record,
            _not_send: std::marker::PhantomData,
        }
    }

    impl Drop for Guard {
        #[inline(always)]
        fn drop(&mut self) {
            // SAFETY: ends the entry `pin` made on this thread with this record, once.
            unsafe { global().exit(self.record) };
        }
    }
}

#[cfg(not(feature = "loom"))]
pub use global_domain::{Guard, global, pin};

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    // The tests play several threads' records on one thread: each record is registered by
    // the test's thread, every entry is exited once, and nothing is read under them.

    fn enter(d: &Domain, r: &Record) {
        // SAFETY: see above.
        unsafe { d.enter(r) }
    }

    fn exit(d: &Domain, r: &Record) {
        // SAFETY: see above.
        unsafe { d.exit(r) }
    }

    #[test]
    fn grace_waits_for_threads_inside_and_not_for_idle_ones() {
        let d = Domain::new();
        let inside = d.register();
        let idle = d.register();
        enter(&d, &inside);
        enter(&d, &idle);
        exit(&d, &idle);
        let mut g = d.retire();
        assert_eq!(g.pending(), 1);
        assert!(!g.poll());
        exit(&d, &inside);
        assert!(g.poll());
    }

    #[test]
    fn nested_enters_announce_once_and_leave_at_the_outermost_exit() {
        let d = Domain::new();
        let r = d.register();
        enter(&d, &r);
        enter(&d, &r);
        let mut g = d.retire();
        exit(&d, &r);
        assert!(!g.poll(), "still inside the outer call");
        exit(&d, &r);
        assert!(g.poll());
    }

    #[test]
    fn nested_entries_may_exit_in_any_order() {
        // Two pins of one thread dropped first-in, first-out (`Pinned` allows it): the
        // thread stays announced until the second exit, whichever entry it belongs to.
        let d = Domain::new();
        let r = d.register();
        enter(&d, &r);
        enter(&d, &r);
        let mut g = d.retire();
        exit(&d, &r);
        assert!(!g.poll(), "the second entry is still live");
        enter(&d, &r);
        exit(&d, &r);
        assert!(
            !g.poll(),
            "a nested entry and exit leave the announcement as it was"
        );
        exit(&d, &r);
        assert!(g.poll());
        enter(&d, &r);
        assert!(!d.retire().poll(), "announced again after going idle");
        exit(&d, &r);
    }

    #[test]
    fn threads_entering_after_a_retire_are_not_waited_for() {
        let d = Domain::new();
        let r = d.register();
        let mut g = d.retire();
        enter(&d, &r);
        assert!(g.poll());
        exit(&d, &r);
    }

    #[test]
    fn records_of_exited_threads_are_reused() {
        let d = Domain::new();
        let a = d.register();
        // SAFETY: the record of this thread, never entered.
        unsafe { d.unregister(&a) };
        let b = d.register();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn wait_times_out_while_a_call_is_stuck() {
        let d = Domain::new();
        let r = d.register();
        enter(&d, &r);
        let mut g = d.retire();
        assert!(!g.wait(Duration::from_millis(20)));
        exit(&d, &r);
        assert!(g.wait(Duration::from_secs(10)));
    }
}
