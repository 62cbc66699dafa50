//! A failed build or a refused library, as the browser overlay shows it: every error and
//! warning the compiler reported (read by the watcher from cargo's JSON, not from its
//! text), each with its place in the source, and cargo's rendered output without colour
//! codes. Each place links to `/__hotdev/source`, which shows the file around that line;
//! only files named by the failure on show are served there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hotdev_watcher::{Level, strip_ansi};
use serde::{Deserialize, Serialize};

use super::html::escape;

/// One error or warning, for the overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// `error` or `warning`.
    pub level: String,
    /// The headline: `mismatched types`.
    pub message: String,
    /// `E0308`, `unused_variables`, or hotdev's own `HD013`, when there is one.
    pub code: Option<String>,
    /// The file as people read it: relative to the plugin crate when inside it
    /// (`src/lib.rs`), absolute otherwise.
    pub file: Option<String>,
    /// The file's absolute path, for the source link.
    pub path: Option<PathBuf>,
    /// The line, when the diagnostic has a place.
    pub line: Option<u32>,
    /// The column, when the diagnostic has a place.
    pub column: Option<u32>,
    /// What the compiler says at that place (`expected `u32`, found `&str``).
    pub label: Option<String>,
    /// rustc's rendering of this one diagnostic, colour codes removed.
    pub rendered: String,
}

/// A failure as the overlay shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The errors, then the warnings, each in the order reported.
    pub diagnostics: Vec<Diagnostic>,
    /// How many errors.
    pub errors: usize,
    /// How many warnings.
    pub warnings: usize,
    /// Everything cargo printed, colour codes removed.
    pub rendered: String,
}

impl Failure {
    /// A failed build: the compiler's messages (`messages`) and what cargo printed
    /// (`rendered`). When cargo stopped before compiling (a broken manifest), there are no
    /// messages, and cargo's own `error:` line stands for them.
    pub fn from_build(
        messages: &[hotdev_watcher::Diagnostic],
        rendered: &str,
        plugin_dir: &Path,
    ) -> Failure {
        let rendered = strip_ansi(rendered);
        let mut diagnostics: Vec<Diagnostic> = messages
            .iter()
            .map(|m| {
                let span = m.primary().or(m.spans.first());
                Diagnostic {
                    level: m.level.as_str().to_string(),
                    message: m.message.clone(),
                    code: m.code.clone(),
                    file: span.map(|s| shown(&s.file, plugin_dir)),
                    path: span.map(|s| s.file.clone()),
                    line: span.map(|s| s.line),
                    column: span.map(|s| s.column),
                    label: span.and_then(|s| s.label.clone()),
                    rendered: strip_ansi(&m.rendered),
                }
            })
            .collect();
        // Errors first: they are why the page is not updating.
        diagnostics.sort_by_key(|d| d.level != Level::Error.as_str());
        if !diagnostics.iter().any(|d| d.level == "error") {
            let line = rendered
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("error: "))
                .or_else(|| rendered.lines().find(|l| !l.trim().is_empty()))
                .unwrap_or("the build failed")
                .trim()
                .to_string();
            diagnostics.insert(0, Failure::error_line(line));
        }
        Failure::counted(diagnostics, rendered)
    }

    /// A refused library: one error with hotdev's code, naming the file.
    pub fn refused(message: String, code: &str, library: &Path) -> Failure {
        let diagnostic = Diagnostic {
            code: Some(code.to_string()),
            file: Some(library.display().to_string()),
            ..Failure::error_line(message.clone())
        };
        Failure::counted(vec![diagnostic], message)
    }

    /// An error without a place in the source.
    fn error_line(message: String) -> Diagnostic {
        Diagnostic {
            level: "error".into(),
            rendered: format!("error: {message}"),
            message,
            code: None,
            file: None,
            path: None,
            line: None,
            column: None,
            label: None,
        }
    }

    fn counted(diagnostics: Vec<Diagnostic>, rendered: String) -> Failure {
        let errors = diagnostics.iter().filter(|d| d.level == "error").count();
        Failure {
            warnings: diagnostics.len() - errors,
            errors,
            diagnostics,
            rendered,
        }
    }

    /// Whether `path` is a file this failure points at (and so may be shown).
    pub fn names(&self, path: &Path) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.path.as_deref() == Some(path))
    }
}

/// `file` relative to the plugin crate when inside it.
fn shown(file: &Path, plugin_dir: &Path) -> String {
    file.strip_prefix(plugin_dir)
        .unwrap_or(file)
        .display()
        .to_string()
}

/// The HTML page for `/__hotdev/source`: the lines of `text` around `line`, numbered,
/// that line marked, and the failure's messages about this file beside their lines.
pub fn source_page(path: &Path, text: &str, line: u32, failure: &Failure) -> String {
    const CONTEXT: usize = 12;
    let wanted = line.max(1) as usize;
    let lines: Vec<&str> = text.lines().collect();
    let first = wanted.saturating_sub(CONTEXT).max(1);
    let last = (wanted + CONTEXT).min(lines.len());
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><meta charset=utf-8><title>{} line {wanted}</title>\
         <style>body{{margin:0;background:#18181b;color:#f4f4f5;\
         font:14px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}}\
         h1{{font-size:16px;margin:0;padding:12px 16px;background:#27272a}}\
         pre{{margin:0;padding:8px 0}}span.n{{display:inline-block;width:5em;\
         padding-right:1em;text-align:right;color:#71717a}}\
         .at{{background:#7f1d1d}}.m{{color:#fca5a5;padding-left:6em}}</style>\
         <h1>{}:{wanted}</h1><pre>",
        escape(&path.display().to_string()),
        escape(&path.display().to_string()),
    );
    for number in first..=last {
        let class = if number == wanted { " class=at" } else { "" };
        let _ = writeln!(
            html,
            "<div id=L{number}{class}><span class=n>{number}</span>{}</div>",
            escape(lines[number - 1])
        );
        for d in failure
            .diagnostics
            .iter()
            .filter(|d| d.path.as_deref() == Some(path) && d.line == Some(number as u32))
        {
            let _ = writeln!(
                html,
                "<div class=m>{}: {}</div>",
                escape(&d.level),
                escape(&d.message)
            );
        }
    }
    html.push_str("</pre>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(level: &str, text: &str, file: &str, line: u32) -> hotdev_watcher::Diagnostic {
        serde_json::from_value(serde_json::json!({
            "level": level, "message": text, "code": null, "crate_name": "hello",
            "spans": [{"file": file, "line": line, "column": 3, "end_line": line,
                       "end_column": 4, "label": "here", "primary": true}],
            "rendered": format!("\u{1b}[1m{level}\u{1b}[0m: {text}\n"),
        }))
        .unwrap()
    }

    #[test]
    fn errors_come_first_with_their_places_and_both_are_counted() {
        let messages = [
            message("warning", "unused variable: `y`", "/p/src/lib.rs", 9),
            message("error", "mismatched types", "/p/src/lib.rs", 5),
            message("error", "cannot find `x`", "/elsewhere/shared.rs", 2),
        ];
        let failure = Failure::from_build(&messages, "\u{1b}[1merror\u{1b}[0m: x", Path::new("/p"));
        assert_eq!((failure.errors, failure.warnings), (2, 1));
        let got: Vec<_> = failure
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.level.as_str(),
                    d.file.as_deref().unwrap(),
                    d.line.unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("error", "src/lib.rs", 5),
                ("error", "/elsewhere/shared.rs", 2),
                ("warning", "src/lib.rs", 9)
            ]
        );
        assert_eq!(failure.diagnostics[0].rendered, "error: mismatched types\n");
        assert_eq!(failure.rendered, "error: x");
        assert!(failure.names(Path::new("/p/src/lib.rs")));
        assert!(!failure.names(Path::new("/p/Cargo.toml")));
    }

    #[test]
    fn without_compiler_messages_cargos_error_line_stands_for_them() {
        let rendered = "error: failed to parse manifest at `/p/Cargo.toml`\n\nCaused by:\n  x\n";
        let failure = Failure::from_build(&[], rendered, Path::new("/p"));
        assert_eq!(failure.errors, 1);
        assert_eq!(
            failure.diagnostics[0].message,
            "failed to parse manifest at `/p/Cargo.toml`"
        );
        let warnings_only = [message("warning", "unused", "/p/src/lib.rs", 1)];
        let failure =
            Failure::from_build(&warnings_only, "error: linking failed\n", Path::new("/p"));
        assert_eq!((failure.errors, failure.warnings), (1, 1));
        assert_eq!(failure.diagnostics[0].message, "linking failed");
    }

    #[test]
    fn the_source_page_marks_the_line_and_escapes_the_text() {
        let messages = [message("error", "bad <thing>", "/p/src/lib.rs", 2)];
        let failure = Failure::from_build(&messages, "", Path::new("/p"));
        let page = source_page(
            Path::new("/p/src/lib.rs"),
            "fn a() {}\nlet x = \"<b>\";\nfn c() {}\n",
            2,
            &failure,
        );
        assert!(
            page.contains(
                "<div id=L2 class=at><span class=n>2</span>let x = &quot;&lt;b&gt;&quot;;</div>"
            ),
            "{page}"
        );
        assert!(
            page.contains("<div class=m>error: bad &lt;thing&gt;</div>"),
            "{page}"
        );
        assert!(
            page.contains("<div id=L1><span class=n>1</span>fn a() {}</div>"),
            "{page}"
        );
    }
}
