//! The compiler's messages about a build, as data: each error and warning with its code,
//! its places in the source and rustc's own rendering, read from cargo's JSON
//! (`--message-format=json-diagnostic-rendered-ansi`).

use std::path::{Path, PathBuf};

use cargo_metadata::diagnostic::{Diagnostic as RustcDiagnostic, DiagnosticLevel};
use serde::{Deserialize, Serialize};

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Level {
    /// The build cannot succeed.
    Error,
    /// The build goes on.
    Warning,
}

impl Level {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

/// A place in a source file that a [`Diagnostic`] points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Span {
    /// The file: absolute when rustc named it relative to the workspace root, as
    /// rustc wrote it otherwise.
    pub file: PathBuf,
    /// The first line, from 1.
    pub line: u32,
    /// The first column, from 1.
    pub column: u32,
    /// The last line.
    pub end_line: u32,
    /// The column after the last character.
    pub end_column: u32,
    /// What rustc says about this place (`expected `u32`, found `&str``).
    pub label: Option<String>,
    /// The place the message is about (others add context).
    pub primary: bool,
}

/// One error or warning of a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Diagnostic {
    /// Error or warning.
    pub level: Level,
    /// The headline: `mismatched types`.
    pub message: String,
    /// `E0308`, `unused_variables`, when there is one.
    pub code: Option<String>,
    /// The crate it is about (the compiled target's name: `my_plugin`).
    pub crate_name: String,
    /// Where it points, the primary places first.
    pub spans: Vec<Span>,
    /// rustc's rendering (what a terminal shows), with colour codes when asked for.
    pub rendered: String,
}

impl Diagnostic {
    /// The first primary place, if any.
    pub fn primary(&self) -> Option<&Span> {
        self.spans.iter().find(|s| s.primary)
    }

    /// Reads one of rustc's messages about the crate `crate_name`. Summaries (`aborting due to 2
    /// previous errors`, `warning: 1 warning emitted`) and notes without a level of their
    /// own are left out: they repeat what the list says.
    pub(crate) fn from_rustc(
        message: &RustcDiagnostic,
        crate_name: &str,
        workspace_root: &Path,
        color: bool,
    ) -> Option<Diagnostic> {
        let level = match message.level {
            DiagnosticLevel::Error | DiagnosticLevel::Ice => Level::Error,
            DiagnosticLevel::Warning => Level::Warning,
            _ => return None,
        };
        if message.spans.is_empty() && is_summary(&message.message) {
            return None;
        }
        let mut spans: Vec<Span> = message
            .spans
            .iter()
            .map(|span| Span {
                file: workspace_root.join(&span.file_name),
                line: u32::try_from(span.line_start).unwrap_or(u32::MAX),
                column: u32::try_from(span.column_start).unwrap_or(u32::MAX),
                end_line: u32::try_from(span.line_end).unwrap_or(u32::MAX),
                end_column: u32::try_from(span.column_end).unwrap_or(u32::MAX),
                label: span.label.clone(),
                primary: span.is_primary,
            })
            .collect();
        spans.sort_by_key(|s| !s.primary);
        let rendered = message.rendered.clone().unwrap_or_default();
        Some(Diagnostic {
            level,
            message: message.message.clone(),
            code: message.code.as_ref().map(|c| c.code.clone()),
            crate_name: crate_name.to_string(),
            spans,
            rendered: if color {
                rendered
            } else {
                strip_ansi(&rendered)
            },
        })
    }
}

/// `text` without terminal escape sequences (colours, cursor movement).
pub fn strip_ansi(text: &str) -> String {
    String::from_utf8_lossy(&strip_ansi_escapes::strip(text)).into_owned()
}

fn is_summary(message: &str) -> bool {
    message.starts_with("aborting due to")
        || (message.ends_with(" emitted") && message.contains("warning"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rustc(json: &str) -> RustcDiagnostic {
        serde_json::from_str(json).unwrap()
    }

    const MISMATCH: &str = r#"{"$message_type":"diagnostic","message":"mismatched types","code":{"code":"E0308","explanation":null},"level":"error","spans":[{"file_name":"src/other.rs","byte_start":1,"byte_end":2,"line_start":3,"line_end":3,"column_start":5,"column_end":8,"is_primary":false,"text":[],"label":"expected due to this","suggested_replacement":null,"suggestion_applicability":null,"expansion":null},{"file_name":"src/lib.rs","byte_start":20,"byte_end":23,"line_start":1,"line_end":1,"column_start":21,"column_end":24,"is_primary":true,"text":[],"label":"expected `u32`, found `&str`","suggested_replacement":null,"suggestion_applicability":null,"expansion":null}],"children":[],"rendered":"\u001b[1m\u001b[38;5;9merror[E0308]\u001b[0m: mismatched types\n"}"#;

    #[test]
    fn an_error_keeps_its_code_places_and_rendering() {
        let d = Diagnostic::from_rustc(&rustc(MISMATCH), "plugin", Path::new("/w"), false).unwrap();
        assert_eq!(d.level, Level::Error);
        assert_eq!(d.message, "mismatched types");
        assert_eq!(d.code.as_deref(), Some("E0308"));
        let primary = d.primary().unwrap();
        assert_eq!(primary.file, Path::new("/w/src/lib.rs"));
        assert_eq!((primary.line, primary.column), (1, 21));
        assert_eq!(
            primary.label.as_deref(),
            Some("expected `u32`, found `&str`")
        );
        assert_eq!(d.spans[0], *primary, "primary places come first");
        assert_eq!(d.rendered, "error[E0308]: mismatched types\n");
        let coloured =
            Diagnostic::from_rustc(&rustc(MISMATCH), "plugin", Path::new("/w"), true).unwrap();
        assert!(coloured.rendered.contains('\u{1b}'));
    }

    #[test]
    fn summaries_and_notes_are_left_out() {
        let summary = r#"{"$message_type":"diagnostic","message":"aborting due to 2 previous errors","code":null,"level":"error","spans":[],"children":[],"rendered":"error: aborting due to 2 previous errors\n"}"#;
        let note = r#"{"$message_type":"diagnostic","message":"For more information about this error, try `rustc --explain E0308`.","code":null,"level":"failure-note","spans":[],"children":[],"rendered":"x\n"}"#;
        for json in [summary, note] {
            assert_eq!(
                Diagnostic::from_rustc(&rustc(json), "p", Path::new("/w"), false),
                None
            );
        }
    }
}
