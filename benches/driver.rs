//! The workload driver's own capacity and overhead, with the database taken
//! out: the same client tasks (one etcd client per process, as
//! `engine::connect` makes them), history recorder and file as `chaos run`
//! and `chaos bench`, against a stub HTTP server on 127.0.0.1 that answers
//! every request at once. What it measures is the harness: how many ops per
//! second it can drive, and what each op costs it.
//!
//!     cargo bench --bench driver
//!
//! Each client count runs 5 times (3 s each); the median is printed and
//! asserted against the targets of issue 14 (64 clients: at least 20,000
//! ops/s; one client: well under the 1.2 ms per op of before, here at most
//! 0.3 ms). The load average is printed with the figures.
//! `CHAOS_DRIVER_RUNS` and `CHAOS_DRIVER_SECONDS` change the 5 runs of 3 s
//! (to interleave with another build's runs on a busy machine). `cargo test
//! --benches` runs it once, 1 s each, and asserts only that every op was
//! recorded twice. Figures go to docs/performance.md ("Driver capacity").

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chaos::client::AnyClient;
use chaos::client::etcd::EtcdClient;
use chaos::engine::workload::{ClientTask, Counters, record};
use chaos::experiment::{ClientKind, ReadMode, Workload};
use chaos::seed::Seed;
use chaos::store::LineWriter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A keep-alive HTTP/1.1 server that answers every request with the same
/// etcd-shaped JSON (a register holding 1, a successful transaction).
async fn stub_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let body = r#"{"header":{},"kvs":[{"value":"MQ=="}],"succeeded":true}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let mut buf = vec![0u8; 8192];
                let mut pending = Vec::new();
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    // One response per complete request (headers + body).
                    while let Some(end) = find(&pending, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if pending.len() < end + 4 + len {
                            break;
                        }
                        pending.drain(..end + 4 + len);
                        if sock.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn workload(clients: u64) -> Workload {
    Workload {
        kind: chaos::experiment::WorkloadKind::register(),
        client: ClientKind::Etcd,
        endpoints: vec!["stub".into()],
        keys: 8,
        key_ops: 200,
        clients,
        rate: 100_000,
        timeout: Duration::from_secs(1),
        read_mode: ReadMode::Linearizable,
        isolation: None,
        read_endpoints: Vec::new(),
        mix: [("read", 50), ("write", 30), ("cas", 20)]
            .into_iter()
            .map(|(f, w)| (f.to_string(), w))
            .collect(),
        params: serde_json::Value::Null,
        adapter: None,
    }
}

async fn drive(clients: u64, seconds: u64) -> (u64, f64) {
    let port = stub_server().await;
    let dir = tempfile::tempdir().unwrap();
    let history = LineWriter::create(&dir.path().join("history.jsonl")).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record(rx, history));
    let counters = Arc::new(Counters::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let start = Instant::now();
    let w = workload(clients);
    let tasks: Vec<_> = (0..clients)
        .map(|t| {
            // One client per process, as engine::connect makes them.
            let client = EtcdClient::new(
                format!("http://127.0.0.1:{port}"),
                "bench/".into(),
                false,
                w.timeout,
            );
            tokio::spawn(
                ClientTask {
                    thread: t,
                    threads: clients,
                    client: AnyClient::Etcd(client),
                    node: "stub".into(),
                    workload: w.clone(),
                    seed: Seed(1),
                    start,
                    events: tx.clone(),
                    counters: counters.clone(),
                    stop: stop.clone(),
                }
                .run(),
            )
        })
        .collect();
    drop(tx);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let events = recorder.await.unwrap().unwrap();
    let ops = counters.ok.load(Ordering::Relaxed)
        + counters.fail.load(Ordering::Relaxed)
        + counters.info.load(Ordering::Relaxed);
    assert_eq!(
        events.lines().count() as u64,
        2 * ops,
        "every op recorded twice"
    );
    (ops, elapsed)
}

/// The 1-, 5- and 15-minute load averages.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // and expects a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (mut seconds, mut runs) = if quick { (1, 1) } else { (3, 5) };
    // For interleaving with another build's runs on a busy machine.
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(r) = var("CHAOS_DRIVER_RUNS") {
        runs = r.max(1);
    }
    if let Some(s) = var("CHAOS_DRIVER_SECONDS") {
        seconds = s.max(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "driver against a stub server on 127.0.0.1, {} cores, {runs} runs of {seconds} s \
         per client count (load average before: {}):",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load()
    );
    let mut medians = Vec::new();
    for clients in [1u64, 4, 16, 64] {
        let mut rates: Vec<f64> = (0..runs)
            .map(|_| {
                let (ops, elapsed) = runtime.block_on(drive(clients, seconds));
                ops as f64 / elapsed
            })
            .collect();
        let each = rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" ");
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let per_op_us = 1e6 * clients as f64 / median;
        println!(
            "  {clients:>3} clients: median {median:>8.0} ops/s ({each}); \
             {per_op_us:.1} µs of wall time per op per client"
        );
        medians.push((clients, median, per_op_us));
    }
    println!("load average after: {}", load());
    if !quick {
        let (_, rate_64, _) = medians[3];
        assert!(
            rate_64 >= 20_000.0,
            "64 clients: median {rate_64:.0} ops/s, below the 20,000 target"
        );
        let (_, _, per_op_1) = medians[0];
        assert!(
            per_op_1 <= 300.0,
            "one client: {per_op_1:.0} µs per op, above 300 µs"
        );
        println!("targets met: 64 clients >= 20,000 ops/s, one client <= 300 µs per op");
    }
}
