//! What hotdev tells the person at the terminal, on stderr (stdout stays free for
//! `--events -`): a spinner with the elapsed time while cargo builds (plain lines when
//! stderr is not a terminal), one line per reload, the compiler's diagnostics verbatim.

use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Where lines go instead of stderr (a worker process sends them to its supervisor).
pub type Forward = Box<dyn Fn(&str) + Send + Sync>;

/// The terminal reporter.
pub struct Term {
    tty: bool,
    /// When set, lines go here instead of stderr.
    forward: Option<Forward>,
    /// The build spinner while one is on screen. Lines are printed with the spinner
    /// suspended, so they never mix with it.
    spinner: Mutex<Option<ProgressBar>>,
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

    /// Prints one line (above the spinner, when one is on screen).
    pub fn line(&self, text: &str) {
        if let Some(forward) = &self.forward {
            forward(text);
            return;
        }
        let spinner = self.spinner.lock().unwrap_or_else(|p| p.into_inner());
        let print = || {
            let _ = writeln!(io::stderr().lock(), "{text}");
        };
        match &*spinner {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
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
        let style = ProgressStyle::with_template("{spinner} building {msg} {seconds}")
            .expect("the template is valid")
            .with_key(
                "seconds",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1}s", state.elapsed().as_secs_f64());
                },
            )
            .tick_strings(&["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", " "]);
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        *self.spinner.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
    }

    /// The build ended: the spinner goes.
    pub fn stop_spinner(&self) {
        let spinner = self
            .spinner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(bar) = spinner {
            bar.finish_and_clear();
        }
    }
}
