//! Plans: what a seed turns an experiment into, before any cluster is
//! touched: the fault timeline and each client's op stream.
//!
//! Pure: a plan is a function of (experiment, seed) and nothing else; no
//! clock, no IO, no Docker. Every random choice comes from a named stream of
//! [`crate::seed`]: `nemesis/N/schedule`, `nemesis/N/targets`, `client/C`.
//! The runner replays the same streams, so a rerun with the same seed makes
//! the same choices. Roles (`leader`) are the one thing left open: they are
//! resolved when the fault strikes, and the journal records the answer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::duration::Human;
use crate::experiment::{
    DurationRange, Experiment, ExplicitTargets, Fault, Nemesis, PartitionKind, TargetSelector,
    Timing, Workload,
};
use crate::seed::Seed;

/// How many ops of each client's stream the plan shows.
pub const SHOWN_OPS: usize = 6;

/// The whole plan of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub experiment: String,
    pub seed: u64,
    pub duration_ms: u64,
    pub faults: Vec<PlannedFault>,
    pub clients: Vec<ClientPlan>,
}

/// One fault of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedFault {
    /// 1-based, in timeline order.
    pub id: u64,
    /// Index of the nemesis (in the experiment file) that planned it.
    pub nemesis: usize,
    pub at_ms: u64,
    pub heal_at_ms: u64,
    pub fault: Fault,
    pub targets: PlannedTargets,
}

impl PlannedFault {
    pub fn at(&self) -> Duration {
        Duration::from_millis(self.at_ms)
    }

    pub fn heal_at(&self) -> Duration {
        Duration::from_millis(self.heal_at_ms)
    }
}

/// The targets of a fault as far as the plan can know them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannedTargets {
    /// These services.
    Services(Vec<String>),
    /// A role, resolved when the fault strikes; for partitions, the cut is
    /// then computed with [`isolate`].
    Role { role: String, component: String },
    /// A partition: each node drops the traffic it receives from the listed
    /// nodes. A symmetric cut lists both directions.
    Partition {
        drops: BTreeMap<String, Vec<String>>,
    },
}

impl PlannedTargets {
    pub fn describe(&self) -> String {
        match self {
            PlannedTargets::Services(s) => s.join(", "),
            PlannedTargets::Role { role, component } => {
                format!("the {component} {role} (resolved when it strikes)")
            }
            PlannedTargets::Partition { drops } => describe_drops(drops),
        }
    }
}

/// `etcd1 | etcd2 etcd3` for a symmetric cut, `etcd2 -> etcd1` for one way.
fn describe_drops(drops: &BTreeMap<String, Vec<String>>) -> String {
    let mut parts = Vec::new();
    for (to, froms) in drops {
        for from in froms {
            let back = drops.get(from).is_some_and(|f| f.contains(to));
            if back {
                if from < to {
                    parts.push(format!("{from} x {to}"));
                }
            } else {
                parts.push(format!("{from} -> {to} dropped"));
            }
        }
    }
    parts.join(", ")
}

/// The node an isolate-one or one-way partition cuts off: the role's
/// service when it named a role (`role`, resolved when it struck), else
/// the one node every dropped link of its cut touches. `None` for any
/// other fault, or a cut with no such node.
pub fn isolated(fault: &Fault, targets: &PlannedTargets, role: Option<&str>) -> Option<String> {
    if !matches!(
        fault.cut(),
        Some(PartitionKind::IsolateOne | PartitionKind::OneWay)
    ) {
        return None;
    }
    match targets {
        PlannedTargets::Role { .. } => role.map(str::to_string),
        PlannedTargets::Services(_) => None,
        PlannedTargets::Partition { drops } => {
            if fault.cut() == Some(PartitionKind::OneWay) || drops.len() == 1 {
                // Only the cut-off node drops what it receives.
                return (drops.len() == 1).then(|| drops.keys().next().cloned())?;
            }
            let links: Vec<(&String, &String)> = drops
                .iter()
                .flat_map(|(to, froms)| froms.iter().map(move |f| (to, f)))
                .collect();
            let (a, b) = links.first()?;
            let touch_all: Vec<&String> = [*a, *b]
                .into_iter()
                .filter(|n| links.iter().all(|(to, from)| to == n || from == n))
                .collect();
            match touch_all[..] {
                [one] => Some(one.clone()),
                _ => None,
            }
        }
    }
}

/// The cut that isolates `node` from its `peers`: both ways, or (one-way)
/// only what `node` receives.
pub fn isolate(node: &str, peers: &[String], one_way: bool) -> BTreeMap<String, Vec<String>> {
    let others: Vec<String> = peers.iter().filter(|p| *p != node).cloned().collect();
    let mut drops = BTreeMap::new();
    if !one_way {
        for p in &others {
            drops.insert(p.clone(), vec![node.to_string()]);
        }
    }
    drops.insert(node.to_string(), others);
    drops
}

/// Cut every node of `a` from every node of `b`, both ways.
fn cut_between(drops: &mut BTreeMap<String, Vec<String>>, a: &[String], b: &[String]) {
    for x in a {
        for y in b {
            drops.entry(x.clone()).or_default().push(y.clone());
            drops.entry(y.clone()).or_default().push(x.clone());
        }
    }
    for v in drops.values_mut() {
        v.sort();
        v.dedup();
    }
}

/// One client's plan: where it connects and what its stream holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientPlan {
    pub client: u64,
    pub endpoint: String,
    /// Ops (transactions, for list-append) it would issue at the target
    /// rate over the whole run.
    pub expected_ops: u64,
    /// Its ops (micro-ops, for transactions) by function.
    pub ops: BTreeMap<String, u64>,
    /// The first and last key of those ops.
    pub first_key: u64,
    pub last_key: u64,
    /// The first ops of the stream, as people read them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first: Vec<String>,
}

/// Plan an experiment with a seed.
pub fn plan(experiment: &Experiment, seed: Seed) -> Plan {
    let run = experiment.duration;
    let mut faults: Vec<PlannedFault> = experiment
        .nemeses
        .iter()
        .enumerate()
        .flat_map(|(i, n)| plan_nemesis(i, n, experiment, seed, run))
        .collect();
    faults.sort_by_key(|f| (f.at_ms, f.nemesis));
    for (i, f) in faults.iter_mut().enumerate() {
        f.id = i as u64 + 1;
    }
    let w = &experiment.workload;
    let run_ms = run.as_millis() as u64;
    let clients = (0..w.clients)
        .map(|c| {
            // Spread the total rate evenly; the remainder goes to the first
            // clients.
            let total = w.rate * run_ms / 1_000;
            let expected = total / w.clients + u64::from(c < total % w.clients);
            summarize_client(w, seed, c, expected)
        })
        .collect();
    Plan {
        experiment: experiment.name.clone(),
        seed: seed.0,
        duration_ms: run_ms,
        faults,
        clients,
    }
}

fn summarize_client(w: &Workload, seed: Seed, client: u64, expected: u64) -> ClientPlan {
    let summary = w.kind.room().summarize(w, seed, client, expected);
    ClientPlan {
        client,
        endpoint: w.endpoints[(client as usize) % w.endpoints.len()].clone(),
        expected_ops: expected,
        ops: summary.ops,
        first_key: summary.first_key,
        last_key: summary.last_key,
        first: summary.first,
    }
}

fn draw(rng: &mut ChaCha20Rng, range: DurationRange) -> Duration {
    let (min, max) = (range.min.as_millis() as u64, range.max.as_millis() as u64);
    Duration::from_millis(rng.random_range(min..=max))
}

fn plan_nemesis(
    index: usize,
    nemesis: &Nemesis,
    experiment: &Experiment,
    seed: Seed,
    run: Duration,
) -> Vec<PlannedFault> {
    let (targets, schedule) = match &nemesis.timing {
        Timing::Scheduled { targets, schedule } => (targets, schedule),
        Timing::Explicit(faults) => {
            return faults
                .iter()
                .map(|f| PlannedFault {
                    id: 0,
                    nemesis: index,
                    at_ms: f.at.as_millis() as u64,
                    heal_at_ms: (f.at + f.duration).as_millis() as u64,
                    fault: nemesis.fault.clone(),
                    targets: explicit_targets(&nemesis.fault, &f.targets, experiment),
                })
                .collect();
        }
    };
    let mut rng = seed.stream(&format!("nemesis/{index}/schedule"));
    let mut choice = seed.stream(&format!("nemesis/{index}/targets"));
    let mut out = Vec::new();
    let mut t = schedule.start;
    while t < run && schedule.count.is_none_or(|c| (out.len() as u64) < c) {
        let heal = (t + draw(&mut rng, schedule.duration)).min(run);
        out.push(PlannedFault {
            id: 0,
            nemesis: index,
            at_ms: t.as_millis() as u64,
            heal_at_ms: heal.as_millis() as u64,
            fault: nemesis.fault.clone(),
            targets: choose_targets(&nemesis.fault, targets, experiment, &mut choice),
        });
        t = heal + draw(&mut rng, schedule.interval);
    }
    out
}

/// The planned targets of an exact fault: as written, but the one node of
/// an isolate-one or one-way partition becomes its cut.
fn explicit_targets(fault: &Fault, t: &ExplicitTargets, experiment: &Experiment) -> PlannedTargets {
    match (t, fault) {
        (ExplicitTargets::Role { role, component }, _) => PlannedTargets::Role {
            role: role.clone(),
            component: component.clone(),
        },
        (ExplicitTargets::Drops(drops), _) => PlannedTargets::Partition {
            drops: drops.clone(),
        },
        (ExplicitTargets::Services(s), f) if f.cut().is_some() => PlannedTargets::Partition {
            drops: isolate(
                &s[0],
                peers_of(experiment, &s[0]),
                f.cut() == Some(PartitionKind::OneWay),
            ),
        },
        (ExplicitTargets::Services(s), _) => PlannedTargets::Services(s.clone()),
    }
}

/// The services of the component a node belongs to.
fn peers_of<'a>(experiment: &'a Experiment, node: &str) -> &'a [String] {
    experiment
        .cluster
        .components
        .values()
        .find(|nodes| nodes.iter().any(|n| n == node))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn choose_targets(
    fault: &Fault,
    targets: &TargetSelector,
    experiment: &Experiment,
    rng: &mut ChaCha20Rng,
) -> PlannedTargets {
    let services: Vec<String> = match targets {
        TargetSelector::Role { role, component } => {
            return PlannedTargets::Role {
                role: role.clone(),
                component: component.clone(),
            };
        }
        TargetSelector::Services(s) => s.clone(),
        TargetSelector::Component(c) => experiment.cluster.components[c].clone(),
        TargetSelector::OneOf(set) => vec![set[rng.random_range(0..set.len())].clone()],
        TargetSelector::SomeOf { set, count } => {
            let mut chosen: Vec<String> =
                set.choose_multiple(rng, *count as usize).cloned().collect();
            chosen.sort();
            chosen
        }
    };
    let Some(partition) = fault.cut() else {
        return PlannedTargets::Services(services);
    };
    let drops = match partition {
        PartitionKind::IsolateOne | PartitionKind::OneWay => isolate(
            &services[0],
            peers_of(experiment, &services[0]),
            partition == PartitionKind::OneWay,
        ),
        PartitionKind::MajorityMinority => {
            let mut nodes = services;
            nodes.shuffle(rng);
            let minority = (nodes.len() - 1) / 2;
            let (small, large) = nodes.split_at(minority);
            let mut drops = BTreeMap::new();
            cut_between(&mut drops, small, large);
            drops
        }
        PartitionKind::Bridge => {
            let mut nodes = services;
            nodes.shuffle(rng);
            // nodes[0] is the bridge: it keeps talking to both halves.
            let rest = &nodes[1..];
            let (a, b) = rest.split_at(rest.len() / 2);
            let mut drops = BTreeMap::new();
            cut_between(&mut drops, a, b);
            drops
        }
    };
    PlannedTargets::Partition { drops }
}

/// A command that repeats a plan or a run: `chaos <verb> FILE --seed N`,
/// with `--duration D` when the file's duration was overridden.
fn command(
    verb: &str,
    experiment: &std::path::Path,
    seed: Seed,
    duration: Option<Duration>,
) -> String {
    let mut cmd = format!("chaos {verb} {} --seed {seed}", experiment.display());
    if let Some(d) = duration {
        let _ = write!(cmd, " --duration {}", crate::duration::format(d));
    }
    cmd
}

/// The command that prints this plan again.
pub fn plan_command(
    experiment: &std::path::Path,
    seed: Seed,
    duration: Option<Duration>,
) -> String {
    command("plan", experiment, seed, duration)
}

/// The command that runs the experiment again with this plan.
pub fn run_command(experiment: &std::path::Path, seed: Seed, duration: Option<Duration>) -> String {
    command("run", experiment, seed, duration)
}

/// What a run directory keeps so that the run can be replayed
/// (`replay.json`): with `experiment.toml` (the file as run, its compose
/// file's path resolved), the plan can be made again exactly, and a
/// changed compose file or chaos version can be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReplayInfo {
    /// 1.
    pub format: u32,
    pub chaos_version: String,
    /// The experiment file as the user named it.
    pub experiment_file: String,
    pub seed: u64,
    /// The run's duration when it was overridden (`--duration`), in ms.
    pub duration_ms: Option<u64>,
    /// The compose file, resolved.
    pub compose_file: String,
    /// SHA-256 of the compose file's bytes when the run started.
    pub compose_sha256: String,
}

/// The plan as JSON (`chaos plan --json`, and `plan.json` in a run
/// directory), with the command that prints it again.
pub fn plan_json(plan: &Plan, experiment: &std::path::Path, duration: Option<Duration>) -> String {
    let mut value = serde_json::to_value(plan).expect("a plan always serializes");
    value["rerun"] = serde_json::Value::String(plan_command(experiment, Seed(plan.seed), duration));
    serde_json::to_string_pretty(&value).expect("a JSON value always prints")
}

/// The plan as text for the terminal: the timeline, then the clients.
pub fn render_text(plan: &Plan, experiment: &Experiment) -> String {
    let mut out = String::new();
    let w = &experiment.workload;
    let _ = writeln!(
        out,
        "experiment {}  seed {}  duration {}",
        plan.experiment,
        plan.seed,
        Human(Duration::from_millis(plan.duration_ms))
    );
    if !experiment.description.is_empty() {
        for line in experiment.description.trim().lines() {
            let _ = writeln!(out, "  {}", line.trim());
        }
    }
    if let Some(env) = experiment.cluster.describe_env() {
        let _ = writeln!(out, "  {env}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "fault timeline ({} faults):", plan.faults.len());
    if plan.faults.is_empty() {
        let _ = writeln!(out, "  (none: the workload runs without faults)");
    } else {
        let _ = writeln!(
            out,
            "  {:>4}  {:>9}  {:>9}  {:<28}  targets",
            "#", "at", "heal at", "fault"
        );
    }
    for f in &plan.faults {
        let _ = writeln!(
            out,
            "  {:>4}  {:>9}  {:>9}  {:<28}  {}",
            f.id,
            Human(f.at()).to_string(),
            Human(f.heal_at()).to_string(),
            f.fault.describe(),
            f.targets.describe()
        );
    }
    let _ = writeln!(out);
    let keys = if w.kind.room().caps().keys {
        format!(
            ", {} keys at a time, each retired after ~{} ops",
            w.keys, w.key_ops
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "workload: {} {} client {} over {} ({} reads), {} ops/s{keys}, timeout {}",
        w.kind.name(),
        w.clients,
        w.client.name(),
        w.endpoints.join(", "),
        w.read_mode.name(),
        w.rate,
        Human(w.timeout)
    );
    let mut client_line = Vec::new();
    if let Some(level) = w.isolation {
        client_line.push(format!("isolation {}", level.name()));
    }
    if !w.read_endpoints.is_empty() {
        client_line.push(format!("reads on {}", w.read_endpoints.join(", ")));
    }
    if !client_line.is_empty() {
        let _ = writeln!(out, "  {}", client_line.join("; "));
    }
    if let Some(line) = w
        .kind
        .room()
        .describe(w, experiment.checker.model_for(w.kind))
    {
        let _ = writeln!(out, "  {line}");
    }
    for c in &plan.clients {
        let order: Vec<&str> = w.kind.room().caps().mix.iter().map(|(f, _)| *f).collect();
        let counts = order
            .iter()
            .map(|f| format!("{} {f}", c.ops.get(*f).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ");
        let keys = if w.kind.room().caps().keys {
            format!("; keys k{}..k{}", c.first_key, c.last_key)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  client {:>3} -> {:<10} {:>6} ops: {counts}{keys}; first: {}",
            c.client,
            c.endpoint,
            c.expected_ops,
            c.first.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment;
    use crate::workload::list_append::{PlannedMop, TxnStream};
    use crate::workload::register::{OpStream, PlannedF};

    const EXAMPLE: &str = r#"
name = "t"
duration = "60s"
[cluster]
compose_file = "c.yml"
project = "p"
components = { db = ["n1", "n2", "n3"], lb = ["proxy"] }
[workload]
client = "etcd"
endpoints = ["n1", "n2", "n3"]
clients = 4
rate = 100
keys = 2
key_ops = 50
[[nemesis]]
fault = "kill"
targets = { one_of = ["n1", "n2", "n3"] }
schedule = { start = "5s", interval = ["1s", "5s"], duration = ["2s", "4s"] }
[[nemesis]]
fault = "partition"
partition = "majority-minority"
targets = { component = "db" }
schedule = { start = "1s", interval = "10s", duration = "3s", count = 2 }
[[nemesis]]
fault = "partition"
partition = "isolate-one"
targets = { role = "leader", component = "db" }
schedule = { interval = "10s", duration = "3s", count = 1 }
"#;

    fn example() -> Experiment {
        experiment::parse(EXAMPLE, "t.toml").unwrap().experiment
    }

    #[test]
    fn list_append_streams_append_unique_values_and_rotate_keys() {
        let text = EXAMPLE.replace(
            "client = \"etcd\"",
            "kind = \"list-append\"\nclient = \"etcd\"\nops_per_txn = [1, 4]",
        );
        let e = experiment::parse(&text, "t.toml").unwrap().experiment;
        let w = &e.workload;
        let mut values = std::collections::BTreeSet::new();
        let mut max_key = 0;
        for c in 0..w.clients {
            for t in TxnStream::new(w, Seed(7), c).take(200) {
                assert!((1..=4).contains(&t.mops.len()));
                for m in &t.mops {
                    match *m {
                        PlannedMop::Append { key, value } => {
                            assert!(values.insert(value), "value {value} twice");
                            max_key = max_key.max(key);
                        }
                        PlannedMop::Read { key } => max_key = max_key.max(key),
                    }
                }
            }
        }
        assert!(values.len() > 100);
        // Keys rotate: far more keys are used than are active at a time.
        assert!(max_key > 3 * w.keys, "{max_key} with {} keys", w.keys);
        // Same seed, same streams; the plan shows them.
        let a = plan(&e, Seed(7));
        let b = plan(&e, Seed(7));
        assert_eq!(a, b);
        assert!(
            a.clients[0].first[0].starts_with('['),
            "{:?}",
            a.clients[0].first
        );
        assert!(a.clients[0].ops.contains_key("append"));
        let text = render_text(&a, &e);
        assert!(text.contains("list-append: 1..4 micro-ops"), "{text}");
        assert!(text.contains("append k"), "{text}");
    }

    fn four_nodes() -> Vec<String> {
        ["a", "b", "c", "d"].map(String::from).to_vec()
    }

    #[test]
    fn the_isolated_node_of_a_partition() {
        let peers: Vec<String> = ["etcd1", "etcd2", "etcd3"].map(String::from).to_vec();
        let part = |p| Fault::Partition { partition: p };
        let cut = |node: &str, one_way| PlannedTargets::Partition {
            drops: isolate(node, &peers, one_way),
        };
        assert_eq!(
            isolated(&part(PartitionKind::IsolateOne), &cut("etcd2", false), None).as_deref(),
            Some("etcd2")
        );
        assert_eq!(
            isolated(&part(PartitionKind::OneWay), &cut("etcd3", true), None).as_deref(),
            Some("etcd3")
        );
        // A role: the service it resolved to when it struck.
        let role = PlannedTargets::Role {
            role: "leader".into(),
            component: "db".into(),
        };
        assert_eq!(
            isolated(&part(PartitionKind::IsolateOne), &role, Some("etcd1")).as_deref(),
            Some("etcd1")
        );
        // Not for other cuts, nor other faults.
        let mut halves = BTreeMap::new();
        cut_between(&mut halves, &four_nodes()[..2], &four_nodes()[2..]);
        // Two against two: no one node is cut off.
        let four: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let mut other = BTreeMap::new();
        cut_between(&mut other, &four[..2], &four[2..]);
        assert_eq!(
            isolated(
                &part(PartitionKind::MajorityMinority),
                &PlannedTargets::Partition { drops: halves },
                None
            ),
            None
        );
        assert_eq!(
            isolated(
                &part(PartitionKind::IsolateOne),
                &PlannedTargets::Partition { drops: other },
                None
            ),
            None
        );
        assert_eq!(
            isolated(
                &Fault::Kill,
                &PlannedTargets::Services(vec!["etcd1".into()]),
                Some("etcd1")
            ),
            None
        );
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        let e = example();
        assert_eq!(plan(&e, Seed(1)), plan(&e, Seed(1)));
        assert_ne!(plan(&e, Seed(1)), plan(&e, Seed(2)));
    }

    #[test]
    fn faults_stay_inside_the_run_and_respect_count() {
        let e = example();
        for s in 0..50 {
            let p = plan(&e, Seed(s));
            for f in &p.faults {
                assert!(f.at_ms < f.heal_at_ms && f.heal_at_ms <= 60_000, "{f:?}");
            }
            assert_eq!(p.faults.iter().filter(|f| f.nemesis == 1).count(), 2);
            assert_eq!(p.faults.iter().filter(|f| f.nemesis == 2).count(), 1);
            let ids: Vec<u64> = p.faults.iter().map(|f| f.id).collect();
            assert_eq!(ids, (1..=p.faults.len() as u64).collect::<Vec<_>>());
        }
    }

    #[test]
    fn majority_minority_cuts_one_node_of_three_both_ways() {
        let p = plan(&example(), Seed(3));
        let f = p.faults.iter().find(|f| f.nemesis == 1).unwrap();
        let PlannedTargets::Partition { drops } = &f.targets else {
            panic!("{f:?}");
        };
        let minority: Vec<_> = drops.iter().filter(|(_, v)| v.len() == 2).collect();
        assert_eq!(minority.len(), 1, "{drops:?}");
        let (node, from) = minority[0];
        for other in from {
            assert_eq!(drops[other], vec![node.clone()]);
        }
    }

    #[test]
    fn isolate_and_one_way() {
        let peers = ["a", "b", "c"].map(String::from);
        let both = isolate("a", &peers, false);
        assert_eq!(both["a"], vec!["b", "c"]);
        assert_eq!(both["b"], vec!["a"]);
        let one = isolate("a", &peers, true);
        assert_eq!(one.len(), 1);
        assert_eq!(describe_drops(&one), "b -> a dropped, c -> a dropped");
        assert_eq!(describe_drops(&both), "a x b, a x c");
    }

    #[test]
    fn written_values_never_repeat_and_keys_rotate() {
        let e = example();
        let mut seen = std::collections::BTreeSet::new();
        let mut max_key = 0;
        for c in 0..e.workload.clients {
            for op in OpStream::new(&e.workload, Seed(9), c).take(500) {
                if let PlannedF::Write(v) | PlannedF::Cas(v) = op.f {
                    assert!(seen.insert(v), "value {v} written twice");
                }
                max_key = max_key.max(op.key);
            }
        }
        // 4 clients x 500 ops over keys of 2 x 50 ops: about 20 generations.
        assert!(max_key >= 30, "keys did not rotate: max key {max_key}");
    }

    #[test]
    fn client_streams_follow_the_mix() {
        let e = example();
        let p = plan(&e, Seed(5));
        let total: u64 = p.clients.iter().map(|c| c.expected_ops).sum();
        assert_eq!(total, 6_000);
        let reads: u64 = p.clients.iter().map(|c| c.ops["read"]).sum();
        // Default mix is 50/30/20.
        assert!((2_700..3_300).contains(&reads), "{reads}");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::experiment;
    use proptest::prelude::*;

    /// An experiment built from generated knobs.
    fn experiment_text(
        clients: u64,
        keys: u64,
        rate: u64,
        secs: u64,
        interval: (u64, u64),
        hold: (u64, u64),
        kind: usize,
    ) -> String {
        let nemesis = [
            "fault = \"kill\"\ntargets = { one_of = [\"a\", \"b\", \"c\"] }",
            "fault = \"partition\"\npartition = \"majority-minority\"\ntargets = { component = \"db\" }",
            "fault = \"partition\"\npartition = \"bridge\"\ntargets = { services = [\"a\", \"b\", \"c\", \"d\", \"e\"] }",
            "fault = \"pause\"\ntargets = { some_of = [\"a\", \"b\", \"c\"], count = 2 }",
            "fault = \"stop\"\ntargets = { role = \"leader\", component = \"db\" }",
        ][kind];
        format!(
            r#"name = "p"
duration = "{secs}s"
[cluster]
compose_file = "c.yml"
project = "p"
components = {{ db = ["a", "b", "c", "d", "e"] }}
[workload]
client = "etcd"
endpoints = ["a", "b"]
clients = {clients}
keys = {keys}
rate = {rate}
[[nemesis]]
{nemesis}
schedule = {{ interval = ["{}ms", "{}ms"], duration = ["{}ms", "{}ms"] }}
"#,
            interval.0,
            interval.0 + interval.1,
            hold.0,
            hold.0 + hold.1
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Planning is a pure function of (experiment, seed): the same inputs
        /// give equal plans and equal JSON, also when planned on another
        /// thread, and faults always heal inside the run.
        #[test]
        fn planning_is_a_pure_function_of_experiment_and_seed(
            clients in 1u64..20,
            keys in 1u64..10,
            rate in 1u64..500,
            secs in 1u64..120,
            interval in (1u64..5_000, 0u64..5_000),
            hold in (1u64..5_000, 0u64..5_000),
            kind in 0usize..5,
            seed in any::<u64>(),
        ) {
            let text = experiment_text(clients, keys, rate, secs, interval, hold, kind);
            let e = experiment::parse(&text, "p.toml").unwrap().experiment;
            let a = plan(&e, Seed(seed));
            let e2 = e.clone();
            let b = std::thread::spawn(move || plan(&e2, Seed(seed))).join().unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(
                serde_json::to_string(&a).unwrap(),
                serde_json::to_string(&b).unwrap()
            );
            for f in &a.faults {
                prop_assert!(f.at_ms < f.heal_at_ms || f.heal_at_ms == secs * 1000);
                prop_assert!(f.heal_at_ms <= secs * 1000);
            }
            prop_assert_eq!(a.clients.iter().map(|c| c.expected_ops).sum::<u64>(), rate * secs);
        }
    }
}
