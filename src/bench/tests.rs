use super::ramp::{Next, Ramp, RampSpec};
use super::*;

const MS: u64 = 1_000_000;

fn sample(
    f: Function,
    outcome: Outcome,
    intended_ms: u64,
    started_ms: u64,
    done_ms: u64,
) -> Sample<'static> {
    Sample {
        f,
        outcome,
        intended_ns: intended_ms * MS,
        started_ns: started_ms * MS,
        completed_ns: done_ms * MS,
        error: None,
    }
}

fn step(rate: u64, clients: u64, secs: u64) -> StepFacts {
    StepFacts {
        target_rate: rate,
        clients,
        start_ns: 0,
        duration_ns: secs * 1_000 * MS,
        not_started: 0,
    }
}

/// Close to `want` within HDR's 3 significant digits.
fn close(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() <= want * 0.001 + 0.001)
}

#[test]
fn percentiles_come_from_the_intended_start() {
    let mut r = LoadRecorder::new();
    // 1,000 reads: op i was due at i ms, started 1 ms late and was answered
    // at 2i ms: i ms from the schedule, i - 1 ms from its start.
    for i in 1..=1_000u64 {
        r.record(sample(Function::Read, Outcome::Ok, i, i + 1, 2 * i));
    }
    let s = r.summary(&step(1_000, 4, 1));
    let l = &s.latency;
    assert_eq!(l.count, 1_000);
    assert!(close(l.p50_ms, 500.0), "{l:?}");
    assert!(close(l.p90_ms, 900.0), "{l:?}");
    assert!(close(l.p99_ms, 990.0), "{l:?}");
    assert!(close(l.p999_ms, 999.0), "{l:?}");
    assert!(close(l.max_ms, 1_000.0), "{l:?}");
    // Service time leaves the wait out: i - 1 ms.
    assert!(close(s.service_time.p50_ms, 499.0), "{:?}", s.service_time);
    assert_eq!(s.by_kind["read"].latency, *l);
    assert!(!s.by_kind.contains_key("write"));
}

#[test]
fn a_late_start_counts_its_wait() {
    // Coordinated omission: a client busy for 1 s delays the next op; the
    // op itself is quick but was due 1 s before it started.
    let mut r = LoadRecorder::new();
    r.record(sample(Function::Write, Outcome::Ok, 0, 0, 1_000));
    r.record(sample(Function::Write, Outcome::Ok, 10, 1_000, 1_001));
    let s = r.summary(&step(100, 1, 1));
    let w = &s.by_kind["write"].latency;
    assert!(close(w.p50_ms, 991.0), "{w:?}");
    assert!(close(s.service_time.p50_ms, 1.0), "{:?}", s.service_time);
}

#[test]
fn merged_recorders_equal_one_recorder() {
    let samples: Vec<_> = (0..300u64)
        .map(|i| {
            let f = KINDS[(i % 3) as usize];
            let outcome = [Outcome::Ok, Outcome::Ok, Outcome::Fail][(i % 3) as usize];
            sample(f, outcome, i, i, i + 1 + i % 17)
        })
        .collect();
    let mut one = LoadRecorder::new();
    let (mut a, mut b) = (LoadRecorder::new(), LoadRecorder::new());
    for (i, s) in samples.iter().enumerate() {
        one.record(*s);
        if i % 2 == 0 { &mut a } else { &mut b }.record(*s);
    }
    a.merge(&b);
    let facts = step(300, 2, 1);
    assert_eq!(a.summary(&facts), one.summary(&facts));
    assert_eq!(a.ops(), 300);
}

#[test]
fn throughput_errors_and_pool_use() {
    let mut r = LoadRecorder::new();
    let err = |f, outcome, error| Sample {
        error: Some(error),
        ..sample(f, outcome, 0, 0, 10)
    };
    for _ in 0..90 {
        r.record(sample(Function::Read, Outcome::Ok, 0, 0, 10));
    }
    for _ in 0..8 {
        r.record(err(
            Function::Cas,
            Outcome::Fail,
            "compare failed: register did not hold 3",
        ));
    }
    r.record(err(Function::Write, Outcome::Info, "timed out after 1s"));
    r.record(err(
        Function::Read,
        Outcome::Fail,
        "connection refused: error sending request",
    ));
    // 100 ops over 2 s (the last answer came at 10 ms, within the step).
    let s = r.summary(&step(50, 1, 2));
    assert_eq!(s.ops.total(), 100);
    assert_eq!(s.ops.ok, 90);
    assert_eq!(s.throughput_per_s, 50.0);
    assert_eq!(s.throughput_ok_per_s, 45.0);
    // Compare failures are answers, not errors: 2 errors in 100 ops.
    assert_eq!(s.error_ratio, 0.02);
    assert_eq!(s.errors[COMPARE_FAILED].fail, 8);
    assert_eq!(s.errors["timeout"].info, 1);
    assert_eq!(s.errors["connection refused"].fail, 1);
    assert_eq!(s.errors["timeout"].example, "timed out after 1s");
    // 100 ops of 10 ms on one client over 2 s: busy half the time.
    assert_eq!(s.pool_busy, 0.5);
    // A step whose last answer came after its end lasts until that answer.
    let mut late = LoadRecorder::new();
    late.record(sample(Function::Read, Outcome::Ok, 0, 0, 4_000));
    assert_eq!(late.summary(&step(1, 1, 2)).elapsed_s, 4.0);
}

#[test]
fn error_classes_follow_the_clients_messages() {
    for (message, class) in [
        (
            "compare failed: the register did not hold 7",
            COMPARE_FAILED,
        ),
        ("timed out after 1s", "timeout"),
        (
            "connection refused: tcp connect error",
            "connection refused",
        ),
        (
            "etcd error (HTTP 503): etcdserver: request timed out",
            "etcd error (HTTP 5xx)",
        ),
        ("etcd error (HTTP 400): bad", "etcd error (HTTP 4xx)"),
        (
            "error sending request for url (http://127.0.0.1:1/v3/kv/put)",
            "request lost (sent, no answer)",
        ),
        ("Query error: transaction conflict", "surrealdb query"),
        (
            "Connection error: connection closed",
            "surrealdb connection",
        ),
        ("something new", "other"),
    ] {
        assert_eq!(error_class(message), class, "{message}");
    }
}

fn summary(rate: u64, achieved: f64, p99: Option<f64>, error_ratio: f64) -> LoadSummary {
    LoadSummary {
        target_rate: rate,
        clients: 16,
        duration_s: 10.0,
        elapsed_s: 10.0,
        ops: Counts {
            ok: (achieved * 10.0) as u64,
            fail: 0,
            info: 0,
        },
        throughput_per_s: achieved,
        throughput_ok_per_s: achieved,
        latency: Percentiles {
            count: 1,
            p99_ms: p99,
            ..Percentiles::default()
        },
        service_time: Percentiles::default(),
        by_kind: BTreeMap::new(),
        errors: BTreeMap::new(),
        error_ratio,
        not_started: 0,
        pool_busy: 0.5,
    }
}

#[test]
fn a_step_meets_the_objective_only_on_every_count() {
    let o = Objective::default();
    assert!(judge(&summary(1_000, 1_000.0, Some(99.9), 0.0), &o).met);
    let j = judge(&summary(1_000, 1_000.0, Some(100.0), 0.0), &o);
    assert!(!j.met);
    assert_eq!(j.reasons, ["p99 100 ms is not under 100 ms"]);
    let j = judge(&summary(1_000, 900.0, Some(5.0), 0.0), &o);
    assert!(!j.met);
    assert!(j.reasons[0].contains("below 95%"), "{j:?}");
    let j = judge(&summary(1_000, 1_000.0, Some(5.0), 0.02), &o);
    assert!(!j.met);
    assert!(j.reasons[0].contains("2.00% of ops were errors"), "{j:?}");
    let j = judge(&summary(1_000, 0.0, None, 0.0), &o);
    assert_eq!(j.reasons[0], "no op completed");
}

/// Run a ramp against a cluster that meets the objective up to `capacity`.
fn ramp_against(spec: RampSpec, capacity: u64) -> (Option<u64>, Vec<u64>) {
    let (mut ramp, mut rate) = Ramp::new(spec);
    let mut tried = Vec::new();
    loop {
        tried.push(rate);
        match ramp.observe(rate, rate <= capacity) {
            Next::Try(next) => {
                assert!(!tried.contains(&next), "{next} again after {tried:?}");
                rate = next;
            }
            Next::Done { best } => return (best, tried),
        }
    }
}

#[test]
fn the_ramp_finds_the_capacity_within_its_precision() {
    let spec = RampSpec::parse("100:100000").unwrap();
    for capacity in [150, 999, 1_000, 3_333, 12_345, 40_000, 99_999] {
        let (best, tried) = ramp_against(spec, capacity);
        let best = best.unwrap_or_else(|| panic!("{capacity}: nothing met: {tried:?}"));
        assert!(best <= capacity, "{capacity}: {best} {tried:?}");
        assert!(
            best as f64 * (1.0 + spec.precision) >= capacity as f64,
            "{capacity}: {best} is not within 10%: {tried:?}"
        );
        assert!(tried.len() <= spec.max_steps as usize, "{tried:?}");
    }
}

#[test]
fn the_ramp_stops_at_its_maximum_and_goes_down_from_a_first_miss() {
    let spec = RampSpec::parse("500:3000").unwrap();
    let (best, tried) = ramp_against(spec, 1_000_000);
    assert_eq!(best, Some(3_000));
    assert_eq!(tried, [500, 1_000, 2_000, 3_000]);
    // The first rate is already too much: halve until one meets.
    let (best, tried) = ramp_against(spec, 130);
    assert_eq!(&tried[..3], [500, 250, 125]);
    let best = best.unwrap();
    assert!((125..=130).contains(&best), "{best} {tried:?}");
    // Nothing meets at all: down to a sixteenth of the first rate, no
    // further.
    let (best, tried) = ramp_against(spec, 0);
    assert_eq!(best, None);
    assert_eq!(tried, [500, 250, 125, 62, 31]);
}

#[test]
fn the_ramp_takes_at_most_max_steps() {
    let mut spec = RampSpec::parse("1:1000000").unwrap();
    spec.max_steps = 5;
    let (best, tried) = ramp_against(spec, 500_000);
    assert_eq!(tried, [1, 2, 4, 8, 16]);
    assert_eq!(best, Some(16));
}

#[test]
fn ramp_specs_parse_or_say_what_is_wrong() {
    let spec = RampSpec::parse("250:16000").unwrap();
    assert_eq!((spec.from, spec.max), (250, 16_000));
    for bad in ["", "250", "a:b", "0:10", "10:5"] {
        assert!(RampSpec::parse(bad).is_err(), "{bad}");
    }
}

fn restart(to_serving_ms: Option<f64>) -> RestartReport {
    RestartReport {
        service: "etcd1".into(),
        to_serving_ms,
        to_healthy_ms: Some(2_500.0),
        failed_probes: 3,
        port_before: Some(1),
        port_after: Some(2),
        error: None,
    }
}

#[test]
fn goals_are_met_not_met_or_not_measured() {
    let goals = Goals::default();
    let load = summary(2_000, 1_990.0, Some(42.0), 0.0);
    let startup = Startup {
        cluster_ms: Some(12_000.0),
        cluster_note: None,
    };
    let r = restart(Some(3_000.0));
    let g = evaluate(&goals, Some(&load), &startup, Ok(&r));
    let status: Vec<_> = g.iter().map(|g| (g.goal.as_str(), g.status)).collect();
    assert_eq!(
        status,
        [
            ("latency", GoalStatus::Met),
            ("throughput", GoalStatus::Met),
            ("cluster-startup", GoalStatus::Met),
            ("node-restart", GoalStatus::Met),
        ]
    );
    assert_eq!(
        g[0].figure,
        "p99 42.0 ms at 1,990 ops/s achieved (2,000 offered, 16 clients)"
    );
    assert_eq!(g[1].value, Some(1_990.0));
    assert_eq!(g[3].value, Some(3.0));

    // The bounds are strict: exactly 100 ms, 1,000 ok/s or 30 s miss.
    let edge = summary(1_000, 1_000.0, Some(100.0), 0.0);
    let slow = Startup {
        cluster_ms: Some(30_000.0),
        cluster_note: None,
    };
    let g = evaluate(&goals, Some(&edge), &slow, Ok(&restart(Some(30_000.0))));
    assert!(g.iter().all(|g| g.status == GoalStatus::NotMet), "{g:?}");

    // Not measured: no load, a warm cluster, a skipped restart.
    let warm = Startup {
        cluster_ms: None,
        cluster_note: Some("the cluster was already running".into()),
    };
    let g = evaluate(&goals, None, &warm, Err("skipped (--no-restart)"));
    assert!(
        g.iter().all(|g| g.status == GoalStatus::NotMeasured),
        "{g:?}"
    );
    assert_eq!(g[2].figure, "the cluster was already running");
    assert_eq!(g[3].figure, "skipped (--no-restart)");

    // A node that never served again is a miss, not a gap.
    let g = evaluate(&goals, Some(&load), &startup, Ok(&restart(None)));
    assert_eq!(g[3].status, GoalStatus::NotMet);
}

#[test]
fn the_text_names_every_goal_with_its_figure() {
    let load = summary(2_000, 1_990.0, Some(42.0), 0.0);
    let startup = Startup {
        cluster_ms: Some(12_000.0),
        cluster_note: None,
    };
    let r = restart(Some(3_000.0));
    let goals = evaluate(&Goals::default(), Some(&load), &startup, Ok(&r));
    let report = BenchReport {
        schema_version: BENCH_SCHEMA_VERSION,
        experiment: "etcd-baseline".into(),
        file: "experiments/etcd-baseline.toml".into(),
        seed: 1,
        rerun: "chaos bench experiments/etcd-baseline.toml --seed 1".into(),
        client: "etcd".into(),
        project: "chaos-etcd".into(),
        images: BTreeMap::new(),
        started_at: "2026-11-29T00:00:00.000Z".into(),
        ended_at: "2026-11-29T00:01:00.000Z".into(),
        run_dir: "results/etcd-baseline/x".into(),
        settings: Settings {
            rate: 2_000,
            step_s: 10.0,
            clients: 16,
            ramp: None,
            objective: Objective::default(),
            keys: 32,
            mix: "50/30/20".into(),
            read_mode: "linearizable".into(),
            timeout_ms: 1_000,
        },
        steps: vec![StepReport {
            objective: judge(&load, &Objective::default()),
            load,
        }],
        judged_step: Some(0),
        best_rate: None,
        startup,
        restart: Some(r),
        goals,
        notes: vec![],
        interrupted: false,
    };
    assert!(report.all_met());
    let text = render(&report);
    for line in [
        "[met]          latency          p99 < 100 ms           p99 42.0 ms at 1,990 ops/s",
        "[met]          throughput       > 1,000 ok ops/s       1,990 ok ops/s",
        "[met]          cluster-startup  < 30 s                 12.0 s from starting the cluster",
        "[met]          node-restart     < 30 s                 3.0 s from restarting etcd1",
        "4 of 4 goals met",
        "chaos check results/etcd-baseline/x/history.jsonl",
        "its port moved from 1 to 2",
    ] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }
    // The JSON round-trips.
    let json = serde_json::to_string(&report).unwrap();
    let back: BenchReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn thousands_and_milliseconds_read_well() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_000), "1,000");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(fmt_ms(0.4123), "0.412");
    assert_eq!(fmt_ms(12.34), "12.3");
    assert_eq!(fmt_ms(1_234.4), "1,234");
}
