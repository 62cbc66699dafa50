//! Compiler diagnostics for the browser: cargo's rendered text, without colour codes, and
//! the location and message of each error, read from that text.

use serde::Serialize;

/// One diagnostic read from cargo's rendered output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// `error` or `warning`.
    pub level: String,
    /// The headline, without the level: `mismatched types`.
    pub message: String,
    /// The error code, `E0308`, when there is one.
    pub code: Option<String>,
    /// The source file, as cargo printed it (relative to the crate): `src/lib.rs`.
    pub file: Option<String>,
    /// The line, when the diagnostic has a location.
    pub line: Option<u32>,
    /// The column, when the diagnostic has a location.
    pub column: Option<u32>,
}

/// A failed build as the browser overlay shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The errors (warnings are left to the rendered text).
    pub diagnostics: Vec<Diagnostic>,
    /// Cargo's rendered output, colour codes removed.
    pub rendered: String,
}

impl Failure {
    /// Reads a failure from cargo's rendered stderr.
    pub fn from_rendered(rendered: &str) -> Self {
        let rendered = strip_ansi(rendered);
        Failure {
            diagnostics: errors(&rendered),
            rendered,
        }
    }
}

/// Removes ANSI escape sequences (colours, cursor movement) from `text`.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            // CSI: ESC [ parameters... final byte in @..~
            Some('[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: ESC ] ... (BEL | ESC \)
            Some(']') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            // Two-character sequences: ESC followed by one byte.
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    out
}

/// The errors in rendered rustc/cargo output, each with the location from its `-->` line.
///
/// cargo's closing summary (`could not compile ...`) is kept only when nothing else was
/// found, so that a failure never shows an empty list.
pub fn errors(rendered: &str) -> Vec<Diagnostic> {
    let mut found: Vec<Diagnostic> = Vec::new();
    let mut summaries = Vec::new();
    let mut lines = rendered.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(mut diagnostic) = headline(line) else {
            continue;
        };
        if diagnostic.level != "error" {
            continue;
        }
        // The location follows the headline, on the first `-->` line before a blank one.
        while let Some(next) = lines.peek() {
            if next.trim().is_empty() || headline(next).is_some() {
                break;
            }
            let next = lines.next().unwrap_or_default();
            if let Some(at) = next.trim_start().strip_prefix("--> ") {
                let (file, line, column) = location(at.trim());
                diagnostic.file = Some(file);
                diagnostic.line = line;
                diagnostic.column = column;
                break;
            }
        }
        if diagnostic.file.is_none()
            && (diagnostic.message.starts_with("could not compile")
                || diagnostic.message.starts_with("aborting due to"))
        {
            summaries.push(diagnostic);
        } else {
            found.push(diagnostic);
        }
    }
    if found.is_empty() { summaries } else { found }
}

/// Reads `error[E0308]: mismatched types` (or `warning: ...`).
fn headline(line: &str) -> Option<Diagnostic> {
    let (level, rest) = ["error", "warning"]
        .iter()
        .find_map(|level| line.strip_prefix(level).map(|rest| (*level, rest)))?;
    let (code, rest) = match rest.strip_prefix('[') {
        Some(rest) => {
            let (code, rest) = rest.split_once(']')?;
            (Some(code.to_string()), rest)
        }
        None => (None, rest),
    };
    let message = rest.strip_prefix(": ")?;
    Some(Diagnostic {
        level: level.to_string(),
        message: message.trim().to_string(),
        code,
        file: None,
        line: None,
        column: None,
    })
}

/// Splits `src/lib.rs:5:9` into its parts (file names may themselves contain `:`).
fn location(at: &str) -> (String, Option<u32>, Option<u32>) {
    let mut parts = at.rsplitn(3, ':');
    let last = parts.next();
    let middle = parts.next();
    let first = parts.next();
    match (first, middle, last) {
        (Some(file), Some(line), Some(column)) => match (line.parse(), column.parse()) {
            (Ok(line), Ok(column)) => (file.to_string(), Some(line), Some(column)),
            _ => (at.to_string(), None, None),
        },
        _ => (at.to_string(), None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str =
        "\u{1b}[0m\u{1b}[1m\u{1b}[32m   Compiling\u{1b}[0m hello v0.1.0 (/tmp/hello)
\u{1b}[0m\u{1b}[1m\u{1b}[38;5;9merror[E0308]\u{1b}[0m\u{1b}[0m\u{1b}[1m: mismatched types\u{1b}[0m
\u{1b}[0m \u{1b}[0m\u{1b}[0m\u{1b}[1m\u{1b}[38;5;12m--> \u{1b}[0m\u{1b}[0msrc/lib.rs:5:18\u{1b}[0m
  |
5 |     let x: u32 = \"a\";
  |            ---   ^^^ expected `u32`, found `&str`

warning: unused variable: `y`
 --> src/lib.rs:9:9

error: expected one of `.`, `;`, `?`, `}`, or an operator, found `oops`
  --> src/main:odd.rs:12:5

error: could not compile `hello` (lib) due to 2 previous errors
";

    #[test]
    fn strips_colour_codes() {
        let plain = strip_ansi(RENDERED);
        assert!(!plain.contains('\u{1b}'));
        assert!(plain.contains("error[E0308]: mismatched types"));
        assert!(plain.contains(" --> src/lib.rs:5:18"));
    }

    #[test]
    fn reads_each_error_with_its_location() {
        let failure = Failure::from_rendered(RENDERED);
        let got: Vec<_> = failure
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.code.as_deref(),
                    d.message.as_str(),
                    d.file.as_deref(),
                    d.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Some("E0308"),
                    "mismatched types",
                    Some("src/lib.rs"),
                    Some(5)
                ),
                (
                    None,
                    "expected one of `.`, `;`, `?`, `}`, or an operator, found `oops`",
                    Some("src/main:odd.rs"),
                    Some(12)
                ),
            ]
        );
    }

    #[test]
    fn keeps_the_summary_when_nothing_else_is_found() {
        let failure = Failure::from_rendered("error: could not compile `x` (lib)\n");
        assert_eq!(failure.diagnostics.len(), 1);
        assert_eq!(
            failure.diagnostics[0].message,
            "could not compile `x` (lib)"
        );
    }
}
