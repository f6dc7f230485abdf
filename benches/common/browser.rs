//! What the page benchmarks (`report`, `daemon_page`) share: the median
//! of a few timings and how long a headless Chromium takes to open a page.
//! Included by each with `#[path = "common/browser.rs"] mod browser;`.
//! A bench helper, not a test: it asserts that Chromium ran and that the
//! page's script reached its end, never a time.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `chromium`, or `$CHAOS_CHROMIUM`, if it starts.
pub fn chromium_bin() -> Option<String> {
    let bin = std::env::var("CHAOS_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| bin)
}

/// Chromium headless on `page` with `args`: (stdout, wall time).
fn chromium(bin: &str, page: &Path, args: &[&str]) -> (String, Duration) {
    let profile = std::env::temp_dir().join(format!("chaos-bench-chromium-{}", std::process::id()));
    let t = Instant::now();
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let elapsed = t.elapsed();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed on {}",
        page.display()
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), elapsed)
}

/// How long Chromium takes to open `page`, each the median of five:
/// `ready`, milliseconds from navigation until the page's script ran at
/// the end of the parsed document (`data-ready-ms` in the DOM Chromium
/// dumps after load); `screenshot`, the wall time of a 1280 x 1000
/// screenshot (start, load, layout, paint, encode) minus that of `blank`.
pub fn open_times(bin: &str, page: &Path, blank: &Path) -> (f64, f64) {
    let mut ready = Vec::new();
    for _ in 0..5 {
        let (dom, _) = chromium(bin, page, &["--dump-dom"]);
        let v = dom
            .split("data-ready-ms=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse::<f64>().ok())
            .expect("the page's script ran to its end");
        ready.push(v);
    }
    let shot = std::env::temp_dir().join(format!("chaos-bench-shot-{}.png", std::process::id()));
    let shot_arg = format!("--screenshot={}", shot.display());
    let args = [
        shot_arg.as_str(),
        "--window-size=1280,1000",
        "--hide-scrollbars",
    ];
    let mut deltas = Vec::new();
    for _ in 0..5 {
        let (_, base) = chromium(bin, blank, &args);
        let (_, full) = chromium(bin, page, &args);
        deltas.push(ms(full) - ms(base));
    }
    let _ = std::fs::remove_file(&shot);
    (median(ready), median(deltas))
}
