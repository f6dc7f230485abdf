//! Fault apply lag: how late a fault takes effect after its planned time,
//! on a real 3-node etcd cluster (compose/etcd.yml), through the same
//! `Nemesis::apply` path `chaos run` uses (target resolution, the fsynced
//! journal intent, the Docker calls).
//!
//!     bash compose/images/build.sh
//!     cargo run --release --example fault_lag -- [ROUNDS]
//!
//! Each round applies kill, stop, pause, disconnect and an isolate-one
//! partition, each planned 250 ms after the previous heal ended and applied
//! at its planned time (the task sleeps until then, as the runner does),
//! held 300 ms and healed. Issue lag = when chaos sent the first Docker
//! request (targets resolved, intent fsynced) minus the planned time;
//! effect lag = when the engine confirmed the fault
//! (`AppliedFault::effective`) minus the planned time. The
//! cluster is a fresh compose project with random host ports, torn down at
//! the end. Results: `docs/performance.md`, "Fault apply lag".

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chaos::docker::ComposeCluster;
use chaos::experiment::{Fault, PartitionKind};
use chaos::journal::Journal;
use chaos::nemesis::Nemesis;
use chaos::plan::{self, PlannedFault, PlannedTargets};
use chaos::roles::FixedRoles;
use tokio::time::Instant;

const NODES: [&str; 3] = ["etcd1", "etcd2", "etcd3"];
const HOLD: Duration = Duration::from_millis(300);
const GAP: Duration = Duration::from_millis(900);
/// How far ahead of now each fault is planned.
const LEAD: Duration = Duration::from_millis(250);

fn fault(id: u64, at: Duration, kind: usize, round: usize) -> PlannedFault {
    let node = NODES[round % 3].to_string();
    let nodes: Vec<String> = NODES.iter().map(|s| s.to_string()).collect();
    let (fault, targets) = match kind {
        0 => (Fault::Kill, PlannedTargets::Services(vec![node])),
        1 => (
            Fault::Stop {
                grace: Duration::from_secs(5),
            },
            PlannedTargets::Services(vec![node]),
        ),
        2 => (Fault::Pause, PlannedTargets::Services(vec![node])),
        3 => (
            Fault::Disconnect { network: None },
            PlannedTargets::Services(vec![node]),
        ),
        _ => (
            Fault::Partition {
                partition: PartitionKind::IsolateOne,
            },
            PlannedTargets::Partition {
                drops: plan::isolate(&node, &nodes, false),
            },
        ),
    };
    PlannedFault {
        id,
        nemesis: kind,
        at_ms: at.as_millis() as u64,
        heal_at_ms: (at + HOLD).as_millis() as u64,
        fault,
        targets,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROUNDS is a number"))
        .unwrap_or(20);
    let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/etcd.yml");
    let project = format!("chaos-bench-lag-{}", std::process::id());
    let ports = [
        ("CHAOS_ETCD1_PORT", "0"),
        ("CHAOS_ETCD2_PORT", "0"),
        ("CHAOS_ETCD3_PORT", "0"),
    ];
    let cluster = ComposeCluster::connect(&project, &compose)
        .await?
        .with_env(ports);
    eprintln!("bringing up {project}");
    let result = async {
        cluster.up(Duration::from_secs(120)).await?;
        let dir = tempfile::tempdir()?;
        let journal = Journal::create_in(
            &dir.path().join("state"),
            &dir.path().join("journal.jsonl"),
            &project,
            Some(&compose),
        )?;
        let components =
            BTreeMap::from([("etcd".to_string(), NODES.map(String::from).to_vec())]);
        let start = Instant::now();
        let mut nemesis = Nemesis::new(
            cluster.clone(),
            journal,
            Arc::new(FixedRoles::new()),
            components,
            start,
        );
        let mut faults = Vec::new();
        let mut at = Duration::from_secs(2);
        for round in 0..rounds {
            for kind in 0..5 {
                faults.push(fault(faults.len() as u64 + 1, at, kind, round));
                at += HOLD + GAP;
            }
        }
        let plan = plan::Plan {
            experiment: "fault-lag".to_string(),
            seed: 0,
            duration_ms: at.as_millis() as u64,
            faults: faults.clone(),
            clients: Vec::new(),
        };
        nemesis.check_targets(&plan).await?;
        // Per fault kind: issue lag, effect lag, time until apply returned.
        let mut by_kind: BTreeMap<&'static str, [Vec<Duration>; 3]> = BTreeMap::new();
        // Where the issue lag goes: waking up, resolving + the journal fsync.
        let mut phases: [Vec<Duration>; 2] = Default::default();
        for f in &faults {
            // Each fault is planned a little after the previous heal ended
            // (a heal that starts a node can take seconds): the lag is then
            // the apply path's own, not a backlog.
            let planned = start.elapsed() + LEAD;
            let mut f = f.clone();
            f.at_ms = planned.as_millis() as u64;
            f.heal_at_ms = (planned + HOLD).as_millis() as u64;
            tokio::time::sleep_until(start + f.at()).await;
            let a = nemesis.apply(&f, f.at()).await?;
            let row = by_kind.entry(f.fault.name()).or_default();
            row[0].push(a.issue_lag);
            row[1].push(a.lag);
            row[2].push(a.done.saturating_sub(f.at()));
            phases[0].push(a.started.saturating_sub(f.at()));
            phases[1].push(a.issued.saturating_sub(a.started));
            tokio::time::sleep_until(start + f.heal_at()).await;
            nemesis.heal(f.id).await?;
        }
        let report = nemesis.finish().await;
        if !report.errors.is_empty() {
            return Err(format!("heal errors: {:?}", report.errors).into());
        }
        println!(
            "fault apply lag, 3-node etcd cluster, {rounds} rounds ({} faults), ms after the planned time",
            faults.len()
        );
        println!(
            "{:<11} {:>4}  {:>9} {:>9}  {:>10} {:>10} {:>10}  {:>9}",
            "fault", "n", "issue p50", "issue p99", "effect p50", "effect p99", "effect max", "done p50"
        );
        let mut all: [Vec<Duration>; 3] = Default::default();
        let line = |name: &str, v: &mut [Vec<Duration>; 3]| {
            for x in v.iter_mut() {
                x.sort();
            }
            println!(
                "{:<11} {:>4}  {:>9} {:>9}  {:>10} {:>10} {:>10}  {:>9}",
                name,
                v[0].len(),
                ms(percentile(&v[0], 50.0)),
                ms(percentile(&v[0], 99.0)),
                ms(percentile(&v[1], 50.0)),
                ms(percentile(&v[1], 99.0)),
                ms(*v[1].last().expect("samples")),
                ms(percentile(&v[2], 50.0)),
            );
        };
        for (kind, v) in &mut by_kind {
            for (a, x) in all.iter_mut().zip(v.iter()) {
                a.extend(x.iter().copied());
            }
            line(kind, v);
        }
        line("all", &mut all);
        for (name, v) in ["wake-up", "resolve+fsync"].iter().zip(&mut phases) {
            v.sort();
            println!(
                "  issue lag = {name:<13} p50 {:>6} p99 {:>6}",
                ms(percentile(v, 50.0)),
                ms(percentile(v, 99.0))
            );
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    }
    .await;
    eprintln!("tearing down {project}");
    cluster.down().await?;
    result
}
