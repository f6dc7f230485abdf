//! The daemon's HTTP API and pages, JSON under `/api/v1/`.
//!
//! Every route but `/healthz` and `/login` needs the token: as
//! `Authorization: Bearer <token>`, or as the session cookie that `/login`
//! sets (a form, for the people who open the pages in a browser; the cookie
//! is HttpOnly and SameSite=Strict; the token never travels in a URL).
//! Anything else gets 401.
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | 200, no token needed |
//! | `GET /login`, `POST /login` | the form; a right token sets the session cookie |
//! | `GET /api/v1/status` | state, runs in progress with their progress, counts by verdict, uptime, campaign seed, next run |
//! | `GET /api/v1/runs?verdict=&limit=&before=` | runs, newest first, paged |
//! | `GET /api/v1/runs/{id}` | the run's results.json |
//! | `POST /api/v1/pause` | in-flight runs heal at once (recorded interrupted); no new run starts |
//! | `POST /api/v1/resume` | the next run starts at once |
//! | `POST /api/v1/runs` `{"experiment": NAME, "seed": N}` | queue one run now, outside the sequences |
//! | `POST /api/v1/stop` | graceful shutdown |
//! | `GET /metrics` | Prometheus text |
//! | `GET /` | the list of runs, newest first |
//! | `GET /runs/{id}/{file}` | a file of the run's directory (report.html, results.json, logs/...) |
//!
//! Shell: it reads the shared status and sends orders to the loop; it
//! starts and stops nothing itself.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::metrics;
use super::service::{Control, Handle, Mode, Status};

/// The name of the session cookie.
pub const COOKIE: &str = "chaos_session";

#[derive(Clone)]
struct Api {
    handle: Handle,
    sessions: Arc<Mutex<BTreeSet<String>>>,
}

/// Compare two secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh random secret (hex), from the operating system.
pub fn random_secret() -> String {
    use rand::TryRngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the OS random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The router of the API, for `handle`.
pub fn router(handle: Handle) -> Router {
    let api = Api {
        handle,
        sessions: Default::default(),
    };
    let protected = Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/runs", get(runs).post(trigger))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/pause", post(pause))
        .route("/api/v1/resume", post(resume))
        .route("/api/v1/stop", post(stop))
        .route("/metrics", get(metrics_text))
        .route("/", get(index_page))
        .route("/runs/{id}/{*file}", get(run_file))
        .route_layer(middleware::from_fn_with_state(api.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/login", get(login_form).post(login))
        .merge(protected)
        .with_state(api)
}

/// Serve the API on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: Handle,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(handle))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Bind the API's address (a clear error if it is in use).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

fn cookie_session(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == COOKIE).then(|| v.to_string())
    })
}

async fn require_token(State(api): State<Api>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same_secret(t.trim(), &api.handle.token));
    let session = cookie_session(headers).is_some_and(|id| {
        api.sessions
            .lock()
            .expect("sessions lock")
            .iter()
            .any(|s| same_secret(s, &id))
    });
    if bearer || session {
        return next.run(request).await;
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        (
            StatusCode::UNAUTHORIZED,
            Html(page(
                "chaos daemon: sign in",
                "<p>This page needs the daemon's token. <a href=\"/login\">Sign in</a>.</p>",
            )),
        )
            .into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(json!({"error": "a token is needed: Authorization: Bearer <token>"})),
        )
            .into_response()
    }
}

/// HTML-escape a text.
fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}}\
         table{{border-collapse:collapse}}td,th{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}}\
         .invalid{{color:#b2182b;font-weight:600}}.valid{{color:#2166ac}}.unknown{{color:#8c510a}}</style>\
         </head><body>{body}</body></html>",
        esc(title)
    )
}

async fn login_form() -> Html<String> {
    Html(page(
        "chaos daemon: sign in",
        "<h1>chaos daemon</h1><form method=\"post\" action=\"/login\">\
         <label>Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" autofocus></label> \
         <button type=\"submit\">Sign in</button></form>\
         <p>The token is in the daemon's token file (its path is in the daemon's first log lines).</p>",
    ))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(api): State<Api>, Form(form): Form<LoginForm>) -> Response {
    if !same_secret(form.token.trim(), &api.handle.token) {
        return (
            StatusCode::UNAUTHORIZED,
            Html(page(
                "chaos daemon: sign in",
                "<h1>chaos daemon</h1><p>Wrong token.</p><p><a href=\"/login\">Try again</a></p>",
            )),
        )
            .into_response();
    }
    let id = random_secret();
    api.sessions
        .lock()
        .expect("sessions lock")
        .insert(id.clone());
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// The status as JSON.
pub fn status_json(s: &Status) -> Value {
    let mut counts = serde_json::Map::new();
    for v in ["valid", "invalid", "unknown"] {
        counts.insert(
            v.into(),
            json!(s.metrics.runs_by_verdict.get(v).copied().unwrap_or(0)),
        );
    }
    for st in ["interrupted", "crashed", "error"] {
        counts.insert(
            st.into(),
            json!(s.metrics.runs_by_status.get(st).copied().unwrap_or(0)),
        );
    }
    let next = &s.next;
    json!({
        "campaign": s.campaign,
        "state": s.mode,
        "why": s.why,
        "seed": s.seed,
        "started_at": s.started_at,
        "uptime_s": s.started.elapsed().as_secs_f64(),
        "current": s.current.values().collect::<Vec<_>>(),
        "counts": counts,
        "runs_total": s.runs.len(),
        "queued": s.queued,
        "next": next,
        "results_dir": s.results_dir.display().to_string(),
    })
}

async fn status(State(api): State<Api>) -> axum::Json<Value> {
    let s = api.handle.status.lock().expect("status lock");
    axum::Json(status_json(&s))
}

#[derive(Deserialize)]
struct RunsQuery {
    verdict: Option<String>,
    limit: Option<usize>,
    before: Option<u64>,
}

async fn runs(State(api): State<Api>, Query(q): Query<RunsQuery>) -> axum::Json<Value> {
    let s = api.handle.status.lock().expect("status lock");
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let rows: Vec<&super::index::RunRow> = s
        .runs
        .values()
        .rev()
        .filter(|r| q.before.is_none_or(|b| r.started.run < b))
        .filter(|r| q.verdict.as_deref().is_none_or(|v| r.verdict() == Some(v)))
        .take(limit + 1)
        .collect();
    let more = rows.len() > limit;
    let page: Vec<&&super::index::RunRow> = rows.iter().take(limit).collect();
    let next_before = if more {
        page.last().map(|r| r.started.run)
    } else {
        None
    };
    axum::Json(json!({"runs": page, "next_before": next_before}))
}

async fn run(State(api): State<Api>, UrlPath(id): UrlPath<u64>) -> Response {
    let row = api
        .handle
        .status
        .lock()
        .expect("status lock")
        .runs
        .get(&id)
        .cloned();
    let Some(row) = row else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no run {id}")})),
        )
            .into_response();
    };
    let dir = row.run_dir.clone();
    match dir
        .and_then(|d| std::fs::read_to_string(std::path::Path::new(&d).join("results.json")).ok())
    {
        Some(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "error": format!("run {id} has no results.json"),
                "run": row,
            })),
        )
            .into_response(),
    }
}

async fn send(api: &Api, control: Control) -> Response {
    match api.handle.control.send(control) {
        Ok(()) => (StatusCode::ACCEPTED, axum::Json(json!({"ok": true}))).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "the daemon is shutting down"})),
        )
            .into_response(),
    }
}

async fn pause(State(api): State<Api>) -> Response {
    send(&api, Control::Pause("paused by the API".into())).await
}

async fn resume(State(api): State<Api>) -> Response {
    send(&api, Control::Resume).await
}

async fn stop(State(api): State<Api>) -> Response {
    send(&api, Control::Stop("stopped by the API".into())).await
}

#[derive(Deserialize)]
struct TriggerBody {
    experiment: String,
    seed: Option<u64>,
}

async fn trigger(State(api): State<Api>, axum::Json(body): axum::Json<TriggerBody>) -> Response {
    let seed = body.seed.unwrap_or_else(|| {
        use rand::TryRngCore;
        rand::rngs::OsRng
            .try_next_u64()
            .expect("the OS random source is available")
            >> 1
    });
    let (reply, answer) = oneshot::channel();
    let control = Control::Trigger {
        experiment: body.experiment.clone(),
        seed,
        reply,
    };
    if api.handle.control.send(control).is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "the daemon is shutting down"})),
        )
            .into_response();
    }
    match answer.await {
        Ok(Ok(position)) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"queued": position, "experiment": body.experiment, "seed": seed})),
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e}))).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "the daemon is shutting down"})),
        )
            .into_response(),
    }
}

async fn metrics_text(State(api): State<Api>) -> Response {
    let s = api.handle.status.lock().expect("status lock");
    let text = metrics::render(
        &s.metrics,
        &s.campaign,
        s.mode == Mode::Paused,
        s.current.len(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn index_page(State(api): State<Api>) -> Html<String> {
    let (rows, state) = {
        let s = api.handle.status.lock().expect("status lock");
        let rows: Vec<crate::html::IndexRow> =
            s.runs.values().rev().take(1000).map(index_row).collect();
        let mode = match s.mode {
            Mode::Running => "running".to_string(),
            Mode::Paused => format!("paused: {}", s.why.as_deref().unwrap_or("")),
            Mode::Stopping => format!("stopping: {}", s.why.as_deref().unwrap_or("")),
        };
        let mut state = vec![
            (
                "campaign".to_string(),
                format!("{} (seed {})", s.campaign, s.seed),
            ),
            ("state".to_string(), mode),
            ("runs".to_string(), s.runs.len().to_string()),
            ("since".to_string(), s.started_at.clone()),
        ];
        if !s.current.is_empty() {
            let now: Vec<String> = s.current.keys().map(|n| format!("run {n}")).collect();
            state.push(("in progress".to_string(), now.join(", ")));
        }
        (rows, state)
    };
    Html(crate::html::render_index(&rows, &state))
}

/// A run of the daemon's index as the index page lists it: it links to
/// the report when the run directory has one.
fn index_row(r: &super::index::RunRow) -> crate::html::IndexRow {
    use crate::results::Verdict;
    let verdict = match r.verdict() {
        Some("valid") => Some(Verdict::Valid),
        Some("invalid") => Some(Verdict::Invalid),
        Some("unknown") => Some(Verdict::Unknown),
        _ => None,
    };
    crate::html::IndexRow {
        number: r.started.run,
        verdict,
        status: r
            .ended
            .as_ref()
            .map_or("running", |e| e.status.as_str())
            .to_string(),
        experiment: r.started.experiment.clone(),
        seed: r.started.seed,
        started_at: r.started.utc.clone(),
        duration_s: r.ended.as_ref().map(|e| e.duration_s),
        has_report: r.run_dir.as_ref().is_some_and(|d| {
            std::path::Path::new(d)
                .join(crate::store::files::REPORT_HTML)
                .is_file()
        }),
    }
}

/// The files of a run directory the pages may serve.
fn servable(file: &str) -> bool {
    const TOP: [&str; 9] = [
        "report.html",
        "report.txt",
        "results.json",
        "plan.json",
        "history.jsonl",
        "journal.jsonl",
        "experiment.toml",
        "chaos.log",
        "bench.json",
    ];
    if TOP.contains(&file) {
        return true;
    }
    match file.strip_prefix("logs/") {
        Some(name) => {
            name.ends_with(".log")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !name.starts_with('.')
        }
        None => false,
    }
}

async fn run_file(State(api): State<Api>, UrlPath((id, file)): UrlPath<(u64, String)>) -> Response {
    let dir = api
        .handle
        .status
        .lock()
        .expect("status lock")
        .runs
        .get(&id)
        .and_then(|r| r.run_dir.clone());
    let not_found = |why: String| (StatusCode::NOT_FOUND, why).into_response();
    if !servable(&file) {
        return not_found(format!("{file}: not a file of a run directory"));
    }
    let Some(dir) = dir else {
        return not_found(format!("run {id}: no run directory"));
    };
    match std::fs::read(std::path::Path::new(&dir).join(&file)) {
        Ok(bytes) => {
            let kind = match file.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("json") => "application/json",
                _ => "text/plain; charset=utf-8",
            };
            ([(header::CONTENT_TYPE, kind)], bytes).into_response()
        }
        Err(e) => not_found(format!("run {id}: {file}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        let s = random_secret();
        assert_eq!(s.len(), 64);
        assert_ne!(s, random_secret());
    }

    #[test]
    fn only_the_run_files_are_served() {
        for ok in ["report.html", "results.json", "logs/etcd1.log"] {
            assert!(servable(ok), "{ok}");
        }
        for bad in [
            "../x",
            "logs/../../etc/passwd",
            "logs/.hidden.log",
            "/etc/passwd",
            "logs/a/b.log",
        ] {
            assert!(!servable(bad), "{bad}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; chaos_session=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_session(&h).as_deref(), Some("xyz"));
    }
}
