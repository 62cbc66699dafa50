//! The registry of error codes is `docs/errors.md`: every code the sources report has a
//! row there, every row belongs to a code the sources report, and no code has two rows.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The crates whose sources report codes.
const SOURCES: &[&str] = &["src", "host/src", "watcher/src", "reloadable/src"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `HD` followed by three digits in `text`, with the line it is on.
fn codes_in(text: &str) -> Vec<(String, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for (at, _) in text.match_indices("HD") {
        let digits = &bytes[at + 2..bytes.len().min(at + 5)];
        let before_ok = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        let after_ok = bytes.get(at + 5).is_none_or(|b| !b.is_ascii_digit());
        if digits.len() == 3 && digits.iter().all(u8::is_ascii_digit) && before_ok && after_ok {
            let line = text[..at].matches('\n').count() + 1;
            found.push((text[at..at + 5].to_string(), line));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each code the sources mention, with one place that mentions it.
fn used_codes() -> BTreeMap<String, String> {
    let mut files = Vec::new();
    for dir in SOURCES {
        rust_files(&root().join(dir), &mut files);
    }
    let mut used = BTreeMap::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for (code, line) in codes_in(&text) {
            let shown = file.strip_prefix(root()).unwrap_or(&file).display();
            used.entry(code)
                .or_insert_with(|| format!("{shown}:{line}"));
        }
    }
    used
}

/// Each row of the tables in `docs/errors.md`: code and line.
fn documented_rows() -> Vec<(String, usize)> {
    let text = fs::read_to_string(root().join("docs/errors.md")).unwrap();
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some(cell) = line.strip_prefix('|') else {
            continue;
        };
        let first = cell
            .split('|')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('`');
        if let [(code, _)] = codes_in(first).as_slice()
            && code.len() == first.len()
        {
            rows.push((code.clone(), index + 1));
        }
    }
    rows
}

#[test]
fn every_code_has_exactly_one_row_and_every_row_a_code() {
    let used = used_codes();
    let rows = documented_rows();
    assert!(
        used.len() > 40 && rows.len() > 40,
        "the scan found too little: {} codes used, {} rows",
        used.len(),
        rows.len()
    );
    let mut documented: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (code, line) in &rows {
        documented.entry(code.clone()).or_default().push(*line);
    }
    let undocumented: Vec<String> = used
        .iter()
        .filter(|(code, _)| !documented.contains_key(*code))
        .map(|(code, at)| format!("{code} (used at {at})"))
        .collect();
    let unused: Vec<String> = documented
        .iter()
        .filter(|(code, _)| !used.contains_key(*code))
        .map(|(code, lines)| format!("{code} (docs/errors.md:{})", lines[0]))
        .collect();
    let twice: Vec<String> = documented
        .iter()
        .filter(|(_, lines)| lines.len() > 1)
        .map(|(code, lines)| format!("{code} (docs/errors.md lines {lines:?})"))
        .collect();
    assert!(
        undocumented.is_empty() && unused.is_empty() && twice.is_empty(),
        "codes without a row in docs/errors.md: {undocumented:?}\n\
         rows for codes no source reports: {unused:?}\n\
         codes with more than one row: {twice:?}"
    );
}

#[test]
fn the_scan_reads_codes_and_rows_as_written() {
    assert_eq!(
        codes_in("[HD013] x, HD0421 no, xHD050 no, HD05 no, (HD051)"),
        vec![("HD013".to_string(), 1), ("HD051".to_string(), 1)]
    );
    assert_eq!(codes_in("a\nb HD090"), vec![("HD090".to_string(), 2)]);
}
