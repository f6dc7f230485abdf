//! History formats and pairing, through the public API: every shared file
//! parses, writers round-trip, and malformed input is refused with the
//! line that is wrong.

use std::path::{Path, PathBuf};

use chaos::histgen::{self, GenConfig, Values};
use chaos::history::{self, Format, HistoryError, Kind, Outcome};

fn data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        dir.join("jepsen-etcd").is_dir() && dir.join("kv").is_dir(),
        "the reference histories are missing: expected {}",
        dir.display()
    );
    dir
}

#[test]
fn every_shared_file_parses() {
    let mut etcd = 0;
    for entry in std::fs::read_dir(data().join("jepsen-etcd")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap();
            let h = history::parse(&text, Format::JepsenEtcd)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(h.ops.len(), text.lines().count());
            assert_eq!(h.keys().len(), 1);
            etcd += 1;
        }
    }
    assert_eq!(etcd, 60);
    for name in ["c01-ok", "c01-bad", "c10-ok", "c10-bad"] {
        let text = std::fs::read_to_string(data().join("kv").join(format!("{name}.txt"))).unwrap();
        let h = history::parse(&text, Format::PorcupineKv).unwrap();
        assert!(
            h.operations.iter().all(|o| o.outcome == Outcome::Ok),
            "{name}"
        );
        assert!(h.keys().len() >= 8, "{name}");
    }
}

#[test]
fn the_chaos_format_round_trips_every_shared_etcd_history() {
    for n in [0, 2, 17, 59] {
        let path = data().join(format!("jepsen-etcd/etcd_{n:03}.log"));
        let text = std::fs::read_to_string(path).unwrap();
        let h = history::parse(&text, Format::JepsenEtcd).unwrap();
        let jsonl: String = h.ops.iter().map(|o| history::to_line(o) + "\n").collect();
        let back = history::parse(&jsonl, Format::Chaos).unwrap();
        assert_eq!(back.operations, h.operations);
        for (a, b) in back.ops.iter().zip(&h.ops) {
            assert_eq!(
                (a.process, a.kind, a.f, &a.value),
                (b.process, b.kind, b.f, &b.value)
            );
        }
    }
}

#[test]
fn generated_histories_write_both_formats() {
    let g = histgen::generate(&GenConfig {
        seed: 9,
        ops: 500,
        processes: 7,
        values: Values::Domain(5),
        info_fraction: 0.1,
        ..GenConfig::default()
    })
    .unwrap();
    let chaos = history::parse(&histgen::chaos_text(&g.history), Format::Chaos).unwrap();
    assert_eq!(chaos, g.history);
    let etcd = histgen::jepsen_etcd_text(&g.history).unwrap();
    assert!(etcd.starts_with("INFO  jepsen.util - "));
    let back = history::parse(&etcd, Format::JepsenEtcd).unwrap();
    assert_eq!(back.operations, g.history.operations);
    // Info retires a process: its id never comes back.
    for (i, op) in g.history.ops.iter().enumerate() {
        if op.kind == Kind::Info {
            assert!(
                g.history.ops[i + 1..]
                    .iter()
                    .all(|o| o.process != op.process)
            );
        }
    }
}

fn error(text: &str, format: Format) -> HistoryError {
    history::parse(text, format).expect_err("refused")
}

#[test]
fn pairing_errors_name_the_line() {
    let line = |p: u64, t: &str, f: &str, v: &str| {
        format!("{{\"process\":{p},\"type\":\"{t}\",\"f\":\"{f}\",\"key\":1,\"value\":{v}}}\n")
    };
    let double = line(1, "invoke", "read", "null")
        + &line(2, "invoke", "read", "null")
        + &line(1, "invoke", "write", "3");
    let e = error(&double, Format::Chaos);
    assert!(
        matches!(
            e,
            HistoryError::DoubleInvoke {
                line: 3,
                open_line: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().starts_with("line 3: process 1 invokes again"),
        "{e}"
    );

    let orphan = line(1, "invoke", "read", "null") + &line(2, "ok", "read", "null");
    let e = error(&orphan, Format::Chaos);
    assert_eq!(
        e.to_string(),
        "line 2: process 2 completes an op it never invoked"
    );

    let after_info = line(1, "invoke", "write", "3")
        + &line(1, "info", "write", "3")
        + &line(1, "invoke", "read", "null");
    let e = error(&after_info, Format::Chaos);
    assert!(
        matches!(
            e,
            HistoryError::AfterInfo {
                line: 3,
                info_line: 2,
                ..
            }
        ),
        "{e}"
    );

    let etcd =
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n";
    assert_eq!(error(etcd, Format::JepsenEtcd).line(), 2);
}

#[test]
fn an_unfinished_invocation_is_indeterminate() {
    let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"key\":1,\"value\":3}\n";
    let h = history::parse(text, Format::Chaos).unwrap();
    assert_eq!(h.operations[0].outcome, Outcome::Info);
    assert_eq!(h.operations[0].complete, None);
}
