//! Consistency models and anomalies: which anomaly implies which, which
//! model forbids which, and so which models a set of anomalies rules out.
//!
//! Owns [`ConsistencyModel`] (the seven models chaos reports on) and the
//! tables behind them, written out from Elle's `elle.consistency-model`
//! (its sources: Adya; Adya, Liskov and O'Neil; Bailis et al.; Cerone,
//! Bernardi and Gotsman; Fekete et al.; Daudjee and Salem): the implication
//! graph of anomalies, its "severity" additions (used only to order the
//! cycle search, as Elle does), the implication graph of models (under
//! Elle's canonical names: `serializable` is `PL-3`, `snapshot-isolation`
//! `PL-SI`...), and the anomalies each model directly forbids. Models
//! outside the six (cursor stability, read atomic, the strong-session
//! ones...) stay in the tables because implications run through them: a
//! lost update rules out snapshot isolation through cursor stability.
//!
//! Definitions, as Elle's: a model forbids its own anomalies, those of
//! every model it implies, and every anomaly that implies one of those; an
//! anomaly rules out every model that forbids it or anything it implies,
//! and every model that implies one of those.
//!
//! Pure data and graph walks; depends on nothing else in the crate.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The consistency models a list-append history is judged against,
/// strongest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum ConsistencyModel {
    #[default]
    StrictSerializable,
    Serializable,
    /// Snapshot isolation with real-time order: a transaction sees every
    /// transaction that committed before it began (SurrealDB's documented
    /// "snapshot isolation ... with immediate consistency after a commit").
    StrongSnapshotIsolation,
    SnapshotIsolation,
    RepeatableRead,
    ReadCommitted,
    ReadUncommitted,
}

impl ConsistencyModel {
    pub const ALL: [ConsistencyModel; 7] = [
        ConsistencyModel::StrictSerializable,
        ConsistencyModel::Serializable,
        ConsistencyModel::StrongSnapshotIsolation,
        ConsistencyModel::SnapshotIsolation,
        ConsistencyModel::RepeatableRead,
        ConsistencyModel::ReadCommitted,
        ConsistencyModel::ReadUncommitted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsistencyModel::StrictSerializable => "strict-serializable",
            ConsistencyModel::Serializable => "serializable",
            ConsistencyModel::StrongSnapshotIsolation => "strong-snapshot-isolation",
            ConsistencyModel::SnapshotIsolation => "snapshot-isolation",
            ConsistencyModel::RepeatableRead => "repeatable-read",
            ConsistencyModel::ReadCommitted => "read-committed",
            ConsistencyModel::ReadUncommitted => "read-uncommitted",
        }
    }

    /// Elle's canonical name (Adya's levels).
    pub fn canonical(self) -> &'static str {
        match self {
            ConsistencyModel::StrictSerializable => "PL-SS",
            ConsistencyModel::Serializable => "PL-3",
            ConsistencyModel::StrongSnapshotIsolation => "strong-snapshot-isolation",
            ConsistencyModel::SnapshotIsolation => "PL-SI",
            ConsistencyModel::RepeatableRead => "PL-2.99",
            ConsistencyModel::ReadCommitted => "PL-2",
            ConsistencyModel::ReadUncommitted => "PL-1",
        }
    }
}

impl fmt::Display for ConsistencyModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `--model`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown consistency model `{0}`; expected strict-serializable, serializable, \
     strong-snapshot-isolation, snapshot-isolation, repeatable-read, read-committed or \
     read-uncommitted"
)]
pub struct UnknownModel(pub String);

impl FromStr for ConsistencyModel {
    type Err = UnknownModel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConsistencyModel::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownModel(s.to_string()))
    }
}

/// An anomaly implies those it lists (Elle's `implied-anomalies`).
const IMPLIES: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    (
        "G-single-item",
        &["G-single", "G-single-item-process", "G-nonadjacent-item"],
    ),
    (
        "G-single-item-process",
        &[
            "G-single-process",
            "G-single-item-realtime",
            "G-nonadjacent-item-process",
        ],
    ),
    (
        "G-single-item-realtime",
        &["G-single-realtime", "G-nonadjacent-item-realtime"],
    ),
    ("G-single", &["G-nonadjacent", "GSIb", "G-single-process"]),
    (
        "G-single-process",
        &["G-nonadjacent-process", "G-single-realtime"],
    ),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    (
        "G-nonadjacent-item",
        &["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"],
    ),
    (
        "G-nonadjacent-item-process",
        &[
            "G-nonadjacent-process",
            "G2-item-process",
            "G-nonadjacent-item-realtime",
        ],
    ),
    (
        "G-nonadjacent-item-realtime",
        &["G2-item-realtime", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process"]),
    (
        "G-nonadjacent-process",
        &["G2-process", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent-realtime", &["G2-realtime"]),
    ("G2", &["G2-process"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2-process", &["G2-realtime"]),
    ("GSIa", &["GSI"]),
    ("GSIb", &["GSI"]),
    ("incompatible-order", &["G1a"]),
    // Ours: a transaction's own appends to a key seen out of its order
    // leave no version order that agrees with the transaction itself.
    ("own-append-order", &["cyclic-versions"]),
    ("future-read", &["G1c"]),
    ("dirty-update", &["G1a"]),
    ("lost-update", &["write-skew", "G2-item"]),
    ("write-skew", &["G2"]),
    // Ours: reading an element nobody appended is reading a write that
    // never committed.
    ("garbage-read", &["G1a"]),
];

/// How much worse one anomaly is than another, beyond implication (Elle's
/// `anomaly-severity-graph`): only orders the cycle search.
const SEVERITY: &[(&str, &[&str])] = &[
    ("G0", &["G1c"]),
    ("G0-process", &["G1c-process"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1c", &["G-single", "G2-item"]),
    ("G1c-process", &["G-single-process", "G2-item-process"]),
    ("G1c-realtime", &["G-single-realtime", "G2-item-realtime"]),
    ("G2", &["G0-process"]),
    ("G2-process", &["G0-realtime"]),
];

/// A model implies those it lists (Elle's `models`, canonical names).
const MODEL_IMPLIES: &[(&str, &[&str])] = &[
    ("causal-cerone", &["read-atomic"]),
    ("PL-2+", &["PL-CS", "PL-2L"]),
    ("PL-CS", &["PL-2"]),
    ("PL-FCV", &["PL-2+"]),
    ("PL-2", &["PL-1"]),
    ("PL-3", &["PL-2.99", "PL-3U", "PL-SI", "view-serializable"]),
    ("PL-3U", &["PL-FCV"]),
    ("monotonic-atomic-view", &["PL-2"]),
    ("PL-2L", &["PL-2"]),
    ("PL-MSR", &["PL-2"]),
    (
        "parallel-snapshot-isolation",
        &["causal-cerone", "update-atomic"],
    ),
    ("prefix", &["causal-cerone"]),
    ("read-atomic", &["monotonic-atomic-view"]),
    ("PL-2.99", &["PL-CS", "monotonic-atomic-view"]),
    ("update-atomic", &["read-atomic"]),
    ("session-serializable", &["1SR"]),
    (
        "PL-SI",
        &[
            "PL-FCV",
            "monotonic-atomic-view",
            "PL-MSR",
            "parallel-snapshot-isolation",
            "prefix",
        ],
    ),
    (
        "PL-SS",
        &[
            "PL-3",
            "linearizable",
            "PL-SI",
            "strong-snapshot-isolation",
            "strong-session-serializable",
            "session-serializable",
        ],
    ),
    ("strong-session-PL-1", &["PL-1"]),
    ("strong-session-PL-2", &["PL-2", "strong-session-PL-1"]),
    ("strong-PL-1", &["strong-session-PL-1"]),
    ("strong-PL-2", &["strong-session-PL-2", "strong-PL-1"]),
    (
        "strong-session-serializable",
        &["PL-3", "strong-session-snapshot-isolation"],
    ),
    (
        "strong-session-snapshot-isolation",
        &["PL-SI", "strong-session-PL-2"],
    ),
    (
        "strong-snapshot-isolation",
        &["strong-session-snapshot-isolation", "strong-PL-2"],
    ),
    ("linearizable", &["sequential"]),
    ("sequential", &["causal"]),
    ("causal", &["writes-follow-reads", "PRAM"]),
    (
        "PRAM",
        &["monotonic-reads", "monotonic-writes", "read-your-writes"],
    ),
];

/// The anomalies a model forbids directly (Elle's
/// `direct-proscribed-anomalies`, canonical names; the `*-cycle-exists`
/// fallbacks left out, since this checker reports concrete cycles).
const PROSCRIBES: &[(&str, &[&str])] = &[
    ("causal-cerone", &["internal", "G1a"]),
    ("PL-CS", &["G1", "G-cursor", "lost-update"]),
    ("PL-2L", &["G1", "G-monotonic"]),
    ("PL-MSR", &["G1", "G-MSR"]),
    ("PL-2+", &["G1", "G-single"]),
    ("PL-FCV", &["G1", "G-SIb"]),
    ("parallel-snapshot-isolation", &["internal", "G1a"]),
    ("PL-3", &["G1", "G2", "predicate-read-miss", "internal"]),
    ("PL-2", &["G1"]),
    ("PL-1", &["G0", "duplicate-elements", "cyclic-versions"]),
    ("prefix", &["internal", "G1a"]),
    ("PL-SI", &["internal", "G1", "G-SI", "G-nonadjacent"]),
    ("read-atomic", &["internal", "G1a", "future-read"]),
    ("PL-2.99", &["G1", "G2-item", "lost-update"]),
    ("update-atomic", &["lost-update"]),
    ("PL-SS", &["G1", "G1c-realtime", "G2-realtime"]),
    ("strong-session-PL-1", &["G0-process"]),
    ("strong-session-PL-2", &["G1c-process"]),
    ("strong-PL-1", &["G0-realtime"]),
    ("strong-PL-2", &["G1c-realtime"]),
    (
        "strong-session-snapshot-isolation",
        &["internal", "G1-process", "G-nonadjacent-process"],
    ),
    (
        "strong-snapshot-isolation",
        &["internal", "G1-realtime", "G-nonadjacent-realtime"],
    ),
    ("strong-session-serializable", &["G1-process", "G2-process"]),
    ("PL-3U", &["G1", "G-update"]),
];

/// The cycle anomalies a list-append history can show (no predicates).
pub(crate) const CYCLE_TYPES: [&str; 15] = [
    "G0",
    "G1c",
    "G-single-item",
    "G-nonadjacent-item",
    "G2-item",
    "G0-process",
    "G1c-process",
    "G-single-item-process",
    "G-nonadjacent-item-process",
    "G2-item-process",
    "G0-realtime",
    "G1c-realtime",
    "G-single-item-realtime",
    "G-nonadjacent-item-realtime",
    "G2-item-realtime",
];

/// Everything reachable from `start` along `table` (forward), or against
/// it (`backward`), `start` included.
fn reach(
    table: &[(&'static str, &[&'static str])],
    start: impl IntoIterator<Item = &'static str>,
    backward: bool,
) -> BTreeSet<&'static str> {
    let mut seen: BTreeSet<&'static str> = BTreeSet::new();
    let mut todo: Vec<&'static str> = start.into_iter().collect();
    while let Some(x) = todo.pop() {
        if !seen.insert(x) {
            continue;
        }
        for &(from, tos) in table {
            if backward {
                if tos.contains(&x) {
                    todo.push(from);
                }
            } else if from == x {
                todo.extend(tos.iter().copied());
            }
        }
    }
    seen
}

/// Interns anomaly names given at run time to the tables' `'static` ones.
fn name(anomaly: &str) -> Option<&'static str> {
    IMPLIES
        .iter()
        .chain(PROSCRIBES)
        .flat_map(|&(a, bs)| std::iter::once(a).chain(bs.iter().copied()))
        .find(|&n| n == anomaly)
}

/// An anomaly and every anomaly it implies.
pub(crate) fn implied(anomaly: &str) -> BTreeSet<&'static str> {
    name(anomaly).map_or_else(BTreeSet::new, |a| reach(IMPLIES, [a], false))
}

/// Every anomaly a model forbids.
pub fn prohibited(model: ConsistencyModel) -> BTreeSet<&'static str> {
    let models = reach(MODEL_IMPLIES, [model.canonical()], false);
    let direct: Vec<&'static str> = PROSCRIBES
        .iter()
        .filter(|(m, _)| models.contains(m))
        .flat_map(|(_, a)| a.iter().copied())
        .collect();
    reach(IMPLIES, direct, true)
}

/// The models among the seven that these anomalies rule out.
pub fn ruled_out<'a>(anomalies: impl IntoIterator<Item = &'a str>) -> BTreeSet<ConsistencyModel> {
    let mut all: BTreeSet<&'static str> = BTreeSet::new();
    for a in anomalies {
        all.extend(implied(a));
    }
    let direct: Vec<&'static str> = PROSCRIBES
        .iter()
        .filter(|(_, forbids)| forbids.iter().any(|a| all.contains(a)))
        .map(|&(m, _)| m)
        .collect();
    let impossible = reach(MODEL_IMPLIES, direct, true);
    ConsistencyModel::ALL
        .into_iter()
        .filter(|m| impossible.contains(m.canonical()))
        .collect()
}

/// Elle's boundary over the seven: `not`, the weakest models ruled out (none
/// of them implies another ruled-out one), and `also_not`, the rest.
pub fn boundary(
    ruled_out: &BTreeSet<ConsistencyModel>,
) -> (Vec<ConsistencyModel>, Vec<ConsistencyModel>) {
    let mut not = Vec::new();
    let mut also_not = Vec::new();
    for &m in ruled_out {
        let below = reach(MODEL_IMPLIES, [m.canonical()], false);
        let implies_another = ruled_out
            .iter()
            .any(|&o| o != m && below.contains(o.canonical()));
        if implies_another {
            also_not.push(m);
        } else {
            not.push(m);
        }
    }
    (not, also_not)
}

/// The order in which Elle searches each strongly connected component for
/// cycle anomalies: by depth in the implication and severity graphs, then
/// by name (so the worst and most specific come first).
pub(crate) fn cycle_search_order() -> Vec<&'static str> {
    // Depth: layers peeled from the roots of the merged graph.
    let mut edges: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    for &(a, bs) in IMPLIES.iter().chain(SEVERITY) {
        edges.entry(a).or_default().extend(bs.iter().copied());
        for &b in bs {
            edges.entry(b).or_default();
        }
    }
    let mut depth: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut remaining: BTreeSet<&'static str> = edges.keys().copied().collect();
    let mut d = 0;
    while !remaining.is_empty() {
        let top: Vec<&'static str> = remaining
            .iter()
            .copied()
            .filter(|v| !remaining.iter().any(|u| edges[u].contains(v)))
            .collect();
        assert!(!top.is_empty(), "the anomaly graphs are acyclic");
        for v in top {
            remaining.remove(v);
            depth.insert(v, d);
        }
        d += 1;
    }
    let mut order: Vec<&'static str> = CYCLE_TYPES.to_vec();
    order.sort_by(|a, b| depth[a].cmp(&depth[b]).then(a.cmp(b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsistencyModel::*;

    fn not_and_also(anomalies: &[&str]) -> (Vec<ConsistencyModel>, Vec<ConsistencyModel>) {
        boundary(&ruled_out(anomalies.iter().copied()))
    }

    #[test]
    fn anomalies_rule_out_models_as_elle_says() {
        // (anomalies, not, also-not): Elle's own test expectations where it
        // has them (G2-item: not repeatable-read; G-nonadjacent-item: not
        // snapshot-isolation nor repeatable-read), the rest from its tables.
        let cases: &[(&[&str], &[ConsistencyModel], &[ConsistencyModel])] = &[
            (
                &["G2-item"],
                &[RepeatableRead],
                &[StrictSerializable, Serializable],
            ),
            (
                &["G-nonadjacent-item"],
                &[SnapshotIsolation, RepeatableRead],
                &[StrictSerializable, Serializable, StrongSnapshotIsolation],
            ),
            (
                &["G-single-item"],
                &[SnapshotIsolation, RepeatableRead],
                &[StrictSerializable, Serializable, StrongSnapshotIsolation],
            ),
            (
                &["G1c"],
                &[ReadCommitted],
                &[
                    StrictSerializable,
                    Serializable,
                    StrongSnapshotIsolation,
                    SnapshotIsolation,
                    RepeatableRead,
                ],
            ),
            (
                &["G0"],
                &[ReadUncommitted],
                &[
                    StrictSerializable,
                    Serializable,
                    StrongSnapshotIsolation,
                    SnapshotIsolation,
                    RepeatableRead,
                    ReadCommitted,
                ],
            ),
            (
                &["G1a"],
                &[ReadCommitted],
                &[
                    StrictSerializable,
                    Serializable,
                    StrongSnapshotIsolation,
                    SnapshotIsolation,
                    RepeatableRead,
                ],
            ),
            (&["G2-item-realtime"], &[StrictSerializable], &[]),
            // Strong snapshot isolation forbids real-time (and process)
            // G1 and G-nonadjacent, not G2-item-realtime (write skew).
            (
                &["G-single-item-realtime"],
                &[StrongSnapshotIsolation],
                &[StrictSerializable],
            ),
            (
                &["G0-process"],
                &[StrongSnapshotIsolation],
                &[StrictSerializable],
            ),
            (
                &["G1c-realtime"],
                &[StrongSnapshotIsolation],
                &[StrictSerializable],
            ),
            (
                &["lost-update"],
                &[SnapshotIsolation, RepeatableRead],
                &[StrictSerializable, Serializable, StrongSnapshotIsolation],
            ),
            // internal breaks serializable and SI, not repeatable read.
            (
                &["internal"],
                &[SnapshotIsolation],
                &[StrictSerializable, Serializable, StrongSnapshotIsolation],
            ),
            (
                &["duplicate-elements"],
                &[ReadUncommitted],
                &[
                    StrictSerializable,
                    Serializable,
                    StrongSnapshotIsolation,
                    SnapshotIsolation,
                    RepeatableRead,
                    ReadCommitted,
                ],
            ),
            (
                &["incompatible-order"],
                &[ReadCommitted],
                &[
                    StrictSerializable,
                    Serializable,
                    StrongSnapshotIsolation,
                    SnapshotIsolation,
                    RepeatableRead,
                ],
            ),
            (&[], &[], &[]),
        ];
        for (anomalies, not, also) in cases {
            let (n, a) = not_and_also(anomalies);
            assert_eq!((&n[..], &a[..]), (*not, *also), "{anomalies:?}");
        }
    }

    #[test]
    fn models_prohibit_what_they_should() {
        let ss = prohibited(StrictSerializable);
        for a in CYCLE_TYPES {
            assert!(ss.contains(a), "strict-serializable forbids {a}");
        }
        let ser = prohibited(Serializable);
        assert!(
            ser.contains("G2-item") && ser.contains("G-single-item") && ser.contains("internal")
        );
        assert!(!ser.contains("G-single-item-realtime") && !ser.contains("G0-process"));
        let si = prohibited(SnapshotIsolation);
        assert!(
            si.contains("G-single-item")
                && si.contains("G-nonadjacent-item")
                && si.contains("lost-update")
        );
        assert!(
            !si.contains("G2-item"),
            "snapshot isolation allows write skew"
        );
        let ru = prohibited(ReadUncommitted);
        assert!(ru.contains("G0") && ru.contains("duplicate-elements") && !ru.contains("G1c"));
    }

    #[test]
    fn the_search_order_is_elles() {
        assert_eq!(
            cycle_search_order(),
            vec![
                "G-single-item",
                "G0",
                "G-nonadjacent-item",
                "G-single-item-process",
                "G1c",
                "G-nonadjacent-item-process",
                "G-single-item-realtime",
                "G2-item",
                "G-nonadjacent-item-realtime",
                "G0-process",
                "G1c-process",
                "G2-item-process",
                "G0-realtime",
                "G1c-realtime",
                "G2-item-realtime",
            ]
        );
    }

    #[test]
    fn models_parse_from_their_names() {
        for m in ConsistencyModel::ALL {
            assert_eq!(m.as_str().parse::<ConsistencyModel>().unwrap(), m);
        }
        assert!("linearizable".parse::<ConsistencyModel>().is_err());
    }
}
