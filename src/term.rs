//! What hotdev tells the person at the terminal, on stderr (stdout stays free for
//! `--events -`): a spinner with the elapsed time while cargo builds (plain lines when
//! stderr is not a terminal), one line per reload, the compiler's diagnostics verbatim.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender, bounded};

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Where lines go instead of stderr (a worker process sends them to its supervisor).
pub type Forward = Box<dyn Fn(&str) + Send + Sync>;

/// The terminal reporter.
pub struct Term {
    tty: bool,
    /// When set, lines go here instead of stderr.
    forward: Option<Forward>,
    /// Serialises writes to stderr; true while a spinner line is on screen.
    screen: Arc<Mutex<bool>>,
    spinner: Mutex<Option<Spinner>>,
}

#[derive(Debug)]
struct Spinner {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl std::fmt::Debug for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Term")
            .field("tty", &self.tty)
            .field("forward", &self.forward.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Term {
    fn default() -> Self {
        Term {
            tty: io::stderr().is_terminal(),
            forward: None,
            screen: Arc::new(Mutex::new(false)),
            spinner: Mutex::new(None),
        }
    }
}

impl Term {
    /// A reporter that hands every line to `forward` instead of printing it.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub fn forwarding(forward: Forward) -> Self {
        Term {
            forward: Some(forward),
            ..Term::default()
        }
    }

    /// Prints one line (clearing the spinner's line first, which redraws on its next tick).
    pub fn line(&self, text: &str) {
        if let Some(forward) = &self.forward {
            forward(text);
            return;
        }
        let mut spinning = self.screen.lock().unwrap_or_else(|p| p.into_inner());
        let mut err = io::stderr().lock();
        if *spinning {
            let _ = write!(err, "\r\x1b[2K");
            *spinning = false;
        }
        let _ = writeln!(err, "{text}");
    }

    /// Prints text as it is (compiler diagnostics), ending with a newline.
    pub fn verbatim(&self, text: &str) {
        let text = text.strip_suffix('\n').unwrap_or(text);
        self.line(text);
    }

    /// A build started: a spinner on a terminal, a plain line otherwise.
    pub fn build_started(&self, what: &str) {
        self.stop_spinner();
        if !self.tty {
            self.line(&format!("building {what}"));
            return;
        }
        let (stop, stopped) = bounded::<()>(1);
        let screen = Arc::clone(&self.screen);
        let label = what.to_string();
        let started = Instant::now();
        let spawned = thread::Builder::new()
            .name("hotdev-spinner".into())
            .spawn(move || {
                let mut frame = 0;
                loop {
                    {
                        let mut spinning = screen.lock().unwrap_or_else(|p| p.into_inner());
                        let mut err = io::stderr().lock();
                        let elapsed = started.elapsed().as_secs_f64();
                        let _ = write!(
                            err,
                            "\r\x1b[2K{} building {label} {elapsed:.1}s",
                            FRAMES[frame % FRAMES.len()]
                        );
                        let _ = err.flush();
                        *spinning = true;
                    }
                    frame += 1;
                    // Dropping the sender (or sending) stops the spinner.
                    if !matches!(
                        stopped.recv_timeout(Duration::from_millis(100)),
                        Err(RecvTimeoutError::Timeout)
                    ) {
                        break;
                    }
                }
                let mut spinning = screen.lock().unwrap_or_else(|p| p.into_inner());
                if *spinning {
                    let _ = write!(io::stderr(), "\r\x1b[2K");
                    *spinning = false;
                }
            });
        match spawned {
            Ok(thread) => {
                *self.spinner.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Spinner { stop, thread });
            }
            Err(_) => self.line(&format!("building {what}")),
        }
    }

    /// The build ended: the spinner goes.
    pub fn stop_spinner(&self) {
        let spinner = self
            .spinner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(spinner) = spinner {
            drop(spinner.stop);
            let _ = spinner.thread.join();
        }
    }
}
