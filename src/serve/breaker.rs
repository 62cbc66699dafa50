//! The circuit breaker: a route that keeps failing (timing out or panicking) in one
//! generation is answered at once with its error page, without calling the plugin, until
//! the next generation goes live.
//!
//! Each failure of a route is counted per generation; at [`FAILURES`] the breaker opens for
//! that route and generation. A timed-out call holds a thread for good, so without the
//! breaker every request to a looping route would use up another worker; with it, a
//! broken route costs at most [`FAILURES`] threads per generation. A new generation starts
//! with every breaker closed (its code may be the fix).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Failures of one route in one generation that open its breaker.
pub const FAILURES: u32 = 3;

/// An open breaker, as the page answering in place of the handler shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The failures counted.
    pub failures: u32,
    /// What the last failure was (`did not return within 5 s`, or the panic message).
    pub last: String,
}

#[derive(Debug, Default)]
struct Trip {
    failures: u32,
    last: String,
}

/// Failures per generation and route (`GET /path`).
#[derive(Debug, Default)]
pub struct Breaker {
    trips: Mutex<HashMap<(u64, String), Trip>>,
    /// Open breakers; 0 lets requests skip the lock.
    open: AtomicUsize,
}

impl Breaker {
    /// The open breaker for `route` in `generation`, if there is one.
    pub fn check(&self, generation: u64, route: &str) -> Option<Open> {
        if self.open.load(Ordering::Acquire) == 0 {
            return None;
        }
        let trips = self.trips.lock().unwrap_or_else(|p| p.into_inner());
        trips
            .get(&(generation, route.to_string()))
            .filter(|t| t.failures >= FAILURES)
            .map(|t| Open {
                failures: t.failures,
                last: t.last.clone(),
            })
    }

    /// Counts a failure of `route` in `generation`; true when this one opened the breaker.
    pub fn record(&self, generation: u64, route: &str, what: &str) -> bool {
        let mut trips = self.trips.lock().unwrap_or_else(|p| p.into_inner());
        let trip = trips.entry((generation, route.to_string())).or_default();
        trip.failures += 1;
        trip.last = what.to_string();
        let opened = trip.failures == FAILURES;
        if opened {
            self.open.fetch_add(1, Ordering::Release);
        }
        opened
    }

    /// Forgets the generations before `generation` (a new one went live).
    pub fn forget_before(&self, generation: u64) {
        let mut trips = self.trips.lock().unwrap_or_else(|p| p.into_inner());
        trips.retain(|(g, _), _| *g >= generation);
        let open = trips.values().filter(|t| t.failures >= FAILURES).count();
        self.open.store(open, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_of_one_route_in_one_generation() {
        let breaker = Breaker::default();
        for n in 1..FAILURES {
            assert!(!breaker.record(1, "GET /loop", "timed out"), "{n}");
            assert_eq!(breaker.check(1, "GET /loop"), None);
        }
        // Other routes and generations count apart.
        breaker.record(1, "GET /other", "timed out");
        breaker.record(2, "GET /loop", "timed out");
        assert!(breaker.record(1, "GET /loop", "panicked: boom"));
        let open = breaker.check(1, "GET /loop").expect("open");
        assert_eq!(open.failures, FAILURES);
        assert_eq!(open.last, "panicked: boom");
        assert_eq!(breaker.check(1, "GET /other"), None);
        assert_eq!(breaker.check(2, "GET /loop"), None);
    }

    #[test]
    fn a_new_generation_closes_the_breakers_of_older_ones() {
        let breaker = Breaker::default();
        for _ in 0..FAILURES {
            breaker.record(1, "GET /loop", "timed out");
        }
        assert!(breaker.check(1, "GET /loop").is_some());
        breaker.forget_before(2);
        assert_eq!(breaker.check(1, "GET /loop"), None);
        assert_eq!(breaker.open.load(Ordering::Acquire), 0);
    }
}
