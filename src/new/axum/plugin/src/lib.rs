//! The app's routes. Save a change while `hotdev run` runs: the next request is answered
//! by the new code, with the visits kept (the host owns the state), and the open page
//! reloads by itself.

use std::sync::atomic::Ordering;
use std::time::Duration;

use api::axum::Router;
use api::axum::extract::State;
use api::axum::response::Html;
use api::axum::routing::get;
use api::tracing::Instrument;
use api::{Shared, app, tokio, tracing};

struct Routes;

impl app::Implementation for Routes {
    fn router(state: Shared) -> Router {
        Router::new()
            .route("/", get(index))
            .route("/sleep", get(sleep))
            .route("/spawn", get(spawn))
            .route("/panic", get(panic))
            .with_state(state)
    }
}

async fn index(State(state): State<Shared>) -> Html<String> {
    let visits = state.visits.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::info!(visits, "served the page");
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>hotdev</title>\
         <link rel=\"stylesheet\" href=\"/static/style.css\"></head>\n\
         <body><h1>Hello from hotdev</h1>\n\
         <p>Visits: <strong id=\"visits\">{visits}</strong></p></body></html>\n"
    ))
}

/// Awaits the host's tokio timer.
async fn sleep() -> String {
    tokio::time::sleep(Duration::from_millis(50)).await;
    "slept 50 ms\n".into()
}

/// Runs a task on the host's runtime and awaits it, inside a span.
async fn spawn() -> String {
    let span = tracing::info_span!("spawn", route = "/spawn");
    async {
        let task = tokio::spawn(async { (1..=10u64).sum::<u64>() });
        let sum = task.await.unwrap_or_default();
        tracing::info!(sum, "the task finished");
        format!("spawned a task: {sum}\n")
    }
    .instrument(span)
    .await
}

/// A bug: the dev server answers with the panic's message, and the process goes on.
async fn panic() -> String {
    let routes: Vec<&str> = Vec::new();
    routes[0].to_string()
}

reloadable::export_plugin!(interface: api::app, implementation: Routes);
