//! The restart policy of `hotdev serve`'s supervisor: what a worker's crash does to the
//! generation that crashed.
//!
//! A crash in one request says little about the rest of the generation, so, as an
//! Erlang/OTP supervisor does, the worker is started again at once with the *same*
//! generation. The generation is given up (marked bad, never loaded again: the last good
//! generation serves, or the waiting page shows) only when:
//!
//! - it crashed while loading (its load hook);
//! - it crashed again before answering a single request since its restart (a crash loop);
//! - it crashed during its probation (its first [`PROBATION`] requests after it went live
//!   from a build) while an earlier good generation exists to go back to;
//! - it crashed more often than the restart intensity allows (by default 5 crashes in
//!   10 s, `--restart-intensity 5/10s`).
//!
//! A first generation with nothing to go back to is restarted, not given up, as long as
//! it answers requests in between.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// How many requests a new generation answers before its probation ends.
pub const PROBATION: u64 = 8;

/// At most `crashes` crashes of one generation within `window`; the last one gives it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// How many crashes within the window give the generation up.
    pub crashes: u32,
    /// The window.
    pub window: Duration,
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity {
            crashes: 5,
            window: Duration::from_secs(10),
        }
    }
}

impl std::str::FromStr for Intensity {
    type Err = String;

    /// `5/10s`: five crashes in ten seconds (`5/10` too; `ms` and `m` are understood).
    fn from_str(text: &str) -> Result<Self, String> {
        let (crashes, window) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not CRASHES/SECONDS (for example 5/10s)"))?;
        let crashes: u32 = crashes
            .trim()
            .parse()
            .map_err(|_| format!("{crashes:?} is not a number of crashes"))?;
        if crashes == 0 {
            return Err("the number of crashes must be at least 1".into());
        }
        let window = window.trim();
        let (number, unit) = match window.find(|c: char| !c.is_ascii_digit() && c != '.') {
            Some(at) => window.split_at(at),
            None => (window, "s"),
        };
        let number: f64 = number
            .parse()
            .map_err(|_| format!("{window:?} is not a duration (for example 10s)"))?;
        let secs = match unit {
            "s" => number,
            "ms" => number / 1000.0,
            "m" => number * 60.0,
            _ => return Err(format!("{window:?}: the unit must be ms, s or m")),
        };
        let window = Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{window:?} is not a duration"))?;
        Ok(Intensity { crashes, window })
    }
}

impl fmt::Display for Intensity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.crashes, self.window.as_secs_f64())
    }
}

/// What a crash of a generation decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Start the same generation again.
    Restart {
        /// This crash's number within the window.
        crash: u32,
        /// How many within the window give it up.
        of: u32,
    },
    /// Give the generation up.
    GiveUp(Reason),
}

/// Why a generation is given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// It crashed while loading.
    Loading,
    /// It crashed again before answering a request since its restart.
    CrashLoop {
        /// Its crashes since it went live.
        crashes: u32,
    },
    /// It crashed during its probation, and an earlier good generation exists.
    Probation,
    /// Too many crashes within the window.
    Intensity {
        /// The crashes within the window.
        crashes: u32,
        /// The window.
        window: Duration,
    },
}

impl Reason {
    /// The reason's name in the `crashed` event.
    pub fn name(&self) -> &'static str {
        match self {
            Reason::Loading => "loading",
            Reason::CrashLoop { .. } => "crash_loop",
            Reason::Probation => "probation",
            Reason::Intensity { .. } => "intensity",
        }
    }
}

impl fmt::Display for Reason {
    /// What follows "generation N" in a message: "crashed 5 times in 10 s".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Loading => write!(f, "crashed while loading"),
            Reason::CrashLoop { crashes } => write!(
                f,
                "crashed {crashes} times, the last before answering a request since its restart"
            ),
            Reason::Probation => write!(
                f,
                "crashed on probation (before answering {PROBATION} requests)"
            ),
            Reason::Intensity { crashes, window } => {
                write!(f, "crashed {crashes} times in {} s", window.as_secs_f64())
            }
        }
    }
}

/// One crash, as the policy needs it.
#[derive(Debug, Clone, Copy)]
pub struct CrashOf {
    /// The generation that crashed.
    pub generation: u64,
    /// It was loading (no request).
    pub loading: bool,
    /// How many requests it answered in the worker that died.
    pub answered: u64,
    /// When the crash was seen.
    pub at: Instant,
}

/// The crash history of the generation serving.
#[derive(Debug, Default)]
pub struct Restarts {
    intensity: Intensity,
    /// The generation the history is about.
    generation: u64,
    /// Its crashes within the window.
    times: VecDeque<Instant>,
    /// Every crash since it went live (for the messages).
    crashes: u32,
    /// Requests it answered in workers that died.
    answered: u64,
    /// It was restarted at least once.
    restarted: bool,
    /// The newest generation that went live from a build, while its probation may last.
    on_probation: Option<u64>,
}

impl Restarts {
    /// A policy with this intensity.
    pub fn new(intensity: Intensity) -> Self {
        Restarts {
            intensity,
            ..Restarts::default()
        }
    }

    /// The intensity.
    pub fn intensity(&self) -> Intensity {
        self.intensity
    }

    /// A new build's generation went live: its probation starts.
    pub fn went_live(&mut self, generation: u64) {
        self.on_probation = Some(generation);
    }

    /// How many times `generation` crashed since it went live, as far as the history goes.
    pub fn crashes(&self, generation: u64) -> u32 {
        if self.generation == generation {
            self.crashes
        } else {
            0
        }
    }

    /// Decides what `crash` does; `earlier_good` says whether a generation older than the
    /// crashed one is there to go back to.
    pub fn decide(&mut self, crash: CrashOf, earlier_good: bool) -> Verdict {
        if self.generation != crash.generation {
            *self = Restarts {
                intensity: self.intensity,
                generation: crash.generation,
                on_probation: self.on_probation,
                ..Restarts::default()
            };
        }
        self.crashes += 1;
        self.answered = self.answered.saturating_add(crash.answered);
        if crash.loading {
            return Verdict::GiveUp(Reason::Loading);
        }
        if self.restarted && crash.answered == 0 {
            return Verdict::GiveUp(Reason::CrashLoop {
                crashes: self.crashes,
            });
        }
        if self.on_probation == Some(crash.generation) {
            if self.answered < PROBATION && earlier_good {
                return Verdict::GiveUp(Reason::Probation);
            }
            self.on_probation = None;
        }
        let window = self.intensity.window;
        self.times.push_back(crash.at);
        while self
            .times
            .front()
            .is_some_and(|&t| crash.at.saturating_duration_since(t) > window)
        {
            self.times.pop_front();
        }
        let within = self.times.len() as u32;
        if within >= self.intensity.crashes {
            return Verdict::GiveUp(Reason::Intensity {
                crashes: within,
                window,
            });
        }
        self.restarted = true;
        Verdict::Restart {
            crash: within,
            of: self.intensity.crashes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash(generation: u64, answered: u64, at: Instant) -> CrashOf {
        CrashOf {
            generation,
            loading: false,
            answered,
            at,
        }
    }

    #[test]
    fn a_first_generation_that_answers_between_crashes_is_restarted_until_the_intensity() {
        let mut policy = Restarts::new(Intensity::default());
        let t = Instant::now();
        policy.went_live(1);
        for n in 1..5 {
            assert_eq!(
                policy.decide(crash(1, 3, t), false),
                Verdict::Restart { crash: n, of: 5 }
            );
        }
        assert_eq!(
            policy.decide(crash(1, 3, t), false),
            Verdict::GiveUp(Reason::Intensity {
                crashes: 5,
                window: Duration::from_secs(10)
            })
        );
    }

    #[test]
    fn crashes_older_than_the_window_do_not_count() {
        let mut policy = Restarts::new("2/10s".parse().unwrap());
        let t = Instant::now();
        assert!(matches!(
            policy.decide(crash(1, 1, t), false),
            Verdict::Restart { crash: 1, .. }
        ));
        let later = t + Duration::from_secs(11);
        assert!(matches!(
            policy.decide(crash(1, 1, later), false),
            Verdict::Restart { crash: 1, .. }
        ));
        assert!(matches!(
            policy.decide(crash(1, 1, later), false),
            Verdict::GiveUp(Reason::Intensity { crashes: 2, .. })
        ));
    }

    #[test]
    fn a_crash_before_any_answer_since_the_restart_is_a_crash_loop() {
        let mut policy = Restarts::new(Intensity::default());
        let t = Instant::now();
        policy.went_live(1);
        // The first crash of a first generation, even before any answer: restarted.
        assert!(matches!(
            policy.decide(crash(1, 0, t), false),
            Verdict::Restart { .. }
        ));
        assert_eq!(
            policy.decide(crash(1, 0, t), false),
            Verdict::GiveUp(Reason::CrashLoop { crashes: 2 })
        );
    }

    #[test]
    fn a_crash_on_probation_goes_back_when_there_is_somewhere_to_go() {
        let t = Instant::now();
        let mut policy = Restarts::new(Intensity::default());
        policy.went_live(2);
        assert_eq!(
            policy.decide(crash(2, 3, t), true),
            Verdict::GiveUp(Reason::Probation)
        );
        // Past its probation, the same crash restarts it.
        let mut policy = Restarts::new(Intensity::default());
        policy.went_live(2);
        assert!(matches!(
            policy.decide(crash(2, PROBATION, t), true),
            Verdict::Restart { .. }
        ));
        // A generation gone back to is not on probation.
        let mut policy = Restarts::new(Intensity::default());
        policy.went_live(3);
        assert!(matches!(
            policy.decide(crash(2, 0, t), true),
            Verdict::Restart { .. }
        ));
    }

    #[test]
    fn a_crash_while_loading_gives_the_generation_up() {
        let mut policy = Restarts::new(Intensity::default());
        let loading = CrashOf {
            loading: true,
            ..crash(1, 0, Instant::now())
        };
        assert_eq!(
            policy.decide(loading, false),
            Verdict::GiveUp(Reason::Loading)
        );
    }

    #[test]
    fn intensities_parse() {
        let i: Intensity = "3/2s".parse().unwrap();
        assert_eq!((i.crashes, i.window), (3, Duration::from_secs(2)));
        let i: Intensity = "5/10".parse().unwrap();
        assert_eq!(i, Intensity::default());
        let i: Intensity = "2/500ms".parse().unwrap();
        assert_eq!(i.window, Duration::from_millis(500));
        assert!("0/10s".parse::<Intensity>().is_err());
        assert!("5".parse::<Intensity>().is_err());
        assert!("5/10h".parse::<Intensity>().is_err());
    }
}
