//! The calls into the plugin that the HTTP workers are making, and what happens to a call
//! that does not return.
//!
//! Each worker thread owns a [`Slot`]. Before it calls the plugin it parks the client's
//! request in its slot with the route, the generation (pinned for the call) and the start
//! time; when the call returns it takes the request back and answers it. The common path
//! costs two locks of the worker's own, uncontended mutex.
//!
//! A watchdog ([`Calls::expire`], driven by the HTTP server) looks at the slots a few times
//! a second. A call that has run longer than the handler timeout is *abandoned*: the
//! watchdog takes its request out of the slot and answers it (504), and the worker stops
//! counting as one. A thread cannot be stopped from outside, so the call keeps running;
//! the server starts a replacement worker (up to [`MAX_STUCK`] abandoned calls) and counts
//! the call as stuck until it returns, when its thread ends.
//!
//! The same slots tell a reload how many calls were in flight in older generations, and
//! how many of them returned (drained) or are still running.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The most abandoned calls for which a replacement worker is started. Past it the server
/// goes on with fewer free workers (and says so): each stuck call holds a thread.
pub const MAX_STUCK: usize = 48;

/// One worker's call, if it is making one.
#[derive(Debug, Default)]
pub struct Slot {
    call: Mutex<Option<Active>>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Option<Active>> {
        self.call.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A call in progress.
#[derive(Debug)]
struct Active {
    /// Numbers calls, so that a reload can tell a call that returned from a later one.
    seq: u64,
    /// `GET /path`.
    route: String,
    generation: u64,
    started: Instant,
    /// The client's request, until the worker or the watchdog answers it.
    request: Option<tiny_http::Request>,
    /// Whether the watchdog (or the shutdown) gave up on the call.
    abandoned: bool,
    /// Whether a replacement worker was started for it.
    replaced: bool,
}

/// A call the watchdog gave up on: its request, to be answered with a 504 page.
#[derive(Debug)]
pub struct Expired {
    /// The client's request.
    pub request: Option<tiny_http::Request>,
    /// `GET /path`.
    pub route: String,
    /// The generation running the call.
    pub generation: u64,
    /// How long it had run.
    pub elapsed: Duration,
    /// Whether a replacement worker must be started (false once [`MAX_STUCK`] is reached).
    pub replace: bool,
}

/// How a call ended, seen from the worker that made it.
#[derive(Debug)]
pub enum Ended {
    /// The call returned in time: answer the request.
    Returned(tiny_http::Request),
    /// The call had been abandoned and now returned; its client was answered already.
    Late {
        /// `GET /path`.
        route: String,
        /// The generation that ran it.
        generation: u64,
        /// How long it ran.
        elapsed: Duration,
        /// Whether a replacement took this worker's place (then this thread ends).
        replaced: bool,
    },
}

/// Calls in older generations around a reload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Calls in flight when the reload began that returned before it finished.
    pub drained: u64,
    /// Calls still running in older generations after the swap.
    pub running: u64,
    /// Of `running`, the calls abandoned past the handler timeout.
    pub stuck: u64,
}

impl InFlight {
    /// Every call that was inside an older generation during the reload.
    pub fn total(&self) -> u64 {
        self.drained + self.running
    }
}

/// The calls in progress on the workers. See the module docs.
#[derive(Debug)]
pub struct Calls {
    /// The handler timeout.
    limit: Duration,
    slots: Mutex<Vec<Arc<Slot>>>,
    seq: AtomicU64,
    /// Abandoned calls still running.
    stuck: AtomicUsize,
    /// Abandoned calls still running that were given a replacement worker.
    replaced: AtomicUsize,
}

/// The calls in flight at one moment (see [`Calls::snapshot`]).
#[derive(Debug, Default)]
pub struct Snapshot(Vec<(Arc<Slot>, u64)>);

impl Calls {
    /// No calls yet; calls are abandoned after `limit`.
    pub fn new(limit: Duration) -> Self {
        Calls {
            limit,
            slots: Mutex::new(Vec::new()),
            seq: AtomicU64::new(1),
            stuck: AtomicUsize::new(0),
            replaced: AtomicUsize::new(0),
        }
    }

    /// The handler timeout.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    fn slots(&self) -> MutexGuard<'_, Vec<Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new worker thread.
    pub fn register(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        self.slots().push(Arc::clone(&slot));
        slot
    }

    /// Forgets the slot of a worker thread that ends.
    pub fn unregister(&self, slot: &Arc<Slot>) {
        self.slots().retain(|s| !Arc::ptr_eq(s, slot));
    }

    /// Parks `request` in `slot` for a call of `route` in `generation`.
    pub fn begin(&self, slot: &Slot, request: tiny_http::Request, route: String, generation: u64) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        *slot.lock() = Some(Active {
            seq,
            route,
            generation,
            started: Instant::now(),
            request: Some(request),
            abandoned: false,
            replaced: false,
        });
    }

    /// Ends the call in `slot`: the request back, or what became of the abandoned call.
    pub fn end(&self, slot: &Slot) -> Option<Ended> {
        let active = slot.lock().take()?;
        if !active.abandoned {
            return active.request.map(Ended::Returned);
        }
        self.stuck.fetch_sub(1, Ordering::SeqCst);
        if active.replaced {
            self.replaced.fetch_sub(1, Ordering::SeqCst);
        }
        Some(Ended::Late {
            route: active.route,
            generation: active.generation,
            elapsed: active.started.elapsed(),
            replaced: active.replaced,
        })
    }

    /// Abandons every call that has run longer than the handler timeout and returns them.
    pub fn expire(&self) -> Vec<Expired> {
        let slots = self.slots().clone();
        let mut expired = Vec::new();
        for slot in slots {
            let mut call = slot.lock();
            let Some(active) = call.as_mut() else {
                continue;
            };
            let elapsed = active.started.elapsed();
            if active.abandoned || elapsed < self.limit {
                continue;
            }
            active.abandoned = true;
            self.stuck.fetch_add(1, Ordering::SeqCst);
            active.replaced = self
                .replaced
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < MAX_STUCK).then_some(n + 1)
                })
                .is_ok();
            expired.push(Expired {
                request: active.request.take(),
                route: active.route.clone(),
                generation: active.generation,
                elapsed,
                replace: active.replaced,
            });
        }
        expired
    }

    /// Abandons every call still running (the server is stopping) and returns the requests
    /// not answered yet, to be told so.
    pub fn abandon_all(&self) -> Vec<tiny_http::Request> {
        let slots = self.slots().clone();
        let mut requests = Vec::new();
        for slot in slots {
            let mut call = slot.lock();
            if let Some(active) = call.as_mut() {
                if !active.abandoned {
                    active.abandoned = true;
                    self.stuck.fetch_add(1, Ordering::SeqCst);
                }
                requests.extend(active.request.take());
            }
        }
        requests
    }

    /// Abandoned calls still running.
    pub fn stuck(&self) -> usize {
        self.stuck.load(Ordering::SeqCst)
    }

    /// Whether the replacement limit is reached.
    pub fn at_limit(&self) -> bool {
        self.replaced.load(Ordering::SeqCst) >= MAX_STUCK
    }

    /// Whether the call in `slot` is running but abandoned (its worker no longer counts).
    pub fn is_abandoned(&self, slot: &Slot) -> bool {
        slot.lock().as_ref().is_some_and(|a| a.abandoned)
    }

    /// Running calls per generation: (running, of which stuck).
    pub fn by_generation(&self) -> BTreeMap<u64, (u64, u64)> {
        let mut out = BTreeMap::new();
        for slot in self.slots().iter() {
            if let Some(active) = slot.lock().as_ref() {
                let entry: &mut (u64, u64) = out.entry(active.generation).or_default();
                entry.0 += 1;
                entry.1 += u64::from(active.abandoned);
            }
        }
        out
    }

    /// The calls in flight now (taken when a reload begins).
    pub fn snapshot(&self) -> Snapshot {
        let slots = self.slots().clone();
        Snapshot(
            slots
                .into_iter()
                .filter_map(|slot| {
                    let seq = slot.lock().as_ref().map(|a| a.seq)?;
                    Some((slot, seq))
                })
                .collect(),
        )
    }

    /// Calls in generations older than `generation` (just swapped in): those in flight at
    /// `before` that returned since, and those running now.
    pub fn since(&self, before: &Snapshot, generation: u64) -> InFlight {
        let drained = before
            .0
            .iter()
            .filter(|(slot, seq)| slot.lock().as_ref().is_none_or(|a| a.seq != *seq))
            .count() as u64;
        let (running, stuck) = self
            .by_generation()
            .range(..generation)
            .fold((0, 0), |(r, s), (_, (running, stuck))| {
                (r + running, s + stuck)
            });
        InFlight {
            drained,
            running,
            stuck,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny_http request, through a real (loopback) server.
    fn request(server: &tiny_http::Server) -> tiny_http::Request {
        use std::io::Write;
        let addr = server.server_addr().to_ip().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        std::mem::forget(client);
        server.recv().unwrap()
    }

    #[test]
    fn a_call_past_the_limit_is_abandoned_once_and_counted_until_it_returns() {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let calls = Calls::new(Duration::ZERO);
        let slot = calls.register();
        calls.begin(&slot, request(&server), "GET /loop".into(), 1);
        let expired = calls.expire();
        assert_eq!(expired.len(), 1);
        assert!(expired[0].request.is_some());
        assert!(expired[0].replace);
        assert_eq!(expired[0].route, "GET /loop");
        assert!(calls.expire().is_empty(), "abandoned twice");
        assert_eq!(calls.stuck(), 1);
        assert!(calls.is_abandoned(&slot));
        assert_eq!(calls.by_generation()[&1], (1, 1));
        match calls.end(&slot) {
            Some(Ended::Late {
                replaced: true,
                generation: 1,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(calls.stuck(), 0);
        assert!(calls.by_generation().is_empty());
    }

    #[test]
    fn a_call_within_the_limit_gives_its_request_back() {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let calls = Calls::new(Duration::from_secs(3600));
        let slot = calls.register();
        calls.begin(&slot, request(&server), "GET /".into(), 1);
        assert!(calls.expire().is_empty());
        assert!(matches!(calls.end(&slot), Some(Ended::Returned(_))));
        assert_eq!(calls.stuck(), 0);
    }

    #[test]
    fn replacements_stop_at_the_limit() {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let calls = Calls::new(Duration::ZERO);
        let slots: Vec<_> = (0..MAX_STUCK + 2).map(|_| calls.register()).collect();
        for slot in &slots {
            calls.begin(slot, request(&server), "GET /loop".into(), 1);
        }
        let expired = calls.expire();
        assert_eq!(expired.iter().filter(|e| e.replace).count(), MAX_STUCK);
        assert_eq!(calls.stuck(), MAX_STUCK + 2);
        assert!(calls.at_limit());
        // A call that returns frees its place under the limit.
        let replaced = slots.iter().find(|s| calls.is_abandoned(s)).unwrap();
        calls.end(replaced);
        assert!(!calls.at_limit());
    }

    #[test]
    fn a_reload_tells_drained_calls_from_running_ones() {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let calls = Calls::new(Duration::from_secs(3600));
        let (a, b, c) = (calls.register(), calls.register(), calls.register());
        calls.begin(&a, request(&server), "GET /a".into(), 1);
        calls.begin(&b, request(&server), "GET /b".into(), 1);
        let before = calls.snapshot();
        // `a` returns and its worker starts another call (in the new generation); `c`
        // starts in the old one during the reload.
        calls.end(&a);
        calls.begin(&a, request(&server), "GET /a".into(), 2);
        calls.begin(&c, request(&server), "GET /c".into(), 1);
        let flight = calls.since(&before, 2);
        assert_eq!(
            flight,
            InFlight {
                drained: 1,
                running: 2,
                stuck: 0
            }
        );
        assert_eq!(flight.total(), 3);
    }
}
