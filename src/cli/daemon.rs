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
use crate::experiment::Expect;
use crate::results::Verdict;
use crate::runs::{RunSummary, junit, sweep::SweepRun};

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
    #[command(after_help = super::exit_codes("daemon run"))]
    Run(RunArgs),
    /// Print the first runs a campaign starts (run, experiment, seed,
    /// project), assuming each run takes its experiment's duration plus
    /// recovery; touches nothing.
    #[command(after_help = super::exit_codes("daemon plan"))]
    Plan(PlanArgs),
    /// The daemon's state, its runs in progress, counts by verdict and the
    /// next run. When the daemon does not answer, what its run index says.
    #[command(after_help = super::exit_codes("daemon status"))]
    Status(ClientArgs),
    /// Stop starting runs; the runs in flight heal at once and are recorded
    /// interrupted.
    #[command(after_help = super::exit_codes("daemon pause"))]
    Pause(ClientArgs),
    /// Start runs again: the next one starts at once.
    #[command(after_help = super::exit_codes("daemon resume"))]
    Resume(ClientArgs),
    /// Stop the daemon gracefully (runs in flight heal first).
    #[command(after_help = super::exit_codes("daemon stop"))]
    Stop(ClientArgs),
    /// Queue one run of a campaign experiment now, with its own seed
    /// (outside the experiment's seed sequence; it runs even when paused).
    #[command(after_help = super::exit_codes("daemon trigger"))]
    Trigger(TriggerArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The campaign file (TOML).
    #[arg(value_name = "CAMPAIGN")]
    pub campaign: PathBuf,

    /// Write the runs this daemon carries out as JUnit XML to FILE: one
    /// test suite per experiment, one test case per run (and per anomaly
    /// kind), rewritten as each run ends.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
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
    /// The experiment to run: its `name`, or its file (one of the
    /// campaign's, e.g. experiments/etcd-pause.toml: the name is read
    /// from it).
    #[arg(value_name = "EXPERIMENT|FILE")]
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
    let experiments: Vec<(String, String, Expect)> = loaded
        .members
        .iter()
        .map(|m| (m.name.clone(), m.file.clone(), m.loaded.experiment.expect))
        .collect();
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
        let already = ended_runs(&handle);
        let junit = args.junit.clone().map(|path| {
            let writer = JunitWriter::new(path, &experiments, already.clone());
            tokio::spawn(writer.watch(handle.clone()))
        });
        let shutdown = super::signals::install(projects);
        let api_stop = tokio_util::sync::CancellationToken::new();
        let api = tokio::spawn(daemon::api::serve(
            listener,
            handle.clone(),
            api_stop.clone(),
        ));
        let reason = daemon.run(shutdown).await.map_err(CliError::environment)?;
        if let Some(task) = junit {
            task.abort();
        }
        if let Some(path) = &args.junit {
            // Once more, with the runs that ended last.
            JunitWriter::new(path.clone(), &experiments, already).write(&handle);
        }
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

/// The runs the daemon's index says have ended.
fn ended_runs(handle: &daemon::service::Handle) -> std::collections::BTreeSet<u64> {
    let status = handle.status.lock().expect("status lock");
    status
        .runs
        .values()
        .filter(|r| r.ended.is_some())
        .map(|r| r.started.run)
        .collect()
}

/// Writes `daemon run --junit FILE`: the runs that ended since the daemon
/// started, rewritten whenever one more has ended.
struct JunitWriter {
    path: PathBuf,
    /// Experiment name, file, expectation.
    experiments: Vec<(String, String, Expect)>,
    /// Runs that had ended before the daemon started (from its index).
    already: std::collections::BTreeSet<u64>,
    /// Ended runs written so far.
    seen_before: std::collections::BTreeSet<u64>,
}

impl JunitWriter {
    fn new(
        path: PathBuf,
        experiments: &[(String, String, Expect)],
        already: std::collections::BTreeSet<u64>,
    ) -> JunitWriter {
        JunitWriter {
            path,
            experiments: experiments.to_vec(),
            already,
            seen_before: Default::default(),
        }
    }

    /// Every second, rewrite the file when a run has ended since.
    async fn watch(mut self, handle: daemon::service::Handle) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.write(&handle);
        }
    }

    /// Rewrite the file if a run ended since the last time.
    fn write(&mut self, handle: &daemon::service::Handle) {
        let rows: Vec<index::RunRow> = {
            let status = handle.status.lock().expect("status lock");
            status
                .runs
                .values()
                .filter(|r| r.ended.is_some() && !self.already.contains(&r.started.run))
                .cloned()
                .collect()
        };
        let ended: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.started.run).collect();
        if ended == self.seen_before && self.path.exists() {
            return;
        }
        let runs: Vec<(String, SweepRun)> = rows
            .iter()
            .map(|row| {
                let expect = self
                    .experiments
                    .iter()
                    .find(|e| e.0 == row.started.experiment)
                    .map_or(Expect::Valid, |e| e.2);
                (row.started.experiment.clone(), campaign_run(row, expect))
            })
            .collect();
        let xml = campaign_junit(&self.experiments, &rows, runs);
        match crate::store::write_atomic(&self.path, xml.as_bytes()) {
            Ok(()) => self.seen_before = ended,
            Err(e) => tracing::error!("cannot write {}: {e}", self.path.display()),
        }
    }
}

/// One ended run of a campaign as a JUnit run: its results when it has
/// them, else why it has none.
fn campaign_run(row: &index::RunRow, expect: Expect) -> SweepRun {
    let dir = row
        .run_dir
        .clone()
        .or_else(|| row.ended.as_ref()?.run_dir.clone());
    let read = dir
        .as_deref()
        .map(|d| crate::runfiles::read_results(Path::new(d)).map(|(r, _)| (r, d.to_string())));
    match read {
        Some(Ok((results, dir))) => SweepRun::ran(expect, RunSummary::of(&results, &dir)),
        other => SweepRun::Failed {
            seed: row.started.seed,
            error: match (other, &row.ended) {
                (Some(Err(e)), _) => e.to_string(),
                (_, Some(e)) => format!("{}: {}", e.status, e.reason),
                _ => "no results".to_string(),
            },
        },
    }
}

/// A campaign's ended runs as JUnit XML: one suite per experiment that
/// ran, in the campaign's order, its runs in the order they started.
fn campaign_junit(
    experiments: &[(String, String, Expect)],
    rows: &[index::RunRow],
    runs: Vec<(String, SweepRun)>,
) -> String {
    let suites: Vec<junit::Suite> = experiments
        .iter()
        .filter_map(|(name, file, expect)| {
            let mine: Vec<SweepRun> = runs
                .iter()
                .filter(|(e, _)| e == name)
                .map(|(_, r)| r.clone())
                .collect();
            let first = rows
                .iter()
                .filter(|r| &r.started.experiment == name)
                .map(|r| r.started.utc.clone())
                .min()?;
            Some(junit::Suite {
                experiment: name.clone(),
                file: file.clone(),
                expect: *expect,
                runs: mine,
                timestamp: first,
            })
        })
        .collect();
    junit::render_suites(&suites)
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

/// The experiment `trigger` names: `arg` itself, or, when it is a file
/// (`file_text`: its content), the `name` the file gives its experiment.
fn trigger_name(arg: &str, file_text: Option<&str>) -> Result<String, String> {
    let Some(text) = file_text else {
        return Ok(arg.to_string());
    };
    let doc: toml::Table = toml::from_str(text)
        .map_err(|e| format!("{arg}: not an experiment file: {}", e.message()))?;
    match doc.get("name") {
        Some(toml::Value::String(name)) => Ok(name.clone()),
        _ => Err(format!(
            "{arg}: no `name = \"...\"` in it; give the experiment's name or its file"
        )),
    }
}

fn trigger(args: &TriggerArgs) -> CliResult {
    let path = std::path::Path::new(&args.experiment);
    let text = if path.is_file() {
        Some(
            std::fs::read_to_string(path)
                .map_err(|e| CliError::input(anyhow!("{}: {e}", path.display())))?,
        )
    } else {
        None
    };
    let name =
        trigger_name(&args.experiment, text.as_deref()).map_err(|e| CliError::input(anyhow!(e)))?;
    let t = target(&args.client)?;
    let body = serde_json::json!({"experiment": name, "seed": args.seed});
    let answer = cluster::runtime()?
        .block_on(call(&t, "POST", "/api/v1/runs", Some(body)))
        .map_err(|e| CliError::environment(anyhow!("{e}")))?;
    match answer {
        (200..=299, v) => {
            let text = if args.client.json {
                format!("{v}\n")
            } else {
                format!(
                    "queued {name} with seed {} (position {})\n",
                    v["seed"], v["queued"]
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
    fn a_campaigns_ended_runs_become_junit_cases() {
        let example = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/results/examples/etcd-serializable-stale-reads"
        ))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("results.json").is_file())
        .unwrap();
        let row = |run: u64, experiment: &str, dir: Option<&str>, status: &str| {
            serde_json::from_value::<index::RunRow>(serde_json::json!({
                "run": run, "campaign": "c", "experiment": experiment, "k": run, "seed": 3,
                "project": "p", "trigger": "schedule", "utc": format!("2026-12-07T18:0{run}:00.000Z"),
                "run_dir": dir, "pruned": false,
                "ended": {"run": run, "status": status, "verdict": null, "run_dir": dir,
                          "reason": "the project is in use", "duration_s": 1.0, "utc": "u"}
            }))
            .unwrap()
        };
        let dir = example.display().to_string();
        let rows = vec![
            row(1, "etcd-serializable-stale-reads", Some(&dir), "completed"),
            row(2, "etcd-pause", None, "error"),
        ];
        let experiments = vec![
            (
                "etcd-pause".to_string(),
                "e/p.toml".to_string(),
                Expect::Valid,
            ),
            (
                "etcd-serializable-stale-reads".to_string(),
                "e/s.toml".to_string(),
                Expect::Invalid,
            ),
            (
                "never-ran".to_string(),
                "e/n.toml".to_string(),
                Expect::Valid,
            ),
        ];
        let runs: Vec<(String, SweepRun)> = rows
            .iter()
            .map(|r| {
                let expect = experiments
                    .iter()
                    .find(|e| e.0 == r.started.experiment)
                    .unwrap()
                    .2;
                (r.started.experiment.clone(), campaign_run(r, expect))
            })
            .collect();
        // The kept run read from its results: a known-bad control that
        // found its stale reads; the failed one, an error with its reason.
        assert!(
            matches!(&runs[0].1, SweepRun::Ran { met: true, .. }),
            "{:?}",
            runs[0].1
        );
        assert!(
            matches!(&runs[1].1, SweepRun::Failed { seed: 3, error } if error == "error: the project is in use"),
            "{:?}",
            runs[1].1
        );
        let x = campaign_junit(&experiments, &rows, runs);
        // A suite per experiment that ran, in the campaign's order.
        assert_eq!(x.matches("<testsuite ").count(), 2, "{x}");
        assert!(
            x.find("name=\"etcd-pause\"").unwrap()
                < x.find("name=\"etcd-serializable-stale-reads\"").unwrap()
        );
        assert!(!x.contains("never-ran"));
        assert!(x.contains("<testcase name=\"seed 3: stale-read\""), "{x}");
        assert!(x.contains("<error type=\"chaos-failed\""), "{x}");
        assert!(x.contains("timestamp=\"2026-12-07T18:01:00.000\""), "{x}");
    }

    #[test]
    fn the_readme_names_every_reaction_to_an_anomaly() {
        use crate::daemon::campaign::Reaction;
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let at = readme
            .find("`on_anomaly`:")
            .expect("the README lists on_anomaly");
        let list = &readme[at..at + readme[at..].find(')').unwrap()];
        for r in [
            Reaction::Continue,
            Reaction::Pause,
            Reaction::Stop,
            Reaction::Shrink,
        ] {
            // The match is exhaustive: a new reaction must be listed too.
            match r {
                Reaction::Continue | Reaction::Pause | Reaction::Stop | Reaction::Shrink => {}
            }
            assert!(list.contains(&format!("`{}`", r.as_str())), "{list}");
        }
    }

    #[test]
    fn trigger_takes_a_name_or_an_experiment_file() {
        assert_eq!(trigger_name("etcd-pause", None).unwrap(), "etcd-pause");
        let file =
            "name = \"etcd-pause\"\nduration = \"30s\"\n[cluster]\ncompose_file = \"x.yml\"\n";
        assert_eq!(
            trigger_name("experiments/etcd-pause.toml", Some(file)).unwrap(),
            "etcd-pause"
        );
        // Every shipped experiment file gives the name its campaigns use.
        let soak = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("experiments/campaigns/etcd-soak.toml");
        let campaign = crate::daemon::load(&soak).unwrap();
        assert!(campaign.members.len() >= 2);
        for m in &campaign.members {
            let text = std::fs::read_to_string(&m.file).unwrap();
            assert_eq!(trigger_name(&m.file, Some(&text)).unwrap(), m.name);
        }
        let err = trigger_name("notes.toml", Some("title = 1\n")).unwrap_err();
        assert!(err.contains("no `name"), "{err}");
        let err = trigger_name("bad.toml", Some("name = \n")).unwrap_err();
        assert!(err.contains("not an experiment file"), "{err}");
    }

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
