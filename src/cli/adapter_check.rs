//! `chaos adapter-check CMD`: run the conformance suite
//! ([`crate::client::process::conformance`]) against an adapter before its
//! verdicts are trusted, and print one line per check. For each workload
//! the adapter's hello serves, the adapter is started afresh (under a
//! fresh prefix) and sent the suite's ops on one client, then concurrent
//! ops on several clients (answered by id, in any order); with `leader`
//! declared, a `leader` request. Exit 0 when every check passed, 1 when
//! one failed (an adapter that does not start is a failed check).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CliResult, Outcome};
use crate::client::process::conformance::{self, Step};
use crate::client::process::protocol::{Endpoint, Init};
use crate::client::process::{Adapter, AdapterConfig};
use crate::workload::Outcome as OpOutcome;

/// Arguments of `chaos adapter-check`.
#[derive(Debug, Args)]
pub struct AdapterCheckArgs {
    /// The adapter: a program and its arguments (put `--` before them when
    /// an argument starts with `-`), run from the current directory.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,

    /// A node the adapter may talk to, healthy (repeat the flag for more):
    /// `NODE=HOST:PORT`, as a run gives each endpoint.
    #[arg(long = "endpoint", value_name = "NODE=HOST:PORT", value_parser = parse_endpoint)]
    pub endpoints: Vec<Endpoint>,

    /// The `options` object handed to the adapter in `init` (JSON), as
    /// `[workload.adapter] options` would.
    #[arg(long, value_name = "JSON", value_parser = parse_options)]
    pub options: Option<serde_json::Value>,

    /// Check only this workload (repeat for more); default: every workload
    /// the adapter's hello serves.
    #[arg(long = "workload", value_name = "WORKLOAD")]
    pub workloads: Vec<String>,

    /// How long one answer may take.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::parse_positive_duration)]
    pub timeout: Duration,
}

fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    let (node, address) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected NODE=HOST:PORT"))?;
    Endpoint::parse(node, address).ok_or_else(|| format!("`{text}`: expected NODE=HOST:PORT"))
}

fn parse_options(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err("expected a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// How many clients the concurrent check uses.
const CONCURRENT: u64 = 8;

/// One check's line.
struct Line {
    name: String,
    result: Result<(), String>,
}

pub fn run(args: &AdapterCheckArgs) -> CliResult {
    let lines = super::cluster::runtime()?.block_on(check(args));
    let mut text = String::new();
    let failed = lines.iter().filter(|l| l.result.is_err()).count();
    for l in &lines {
        match &l.result {
            Ok(()) => text.push_str(&format!("ok    {}\n", l.name)),
            Err(e) => text.push_str(&format!("FAIL  {}: {e}\n", l.name)),
        }
    }
    text.push_str(&format!(
        "{} checks, {} passed, {failed} failed: {}\n",
        lines.len(),
        lines.len() - failed,
        if failed == 0 {
            "the adapter conforms (on a healthy cluster: docs/clients.md says what no suite can check)"
        } else {
            "do not trust this adapter's verdicts"
        }
    ));
    super::print_stdout(&text)?;
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Anomalies
    })
}

async fn check(args: &AdapterCheckArgs) -> Vec<Line> {
    let mut lines = Vec::new();
    let dir = PathBuf::from(".");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let config = |workload: &str| AdapterConfig {
        command: args.command.clone(),
        dir: dir.clone(),
        init: Init {
            clients: CONCURRENT,
            endpoints: args.endpoints.clone(),
            workload: workload.to_string(),
            read_mode: "linearizable".into(),
            prefix: format!("chaos/adapter-check/{stamp}-{}/", std::process::id()),
            options: args
                .options
                .clone()
                .unwrap_or_else(|| serde_json::json!({})),
        },
    };
    let hello = match Adapter::probe(config("")).await {
        Ok(h) => {
            lines.push(Line {
                name: "protocol/hello".into(),
                result: Ok(()),
            });
            h
        }
        Err(e) => {
            lines.push(Line {
                name: "protocol/hello".into(),
                result: Err(e.reason),
            });
            return lines;
        }
    };
    let workloads: Vec<String> = if args.workloads.is_empty() {
        hello.serves.clone()
    } else {
        args.workloads.clone()
    };
    for w in &workloads {
        if !hello.serves.contains(w) {
            lines.push(Line {
                name: format!("{w}/served"),
                result: Err(format!(
                    "the hello does not serve `{w}`; it serves: {}",
                    hello.serves.join(", ")
                )),
            });
            continue;
        }
        let mut cfg = config(w);
        cfg.init.prefix.push_str(&format!("{w}/"));
        let adapter = match Adapter::start(cfg).await {
            Ok(a) => a,
            Err(e) => {
                lines.push(Line {
                    name: format!("{w}/start"),
                    result: Err(e.reason),
                });
                continue;
            }
        };
        for c in conformance::checks(w) {
            let mut outcomes = Vec::new();
            for s in &c.steps {
                let o = call(&adapter, 0, args, w, s).await;
                let wrong = conformance::judge(&s.expect, &o).is_err();
                outcomes.push(o);
                if wrong {
                    break;
                }
            }
            lines.push(Line {
                name: c.name.to_string(),
                result: conformance::judge_check(&c, &outcomes),
            });
        }
        for (i, wave) in conformance::concurrent(w, CONCURRENT).iter().enumerate() {
            let calls = wave
                .iter()
                .enumerate()
                .map(|(client, s)| call(&adapter, client as u64, args, w, s));
            let outcomes = futures_util::future::join_all(calls).await;
            let result = wave
                .iter()
                .zip(&outcomes)
                .enumerate()
                .try_for_each(|(client, (s, o))| {
                    conformance::judge(&s.expect, o).map_err(|e| {
                        format!(
                            "wave {}, client {client} ({}): {e}",
                            i + 1,
                            conformance::describe(&s.op)
                        )
                    })
                });
            lines.push(Line {
                name: format!("{w}/concurrent-{}", i + 1),
                result,
            });
        }
        if hello.leader {
            let nodes: Vec<String> = if args.endpoints.is_empty() {
                vec!["node1".into(), "node2".into()]
            } else {
                args.endpoints.iter().map(|e| e.node.clone()).collect()
            };
            lines.push(Line {
                name: format!("{w}/leader"),
                result: adapter.leader("db", &nodes, args.timeout).await.map(|_| ()),
            });
        }
        lines.push(Line {
            name: format!("{w}/protocol"),
            result: match adapter.fatal() {
                Some(e) => Err(e),
                None if adapter.starts() > 1 => Err(format!(
                    "the adapter died and was started {} times",
                    adapter.starts()
                )),
                None => Ok(()),
            },
        });
        adapter.close(Duration::from_secs(2)).await;
    }
    lines
}

/// One op under the timeout (the run's rule for an op that got no
/// answer).
async fn call(
    adapter: &Adapter,
    client: u64,
    args: &AdapterCheckArgs,
    workload: &str,
    step: &Step,
) -> OpOutcome {
    let node = args
        .endpoints
        .get(client as usize % args.endpoints.len().max(1))
        .map_or("node1", |e| e.node.as_str());
    match tokio::time::timeout(args.timeout, adapter.call(client, node, workload, &step.op)).await {
        Ok(o) => o,
        Err(_) => OpOutcome::timed_out(
            crate::workload::by_name(workload).is_some_and(|r| r.read_only(&step.op)),
            args.timeout,
        ),
    }
}
