//! Bench-only: `examples/hello`'s page and endpoints, plus a search endpoint that parses
//! JSON with serde_json and matches with regex, so that a rebuild compiles and links a
//! plugin of a realistic size. The save-to-live benchmark edits the page's heading.

use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;
use reloadable::State;
use reloadable::web::{Request, Response, app};
use serde::{Deserialize, Serialize};

reloadable::abi_struct! {
    /// What survives reloads: the number of page visits.
    #[derive(Debug, Default)]
    pub struct Visits {
        /// Visits of `/` since the server started.
        pub count: AtomicU64,
    }
}

#[derive(Debug, Deserialize)]
struct Query {
    pattern: String,
    lines: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Matches {
    pattern: String,
    matches: Vec<Match>,
}

#[derive(Debug, Serialize)]
struct Match {
    line: usize,
    text: String,
    groups: Vec<Option<String>>,
}

fn search(body: &[u8]) -> Result<Matches, String> {
    let query: Query = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let re = Regex::new(&query.pattern).map_err(|e| e.to_string())?;
    let matches = query
        .lines
        .iter()
        .enumerate()
        .filter_map(|(line, text)| {
            let caps = re.captures(text)?;
            Some(Match {
                line,
                text: text.clone(),
                groups: caps
                    .iter()
                    .skip(1)
                    .map(|g| g.map(|m| m.as_str().to_string()))
                    .collect(),
            })
        })
        .collect();
    Ok(Matches {
        pattern: query.pattern,
        matches,
    })
}

struct Real;

impl app::Implementation for Real {
    fn handle(request: &Request, state: &State) -> Response {
        let visits = state.get::<Visits>();
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => {
                let n = visits.count.fetch_add(1, Ordering::Relaxed) + 1;
                Response::html(page(n))
            }
            ("GET", "/api/visits") => {
                let n = visits.count.load(Ordering::Relaxed);
                Response::json(serde_json::json!({ "visits": n }).to_string())
            }
            ("POST", "/api/search") => match search(&request.body) {
                Ok(found) => Response::json(serde_json::to_string(&found).unwrap_or_default()),
                Err(error) => Response::text(format!("{error}\n")).with_status(400),
            },
            _ => Response::text("not found\n").with_status(404),
        }
    }
}

fn page(visits: u64) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>hello from hotdev</title></head>
<body>
  <h1>Hello from hotdev</h1>
  <p>Visits: <strong id="visits">{visits}</strong></p>
</body>
</html>
"#
    )
}

reloadable::export_plugin!(
    interface: reloadable::web::app,
    implementation: Real,
    state: Visits,
);
