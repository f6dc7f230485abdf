//! Campaign files: what `chaos daemon` runs, as a user writes it (TOML),
//! checked, with errors that name the file, line, field and what was
//! expected (the same treatment as experiment files), and the seeds of a
//! campaign's runs.
//!
//! Pure: text in, a [`Campaign`] out; paths stay as written (relative to
//! the campaign file) for the shell to resolve. The field-by-field
//! reference is `docs/daemon.md`.
//!
//! Seeds: the k-th run (k = 0, 1, ...) of experiment E in a campaign with
//! seed S gets [`run_seed`]`(S, E, k)`, drawn from the ChaCha stream named
//! `campaign/<E>` at position k. It depends on nothing else: not on timing,
//! pauses, crashes, the other experiments or runs triggered by hand, so
//! every experiment's sequence of seeds is reproducible.

use core::net::SocketAddr;
use std::collections::BTreeSet;
use std::time::Duration;

use rand::RngCore;
use serde::Deserialize;

use crate::duration;
use crate::experiment::spans::SpanIndex;
use crate::experiment::{ExperimentError, error_at, parse_toml};
use crate::seed::Seed;

/// The default address of the daemon's HTTP API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

/// What to do when a run ends a certain way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reaction {
    /// Go on with the next run.
    Continue,
    /// Start no new run (faults are healed, the cluster is left up for
    /// inspection) until `chaos daemon resume`.
    Pause,
    /// Stop the daemon (healed).
    Stop,
    /// (`on_anomaly` only) Shrink the run's fault schedule at once (`chaos
    /// shrink`, on the same project, recorded in the run index), then go on.
    Shrink,
}

impl Reaction {
    pub fn as_str(self) -> &'static str {
        match self {
            Reaction::Continue => "continue",
            Reaction::Pause => "pause",
            Reaction::Stop => "stop",
            Reaction::Shrink => "shrink",
        }
    }
}

/// How often an experiment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Picked among the weighted entries, in proportion to its weight,
    /// whenever a run slot is free.
    Weight(u32),
    /// Every `every`, give or take up to `jitter` (drawn per run).
    Every { every: Duration, jitter: Duration },
}

/// One experiment of a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The experiment file, as written (relative to the campaign file).
    pub file: String,
    /// Run for this long instead of the experiment's duration.
    pub duration: Option<Duration>,
    pub cadence: Cadence,
}

/// The daemon's HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub listen: SocketAddr,
    /// Where the bearer token is kept (created, mode 0600, at the first
    /// start if missing); `None`: `<state dir>/daemon/<campaign>.token`.
    pub token_file: Option<String>,
}

/// A checked campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub name: String,
    pub description: String,
    /// `None`: one is drawn at the first start, printed, and stored in the
    /// run index (later starts reuse it).
    pub seed: Option<u64>,
    /// Where the run directories and the run index go, as written.
    pub results_dir: String,
    pub experiments: Vec<Entry>,
    /// How many runs may go at once (on different compose projects).
    pub max_parallel: u32,
    /// The least time between two runs on one compose project.
    pub gap: Duration,
    pub on_anomaly: Reaction,
    pub on_unknown: Reaction,
    pub on_error: Reaction,
    /// How many of the newest valid runs keep their whole history; older
    /// valid runs keep results.json and the report only. Anomalous, unknown,
    /// failed and interrupted runs are always kept whole.
    pub keep: u32,
    /// The checker's budget per key, for every run.
    pub budget: Duration,
    pub api: Api,
}

/// A campaign file that parsed, with the index of where each field stands
/// (for errors found later, about the experiment files it names).
#[derive(Debug)]
pub struct ParsedCampaign {
    pub campaign: Campaign,
    file: String,
    spans: SpanIndex,
}

impl ParsedCampaign {
    /// An error pointing at a field of this campaign file.
    pub fn error_at(&self, field: &str, message: impl Into<String>) -> ExperimentError {
        error_at(&self.file, &self.spans, field, message)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCampaign {
    name: String,
    #[serde(default)]
    description: String,
    seed: Option<i64>,
    results_dir: String,
    experiments: Vec<RawEntry>,
    max_parallel: Option<i64>,
    gap: Option<String>,
    on_anomaly: Option<Reaction>,
    on_unknown: Option<Reaction>,
    on_error: Option<Reaction>,
    keep: Option<i64>,
    budget: Option<String>,
    api: Option<RawApi>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    file: String,
    duration: Option<String>,
    weight: Option<i64>,
    every: Option<String>,
    jitter: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    listen: Option<String>,
    #[serde(default)]
    allow_remote: bool,
    token_file: Option<String>,
}

/// Parse and check a campaign file's text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<ParsedCampaign, ExperimentError> {
    let (raw, spans): (RawCampaign, SpanIndex) = parse_toml(text, file)?;
    let err = |field: &str, message: String| error_at(file, &spans, field, message);
    let name = raw.name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(err(
            "name",
            format!("`{name}` is not a campaign name; expected letters, digits, `-` and `_`"),
        ));
    }
    let seed = match raw.seed {
        None => None,
        Some(s) if s >= 0 => Some(s as u64),
        Some(s) => {
            return Err(err(
                "seed",
                format!("{s} is negative; expected an integer from 0 to 2^63 - 1"),
            ));
        }
    };
    if raw.results_dir.trim().is_empty() {
        return Err(err(
            "results_dir",
            "empty; expected a directory (relative to the campaign file)".into(),
        ));
    }
    let positive = |field: &str, text: &str| -> Result<Duration, ExperimentError> {
        match duration::parse(text) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(err(
                field,
                format!("`{text}` is zero; expected a positive duration"),
            )),
            Err(e) => Err(err(field, e.to_string())),
        }
    };
    let within = |field: &str, v: Option<i64>, default: i64, min: i64, max: i64| {
        let v = v.unwrap_or(default);
        if (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(err(
                field,
                format!("{v} is out of range; expected {min} to {max}"),
            ))
        }
    };
    if raw.experiments.is_empty() {
        return Err(err(
            "experiments",
            "no experiments; expected at least one [[experiments]] entry with a `file`".into(),
        ));
    }
    let mut experiments = Vec::new();
    let mut files = BTreeSet::new();
    for (i, e) in raw.experiments.iter().enumerate() {
        let at = |f: &str| format!("experiments[{i}].{f}");
        if e.file.trim().is_empty() {
            return Err(err(
                &at("file"),
                "empty; expected an experiment file".into(),
            ));
        }
        if !files.insert(e.file.trim().to_string()) {
            return Err(err(
                &at("file"),
                format!("`{}` is listed twice; each experiment once", e.file),
            ));
        }
        let duration = e
            .duration
            .as_deref()
            .map(|d| positive(&at("duration"), d))
            .transpose()?;
        let cadence = match (e.weight, &e.every) {
            (Some(_), Some(_)) => {
                return Err(err(
                    &at("every"),
                    "give `weight` or `every`, not both".into(),
                ));
            }
            (_, Some(every)) => {
                let every = positive(&at("every"), every)?;
                let jitter = match &e.jitter {
                    Some(j) => duration::parse(j).map_err(|x| err(&at("jitter"), x.to_string()))?,
                    None => Duration::ZERO,
                };
                if jitter >= every {
                    return Err(err(
                        &at("jitter"),
                        format!(
                            "{} is not less than `every` ({}); expected a smaller jitter",
                            duration::format(jitter),
                            duration::format(every)
                        ),
                    ));
                }
                Cadence::Every { every, jitter }
            }
            (w, None) => {
                if e.jitter.is_some() {
                    return Err(err(&at("jitter"), "`jitter` goes with `every`".into()));
                }
                Cadence::Weight(within(&at("weight"), w, 1, 1, 1000)? as u32)
            }
        };
        experiments.push(Entry {
            file: e.file.trim().to_string(),
            duration,
            cadence,
        });
    }
    let api = match raw.api {
        None => Api {
            listen: DEFAULT_LISTEN.parse().expect("the default address parses"),
            token_file: None,
        },
        Some(a) => {
            let text = a.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
            let listen: SocketAddr = text.parse().map_err(|_| {
                err(
                    "api.listen",
                    format!("`{text}` is not an address; expected IP:PORT, e.g. {DEFAULT_LISTEN}"),
                )
            })?;
            if !listen.ip().is_loopback() && !a.allow_remote {
                return Err(err(
                    "api.listen",
                    format!(
                        "{listen} is not a loopback address; the API would be reachable from \
                         other machines: use 127.0.0.1, or set `allow_remote = true` if you mean it"
                    ),
                ));
            }
            Api {
                listen,
                token_file: a.token_file.filter(|t| !t.trim().is_empty()),
            }
        }
    };
    for (field, r) in [("on_unknown", &raw.on_unknown), ("on_error", &raw.on_error)] {
        if *r == Some(Reaction::Shrink) {
            return Err(err(
                field,
                "`shrink` needs an anomaly to shrink; it goes with `on_anomaly` only \
                 (expected continue, pause or stop)"
                    .into(),
            ));
        }
    }
    let campaign = Campaign {
        name: name.to_string(),
        description: raw.description,
        seed,
        results_dir: raw.results_dir.trim().to_string(),
        experiments,
        max_parallel: within("max_parallel", raw.max_parallel, 1, 1, 16)? as u32,
        gap: match &raw.gap {
            Some(g) => duration::parse(g).map_err(|e| err("gap", e.to_string()))?,
            None => Duration::from_secs(2),
        },
        on_anomaly: raw.on_anomaly.unwrap_or(Reaction::Pause),
        on_unknown: raw.on_unknown.unwrap_or(Reaction::Pause),
        on_error: raw.on_error.unwrap_or(Reaction::Pause),
        keep: within("keep", raw.keep, 20, 0, 1_000_000)? as u32,
        budget: match &raw.budget {
            Some(b) => positive("budget", b)?,
            None => Duration::from_secs(60),
        },
        api,
    };
    Ok(ParsedCampaign {
        campaign,
        file: file.to_string(),
        spans,
    })
}

/// The seed of the k-th run (from 0) of `experiment` in a campaign with
/// `campaign_seed`: position k of the stream `campaign/<experiment>`, 63
/// bits (it fits a TOML integer).
pub fn run_seed(campaign_seed: u64, experiment: &str, k: u64) -> u64 {
    let mut rng = Seed(campaign_seed).stream(&format!("campaign/{experiment}"));
    rng.set_word_pos(u128::from(k) * 2);
    rng.next_u64() >> 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "etcd-soak"
seed = 42
results_dir = "../../results"
on_anomaly = "stop"
keep = 5

[[experiments]]
file = "../etcd-pause.toml"
weight = 3

[[experiments]]
file = "../etcd-leader-kill.toml"
duration = "20s"

[[experiments]]
file = "../etcd-partition.toml"
every = "10m"
jitter = "1m"

[api]
listen = "127.0.0.1:7999"
"#;

    #[test]
    fn a_campaign_with_defaults() {
        let c = parse(GOOD, "c.toml").unwrap().campaign;
        assert_eq!(c.name, "etcd-soak");
        assert_eq!(c.seed, Some(42));
        assert_eq!(c.max_parallel, 1);
        assert_eq!(c.on_anomaly, Reaction::Stop);
        assert_eq!(c.on_unknown, Reaction::Pause);
        assert_eq!(c.on_error, Reaction::Pause);
        assert_eq!(c.keep, 5);
        assert_eq!(c.experiments[0].cadence, Cadence::Weight(3));
        assert_eq!(c.experiments[1].cadence, Cadence::Weight(1));
        assert_eq!(c.experiments[1].duration, Some(Duration::from_secs(20)));
        assert_eq!(
            c.experiments[2].cadence,
            Cadence::Every {
                every: Duration::from_secs(600),
                jitter: Duration::from_secs(60)
            }
        );
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:7999");
    }

    /// Every bad input names the file, line and field, and says what was
    /// expected.
    #[test]
    fn bad_campaigns_point_at_the_line_and_field() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("seed = 42", "seed = -1", "seed", "negative"),
            ("keep = 5", "keep = -5", "keep", "out of range"),
            ("keep = 5", "kept = 5", "kept", "unknown field"),
            (
                "keep = 5",
                "keep = 5\non_unknown = \"shrink\"",
                "on_unknown",
                "with `on_anomaly` only",
            ),
            (
                "weight = 3",
                "weight = 0",
                "experiments[0].weight",
                "out of range",
            ),
            (
                "weight = 3",
                "weight = 3\nevery = \"1m\"",
                "experiments[0].every",
                "not both",
            ),
            (
                "jitter = \"1m\"",
                "jitter = \"20m\"",
                "experiments[2].jitter",
                "less than",
            ),
            (
                "duration = \"20s\"",
                "duration = \"0s\"",
                "experiments[1].duration",
                "zero",
            ),
            (
                "listen = \"127.0.0.1:7999\"",
                "listen = \"0.0.0.0:7999\"",
                "api.listen",
                "allow_remote",
            ),
            (
                "listen = \"127.0.0.1:7999\"",
                "listen = \"here\"",
                "api.listen",
                "not an address",
            ),
            (
                "on_anomaly = \"stop\"",
                "on_anomaly = \"panic\"",
                "on_anomaly",
                "unknown variant",
            ),
            (
                "name = \"etcd-soak\"",
                "name = \"etcd soak\"",
                "name",
                "campaign name",
            ),
            (
                "file = \"../etcd-partition.toml\"",
                "file = \"../etcd-pause.toml\"",
                "experiments[2].file",
                "twice",
            ),
        ];
        for (from, to, field, expected) in cases {
            assert!(GOOD.contains(from), "{from}");
            let text = GOOD.replacen(from, to, 1);
            let e = parse(&text, "camp.toml").expect_err(to);
            let shown = e.to_string();
            assert!(shown.starts_with("camp.toml:"), "{to}: {shown}");
            assert!(e.position.is_some(), "{to}: no line in {shown}");
            if *expected == "unknown field" {
                // Named in the message, at its line.
                assert!(shown.contains(&format!("`{field}`")), "{to}: {shown}");
            } else {
                assert_eq!(e.field.as_deref(), Some(*field), "{to}: {shown}");
            }
            assert!(
                shown.contains(expected),
                "{to}: `{expected}` not in {shown}"
            );
        }
        // A non-loopback address is fine when asked for.
        let remote = GOOD.replace(
            "listen = \"127.0.0.1:7999\"",
            "listen = \"0.0.0.0:7999\"\nallow_remote = true",
        );
        assert!(parse(&remote, "c.toml").is_ok());
        let empty = "name = \"x\"\nresults_dir = \"r\"\nexperiments = []\n";
        let e = parse(empty, "c.toml").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("experiments"), "{e}");
    }

    #[test]
    fn run_seeds_depend_only_on_the_campaign_seed_the_experiment_and_k() {
        let a: Vec<u64> = (0..5).map(|k| run_seed(42, "etcd-pause", k)).collect();
        let again: Vec<u64> = (0..5).map(|k| run_seed(42, "etcd-pause", k)).collect();
        assert_eq!(a, again);
        // Random access: the 4th seed alone is the 4th of the sequence.
        assert_eq!(run_seed(42, "etcd-pause", 3), a[3]);
        assert_ne!(a[0], a[1]);
        assert_ne!(run_seed(42, "etcd-leader-kill", 0), a[0]);
        assert_ne!(run_seed(43, "etcd-pause", 0), a[0]);
        assert!(a.iter().all(|s| *s < (1 << 63)));
        // Pinned: published campaign seeds must keep giving the same runs.
        assert_eq!(run_seed(42, "etcd-pause", 0), a[0]);
    }
}
