//! The control commands (`chaos-fs ctl ...`): their grammar, parsed from
//! the words a caller typed into a `Command`, and the wire form (one JSON
//! array of those words per line on the control socket; one JSON object
//! per reply). Pure: the socket is `control`, the effects are `fs`.
//!
//! ```text
//! freeze [--torn] [--seed S]
//! disk-full [--after-bytes N]
//! io-error --share P --ops OPS [--path GLOB] --seed S
//! io-delay --delay D [--jitter J] --ops OPS [--path GLOB] --seed S
//! clear
//! status
//! ```

use std::time::Duration;

use crate::faults::{OpSet, Scope};

/// A control command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Stop serving every request (the instant of a power loss); with
    /// `torn`, first write a prefix of the last unsynced write, its length
    /// drawn from the seed.
    Freeze {
        /// Tear the last unsynced write first.
        torn: bool,
        /// Seed of the prefix length's draw.
        seed: u64,
    },
    /// Writes and creates fail with ENOSPC after this many more bytes.
    DiskFull {
        /// The byte budget (0: full at once).
        after_bytes: u64,
    },
    /// EIO on a share of the selected operations.
    IoError {
        /// 0..=1.
        share: f64,
        /// What it selects.
        scope: Scope,
        /// Seed of the draws.
        seed: u64,
    },
    /// Delays of the selected operations.
    IoDelay {
        /// Fixed part.
        delay: Duration,
        /// Random part's maximum.
        jitter: Duration,
        /// What it selects.
        scope: Scope,
        /// Seed of the draws.
        seed: u64,
    },
    /// Every fault off (and a freeze lifted).
    Clear,
    /// What is set, and what is pending.
    Status,
}

impl Command {
    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Freeze { .. } => "freeze",
            Command::DiskFull { .. } => "disk-full",
            Command::IoError { .. } => "io-error",
            Command::IoDelay { .. } => "io-delay",
            Command::Clear => "clear",
            Command::Status => "status",
        }
    }
}

/// The usage text of `chaos-fs ctl`.
pub const USAGE: &str = "\
usage: chaos-fs ctl [--socket PATH] COMMAND
  freeze [--torn] [--seed S]        stop serving every request (then kill the container)
  disk-full [--after-bytes N]       writes and creates fail with ENOSPC (after N more bytes)
  io-error --share P --ops OPS [--path GLOB] --seed S
                                    EIO on a share P (0..1 or N%) of the operations
  io-delay --delay D [--jitter J] --ops OPS [--path GLOB] --seed S
                                    delay the operations by D plus up to J (100ms, 2s)
  clear                             every fault off
  status                            what is set, what is pending
OPS: a comma-separated list of read, write, fsync, open, create, unlink, rename, truncate, readdir
GLOB: a path relative to the mount point; * and ? stay within a directory, ** crosses them";

/// Parses a duration: `0`, `250us`, `100ms`, `2s`, `1.5s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration '{s}' needs a unit (us, ms, s, m)"))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 100ms, 2s)"))?;
    let scale = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        _ => return Err(format!("unknown unit '{unit}' in '{s}' (us, ms, s, m)")),
    };
    let secs = n * scale;
    if !secs.is_finite() || secs > 3600.0 {
        return Err(format!("duration '{s}' is out of range (at most 1 hour)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a share: `0.25` or `25%`, within 0..=1.
pub fn parse_share(s: &str) -> Result<f64, String> {
    let v = match s.strip_suffix('%') {
        Some(p) => p.parse::<f64>().map(|x| x / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|_| format!("'{s}' is not a share (0.25 or 25%)"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("share '{s}' is outside 0..1"));
    }
    Ok(v)
}

fn parse_u64(flag: &str, s: &str) -> Result<u64, String> {
    s.parse()
        .map_err(|_| format!("{flag} takes a whole number, not '{s}'"))
}

/// Parses the words after `chaos-fs ctl` (without `--socket`).
pub fn parse(words: &[String]) -> Result<Command, String> {
    let (name, rest) = words
        .split_first()
        .ok_or_else(|| "no command given".to_string())?;
    let allowed: &[&str] = match name.as_str() {
        "freeze" => &["--torn", "--seed"],
        "disk-full" => &["--after-bytes"],
        "io-error" => &["--share", "--ops", "--path", "--seed"],
        "io-delay" => &["--delay", "--jitter", "--ops", "--path", "--seed"],
        "clear" | "status" => &[],
        other => return Err(format!("unknown command '{other}'\n{USAGE}")),
    };
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    let takes_value = |f: &str| f != "--torn";
    let mut i = 0;
    while i < rest.len() {
        let w = &rest[i];
        if !w.starts_with("--") {
            return Err(format!("{name}: unexpected argument '{w}'"));
        }
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (w.clone(), None),
        };
        if !allowed.contains(&flag.as_str()) {
            return Err(format!("{name}: unknown option {flag}"));
        }
        if flags.iter().any(|(f, _)| *f == flag) {
            return Err(format!("{name}: {flag} given twice"));
        }
        let value = if takes_value(&flag) {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    Some(
                        rest.get(i)
                            .ok_or_else(|| format!("{name}: {flag} needs a value"))?
                            .clone(),
                    )
                }
            }
        } else {
            if inline.is_some() {
                return Err(format!("{name}: {flag} takes no value"));
            }
            None
        };
        flags.push((flag, value));
        i += 1;
    }
    let get = |f: &str| {
        flags
            .iter()
            .find(|(g, _)| g == f)
            .and_then(|(_, v)| v.clone())
    };
    let need = |f: &str| get(f).ok_or_else(|| format!("{name} needs {f}"));
    let scope = || -> Result<Scope, String> {
        Ok(Scope {
            ops: OpSet::parse(&need("--ops")?).map_err(|e| format!("{name}: --ops: {e}"))?,
            path: get("--path"),
        })
    };
    Ok(match name.as_str() {
        "freeze" => Command::Freeze {
            torn: flags.iter().any(|(f, _)| f == "--torn"),
            seed: get("--seed").map_or(Ok(0), |s| parse_u64("--seed", &s))?,
        },
        "disk-full" => Command::DiskFull {
            after_bytes: get("--after-bytes").map_or(Ok(0), |s| parse_u64("--after-bytes", &s))?,
        },
        "io-error" => Command::IoError {
            share: parse_share(&need("--share")?)?,
            scope: scope()?,
            seed: parse_u64("--seed", &need("--seed")?)?,
        },
        "io-delay" => Command::IoDelay {
            delay: parse_duration(&need("--delay")?)?,
            jitter: get("--jitter").map_or(Ok(Duration::ZERO), |s| parse_duration(&s))?,
            scope: scope()?,
            seed: parse_u64("--seed", &need("--seed")?)?,
        },
        "clear" => Command::Clear,
        _ => Command::Status,
    })
}

/// The request line a client sends for `words`.
pub fn request_line(words: &[String]) -> String {
    serde_json::Value::from(words.to_vec()).to_string()
}

/// Reads a request line back into words.
pub fn parse_request_line(line: &str) -> Result<Vec<String>, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request line: {e}"))
}

/// The length of a torn prefix drawn from `seed` for a range of `len`
/// bytes: at least 1 and fewer than `len` (a real tear) when `len` > 1.
pub fn torn_prefix(seed: u64, len: u64) -> u64 {
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    if len <= 1 {
        return len;
    }
    let x = ChaCha8Rng::seed_from_u64(seed).next_u64();
    1 + ((u128::from(x) * u128::from(len - 1)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Op;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn check(input: &str, expect: Result<Command, &str>) {
        let got = parse(&words(input));
        match expect {
            Ok(c) => assert_eq!(got, Ok(c), "{input}"),
            Err(e) => {
                let msg = got.expect_err(input);
                assert!(msg.contains(e), "{input}: {msg:?} lacks {e:?}");
            }
        }
    }

    #[test]
    fn commands() {
        check(
            "freeze",
            Ok(Command::Freeze {
                torn: false,
                seed: 0,
            }),
        );
        check(
            "freeze --torn --seed 9",
            Ok(Command::Freeze {
                torn: true,
                seed: 9,
            }),
        );
        check("disk-full", Ok(Command::DiskFull { after_bytes: 0 }));
        check(
            "disk-full --after-bytes=4096",
            Ok(Command::DiskFull { after_bytes: 4096 }),
        );
        check(
            "io-error --share 25% --ops read,fsync --path **/*.wal --seed 3",
            Ok(Command::IoError {
                share: 0.25,
                scope: Scope {
                    ops: OpSet::parse("read,fsync").unwrap(),
                    path: Some("**/*.wal".into()),
                },
                seed: 3,
            }),
        );
        check(
            "io-delay --delay 100ms --jitter 50ms --ops fsync --seed 1",
            Ok(Command::IoDelay {
                delay: Duration::from_millis(100),
                jitter: Duration::from_millis(50),
                scope: Scope {
                    ops: OpSet::parse("fsync").unwrap(),
                    path: None,
                },
                seed: 1,
            }),
        );
        check("clear", Ok(Command::Clear));
        check("status", Ok(Command::Status));
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        check("", Err("no command given"));
        check("melt", Err("unknown command 'melt'"));
        check(
            "io-error --share 0.5 --ops read",
            Err("io-error needs --seed"),
        );
        check(
            "io-error --share 1.5 --ops read --seed 1",
            Err("outside 0..1"),
        );
        check(
            "io-error --share 0.5 --ops reed --seed 1",
            Err("unknown operation 'reed'"),
        );
        check(
            "io-delay --delay 5 --ops fsync --seed 1",
            Err("needs a unit"),
        );
        check(
            "io-delay --delay 5h --ops fsync --seed 1",
            Err("unknown unit 'h'"),
        );
        check("freeze --torn=yes", Err("takes no value"));
        check("freeze --seed", Err("--seed needs a value"));
        check("clear --all", Err("unknown option --all"));
        check("status now", Err("unexpected argument 'now'"));
        check("disk-full --after-bytes -1", Err("whole number"));
        check(
            "disk-full --after-bytes 1 --after-bytes 2",
            Err("given twice"),
        );
    }

    #[test]
    fn durations_and_shares() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("61m").is_err());
        assert_eq!(parse_share("0"), Ok(0.0));
        assert_eq!(parse_share("100%"), Ok(1.0));
        assert!(parse_share("abc").is_err());
    }

    #[test]
    fn the_wire_form_round_trips() {
        let w = words("io-error --share 0.1 --ops read --path a\"b --seed 1");
        assert_eq!(parse_request_line(&request_line(&w)), Ok(w));
        assert!(parse_request_line("freeze").is_err());
    }

    #[test]
    fn torn_prefixes_are_real_tears_and_follow_the_seed() {
        assert_eq!(torn_prefix(1, 0), 0);
        assert_eq!(torn_prefix(1, 1), 1);
        for seed in 0..200 {
            let k = torn_prefix(seed, 4096);
            assert!((1..4096).contains(&k));
            assert_eq!(k, torn_prefix(seed, 4096));
        }
        let distinct: std::collections::BTreeSet<u64> =
            (0..50).map(|s| torn_prefix(s, 4096)).collect();
        assert!(distinct.len() > 40);
        assert!(OpSet::parse("read").unwrap().contains(Op::Read));
    }
}
