//! The command line: what the user typed (clap types), and the exit codes.
//!
//! Owns argument definitions and the mapping from outcomes and errors to exit
//! codes. Each command lives in its own file and returns an [`Outcome`] or a
//! [`CliError`]; only `main` turns them into a process exit code. This is the
//! effectful shell: it may read files and talk to Docker, the core may not.

pub mod adapter_check;
pub mod bench;
pub mod bundle;
pub mod check;
pub mod cluster;
pub mod completions;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod down;
pub mod heal;
pub mod nemesis_apply;
pub mod plan;
pub mod progress;
pub mod replay;
pub mod report;
pub mod run;
pub mod runs;
pub mod shrink;
pub mod signals;
pub mod status;
pub mod sweep;
pub mod up;

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Exit codes, documented in the README and in `chaos --help`: every code
/// any command returns. Each command's own `--help` lists only the codes
/// it can return ([`exit_codes`]).
pub const AFTER_HELP: &str = "\
Exit codes (each command's --help lists the ones it can return):
  0  success: the command did what it was asked; every history checked is linearizable
  1  anomalies found: at least one history is not linearizable (bench: a goal was not met)
  2  bad input or usage: a malformed experiment or history file, an unknown flag
  3  unknown: the checker could not decide within its budget (and found no anomaly)
  4  environment or runtime failure: Docker unreachable, cluster unhealthy, project in use, I/O error
  130  interrupted: a signal stopped the run; its faults were healed and its results written
       (status \"interrupted\"); a second signal heals from the journal and exits at once";

/// An exit code and what it means for one command.
pub type ExitCode = (u8, &'static str);

const USAGE: ExitCode = (
    2,
    "bad input or usage: a malformed file or argument, an unknown flag",
);
const ENVIRONMENT: ExitCode = (
    4,
    "environment or runtime failure: Docker unreachable, cluster unhealthy, project in use, \
     I/O error",
);
const SIGNAL: ExitCode = (
    130,
    "interrupted: a signal stopped it; its faults were healed (a second signal heals from the \
     journal and exits at once)",
);
const CHECKED: [ExitCode; 3] = [
    (
        0,
        "valid: every history checked is consistent (linearizable, or the model holds)",
    ),
    (1, "invalid: anomalies found"),
    (
        3,
        "unknown: the checker could not decide within its budget (and found no anomaly)",
    ),
];

/// Each command's exit codes, for its `--help`: `(command, codes)`, the
/// command as `chaos <command> [<subcommand>]`.
pub fn command_exit_codes(command: &str) -> Vec<ExitCode> {
    let done = |what: &'static str| vec![(0, what), USAGE, ENVIRONMENT];
    match command {
        "plan" => done("the plan was printed"),
        "run" => vec![
            CHECKED[0],
            CHECKED[1],
            USAGE,
            CHECKED[2],
            ENVIRONMENT,
            (
                130,
                "interrupted: a signal stopped the run; its faults were healed and its results \
                 written (status \"interrupted\"); a second signal heals from the journal and \
                 exits at once",
            ),
        ],
        "runs" => done("listed, whatever the runs' verdicts"),
        "check" => vec![
            CHECKED[0],
            CHECKED[1],
            USAGE,
            CHECKED[2],
            (
                4,
                "a file could not be read, or the --html page could not be written",
            ),
        ],
        "bench" => vec![
            (0, "every goal was met"),
            (1, "a goal was not met"),
            USAGE,
            ENVIRONMENT,
            SIGNAL,
        ],
        "report" => done("the page was written, whatever the run's verdict"),
        "up" => done("every service is up and healthy"),
        "down" => done("the project is down"),
        "status" => done("the status was printed"),
        "heal" => done("everything chaos left applied is healed"),
        "demo" => vec![
            (0, "every step verified"),
            (1, "a step did not verify"),
            USAGE,
            ENVIRONMENT,
            SIGNAL,
        ],
        "replay" => vec![
            (0, "every replay was valid"),
            (1, "a replay showed an anomaly"),
            USAGE,
            (3, "a replay was undecided (and none showed an anomaly)"),
            ENVIRONMENT,
            SIGNAL,
        ],
        "shrink" => vec![
            (
                0,
                "the search ended (shrunk.toml written when an anomaly was found again)",
            ),
            USAGE,
            ENVIRONMENT,
            SIGNAL,
        ],
        "daemon" | "daemon run" => vec![
            (0, "stopped when asked (daemon stop, SIGTERM, Ctrl-C)"),
            (
                1,
                "stopped by the campaign's on_anomaly policy: a run was invalid",
            ),
            USAGE,
            (3, "stopped by the campaign's policy: a run was undecided"),
            (
                4,
                "an environment failure, or stopped by the policy on a run's error",
            ),
            (
                130,
                "a second signal: the projects were healed from their journals at once",
            ),
        ],
        "daemon plan" => done("the runs were printed"),
        "daemon status" => done("the status was printed"),
        "daemon pause" | "daemon resume" | "daemon stop" | "daemon trigger" => {
            done("the daemon did as asked")
        }
        "adapter-check" => vec![
            (0, "every conformance check passed"),
            (1, "a check failed: do not trust this adapter's verdicts"),
            USAGE,
            ENVIRONMENT,
        ],
        "doctor" => vec![
            (0, "every experiment judged can run on this machine"),
            (
                1,
                "at least one cannot (each is listed with why and the mend; no Docker is such a \
                 finding)",
            ),
            (
                2,
                "usage: the experiments directory is not there, an unknown flag",
            ),
            (4, "standard output cannot be written"),
        ],
        "bundle" => vec![
            (0, "the archive is written"),
            (
                2,
                "RUN_DIR is not a run directory (no results.json), its experiment.toml is missing \
                 or malformed, or its compose file is not found (the bundle would not rerun)",
            ),
            (4, "a file cannot be read, or the archive cannot be written"),
        ],
        "completions" | "man" => vec![
            (0, "written to standard output"),
            (2, "usage: an unknown shell or flag"),
            (4, "standard output cannot be written"),
        ],
        _ => vec![(0, "success"), USAGE, ENVIRONMENT],
    }
}

/// The `Exit codes:` block of a command's `--help`.
pub fn exit_codes(command: &str) -> String {
    let mut out = String::from("Exit codes:");
    for (code, text) in command_exit_codes(command) {
        out.push_str(&format!("\n  {code:<3}  {text}"));
    }
    if command == "run" {
        out.push_str(
            "\nWith --seeds (a sweep): 0 when every run met the experiment's `expect`, 1 when one \
             did not (an anomaly where none was expected, or a known-bad control that found \
             none), 3 when one was undecided, 4 when one could not be carried out",
        );
    }
    out
}

#[derive(Debug, Parser)]
#[command(
    name = "chaos",
    version,
    about = "Seeded, declarative chaos experiments against Docker Compose clusters \
             (or stacks on a Docker Swarm), checked for linearizability",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// How log lines look on standard error: `text` for people, `json`
    /// (one object per line) for log shippers.
    #[arg(long, value_name = "FORMAT", default_value = "text", global = true, value_parser = ["text", "json"])]
    pub log_format: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print what a seed turns an experiment into: the fault timeline and each
    /// client's op stream. Touches no cluster.
    #[command(after_help = exit_codes("plan"))]
    Plan(plan::PlanArgs),
    /// Run an experiment end to end: bring the cluster up, drive the workload
    /// while faults strike on schedule, heal, check the history, and write
    /// results/<experiment>/<time>-seed<N>/. With `--seeds 1..20`, a seed
    /// sweep: the seeds one after another, a line per run, a summary table
    /// and <time>-sweep.json beside the runs (exit 1: a run did not meet
    /// the experiment's `expect`).
    #[command(after_help = exit_codes("run"))]
    Run(run::RunArgs),
    /// List the runs under a results directory, newest first (time,
    /// experiment, seed, verdict, anomaly kinds, duration, run directory);
    /// `runs show RUN` summarises one, `runs diff A B` says what differs
    /// between two (plan, fault timeline, verdict, anomaly kinds,
    /// throughput and latency). Reads files only; exit 0 whatever the
    /// runs' verdicts.
    #[command(after_help = exit_codes("runs"))]
    Runs(runs::RunsArgs),
    /// Check histories for linearizability (registers, key-value maps) or
    /// for a consistency model (list-append transactions: exit 1 when the
    /// history rules out --model), one verdict per file (`--html OUT` draws
    /// the timeline and the anomalies of one history as a page).
    #[command(after_help = exit_codes("check"))]
    Check(CheckArgs),
    /// Measure the experiment's cluster against its goals (p99 under 100 ms,
    /// more than 1,000 ok ops/s, start-up and a node restart under 30 s):
    /// open-loop load at a rate (or a ramp to the highest rate meeting the
    /// latency objective), then one node restart. Exit 1 means a goal was
    /// not met. Writes results/<experiment>/<time>-bench-seed<N>/.
    #[command(after_help = exit_codes("bench"))]
    Bench(bench::BenchArgs),
    /// Make a run's report.html again from the files in its directory
    /// (results.json, history.jsonl, plan.json): the timeline, latency,
    /// throughput and recovery with the fault windows, and every anomaly
    /// drawn. Exit 0 when written, whatever the run's verdict.
    #[command(after_help = exit_codes("report"))]
    Report(report::ReportArgs),
    /// Bring the experiment's compose project up (or deploy its Swarm
    /// stack) and wait until every service is healthy (a stack: every task
    /// running).
    #[command(after_help = exit_codes("up"))]
    Up(up::UpArgs),
    /// Tear the experiment's compose project (or Swarm stack) down, volumes
    /// included.
    #[command(after_help = exit_codes("down"))]
    Down(down::DownArgs),
    /// Show the project's nodes (state, health, networks) and the faults its
    /// journals say are applied.
    #[command(after_help = exit_codes("status"))]
    Status(status::StatusArgs),
    /// Undo every fault chaos left applied (from the journals; on a Swarm,
    /// each through its node's engine), then sweep the project back to how
    /// compose (or the stack) made it. Safe to run again.
    #[command(after_help = exit_codes("heal"))]
    Heal(heal::HealArgs),
    /// SurrealDB demonstrations: `crud` (the blog schema; create, read,
    /// update, delete across nodes) and `failover` (kill a node, clients go
    /// on). Exit 1 means a step did not verify.
    #[command(after_help = exit_codes("demo"))]
    Demo(demo::DemoArgs),
    /// Run a recorded run's plan again (`--times N`) and say how many
    /// replays showed an anomaly of the same class; warns when the compose
    /// file or chaos changed since.
    #[command(after_help = exit_codes("replay"))]
    Replay(replay::ReplayArgs),
    /// From a run with an anomaly, find the smallest fault schedule that
    /// still shows an anomaly of the same class (ddmin over the faults, then
    /// shorter faults, a shorter run, fewer clients and keys), on the real
    /// cluster; writes shrink-<time>/shrunk.toml beside the run.
    #[command(after_help = exit_codes("shrink"))]
    Shrink(shrink::ShrinkArgs),
    /// Continuous, seeded chaos campaigns: `run` a campaign as a service
    /// (HTTP API, run index, pages), `plan` its first runs, and the clients
    /// `status`, `pause`, `resume`, `stop`, `trigger`.
    #[command(after_help = exit_codes("daemon"))]
    Daemon(daemon::DaemonArgs),
    /// Run the conformance suite against a process client's adapter
    /// (docs/clients.md): its hello, read-your-write, a cas that fails when
    /// the value differs, a transaction's atomicity, concurrent requests
    /// answered by id, `leader` if it declares it. Exit 1 when a check
    /// failed: do not trust such an adapter's verdicts.
    #[command(after_help = exit_codes("adapter-check"))]
    AdapterCheck(adapter_check::AdapterCheckArgs),
    /// Pack a run directory into one .tar.gz with everything needed to
    /// rerun and understand it elsewhere: the experiment as run (its
    /// compose path made relative), the compose file and the files it and
    /// the adapter name, the plan, journal, history, results, reports,
    /// node logs, the images (ID, digests, version; "unknown" without
    /// Docker) and a README with the one command that reruns it from
    /// wherever it is unpacked.
    #[command(after_help = exit_codes("bundle"))]
    Bundle(bundle::BundleArgs),
    /// Say what this machine can run, before a failed run does: the
    /// engine and its API version, compose v1 or v2, a registry reachable
    /// or not, netem, FUSE inside a container, the local images built or
    /// missing, the ports the shipped experiments publish, and for each
    /// experiment under experiments/ whether it can run here, and if not,
    /// why and the mend.
    #[command(after_help = exit_codes("doctor"))]
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (bash, zsh or fish), made from
    /// these very definitions: e.g. `chaos completions bash >
    /// ~/.local/share/bash-completion/completions/chaos`.
    #[command(after_help = exit_codes("completions"))]
    Completions(completions::CompletionsArgs),
    /// Print the man page chaos(1) in roff, a section per subcommand: e.g.
    /// `chaos man > ~/.local/share/man/man1/chaos.1`, then `man chaos`.
    #[command(after_help = exit_codes("man"))]
    Man(completions::ManArgs),
    /// Apply one planned fault through the journal and hold it (tests).
    #[command(hide = true)]
    NemesisApply(nemesis_apply::NemesisApplyArgs),
}

/// Arguments of `chaos check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// History files to check, or run directories (`results/<experiment>/
    /// <time>-seed<N>/`): a run directory's history is checked by its
    /// workload's checker against the model the run was held to.
    #[arg(required = true, value_name = "HISTORY|RUN_DIR")]
    pub histories: Vec<PathBuf>,

    /// The format of the files: `chaos` (this tool's history.jsonl:
    /// register ops, or list-append transactions when its lines are
    /// `"f":"txn"`), `jepsen-etcd` (Jepsen's etcd logs), `porcupine-kv`
    /// (Porcupine's key-value EDN lines), `elle-edn` (Elle's and Jepsen's
    /// list-append histories, one op map per line).
    #[arg(long, default_value = "chaos", value_name = "FORMAT")]
    pub format: String,

    /// The consistency model transaction histories are held to:
    /// strict-serializable (the default for history files), serializable,
    /// snapshot-isolation, repeatable-read, read-committed or
    /// read-uncommitted. A history is invalid exactly when it rules that
    /// model out (the others are reported). Register histories are checked
    /// for linearizability. A run directory is held to the model its run
    /// recorded unless this is given.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Print the verdicts as JSON instead of text.
    #[arg(long)]
    pub json: bool,

    /// Give up on a key after this long (e.g. `10s`, `500ms`) and answer
    /// `unknown` for it; for a transaction history, the budget of its whole
    /// cycle search.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub budget: String,

    /// Check a key-value history as one map state instead of key by key.
    #[arg(long)]
    pub no_split: bool,

    /// Also write a page to OUT that draws the history's timeline and each
    /// anomaly (registers: the op that cannot be placed, the linearizable
    /// prefix; transactions: each cycle with its labelled edges). Takes one
    /// HISTORY.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
}

/// What a command that did its job reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: anomalies found.
    Anomalies,
    /// Exit 3: the checker could not decide.
    Unknown,
    /// Exit 130: a signal stopped the command, after healing.
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Anomalies => 1,
            Outcome::Unknown => 3,
            Outcome::Interrupted => signals::INTERRUPTED,
        }
    }
}

/// Why a command failed: the user's input (exit 2), the environment (exit
/// 4), or a signal before it could do anything (exit 130).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    BadInput,
    Environment,
    Interrupted,
}

/// A failed command: its kind picks the exit code, the error is printed with
/// its whole chain.
#[derive(Debug)]
pub struct CliError {
    pub kind: FailureKind,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn input(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: FailureKind::BadInput,
            error: error.into(),
        }
    }

    pub fn environment(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: FailureKind::Environment,
            error: error.into(),
        }
    }

    pub fn interrupted(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: FailureKind::Interrupted,
            error: error.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            FailureKind::BadInput => 2,
            FailureKind::Environment => 4,
            FailureKind::Interrupted => signals::INTERRUPTED,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

pub type CliResult = Result<Outcome, CliError>;

/// The final error as one JSON line, for `--log-format json`: the shape of
/// the log lines before it (`timestamp`, `level`, `fields.message`,
/// `target`), with the exit code and its kind in `fields`. `now_ms`: Unix
/// milliseconds.
pub fn error_json(err: &CliError, now_ms: u64) -> String {
    serde_json::json!({
        "timestamp": crate::results::rfc3339(now_ms),
        "level": "ERROR",
        "fields": {
            "message": err.to_string(),
            "exit_code": err.exit_code(),
            "kind": match err.kind {
                FailureKind::BadInput => "bad-input",
                FailureKind::Environment => "environment",
                FailureKind::Interrupted => "interrupted",
            },
        },
        "target": "chaos",
    })
    .to_string()
}

/// A positive duration flag (`--duration 20s`).
pub fn parse_positive_duration(text: &str) -> Result<std::time::Duration, String> {
    match crate::duration::parse(text) {
        Ok(d) if d.is_zero() => Err(format!("`{text}` is zero; expected a positive duration")),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// `--seed`: a non-negative integer that fits 64 bits.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("`{text}` is not a seed; expected a non-negative integer below 2^64"))
}

/// The seed of a run: the flag, else the file's, else one drawn from the OS
/// (63 bits, so that it also fits a TOML integer).
pub fn choose_seed(flag: Option<u64>, file: Option<u64>) -> crate::seed::Seed {
    use rand::TryRngCore;
    let drawn = || {
        rand::rngs::OsRng
            .try_next_u64()
            .expect("the OS random source is available")
            >> 1
    };
    crate::seed::Seed(flag.or(file).unwrap_or_else(drawn))
}

/// Write `text` to standard output. A reader that went away (`chaos plan
/// ... | head`) is not an error: the output is simply cut short.
/// Print a plan's warnings and notes ([`crate::warnings`]) to stderr;
/// with `strict`, a warning refuses the plan (exit 2) before anything is
/// touched.
pub fn plan_warnings(
    experiment: &crate::experiment::Experiment,
    plan: &crate::plan::Plan,
    strict: bool,
) -> Result<(), CliError> {
    let found = crate::warnings::check(experiment, plan);
    for w in &found {
        eprintln!("chaos: {}", w.line());
    }
    let warnings = found
        .iter()
        .filter(|w| w.level == crate::warnings::Level::Warning)
        .count();
    if strict && warnings > 0 {
        return Err(CliError::input(anyhow::anyhow!(
            "{}: {warnings} warning(s), refused with --strict",
            experiment.name
        )));
    }
    Ok(())
}

/// Load an experiment ([`crate::loader::load`]) and, for a process
/// client, start its adapter to read its hello and hold the experiment to
/// it (the workload served, `leader` for faults on a role): an error at
/// the field, before anything is touched (exit 2).
pub fn load_experiment(path: &std::path::Path) -> Result<crate::loader::Loaded, CliError> {
    let loaded = crate::loader::load(path).map_err(CliError::input)?;
    let Some(spec) = &loaded.experiment.workload.adapter else {
        return Ok(loaded);
    };
    let file = path.display().to_string();
    let parsed = crate::experiment::parse(&loaded.text, &file).map_err(CliError::input)?;
    let config = crate::client::process::AdapterConfig {
        command: spec.command.clone(),
        dir: path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf(),
        init: crate::client::process::protocol::Init {
            clients: 0,
            endpoints: Vec::new(),
            workload: String::new(),
            read_mode: String::new(),
            prefix: String::new(),
            options: serde_json::Value::Null,
        },
    };
    let hello = cluster::runtime()?
        .block_on(crate::client::process::Adapter::probe(config))
        .map_err(|e| {
            CliError::input(parsed.error_at(
                "workload.adapter.command",
                format!("the adapter did not say hello: {}", e.reason),
            ))
        })?;
    parsed
        .check_adapter(&hello.facts())
        .map_err(CliError::input)?;
    Ok(loaded)
}

pub fn print_stdout(text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::environment(
            anyhow::anyhow!("cannot write to standard output: {e}"),
        )),
        _ => Ok(()),
    }
}

/// Run one parsed command line.
pub fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Plan(args) => plan::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Runs(args) => runs::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Up(args) => up::run(&args),
        Command::Down(args) => down::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Heal(args) => heal::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Daemon(args) => daemon::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Shrink(args) => shrink::run(&args),
        Command::NemesisApply(args) => nemesis_apply::run(&args),
        Command::AdapterCheck(args) => adapter_check::run(&args),
        Command::Bundle(args) => bundle::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Completions(args) => completions::run_completions(&args),
        Command::Man(args) => completions::run_man(&args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The codes an `Exit codes:` block lists (lines `  N  ...`).
    fn listed(help: &str) -> Vec<u8> {
        let block = help
            .split("Exit codes:")
            .nth(1)
            .unwrap_or_else(|| panic!("no exit codes in:\n{help}"));
        block
            .lines()
            .filter_map(|l| {
                l.strip_prefix("  ")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }

    fn help_of(path: &[&str]) -> String {
        let mut cmd = Cli::command();
        cmd.build();
        let mut c = &mut cmd;
        for name in path {
            c = c.find_subcommand_mut(name).unwrap();
        }
        c.render_long_help().to_string()
    }

    #[test]
    fn each_command_lists_the_exit_codes_it_can_return() {
        // Written by hand from what each command returns (its Outcome and
        // CliError kinds, and whether it installs the signal handlers).
        let expected: &[(&[&str], &[u8])] = &[
            (&["plan"], &[0, 2, 4]),
            (&["run"], &[0, 1, 2, 3, 4, 130]),
            (&["runs"], &[0, 2, 4]),
            (&["check"], &[0, 1, 2, 3, 4]),
            (&["bench"], &[0, 1, 2, 4, 130]),
            (&["report"], &[0, 2, 4]),
            (&["up"], &[0, 2, 4]),
            (&["down"], &[0, 2, 4]),
            (&["status"], &[0, 2, 4]),
            (&["heal"], &[0, 2, 4]),
            (&["demo"], &[0, 1, 2, 4, 130]),
            (&["replay"], &[0, 1, 2, 3, 4, 130]),
            (&["shrink"], &[0, 2, 4, 130]),
            (&["daemon", "run"], &[0, 1, 2, 3, 4, 130]),
            (&["daemon", "plan"], &[0, 2, 4]),
            (&["daemon", "status"], &[0, 2, 4]),
            (&["daemon", "trigger"], &[0, 2, 4]),
            (&["adapter-check"], &[0, 1, 2, 4]),
            (&["bundle"], &[0, 2, 4]),
            (&["doctor"], &[0, 1, 2, 4]),
            (&["completions"], &[0, 2, 4]),
            (&["man"], &[0, 2, 4]),
        ];
        for (path, codes) in expected {
            let help = help_of(path);
            assert_eq!(&listed(&help), codes, "chaos {}:\n{help}", path.join(" "));
        }
        // A command that reads files only never says it found anomalies
        // or was interrupted.
        for path in [&["runs"][..], &["report"], &["plan"]] {
            let help = help_of(path);
            for text in ["anomalies found", "interrupted", "a signal"] {
                assert!(!help.contains(text), "chaos {}: `{text}`", path.join(" "));
            }
        }
        // Every visible command has its own block.
        let cmd = Cli::command();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let help = help_of(&[sub.get_name()]);
            assert!(help.contains("Exit codes:"), "chaos {}", sub.get_name());
        }
        // The sweep's codes are the run's.
        assert!(help_of(&["run"]).contains("With --seeds (a sweep)"));
        assert!(!help_of(&["check"]).contains("--seeds"));
    }

    #[test]
    fn the_final_error_is_a_json_line() {
        let err = CliError::input(anyhow::anyhow!("e.toml: line 3: bad \"field\""));
        let line = error_json(&err, 1_795_748_645_678);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["timestamp"], "2026-11-27T03:04:05.678Z");
        assert_eq!(v["fields"]["message"], "e.toml: line 3: bad \"field\"");
        assert_eq!(v["fields"]["exit_code"], 2);
        assert_eq!(v["fields"]["kind"], "bad-input");
        let env = CliError::environment(anyhow::anyhow!("docker"));
        let v: serde_json::Value = serde_json::from_str(&error_json(&env, 0)).unwrap();
        assert_eq!(v["fields"]["exit_code"], 4);
    }
}
