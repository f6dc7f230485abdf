//! The daemon's page benchmark: `cargo bench --bench daemon_page`.
//!
//! Renders the daemon's page at `/` (the control room) for a synthetic
//! run index of 10,000 runs (`chaos::daemon::stats::synthetic`: four etcd
//! experiments, one run a minute, valid, invalid with stale reads,
//! unknown, error and interrupted runs) and prints the time to compute the
//! statistics and to render the page (min and median of a few), its size,
//! and, when Chromium is there (`chromium`, or `$CHAOS_CHROMIUM`), how
//! long a headless Chromium takes to open it:
//!
//! - `ready`: milliseconds from navigation until the page's script ran at
//!   the end of the parsed document (`data-ready-ms` in the DOM Chromium
//!   dumps after load), median of five;
//! - `screenshot`: wall time of a 1280 x 1000 screenshot (start, load,
//!   layout, paint, encode) minus that of an empty page, median of five.
//!
//! The page is opened from a file, so its event stream is switched off
//! (`data-live="0"`: nothing to listen to); everything else is the page
//! the daemon serves. It is left in `$CHAOS_BENCH_OUT` (default /tmp) as
//! `chaos-daemon-10k.html`. Figures are kept in docs/performance.md. A
//! bench, not a test: it asserts what the page must hold (a page of rows,
//! every run in the strip), never a time.

use std::path::PathBuf;
use std::time::Instant;

use chaos::daemon::service::Status;
use chaos::daemon::{api, stats};

#[path = "common/browser.rs"]
mod browser;
use browser::{chromium_bin, median, ms, open_times};

fn main() {
    let out_dir = PathBuf::from(std::env::var("CHAOS_BENCH_OUT").unwrap_or_else(|_| "/tmp".into()));
    let runs = stats::synthetic(10_000);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let s = stats::compute(runs.values());
        times.push(ms(t.elapsed()));
        assert_eq!(s.runs, 10_000);
    }
    println!(
        "statistics of 10,000 runs: min {:.1} ms, median {:.1} ms",
        times.iter().copied().fold(f64::INFINITY, f64::min),
        median(times.clone())
    );
    let status = Status::synthetic(runs);
    let experiments: Vec<String> = vec![
        "etcd-leader-kill".into(),
        "etcd-partition".into(),
        "etcd-pause".into(),
        "etcd-serializable-stale-reads".into(),
    ];
    let mut page = String::new();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        page = api::control_room(&status, &experiments, None, None, None, None);
        times.push(ms(t.elapsed()));
    }
    assert_eq!(page.matches("<tr data-run=\"").count(), api::PAGE_ROWS);
    println!(
        "page of 10,000 runs: {} KiB, render min {:.1} ms, median {:.1} ms",
        page.len() / 1024,
        times.iter().copied().fold(f64::INFINITY, f64::min),
        median(times)
    );
    let page = page.replace("data-live=\"1\"", "data-live=\"0\"");
    let path = out_dir.join("chaos-daemon-10k.html");
    std::fs::write(&path, &page).expect("write the page");
    let blank = out_dir.join("chaos-daemon-blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").expect("write");
    let Some(bin) = chromium_bin() else {
        println!(
            "(no chromium: load times not measured; `bash .ci/install.sh --tests` installs it)"
        );
        return;
    };
    let (ready, shot) = open_times(&bin, &path, &blank);
    println!(
        "in Chromium: ready {:.0} ms (median of 5), screenshot {:.0} ms over an empty page (median of 5); page: {}",
        ready,
        shot,
        path.display()
    );
}
