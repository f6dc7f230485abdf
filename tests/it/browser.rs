//! The report pages in a real browser: Debian's Chromium, headless (root,
//! so `--no-sandbox`). The group is switched on by
//! `CHAOS_BROWSER_TESTS=1` (build.rs makes it the `chaos_browser` cfg;
//! `.ci/run` sets it, `.ci/install.sh --tests` installs Chromium);
//! switched off, its tests show as ignored.
//!
//! What a test checks in the browser: no console message at all (the
//! pages log nothing, so any message, an error or an uncaught exception
//! included, fails; Chromium prints each as an `INFO:CONSOLE` line with
//! `--enable-logging=stderr --v=0`), the page's script ran to its end
//! (`data-ready="1"` on the body of the DOM Chromium dumps after load),
//! and the dumped DOM has one element per op of the sampled timeline and
//! one anomaly view per invalid key. Screenshots go to
//! `$CHAOS_ARTIFACTS_DIR/browser/` (default /tmp/chaos-ci-artifacts).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chaos::html::{self, RunInput, timeline};

use super::chaos;
use super::report::{copy_run, kept_run, simulated_run};

/// The Chromium binary: `$CHAOS_CHROMIUM`, else `chromium` on the PATH.
fn chromium_bin() -> String {
    std::env::var("CHAOS_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Where screenshots go.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("CHAOS_ARTIFACTS_DIR").unwrap_or_else(|_| "/tmp/chaos-ci-artifacts".into()),
    )
    .join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What Chromium said about a page.
struct Run {
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Run headless Chromium on a file with `args`; fails the test if it does
/// not finish within a minute or exits non-zero.
fn chromium(page: &Path, args: &[&str]) -> Run {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let started = Instant::now();
    let mut child = Command::new(chromium_bin())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "the browser test group is switched on but `{}` does not start ({e}); \
                 install it with `bash .ci/install.sh --tests`",
                chromium_bin()
            )
        });
    // Read both pipes on threads, so that a chatty browser never blocks.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).unwrap();
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
        elapsed: started.elapsed(),
    };
    assert!(
        status.success(),
        "chromium failed on {url}: {status}\n{}",
        run.stderr
    );
    run
}

/// The console messages Chromium reported (any message: the pages log
/// nothing).
fn console_messages(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// Load a page, dump its DOM after load; fail on any console message or
/// if the page's script did not run to its end. Returns the DOM.
fn load(page: &Path) -> String {
    let run = chromium(page, &["--dump-dom"]);
    let console = console_messages(&run.stderr);
    assert!(
        console.is_empty(),
        "console messages on {}:\n{}",
        page.display(),
        console.join("\n")
    );
    assert!(
        run.stdout.contains("data-ready=\"1\""),
        "the page's script did not run to its end on {} (DOM of {} bytes, {:?})",
        page.display(),
        run.stdout.len(),
        run.elapsed
    );
    run.stdout
}

/// A screenshot of the page, `height` pixels of it at 1280 wide.
fn screenshot(page: &Path, name: &str, height: u32) -> PathBuf {
    let png = artifacts().join(name);
    let _ = std::fs::remove_file(&png);
    chromium(
        page,
        &[
            &format!("--screenshot={}", png.display()),
            &format!("--window-size=1280,{height}"),
        ],
    );
    let bytes =
        std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
    assert!(bytes.len() > 20_000, "{} is nearly empty", png.display());
    png
}

/// Screenshots of a page: `{name}-top.png`, its top 1000 pixels, and
/// `{name}-full.png`, `height` pixels of it.
fn screenshots(page: &Path, name: &str, height: u32) {
    let top = screenshot(page, &format!("{name}-top.png"), 1000);
    let full = screenshot(page, &format!("{name}-full.png"), height);
    eprintln!("screenshots: {} {}", top.display(), full.display());
}

/// `chaos report` on a copy of a kept run: the copy, its report.html and
/// the page's DOM after load (see [`load`]).
fn report_loaded(kept: &Path) -> (tempfile::TempDir, PathBuf, String) {
    let run = copy_run(kept);
    let out = chaos(&["report".into(), run.path().to_str().unwrap().into()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let page = run.path().join("report.html");
    let dom = load(&page);
    (run, page, dom)
}

/// The page rendered from `input` (under 5 MB) in a temporary directory:
/// the directory, the page and its DOM after load (see [`load`]).
fn render_loaded(input: &RunInput<'_>) -> (tempfile::TempDir, PathBuf, String) {
    let text = html::render_run(input);
    assert!(text.len() < 5_000_000, "{} bytes", text.len());
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, &text).unwrap();
    let dom = load(&page);
    (dir, page, dom)
}

/// The tooltip of a page when the pointer is over the first element that
/// `selector` (a CSS selector) matches: the page is copied beside itself
/// (`hover.html`) with a script that moves the pointer there and keeps the
/// tooltip's text in `data-tip`, then loaded (see [`load`]). The tooltip
/// must be shown, on one of a process's ops or transactions.
fn hover_tip(page: &Path, selector: &str) -> String {
    let hover = page.with_file_name("hover.html");
    let html = std::fs::read_to_string(page).unwrap().replace(
        "</body>",
        &format!(
            "<script>var r = document.querySelector('{selector}');\
             r.dispatchEvent(new MouseEvent('mouseover', {{bubbles: true, clientX: 300, clientY: 300}}));\
             var t = document.getElementById('tip');\
             document.body.setAttribute('data-tip', (t.hidden ? 'hidden ' : 'shown ') + t.textContent);</script></body>"
        ),
    );
    std::fs::write(&hover, html).unwrap();
    let dom = load(&hover);
    let tip = dom
        .split("data-tip=\"")
        .nth(1)
        .unwrap()
        .split("\" ")
        .next()
        .unwrap();
    assert!(tip.starts_with("shown process "), "{tip}");
    tip.to_string()
}

#[test]
#[cfg_attr(not(chaos_browser), ignore = "needs Chromium: CHAOS_BROWSER_TESTS=1")]
fn the_console_check_catches_errors() {
    // The check itself must be able to fail: a page with an error and an
    // uncaught exception, and one whose script stops half way.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('broken'); \
         missingFunction(); document.body.setAttribute('data-ready','1');</script></body></html>",
    )
    .unwrap();
    let run = chromium(&bad, &["--dump-dom"]);
    let console = console_messages(&run.stderr);
    assert_eq!(console.len(), 2, "{}", run.stderr);
    assert!(console[0].contains("broken"));
    assert!(console[1].contains("missingFunction"));
    assert!(
        !run.stdout.contains("data-ready=\"1\""),
        "the script stopped at the exception"
    );
    let panicked = std::panic::catch_unwind(|| load(&bad));
    assert!(
        panicked.is_err(),
        "load() must fail on a page with console errors"
    );
}

#[test]
#[cfg_attr(not(chaos_browser), ignore = "needs Chromium: CHAOS_BROWSER_TESTS=1")]
fn the_kept_etcd_run_report_in_chromium() {
    let (run, page, dom) = report_loaded(&kept_run());
    let files = chaos::runfiles::read(run.path()).unwrap();
    let history = chaos::history::parse(
        files.history.as_deref().unwrap(),
        chaos::history::Format::Chaos,
    )
    .unwrap();
    // One bar per op (this history is under the sampling limit), one view
    // per invalid key, each with its op that cannot be placed.
    assert!(history.operations.len() <= timeline::MAX_OPS);
    assert_eq!(dom.matches("data-op=\"").count(), history.operations.len());
    assert_eq!(
        dom.matches("data-anomaly=\"").count() as u64,
        files.results.checker.keys_invalid
    );
    assert_eq!(dom.matches(" stuck\" x=").count(), 10);
    // Hovering over a bar shows the op with its history.jsonl lines,
    // exactly as they are in the file.
    let op = &history.operations[100];
    let text = std::fs::read_to_string(run.path().join("history.jsonl")).unwrap();
    let line = |n: usize| text.lines().nth(n - 1).unwrap().replace('"', "&quot;");
    let (inv, comp) = (
        history.invocation(op).line,
        history.completion(op).unwrap().line,
    );
    let tip = hover_tip(&page, "[data-op=\"100\"]");
    for expected in [
        format!("history.jsonl line {inv}: {}", line(inv)),
        format!("history.jsonl line {comp}: {}", line(comp)),
    ] {
        assert!(tip.contains(&expected), "{tip}\nlacks {expected}");
    }
    screenshots(&page, "report-etcd", 5200);
}

#[test]
#[cfg_attr(not(chaos_browser), ignore = "needs Chromium: CHAOS_BROWSER_TESTS=1")]
fn a_100k_op_report_in_chromium() {
    let (results, history, plan) = simulated_run(100_000);
    let (_dir, page, dom) = render_loaded(&RunInput {
        results: &results,
        history: Some(html::RunHistory::Register(&history)),
        plan: Some(&plan),
        notes: &[],
    });
    let shown = timeline::sample(&history, &Default::default(), timeline::MAX_OPS).len();
    assert_eq!(shown, timeline::MAX_OPS);
    assert_eq!(dom.matches("data-op=\"").count(), shown);
    assert_eq!(dom.matches("data-anomaly=\"").count(), 1);
    screenshot(&page, "report-100k-top.png", 1400);
}

/// The kept real list-append run: etcd with serializable reads under
/// partitions (`chaos run experiments/etcd-append-serializable.toml`).
fn kept_txn_run() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/runs/etcd-append-serializable");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    runs.pop().expect("a kept list-append run")
}

#[test]
#[cfg_attr(not(chaos_browser), ignore = "needs Chromium: CHAOS_BROWSER_TESTS=1")]
fn the_kept_etcd_list_append_run_report_in_chromium() {
    let (run, page, dom) = report_loaded(&kept_txn_run());
    let files = chaos::runfiles::read(run.path()).unwrap();
    let text = files.history.as_deref().expect("a history");
    let history = &chaos::checker::txn::parse(text, chaos::checker::txn::TxnFormat::Chaos)
        .expect("a list-append history");
    let lines = &html::txn::LineFacts::from_jsonl(text);
    let c = &files.results.checker;
    assert_eq!(files.results.verdict, chaos::results::Verdict::Invalid);
    // One bar per sampled transaction in the timeline.
    let input = html::txn::TxnInput { history, lines };
    let shown = html::txn::sample(&input, &Default::default(), timeline::MAX_OPS).len();
    let figure = dom.split("id=\"timeline-figure\"").nth(1).unwrap();
    let figure = figure.split("</svg>").next().unwrap();
    assert!(shown >= history.txns.len().min(timeline::MAX_OPS));
    assert_eq!(figure.matches("data-txn=\"").count(), shown);
    // One view per anomaly drawn, the decisive ones marked; each cycle's
    // arrows as many as its steps.
    let drawn = c.anomalies.len().min(html::MAX_ANOMALY_VIEWS);
    assert_eq!(dom.matches("data-anomaly=\"").count(), drawn);
    assert_eq!(
        dom.matches("data-decisive=\"true\"").count(),
        c.decisive().count().min(drawn)
    );
    let steps: usize = c
        .anomalies
        .iter()
        .take(drawn)
        .map(|a| match a {
            chaos::results::Anomaly::TxnCycle(c) => c.steps.len(),
            _ => 0,
        })
        .sum();
    assert!(steps > 0, "the run has cycles");
    assert_eq!(dom.matches("<g class=\"edge\"").count(), steps);
    assert!(dom.contains("not strict-serializable"));
    // Hovering over a cycle's transaction shows its micro-ops and lines.
    let tip = hover_tip(&page, "svg.cycle rect[data-txn]");
    assert!(tip.contains("transaction [[:"), "{tip}");
    assert!(tip.contains("history.jsonl line "), "{tip}");
    screenshots(&page, "report-etcd-append", 6000);
}

#[test]
#[cfg_attr(not(chaos_browser), ignore = "needs Chromium: CHAOS_BROWSER_TESTS=1")]
fn a_100k_transaction_report_in_chromium() {
    let (results, history, facts, plan) = super::txn_report::simulated_txn_run(
        100_000,
        chaos::checker::txn::ConsistencyModel::StrictSerializable,
    );
    let (_dir, page, dom) = render_loaded(&RunInput {
        results: &results,
        history: Some(html::RunHistory::Txn(html::txn::TxnInput {
            history: &history,
            lines: &facts,
        })),
        plan: Some(&plan),
        notes: &[],
    });
    let figure = dom.split("id=\"timeline-figure\"").nth(1).unwrap();
    let figure = figure.split("</svg>").next().unwrap();
    assert_eq!(figure.matches("data-txn=\"").count(), timeline::MAX_OPS);
    assert_eq!(
        dom.matches("data-anomaly=\"").count(),
        results.checker.anomalies.len().min(html::MAX_ANOMALY_VIEWS)
    );
    screenshot(&page, "report-txn-100k-top.png", 1400);
    screenshot(&page, "report-txn-100k-full.png", 7000);
}
