//! `chaos daemon run|plan|status|pause|resume|stop|trigger`: the campaign
//! service in the foreground (as systemd or a terminal expects), its plan,
//! and the clients of its HTTP API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::cluster::{self, ProjectRef};
use super::{CliError, CliResult, Outcome};
use crate::daemon::schedule::{self, Schedule};
use crate::daemon::service::{Config, Daemon, StopReason};
use crate::daemon::{self, LoadedCampaign, index};
use crate::results::Verdict;

/// Arguments of `chaos daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(Debug, Subcommand)]
pub enum Which {
    /// Run a campaign in the foreground until stopped: SIGTERM or Ctrl-C
    /// cancel the runs in flight (they heal and are recorded interrupted)
    /// and exit 0; a policy stop exits 1 (anomaly), 3 (unknown) or 4
    /// (error). After a crash (SIGKILL), the next start heals what was left
    /// applied before its first run and records the cut-short run crashed.
    Run(RunArgs),
    /// Print the first runs a campaign starts (run, experiment, seed,
    /// project), assuming each run takes its experiment's duration plus
    /// recovery; touches nothing.
    Plan(PlanArgs),
    /// The daemon's state, its runs in progress, counts by verdict and the
    /// next run. When the daemon does not answer, what its run index says.
    Status(ClientArgs),
    /// Stop starting runs; the runs in flight heal at once and are recorded
    /// interrupted.
    Pause(ClientArgs),
    /// Start runs again: the next one starts at once.
    Resume(ClientArgs),
    /// Stop the daemon gracefully (runs in flight heal first).
    Stop(ClientArgs),
    /// Queue one run of a campaign experiment now, with its own seed
    /// (outside the experiment's seed sequence; it runs even when paused).
    Trigger(TriggerArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The campaign file (TOML).
    #[arg(value_name = "CAMPAIGN")]
    pub campaign: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The campaign file (TOML).
    #[arg(value_name = "CAMPAIGN")]
    pub campaign: PathBuf,

    /// How many runs.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub n: usize,

    /// The campaign seed (default: the file's, else the one its first start
    /// stored in the run index).
    #[arg(long, value_parser = super::parse_seed)]
    pub seed: Option<u64>,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where the daemon is and its token: from the campaign file, or flags.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The campaign file: its `[api]` gives the address and the token file.
    #[arg(long, value_name = "CAMPAIGN", required_unless_present = "addr")]
    pub campaign: Option<PathBuf>,

    /// The daemon's address (instead of the campaign's `api.listen`).
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<SocketAddr>,

    /// The token file (instead of the campaign's).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The experiment to run (its `name`, as in the campaign).
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: String,

    /// Its seed (default: drawn by the daemon).
    #[arg(long, value_parser = super::parse_seed)]
    pub seed: Option<u64>,

    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: &DaemonArgs) -> CliResult {
    match &args.which {
        Which::Run(a) => serve(a),
        Which::Plan(a) => plan(a),
        Which::Status(a) => status(a),
        Which::Pause(a) => order(a, "pause", "paused: runs in flight heal and stop"),
        Which::Resume(a) => order(a, "resume", "resumed: the next run starts now"),
        Which::Stop(a) => order(a, "stop", "stopping: runs in flight heal first"),
        Which::Trigger(a) => trigger(a),
    }
}

/// Load a campaign: a bad file, or a bad experiment in it, is bad input
/// (exit 2).
fn load(path: &Path) -> Result<LoadedCampaign, CliError> {
    daemon::load(path).map_err(CliError::input)
}

fn serve(args: &RunArgs) -> CliResult {
    let loaded = load(&args.campaign)?;
    let stored = daemon::stored_seed(&loaded).map_err(CliError::environment)?;
    let (seed, drawn) = match stored {
        Some(s) => (s, false),
        None => (super::choose_seed(None, None).0, true),
    };
    let (token, made) = daemon::token(&loaded.token_file).map_err(CliError::environment)?;
    let listen = loaded.campaign.api.listen;
    tracing::info!(
        campaign = %loaded.campaign.name,
        seed,
        drawn,
        results = %loaded.results_dir.display(),
        "campaign loaded: {} experiment(s)",
        loaded.members.len()
    );
    if drawn {
        tracing::warn!(
            seed,
            "the campaign gives no seed: drew {seed} (stored in the run index; put `seed = {seed}` in the file to keep it)"
        );
    }
    tracing::info!(
        token_file = %loaded.token_file.display(),
        made,
        "API token (send it as `Authorization: Bearer <token>`, or sign in at /login)"
    );
    let projects: Vec<ProjectRef> = {
        let mut seen = std::collections::BTreeSet::new();
        loaded
            .members
            .iter()
            .filter(|m| seen.insert(m.project().to_string()))
            .map(|m| ProjectRef::of(&m.loaded))
            .collect()
    };
    let runtime = cluster::runtime()?;
    let reason = runtime.block_on(async {
        let listener = daemon::api::bind(listen).await.map_err(|e| {
            CliError::environment(anyhow!(
                "cannot listen on {listen} ({e}); is another daemon running? change `api.listen`"
            ))
        })?;
        tracing::info!(%listen, "API listening: http://{listen}/");
        let config = Config {
            campaign: loaded.campaign.clone(),
            members: loaded.members,
            results_dir: loaded.results_dir.clone(),
            seed,
            seed_drawn: drawn,
            token,
        };
        let daemon = Daemon::open(config).map_err(CliError::environment)?;
        let handle = daemon.handle();
        let shutdown = super::signals::install(projects);
        let api_stop = tokio_util::sync::CancellationToken::new();
        let api = tokio::spawn(daemon::api::serve(listener, handle, api_stop.clone()));
        let reason = daemon.run(shutdown).await.map_err(CliError::environment)?;
        api_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), api).await;
        Ok::<StopReason, CliError>(reason)
    })?;
    tracing::info!(?reason, "daemon stopped");
    Ok(match reason {
        StopReason::Asked(_) => Outcome::Success,
        StopReason::Policy {
            verdict: Some(Verdict::Invalid),
            ..
        } => Outcome::Anomalies,
        StopReason::Policy {
            verdict: Some(Verdict::Unknown),
            ..
        } => Outcome::Unknown,
        StopReason::Policy { why, .. } => {
            return Err(CliError::environment(anyhow!(
                "the campaign stopped: {why}"
            )));
        }
    })
}

fn plan(args: &PlanArgs) -> CliResult {
    let loaded = load(&args.campaign)?;
    let seed = match args.seed {
        Some(s) => s,
        None => daemon::stored_seed(&loaded)
            .map_err(CliError::environment)?
            .ok_or_else(|| {
                CliError::input(anyhow!(
                    "{}: the campaign gives no seed and has never run; give one with --seed \
                     (or `seed = N` in the file)",
                    args.campaign.display()
                ))
            })?,
    };
    let sch = Schedule::new(
        seed,
        loaded.slots(),
        loaded.campaign.gap,
        Default::default(),
        0,
    );
    let runs = schedule::plan(
        sch,
        &loaded.nominal(),
        loaded.campaign.max_parallel as usize,
        args.n,
    );
    let text = if args.json {
        let v = serde_json::json!({
            "campaign": loaded.campaign.name,
            "seed": seed,
            "runs": runs,
        });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("JSON prints")
        )
    } else {
        let mut out = format!(
            "campaign {} seed {seed}: the first {} runs (times assume each run takes its duration plus recovery)\n",
            loaded.campaign.name,
            runs.len()
        );
        out.push_str(&format!(
            "  {:>4}  {:>9}  {:<32} {:>20}  {}\n",
            "run", "at", "experiment", "seed", "project"
        ));
        for r in &runs {
            out.push_str(&format!(
                "  {:>4}  {:>9}  {:<32} {:>20}  {}\n",
                r.run,
                crate::duration::format(Duration::from_secs(r.at_s as u64)),
                r.experiment,
                r.seed,
                r.project
            ));
        }
        out
    };
    super::print_stdout(&text)?;
    Ok(Outcome::Success)
}

/// The address, token and (if known) campaign of a client command.
struct Target {
    addr: SocketAddr,
    token: String,
    campaign: Option<LoadedCampaign>,
}

fn target(args: &ClientArgs) -> Result<Target, CliError> {
    let campaign = args.campaign.as_deref().map(load).transpose()?;
    let addr = args
        .addr
        .or(campaign.as_ref().map(|c| c.campaign.api.listen))
        .ok_or_else(|| CliError::input(anyhow!("give --campaign FILE or --addr HOST:PORT")))?;
    let token_file = args
        .token_file
        .clone()
        .or(campaign.as_ref().map(|c| c.token_file.clone()))
        .ok_or_else(|| {
            CliError::input(anyhow!(
                "give --campaign FILE or --token-file FILE (with --addr)"
            ))
        })?;
    let token = std::fs::read_to_string(&token_file)
        .map_err(|e| {
            CliError::environment(anyhow!(
                "cannot read the token file {}: {e} (the daemon makes it at its first start)",
                token_file.display()
            ))
        })?
        .trim()
        .to_string();
    Ok(Target {
        addr,
        token,
        campaign,
    })
}

/// One request to the daemon's API; `Err` if it does not answer.
async fn call(
    t: &Target,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://{}{path}", t.addr);
    let mut req = match method {
        "POST" => client.post(&url),
        _ => client.get(&url),
    }
    .bearer_auth(&t.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_connect() {
            format!("no daemon answers at {} (is it running?)", t.addr)
        } else {
            e.to_string()
        }
    })?;
    let code = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((code, value))
}

fn api_error(code: u16, v: &Value) -> CliError {
    let msg = v
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string());
    match code {
        400 | 404 => CliError::input(anyhow!("the daemon refused: {msg}")),
        401 => CliError::environment(anyhow!("the daemon refused the token: {msg}")),
        _ => CliError::environment(anyhow!("the daemon answered {code}: {msg}")),
    }
}

fn status(args: &ClientArgs) -> CliResult {
    let t = target(args)?;
    let rt = cluster::runtime()?;
    let answer = rt.block_on(call(&t, "GET", "/api/v1/status", None));
    match answer {
        Ok((200, mut v)) => {
            let stats = match rt.block_on(call(&t, "GET", "/api/v1/stats", None)) {
                Ok((200, s)) => s["stats"].clone(),
                _ => Value::Null,
            };
            let text = if args.json {
                v["stats"] = stats;
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&v).expect("JSON prints")
                )
            } else {
                render_status(&v) + &render_stats(&stats)
            };
            super::print_stdout(&text)?;
            Ok(Outcome::Success)
        }
        Ok((code, v)) => Err(api_error(code, &v)),
        Err(unreachable) => {
            // Not running: what the run index says.
            let Some(c) = &t.campaign else {
                return Err(CliError::environment(anyhow!("{unreachable}")));
            };
            let records =
                index::read(&c.results_dir.join(index::INDEX)).map_err(CliError::environment)?;
            let f = index::fold(&records, &c.campaign.name);
            let last = f
                .last_state
                .as_ref()
                .map(|(s, why, utc)| format!("{s} at {utc}: {why}"))
                .unwrap_or_else(|| "never stopped by a policy".into());
            let counts = count_verdicts(f.runs.values());
            let stats = serde_json::to_value(daemon::stats::compute(f.runs.values()))
                .expect("stats serialize");
            let text = if args.json {
                let v = serde_json::json!({
                    "campaign": c.campaign.name,
                    "state": "not running",
                    "last_state": f.last_state.as_ref().map(|(s, why, utc)| serde_json::json!({"state": s, "why": why, "utc": utc})),
                    "runs_total": f.runs.len(),
                    "counts": counts,
                    "stats": stats,
                });
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&v).expect("JSON prints")
                )
            } else {
                format!(
                    "campaign {}: not running ({unreachable})\nlast state: {last}\nruns: {} {}\n{}",
                    c.campaign.name,
                    f.runs.len(),
                    counts,
                    render_stats(&stats)
                )
            };
            super::print_stdout(&text)?;
            Ok(Outcome::Success)
        }
    }
}

fn count_verdicts<'a>(rows: impl Iterator<Item = &'a index::RunRow>) -> Value {
    let mut m = std::collections::BTreeMap::<String, u64>::new();
    for r in rows {
        *m.entry(r.outcome().to_string()).or_default() += 1;
    }
    serde_json::to_value(m).expect("counts serialize")
}

/// The campaign at a glance (`/api/v1/stats`' `stats`), one line per
/// experiment; nothing if there is no run yet.
fn render_stats(st: &Value) -> String {
    let mut out = String::new();
    let exps = st["experiments"].as_array().cloned().unwrap_or_default();
    if exps.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "{:<32} {:>6} {:>6} {:>7} {:>7} {:>6} {:>7} {:>10} {:>9}  anomaly kinds (runs)\n",
        "experiment",
        "runs",
        "valid",
        "invalid",
        "unknown",
        "error",
        "interr.",
        "med ok/s",
        "med rec."
    ));
    for e in exps {
        let n = |k: &str| e[k].as_u64().unwrap_or(0);
        let kinds: Vec<String> = e["anomaly_kinds"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect();
        out.push_str(&format!(
            "{:<32} {:>6} {:>6} {:>7} {:>7} {:>6} {:>7} {:>10} {:>9}  {}\n",
            e["experiment"].as_str().unwrap_or(""),
            n("runs"),
            n("valid"),
            n("invalid"),
            n("unknown"),
            n("error"),
            n("interrupted"),
            e["median_ok_per_s"]
                .as_f64()
                .map_or("-".to_string(), |x| format!("{x:.1}")),
            e["median_recovery_s"]
                .as_f64()
                .map_or("-".to_string(), |x| format!("{x:.2} s")),
            if kinds.is_empty() {
                "-".to_string()
            } else {
                kinds.join(", ")
            }
        ));
    }
    out
}

fn render_status(v: &Value) -> String {
    let mut out = String::new();
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    out.push_str(&format!(
        "campaign {}: {}{} (seed {}, up {})\n",
        s("campaign"),
        s("state"),
        v["why"]
            .as_str()
            .map(|w| format!(": {w}"))
            .unwrap_or_default(),
        v["seed"],
        crate::duration::format(Duration::from_secs(
            v["uptime_s"].as_f64().unwrap_or(0.0) as u64
        ))
    ));
    let c = &v["counts"];
    out.push_str(&format!(
        "runs: {} (valid {}, invalid {}, unknown {}, interrupted {}, crashed {}, error {}); queued {}\n",
        v["runs_total"], c["valid"], c["invalid"], c["unknown"], c["interrupted"], c["crashed"], c["error"], v["queued"]
    ));
    for r in v["current"].as_array().into_iter().flatten() {
        let faults: Vec<&str> = r["faults"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!(
            "now:  run {} {} seed {} on {}: {} {:.0}s/{:.0}s ok {} fail {} info {}; faults: {}\n",
            r["run"],
            r["experiment"].as_str().unwrap_or(""),
            r["seed"],
            r["project"].as_str().unwrap_or(""),
            r["phase"].as_str().unwrap_or(""),
            r["elapsed_s"].as_f64().unwrap_or(0.0),
            r["total_s"].as_f64().unwrap_or(0.0),
            r["ok"],
            r["fail"],
            r["info"],
            if faults.is_empty() {
                "none".to_string()
            } else {
                faults.join("; ")
            }
        ));
    }
    let next = &v["next"];
    match next["when"].as_str() {
        Some("now") => out.push_str(&format!(
            "next: {} seed {} as soon as a slot is free\n",
            next["experiment"].as_str().unwrap_or(""),
            next["seed"]
        )),
        Some("in") => out.push_str(&format!(
            "next: in {:.0} s\n",
            next["in_s"].as_f64().unwrap_or(0.0)
        )),
        Some("after-current") => out.push_str("next: when the run in progress ends\n"),
        _ => out.push_str("next: none while the daemon is not running\n"),
    }
    out
}

fn order(args: &ClientArgs, what: &str, said: &str) -> CliResult {
    let t = target(args)?;
    let answer = cluster::runtime()?
        .block_on(call(&t, "POST", &format!("/api/v1/{what}"), None))
        .map_err(|e| CliError::environment(anyhow!("{e}")))?;
    match answer {
        (200..=299, v) => {
            let text = if args.json {
                format!("{v}\n")
            } else {
                format!("{said}\n")
            };
            super::print_stdout(&text)?;
            Ok(Outcome::Success)
        }
        (code, v) => Err(api_error(code, &v)),
    }
}

fn trigger(args: &TriggerArgs) -> CliResult {
    let t = target(&args.client)?;
    let body = serde_json::json!({"experiment": args.experiment, "seed": args.seed});
    let answer = cluster::runtime()?
        .block_on(call(&t, "POST", "/api/v1/runs", Some(body)))
        .map_err(|e| CliError::environment(anyhow!("{e}")))?;
    match answer {
        (200..=299, v) => {
            let text = if args.client.json {
                format!("{v}\n")
            } else {
                format!(
                    "queued {} with seed {} (position {})\n",
                    args.experiment, v["seed"], v["queued"]
                )
            };
            super::print_stdout(&text)?;
            Ok(Outcome::Success)
        }
        (code, v) => Err(api_error(code, &v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_each_experiment_at_a_glance() {
        let runs = daemon::stats::synthetic(400);
        let st = serde_json::to_value(daemon::stats::compute(runs.values())).unwrap();
        let text = render_stats(&st);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("experiment"));
        let stale = lines
            .iter()
            .find(|l| l.starts_with("etcd-serializable-stale-reads"))
            .unwrap();
        assert!(stale.contains("stale-read ("), "{stale}");
        assert!(stale.split_whitespace().nth(1) == Some("100"), "{stale}");
        assert_eq!(render_stats(&Value::Null), "");
    }
}
