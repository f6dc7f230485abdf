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
//! | `GET /api/v1/runs?outcome=&experiment=&limit=&before=` | runs, newest first, paged (`verdict=` is `outcome=`) |
//! | `GET /api/v1/stats` | the campaign at a glance: per experiment outcomes, anomaly kinds, median ok ops/s and recovery |
//! | `GET /api/v1/events` | Server-Sent Events: `status` (as `/api/v1/status`) every second, `run` (a row of the table) when a run starts or ends |
//! | `GET /api/v1/runs/{id}` | the run's results.json |
//! | `POST /api/v1/pause` | in-flight runs heal at once (recorded interrupted); no new run starts |
//! | `POST /api/v1/resume` | the next run starts at once |
//! | `POST /api/v1/runs` `{"experiment": NAME, "seed": N}` | queue one run now, outside the sequences |
//! | `POST /api/v1/stop` | graceful shutdown |
//! | `GET /metrics` | Prometheus text |
//! | `GET /` | the control room: the live run, the controls, the campaign at a glance, the runs (filtered, paged) |
//! | `GET /runs/{id}/{file}` | a file of the run's directory (report.html, results.json, logs/...) |
//!
//! Cross-site requests are refused: every `POST` that carries an `Origin`
//! (or, without one, a `Referer`) must come from the daemon's own origin
//! (the `Host` it was asked under), and a `POST` authenticated by the
//! session cookie alone must carry one of them (browsers do); with
//! `Sec-Fetch-Site: cross-site` it is refused whatever it carries. The
//! bearer token's clients (the CLI, curl) send neither and pass. Answers
//! 403. The controls on the page are plain forms: posted without script
//! (a form body), they answer with a redirect back to `/` that shows the
//! result; posted by the page's script (JSON), they answer JSON.
//!
//! Shell: it reads the shared status and sends orders to the loop; it
//! starts and stops nothing itself.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, FromRequest, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::index::RunRow;
use super::service::{Control, Handle, Mode, Status};
use super::{metrics, stats};
use crate::html::campaign as room;

/// The name of the session cookie.
pub const COOKIE: &str = "chaos_session";

#[derive(Clone)]
struct Api {
    handle: Handle,
    sessions: Arc<Mutex<BTreeSet<String>>>,
    /// Ends the event streams when the server shuts down.
    shutdown: CancellationToken,
}

/// How often the event stream sends the status.
pub const EVENT_PERIOD: Duration = Duration::from_secs(1);

/// Rows a page of the run table shows.
pub const PAGE_ROWS: usize = 100;

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
    router_until(handle, CancellationToken::new())
}

/// The router of the API, for `handle`; its event streams end at
/// `shutdown`.
pub fn router_until(handle: Handle, shutdown: CancellationToken) -> Router {
    let api = Api {
        handle,
        sessions: Default::default(),
        shutdown,
    };
    let protected = Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/stats", get(stats_json))
        .route("/api/v1/events", get(events))
        .route("/api/v1/runs", get(runs).post(trigger))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/pause", post(pause))
        .route("/api/v1/resume", post(resume))
        .route("/api/v1/stop", post(stop))
        .route("/metrics", get(metrics_text))
        .route("/", get(index_page))
        .route("/runs/{id}/{*file}", get(run_file))
        .route_layer(middleware::from_fn_with_state(api.clone(), require_token))
        .route_layer(middleware::from_fn(same_origin));
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
    axum::serve(listener, router_until(handle, shutdown.clone()))
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

/// Whether a request may change something: not a `POST` from another
/// site. `Ok` or why not.
fn cross_site_check(method: &Method, headers: &HeaderMap) -> Result<(), String> {
    if method != Method::POST {
        return Ok(());
    }
    let get = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    if get(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return Err("a cross-site request".into());
    }
    let host = get(header::HOST).unwrap_or("");
    let claimed = get(header::ORIGIN).or_else(|| get(header::REFERER));
    match claimed {
        Some(o) => {
            let rest = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                .unwrap_or("");
            let authority = rest.split('/').next().unwrap_or("");
            if !host.is_empty() && authority == host {
                Ok(())
            } else {
                Err(format!("a request from another origin ({o})"))
            }
        }
        // No Origin and no Referer: a client of the token (the CLI,
        // curl), unless the session cookie is its only credential.
        None if headers.contains_key(header::AUTHORIZATION) => Ok(()),
        None if cookie_session(headers).is_some() => {
            Err("a request with the session cookie but no Origin".into())
        }
        None => Ok(()),
    }
}

async fn same_origin(request: Request, next: Next) -> Response {
    match cross_site_check(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(why) => (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": format!("refused: {why}")})),
        )
            .into_response(),
    }
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
         <link rel=\"icon\" href=\"data:,\">\
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
    // Seeds are 64-bit, beyond a JavaScript number's exact range: each
    // also as text, for the page's script.
    let current: Vec<Value> = s
        .current
        .values()
        .map(|c| {
            let mut v = serde_json::to_value(c).expect("the status serializes");
            v["seed_text"] = json!(c.seed.to_string());
            v
        })
        .collect();
    let mut next = serde_json::to_value(next).expect("the status serializes");
    if let Some(seed) = next.get("seed").and_then(Value::as_u64) {
        next["seed_text"] = json!(seed.to_string());
    }
    json!({
        "campaign": s.campaign,
        "state": s.mode,
        "why": s.why,
        "seed": s.seed,
        "started_at": s.started_at,
        "uptime_s": s.started.elapsed().as_secs_f64(),
        "current": current,
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

async fn stats_json(State(api): State<Api>) -> axum::Json<Value> {
    let s = api.handle.status.lock().expect("status lock");
    let st = stats::compute(s.runs.values());
    axum::Json(json!({"campaign": s.campaign, "stats": st}))
}

#[derive(Deserialize)]
struct RunsQuery {
    /// The old name of `outcome`.
    verdict: Option<String>,
    outcome: Option<String>,
    experiment: Option<String>,
    limit: Option<usize>,
    before: Option<u64>,
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|x| !x.is_empty())
}

async fn runs(State(api): State<Api>, Query(q): Query<RunsQuery>) -> axum::Json<Value> {
    let s = api.handle.status.lock().expect("status lock");
    let filter = stats::RunFilter {
        outcome: nonempty(q.outcome).or(nonempty(q.verdict)),
        experiment: nonempty(q.experiment),
        before: q.before,
        limit: q.limit.unwrap_or(50).clamp(1, 1000),
    };
    let (page, next_before) = stats::page(&s.runs, &filter);
    axum::Json(json!({"runs": page, "next_before": next_before}))
}

/// A row of the table as the event stream sends it.
fn row_event(r: &RunRow) -> Value {
    json!({
        "run": r.started.run,
        "outcome": r.outcome(),
        "experiment": r.started.experiment,
        "html": room::run_row_html(&index_row(r)),
    })
}

/// `text/event-stream`: at once and then every [`EVENT_PERIOD`], the
/// status (`event: status`) and the rows of the runs that started or
/// ended since (`event: run`); it ends when the server shuts down.
async fn events(State(api): State<Api>) -> Response {
    let start = api.handle.status.lock().expect("status lock").changes.len();
    let stream =
        futures_util::stream::unfold((api, start, true), |(api, seen, first)| async move {
            if !first {
                tokio::select! {
                    _ = tokio::time::sleep(EVENT_PERIOD) => {}
                    _ = api.shutdown.cancelled() => return None,
                }
            }
            let (status, rows, seen) = {
                let s = api.handle.status.lock().expect("status lock");
                let mut changed: Vec<u64> = s.changes.get(seen..).unwrap_or_default().to_vec();
                changed.dedup();
                let rows: Vec<Value> = changed
                    .iter()
                    .filter_map(|n| s.runs.get(n))
                    .map(row_event)
                    .collect();
                (status_json(&s), rows, s.changes.len())
            };
            let mut out = vec![Event::default().event("status").data(status.to_string())];
            out.extend(
                rows.into_iter()
                    .map(|r| Event::default().event("run").data(r.to_string())),
            );
            let batch = futures_util::stream::iter(out.into_iter().map(Ok::<Event, Infallible>));
            Some((batch, (api, seen, false)))
        });
    use futures_util::StreamExt;
    Sse::new(stream.flatten())
        .keep_alive(KeepAlive::default())
        .into_response()
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

/// Was the request a form posted by a page without script (it wants to
/// be sent back to the page)?
fn from_a_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// The answer to a control: JSON for the API's clients; for a form, back
/// to the page with the result (`/?done=...`).
fn answer(form: bool, code: StatusCode, body: Value, done: &str) -> Response {
    if form {
        let target = if code.is_success() {
            format!("/?done={done}")
        } else {
            "/?done=refused".to_string()
        };
        return Redirect::to(&target).into_response();
    }
    (code, axum::Json(body)).into_response()
}

async fn send(api: &Api, headers: &HeaderMap, control: Control, done: &str) -> Response {
    let form = from_a_form(headers);
    match api.handle.control.send(control) {
        Ok(()) => answer(form, StatusCode::ACCEPTED, json!({"ok": true}), done),
        Err(_) => answer(
            form,
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "the daemon is shutting down"}),
            done,
        ),
    }
}

async fn pause(State(api): State<Api>, headers: HeaderMap) -> Response {
    send(
        &api,
        &headers,
        Control::Pause("paused by the API".into()),
        "pause",
    )
    .await
}

async fn resume(State(api): State<Api>, headers: HeaderMap) -> Response {
    send(&api, &headers, Control::Resume, "resume").await
}

async fn stop(State(api): State<Api>, headers: HeaderMap) -> Response {
    send(
        &api,
        &headers,
        Control::Stop("stopped by the API".into()),
        "stop",
    )
    .await
}

#[derive(Deserialize)]
struct TriggerBody {
    experiment: String,
    seed: Option<u64>,
}

/// The trigger form's fields (the seed box may be empty: drawn).
#[derive(Deserialize)]
struct TriggerForm {
    experiment: String,
    #[serde(default)]
    seed: String,
}

async fn trigger(State(api): State<Api>, request: Request) -> Response {
    let form = from_a_form(request.headers());
    let body = if form {
        match Form::<TriggerForm>::from_request(request, &()).await {
            Ok(Form(f)) => {
                let seed = f.seed.trim();
                match seed.parse::<u64>() {
                    _ if seed.is_empty() => TriggerBody {
                        experiment: f.experiment,
                        seed: None,
                    },
                    Ok(n) => TriggerBody {
                        experiment: f.experiment,
                        seed: Some(n),
                    },
                    Err(_) => return Redirect::to("/?done=refused").into_response(),
                }
            }
            Err(e) => return e.into_response(),
        }
    } else {
        match axum::Json::<TriggerBody>::from_request(request, &()).await {
            Ok(axum::Json(b)) => b,
            Err(e) => return e.into_response(),
        }
    };
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
        Ok(Ok(_)) if form => Redirect::to(&format!(
            "/?done=queued&experiment={}&seed={seed}",
            if body
                .experiment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                body.experiment.as_str()
            } else {
                ""
            }
        ))
        .into_response(),
        Ok(Ok(position)) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "queued": position,
                "experiment": body.experiment,
                "seed": seed,
                "seed_text": seed.to_string(),
            })),
        )
            .into_response(),
        Ok(Err(_)) if form => Redirect::to("/?done=refused").into_response(),
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

#[derive(Deserialize, Default)]
struct PageQuery {
    outcome: Option<String>,
    experiment: Option<String>,
    before: Option<u64>,
    /// The control just done (a form posted without script).
    done: Option<String>,
    seed: Option<u64>,
}

/// What a control did, in words, for the page's notice.
fn notice(q: &PageQuery) -> Option<String> {
    Some(match q.done.as_deref()? {
        "pause" => "Paused: the runs in flight heal at once and are recorded interrupted; no new \
                    run starts."
            .to_string(),
        "resume" => "Resumed: the next run starts at once.".to_string(),
        "stop" => "Stopping: the runs in flight heal, then the daemon exits.".to_string(),
        "queued" => format!(
            "Queued a run of {} with seed {}.",
            q.experiment.as_deref().unwrap_or("the experiment"),
            q.seed.map_or("(drawn)".to_string(), |s| s.to_string())
        ),
        "refused" => "Refused: the daemon did not take the order (an unknown experiment, a bad \
                      seed, or it is shutting down)."
            .to_string(),
        _ => return None,
    })
}

/// The next run, in words.
fn next_words(next: &Option<super::service::Next>) -> Option<String> {
    use super::service::Next;
    next.as_ref().map(|n| match n {
        Next::Now { experiment, seed } => {
            format!("{experiment}, seed {seed}, as soon as a slot is free")
        }
        Next::In { in_s } => format!("in {in_s:.0} s"),
        Next::AfterCurrent => "when the run in progress ends".to_string(),
    })
}

/// The experiments at a glance, as the page draws them.
pub fn lines(st: &stats::CampaignStats) -> Vec<room::ExperimentLine> {
    st.experiments
        .iter()
        .map(|e| room::ExperimentLine {
            experiment: e.experiment.clone(),
            runs: e.runs,
            valid: e.valid,
            invalid: e.invalid,
            unknown: e.unknown,
            error: e.error,
            interrupted: e.interrupted,
            anomaly_kinds: e
                .anomaly_kinds
                .iter()
                .map(|(k, n)| (k.clone(), *n))
                .collect(),
            median_ok_per_s: e.median_ok_per_s,
            median_recovery_s: e.median_recovery_s,
            points: e.points.clone(),
        })
        .collect()
}

/// A run in progress, as the live panel draws it.
fn live_run(c: &super::service::Current) -> room::LiveRun {
    room::LiveRun {
        run: c.run,
        experiment: c.experiment.clone(),
        seed: c.seed,
        phase: c.phase.clone(),
        elapsed_s: c.elapsed_s,
        total_s: c.total_s,
        ok: c.ok,
        fail: c.fail,
        info: c.info,
        ok_per_s: c.ok_per_s,
        faults: c
            .in_effect
            .iter()
            .map(|f| room::LiveFault {
                id: f.id,
                kind: f.kind.clone(),
                targets: f.targets.clone(),
                heals_at_s: f.heals_at_s,
            })
            .collect(),
    }
}

/// The control room page of a status, for a query (pure but for the
/// report files' existence, which [`index_row`] looks up).
pub fn control_room(
    s: &Status,
    experiments: &[String],
    q_outcome: Option<String>,
    q_experiment: Option<String>,
    before: Option<u64>,
    notice: Option<&str>,
) -> String {
    let filter = stats::RunFilter {
        outcome: nonempty(q_outcome),
        experiment: nonempty(q_experiment),
        before,
        limit: PAGE_ROWS,
    };
    let (page, older) = stats::page(&s.runs, &filter);
    let rows: Vec<crate::html::IndexRow> = page.into_iter().map(index_row).collect();
    let st = stats::compute(s.runs.values());
    let lines = lines(&st);
    let live: Vec<room::LiveRun> = s.current.values().map(live_run).collect();
    let state = match s.mode {
        Mode::Running => "running",
        Mode::Paused => "paused",
        Mode::Stopping => "stopping",
    };
    let f = room::Filter {
        outcome: filter.outcome.clone(),
        experiment: filter.experiment.clone(),
        before,
    };
    room::render_control_room(&room::ControlRoom {
        campaign: &s.campaign,
        seed: s.seed,
        state,
        why: s.why.as_deref(),
        since: &s.started_at,
        runs_total: s.runs.len() as u64,
        live: &live,
        next: next_words(&s.next),
        experiments,
        lines: &lines,
        strip: &st.strip,
        first_run_at: st.since.as_deref(),
        rows: &rows,
        filter: &f,
        older,
        notice,
        live_stream: true,
    })
}

async fn index_page(State(api): State<Api>, Query(q): Query<PageQuery>) -> Html<String> {
    let said = notice(&q);
    let s = api.handle.status.lock().expect("status lock");
    let mut outcome = q.outcome.clone();
    let mut experiment = q.experiment.clone();
    if q.done.is_some() {
        // The notice's own fields are not filters.
        outcome = None;
        experiment = None;
    }
    Html(control_room(
        &s,
        &api.handle.experiments,
        outcome,
        experiment,
        q.before,
        said.as_deref(),
    ))
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
        anomalies: r
            .ended
            .as_ref()
            .map(|e| e.anomaly_kinds.clone())
            .unwrap_or_default(),
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
    fn posts_from_another_origin_are_refused() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            m
        };
        let host = ("host", "127.0.0.1:7878");
        let cookie = ("cookie", "chaos_session=abc");
        let post = Method::POST;
        // The page's own forms and script.
        assert!(
            cross_site_check(
                &post,
                &h(&[host, cookie, ("origin", "http://127.0.0.1:7878")])
            )
            .is_ok()
        );
        assert!(
            cross_site_check(
                &post,
                &h(&[host, cookie, ("referer", "http://127.0.0.1:7878/?x=1")])
            )
            .is_ok()
        );
        // The CLI: a bearer token, no Origin.
        assert!(cross_site_check(&post, &h(&[host, ("authorization", "Bearer t")])).is_ok());
        // Another origin (another port is another origin), a cross-site
        // fetch, a cookie without Origin.
        for bad in [
            h(&[host, cookie, ("origin", "http://127.0.0.1:9999")]),
            h(&[host, cookie, ("origin", "http://evil.example")]),
            h(&[host, cookie, ("origin", "null")]),
            h(&[
                host,
                ("authorization", "Bearer t"),
                ("origin", "http://evil.example"),
            ]),
            h(&[
                host,
                cookie,
                ("origin", "http://127.0.0.1:7878"),
                ("sec-fetch-site", "cross-site"),
            ]),
            h(&[host, cookie]),
            h(&[cookie, ("origin", "http://127.0.0.1:7878")]),
        ] {
            assert!(cross_site_check(&post, &bad).is_err(), "{bad:?}");
        }
        // A GET changes nothing.
        assert!(
            cross_site_check(
                &Method::GET,
                &h(&[host, cookie, ("origin", "http://evil.example")])
            )
            .is_ok()
        );
    }

    #[test]
    fn the_page_of_ten_thousand_runs_shows_a_page_of_them() {
        let runs = stats::synthetic(10_000);
        let s = Status::synthetic(runs);
        let experiments: Vec<String> = vec!["etcd-pause".into()];
        let page = control_room(&s, &experiments, None, None, None, None);
        assert_eq!(page.matches("<tr data-run=\"").count(), PAGE_ROWS);
        assert!(page.contains("href=\"/?before=9901\""), "the next page");
        assert!(page.len() < 2_000_000, "{} bytes", page.len());
        let invalid = control_room(
            &s,
            &experiments,
            Some("invalid".into()),
            Some("etcd-serializable-stale-reads".into()),
            None,
            None,
        );
        let rows = invalid.matches("<tr data-run=\"").count();
        assert_eq!(
            rows,
            invalid.matches("data-outcome=\"invalid\"><td").count()
        );
        assert_eq!(rows, PAGE_ROWS);
        assert!(invalid.contains("<code>stale-read</code>"));
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
