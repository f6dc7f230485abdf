//! Checker benchmarks: `cargo bench --bench checker [-- GROUP...]`.
//!
//! Groups: `etcd` (all Jepsen etcd histories in ../shared, parse + check in
//! one process), `kv` (Porcupine's kv histories as one map state, without
//! splitting by key), `hard` (1,000-op single-register histories, 20
//! processes, 5% info), `big` (1,000,000 ops over 1,000 keys). A small
//! hand-rolled harness: each case runs a few times and prints min and
//! median wall time. Figures are kept in docs/performance.md.
//!
//! Every verdict printed is also asserted: the etcd files against
//! verdicts.tsv, the kv files against their names, generated histories
//! against how they were made (a corrupted one is invalid, a clean one
//! valid). `unknown` is accepted only where docs/performance.md says the
//! budget can run out (the small-domain stale reads); a wrong verdict
//! panics the benchmark.
//!
//! Environment: `CHAOS_BENCH_BUDGET` (default `10s`) is the per-key budget
//! of the hard cases, `CHAOS_BENCH_SEEDS` (default 10) how many histories of
//! each; `CHAOS_BENCH_THREADS` (default: all cores).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaos::checker::{self, CheckOptions, Clock, Verdict};
use chaos::histgen::{self, Corruption, GenConfig, Values};
use chaos::history::{self, Format};

struct Wall(Instant);
impl Clock for Wall {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

fn options(budget: Duration, threads: usize) -> CheckOptions {
    CheckOptions {
        budget,
        threads,
        clock: Some(Arc::new(Wall(Instant::now()))),
        ..CheckOptions::default()
    }
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Run `f` `n` times; (min, median).
fn time<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(n);
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed());
        last = Some(out);
    }
    times.sort();
    (times[0], times[n / 2], last.expect("ran at least once"))
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Panic unless `got` is one of `allowed`: a benchmark never prints a
/// verdict it has not checked.
fn expect(what: &str, got: Verdict, allowed: &[Verdict]) {
    assert!(
        allowed.contains(&got),
        "{what}: the checker said {got}, expected {}",
        allowed
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    );
}

/// The independent checker's verdict for each etcd file (verdicts.tsv).
fn etcd_verdicts(dir: &Path) -> std::collections::BTreeMap<String, Verdict> {
    let text = std::fs::read_to_string(dir.join("verdicts.tsv")).expect("verdicts.tsv readable");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let v = match cols[1] {
                "true" => Verdict::Valid,
                "false" => Verdict::Invalid,
                other => panic!("verdicts.tsv: `{other}` is not true/false"),
            };
            (cols[0].to_string(), v)
        })
        .collect()
}

fn threads() -> usize {
    std::env::var("CHAOS_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn etcd() {
    let dir = data().join("jepsen-etcd");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("../shared/data/jepsen-etcd exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("readable"))
        .collect();
    let ops: usize = texts.iter().map(|t| t.lines().count() / 2).sum();
    let opts = options(Duration::from_secs(60), 1);
    let expected = etcd_verdicts(&dir);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let run = || {
        let mut invalid = 0;
        for (name, text) in names.iter().zip(&texts) {
            let h = history::parse(text, Format::JepsenEtcd).expect("parses");
            let verdict = checker::check(&h, &opts).verdict;
            let want = *expected
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not in verdicts.tsv"));
            expect(name, verdict, &[want]);
            if verdict == Verdict::Invalid {
                invalid += 1;
            }
        }
        invalid
    };
    let (min, median, invalid) = time(30, run);
    println!(
        "etcd: {} files, {ops} ops, parse + check, 1 thread: min {}, median {} ({invalid} invalid)",
        files.len(),
        ms(min),
        ms(median)
    );
    // The slowest single file.
    let mut slowest = (Duration::ZERO, String::new());
    for (path, text) in files.iter().zip(&texts) {
        let (min, _, _) = time(10, || {
            let h = history::parse(text, Format::JepsenEtcd).expect("parses");
            checker::check(&h, &opts).verdict
        });
        if min > slowest.0 {
            slowest = (
                min,
                path.file_name().unwrap().to_string_lossy().into_owned(),
            );
        }
    }
    println!("etcd: slowest file {} in {}", slowest.1, ms(slowest.0));
}

fn kv() {
    for name in ["c01-ok", "c01-bad", "c10-ok", "c10-bad"] {
        let text = std::fs::read_to_string(data().join("kv").join(format!("{name}.txt")))
            .expect("kv history readable");
        for split in [false, true] {
            let mut opts = options(Duration::from_secs(60), 1);
            opts.split_keys = split;
            let (min, median, report) = time(5, || {
                let h = history::parse(&text, Format::PorcupineKv).expect("parses");
                checker::check(&h, &opts)
            });
            let want = if name.ends_with("-ok") {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            expect(&format!("kv {name}"), report.verdict, &[want]);
            println!(
                "kv {name} {}: {} in min {}, median {} ({} configurations)",
                if split { "per key" } else { "one state" },
                report.verdict,
                ms(min),
                ms(median),
                report.keys.iter().map(|k| k.configurations).sum::<u64>()
            );
        }
    }
}

fn hard() {
    let budget = std::env::var("CHAOS_BENCH_BUDGET")
        .ok()
        .and_then(|b| chaos::duration::parse(&b).ok())
        .unwrap_or(Duration::from_secs(10));
    let seeds: usize = std::env::var("CHAOS_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .max(1);
    let base = GenConfig {
        ops: 1000,
        processes: 20,
        keys: 1,
        info_fraction: 0.05,
        fail_fraction: 0.0,
        read_fraction: 0.5,
        write_fraction: 0.25,
        ..GenConfig::default()
    };
    // (name, values, corruption, processes, may the budget run out?)
    let cases = [
        ("unique, valid", Values::Unique, None, 20, false),
        (
            "unique, stale read",
            Values::Unique,
            Some(Corruption::StaleRead),
            20,
            false,
        ),
        (
            "unique, never-written read",
            Values::Unique,
            Some(Corruption::NeverWritten),
            20,
            false,
        ),
        (
            "unique, stale read, sequential",
            Values::Unique,
            Some(Corruption::StaleRead),
            1,
            false,
        ),
        ("values 0..4, valid", Values::Domain(5), None, 20, false),
        (
            "values 0..4, stale read",
            Values::Domain(5),
            Some(Corruption::StaleRead),
            20,
            true,
        ),
    ];
    for (name, values, corruption, processes, may_give_up) in cases {
        let mut times = Vec::new();
        let mut verdicts = std::collections::BTreeMap::new();
        let mut seed = 0u64;
        while times.len() < seeds {
            seed += 1;
            let g = histgen::generate(&GenConfig {
                seed,
                values,
                corruption,
                processes,
                ..base.clone()
            })
            .expect("generates");
            if corruption.is_some() && g.corrupted.is_none() {
                continue; // no read to corrupt with this seed
            }
            let opts = options(budget, 1);
            let t = Instant::now();
            let report = checker::check(&g.history, &opts);
            times.push(t.elapsed());
            *verdicts.entry(report.verdict.as_str()).or_insert(0) += 1;
            if report.verdict != Verdict::Invalid && corruption.is_some()
                || report.verdict != Verdict::Valid && corruption.is_none()
            {
                println!("  seed {seed}: {}", report.verdict);
            }
            let want = if corruption.is_some() {
                Verdict::Invalid
            } else {
                Verdict::Valid
            };
            let allowed: &[Verdict] = if may_give_up {
                &[want, Verdict::Unknown]
            } else {
                &[want]
            };
            expect(
                &format!("hard {name}, seed {seed}"),
                report.verdict,
                allowed,
            );
        }
        times.sort();
        println!(
            "hard {name}: {seeds} histories: {:?}; median {}, max {}",
            verdicts,
            ms(times[seeds / 2]),
            ms(times[seeds - 1])
        );
    }
}

fn big() {
    let config = GenConfig {
        seed: 1,
        ops: 1_000_000,
        processes: 20,
        keys: 1000,
        info_fraction: 0.05,
        ..GenConfig::default()
    };
    let t = Instant::now();
    let g = histgen::generate(&config).expect("generates");
    let generated = t.elapsed();
    let text = histgen::chaos_text(&g.history);
    drop(g);
    let t = Instant::now();
    let h = history::parse(&text, Format::Chaos).expect("parses");
    let parsed = t.elapsed();
    drop(text);
    let threads = threads();
    let opts = options(Duration::from_secs(60), threads);
    let (checked, _, report) = time(3, || checker::check(&h, &opts));
    expect("big", report.verdict, &[Verdict::Valid]);
    println!(
        "big: 1,000,000 ops over 1,000 keys, 20 processes, 5% info: generate {}, parse {}, \
         check (min of 3) {} on {threads} threads: {} ({} valid keys); peak RSS {:.0} MiB",
        ms(generated),
        ms(parsed),
        ms(checked),
        report.verdict,
        report.count(Verdict::Valid),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}

/// Only the check of the big history, repeated (for profiling).
fn bigcheck() {
    let g = histgen::generate(&GenConfig {
        seed: 1,
        ops: 1_000_000,
        processes: 20,
        keys: 1000,
        info_fraction: 0.05,
        ..GenConfig::default()
    })
    .expect("generates");
    let opts = options(Duration::from_secs(60), threads());
    for _ in 0..5 {
        let t = Instant::now();
        let report = checker::check(&g.history, &opts);
        println!("bigcheck: {} in {}", report.verdict, ms(t.elapsed()));
        expect("bigcheck", report.verdict, &[Verdict::Valid]);
    }
}

/// One small-domain stale-read history, with details (for tuning):
/// `CHAOS_BENCH_SEED`, `CHAOS_BENCH_BUDGET`.
fn probe() {
    let seed = std::env::var("CHAOS_BENCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(14);
    let budget = std::env::var("CHAOS_BENCH_BUDGET")
        .ok()
        .and_then(|b| chaos::duration::parse(&b).ok())
        .unwrap_or(Duration::from_secs(10));
    let g = histgen::generate(&GenConfig {
        seed,
        ops: 1000,
        processes: 20,
        keys: 1,
        info_fraction: std::env::var("CHAOS_BENCH_INFO")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.05),
        fail_fraction: 0.0,
        read_fraction: 0.5,
        write_fraction: 0.25,
        values: Values::Domain(5),
        corruption: Some(Corruption::StaleRead),
        ..GenConfig::default()
    })
    .expect("generates");
    if let Some(at) = g.corrupted {
        println!("probe: corrupted line {}", g.history.ops[at].line);
    }
    let mut opts = options(budget, 1);
    if let Ok(off) = std::env::var("CHAOS_BENCH_OFF") {
        let r = &mut opts.reductions;
        for name in off.split(',') {
            match name {
                "subsumption" => r.info_subsumption = false,
                "symmetry" => r.symmetry = false,
                "useless" => r.useless_info = false,
                "dead" => r.dead_states = false,
                "lost" => r.prune_lost_values = false,
                _ => {}
            }
        }
    }
    let t = Instant::now();
    let report = checker::check(&g.history, &opts);
    // A small-domain stale read: invalid, or unknown when the budget ends.
    expect(
        "probe",
        report.verdict,
        &[Verdict::Invalid, Verdict::Unknown],
    );
    let k = &report.keys[0];
    println!(
        "probe seed {seed}: {} in {} ({} configurations, {} info dropped, {} confirmed) {:?} {:?}",
        report.verdict,
        ms(t.elapsed()),
        k.configurations,
        k.info_dropped,
        k.info_confirmed,
        k.reason,
        k.witness.as_ref().map(|w| &w.explanation)
    );
}

/// kv c10-bad as one state, repeated (for profiling).
fn kvprobe() {
    let text = std::fs::read_to_string(data().join("kv/c10-bad.txt")).expect("readable");
    let h = history::parse(&text, Format::PorcupineKv).expect("parses");
    let mut opts = options(Duration::from_secs(60), 1);
    opts.split_keys = false;
    for _ in 0..10 {
        let t = Instant::now();
        let r = checker::check(&h, &opts);
        println!("kvprobe: {} in {}", r.verdict, ms(t.elapsed()));
        expect("kvprobe c10-bad", r.verdict, &[Verdict::Invalid]);
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |g: &str| args.is_empty() || args.iter().any(|a| a == g);
    if want("etcd") {
        etcd();
    }
    if want("kv") {
        kv();
    }
    if want("hard") {
        hard();
    }
    if want("big") {
        big();
    }
    if args.iter().any(|a| a == "kvprobe") {
        kvprobe();
    }
    if args.iter().any(|a| a == "probe") {
        probe();
    }
    if args.iter().any(|a| a == "bigcheck") {
        bigcheck();
    }
}
