//! The daemon's page in a real browser, against a live campaign (the Docker
//! and browser groups both: `CHAOS_DOCKER_TESTS=1 CHAOS_BROWSER_TESTS=1`):
//! a short etcd campaign (one experiment, pauses of a member), the page
//! opened in headless Chromium over the DevTools protocol ([`super::cdp`])
//! after signing in through the form, like a person.
//!
//! What it checks: the live panel changes while a run progresses (a new
//! ok count within a few seconds, without a reload), a fault in place is
//! shown with its kind, target and heal time; pause without its
//! confirmation does nothing; pause and resume through the page take
//! effect (the API's status agrees, and the page says so); a new run's row
//! appears by itself; a POST from another origin (a page on another port
//! that submits a form to the daemon) is refused and changes nothing; the
//! token is in no page and no URL; no console message, uncaught exception
//! or browser error on the page. Screenshots go to
//! `$CHAOS_ARTIFACTS_DIR/browser/daemon-*.png`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::cdp::Browser;
use super::daemon::{Bed, write_experiment};
use crate::support::{http, json, wait_for};

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("CHAOS_ARTIFACTS_DIR").unwrap_or_else(|_| "/tmp/chaos-ci-artifacts".into()),
    )
    .join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A page on another origin (127.0.0.1, another port) that posts a form
/// to `target` as soon as it loads; served to every request, on a thread.
fn attacker(target: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = format!(
                "<!doctype html><html><head><link rel=\"icon\" href=\"data:,\"></head><body>\
                 <form id=\"f\" method=\"post\" action=\"{target}\"><input name=\"confirm\" value=\"yes\"></form>\
                 <script>document.getElementById('f').submit();</script></body></html>"
            );
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn state(port: u16, token: &str) -> String {
    json(port, "GET", "/api/v1/status", token)["state"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
#[cfg_attr(
    not(all(chaos_docker, chaos_browser)),
    ignore = "needs Docker and Chromium: CHAOS_DOCKER_TESTS=1 CHAOS_BROWSER_TESTS=1"
)]
fn the_control_room_is_live_and_its_controls_work_in_chromium() {
    let _guard = crate::docker_group("the_control_room_is_live_and_its_controls_work_in_chromium");
    let bed = Bed::new("cr");
    write_experiment(
        bed.dir.path(),
        "cr-pause",
        &bed.project,
        "",
        "[[nemesis]]\nfault = \"pause\"\ntargets = { one_of = [\"etcd1\", \"etcd2\", \"etcd3\"] }\nschedule = { start = \"3s\", interval = \"6s\", duration = \"4s\" }",
    );
    let campaign = bed.campaign(
        "name = \"crtest\"\nseed = 5\ngap = \"1s\"\nbudget = \"20s\"\non_anomaly = \"continue\"\n\n[[experiments]]\nfile = \"cr-pause.toml\"\nduration = \"20s\"\n",
    );
    let mut daemon = bed.start(&campaign, "daemon.log");
    let port = bed.port;
    let token = bed.token();
    let base = format!("http://127.0.0.1:{port}");
    let shots = artifacts();

    let mut b = Browser::launch();
    // Sign in through the form, as a person types the token.
    b.navigate(&format!("{base}/login"));
    b.eval(&format!(
        "document.querySelector('input[name=token]').value = {}; document.querySelector('form').submit(); true",
        json!(token)
    ));
    b.wait(
        "the control room after sign-in",
        20,
        "location.pathname === '/' && document.body.getAttribute('data-ready') === '1'",
    );
    let start = 0;
    b.eval("window.__same_page = 1; true");

    // The live panel: a run in progress, and its ok count moves without a
    // reload.
    b.wait(
        "a run in progress with ok ops",
        180,
        "(function () { var n = document.querySelector('[data-live-run] .n-ok'); return !!n && +n.textContent > 0; })()",
    );
    let count = |b: &mut Browser| {
        b.eval("+document.querySelector('[data-live-run] .n-ok').textContent")
            .as_u64()
            .unwrap()
    };
    let first = count(&mut b);
    let t0 = Instant::now();
    b.wait(
        "a new ok count in the live panel",
        5,
        &format!(
            "(function () {{ var n = document.querySelector('[data-live-run] .n-ok'); return !!n && +n.textContent > {first}; }})()"
        ),
    );
    eprintln!("the live count moved from {first} in {:?}", t0.elapsed());
    assert_eq!(b.eval("window.__same_page === 1"), json!(true), "no reload");
    // A fault in place, with its kind, target and heal time.
    b.wait(
        "a pause in the live panel",
        40,
        "(function () { var f = document.querySelector('#live li.fault'); return !!f && /pause on etcd\\d, heals at /.test(f.textContent); })()",
    );
    b.screenshot(&shots.join("daemon-live.png"), false);

    // The token is in no page and no URL.
    let html = b.eval("document.documentElement.outerHTML + location.href");
    assert!(!html.as_str().unwrap().contains(&token));

    // Pause: with its confirmation, the daemon pauses, and the page says
    // so.
    b.eval(
        "document.querySelector('form[data-control=pause] input[name=confirm]').checked = true; \
         document.getElementById('pause').click(); true",
    );
    b.wait(
        "the page's answer to pause",
        10,
        "document.getElementById('result').textContent.indexOf('Paused') === 0",
    );
    wait_for("the API to say paused", 20, || {
        (state(port, &token) == "paused").then_some(())
    });
    b.wait(
        "the live state to say paused",
        10,
        "document.getElementById('state').textContent.indexOf('paused') === 0",
    );
    b.screenshot(&shots.join("daemon-paused.png"), false);

    // Resume: the API agrees, a run starts at once and its row appears.
    let rows = b
        .eval("document.querySelectorAll('#runs tr[data-run]').length")
        .as_u64()
        .unwrap();
    b.eval("document.getElementById('resume').click(); true");
    b.wait(
        "the page's answer to resume",
        10,
        "document.getElementById('result').textContent.indexOf('Resumed') === 0",
    );
    wait_for("the API to say running", 10, || {
        (state(port, &token) == "running").then_some(())
    });
    b.wait(
        "the live state to say running",
        10,
        "document.getElementById('state').textContent === 'running'",
    );
    b.wait(
        "the new run's row",
        15,
        &format!("document.querySelectorAll('#runs tr[data-run]').length > {rows}"),
    );
    assert_eq!(b.eval("window.__same_page === 1"), json!(true), "no reload");
    let said = b.console(start);
    assert!(said.is_empty(), "the page said:\n{}", said.join("\n"));
    b.screenshot(&shots.join("daemon-full.png"), true);
    // The seeds the page shows are the daemon's, to the last digit (they
    // are beyond a JavaScript number's exact range).
    let shown = b.eval(
        "(function () { var d = document.querySelector('[data-live-run]'); \
         return d ? [d.getAttribute('data-live-run'), d.querySelector('div').textContent] : null; })()",
    );
    if let Some(shown) = shown.as_array() {
        let run: u64 = shown[0].as_str().unwrap().parse().unwrap();
        let text = shown[1].as_str().unwrap();
        let runs = json(port, "GET", "/api/v1/runs?limit=50", &token);
        let row = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run"] == run)
            .unwrap_or_else(|| panic!("run {run} not listed: {runs}"));
        let seed = row["seed"].as_u64().unwrap();
        assert!(
            text.contains(&format!("seed {seed}:")),
            "{text} against seed {seed}"
        );
    }
    // Pause needs its confirmation: without it, nothing is posted.
    b.eval("document.getElementById('result').hidden = true; document.getElementById('pause').click(); true");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(state(port, &token), "running");
    assert_eq!(
        b.eval("document.getElementById('result').hidden"),
        json!(true)
    );
    let said = b.console(start);
    assert!(said.is_empty(), "the page said:\n{}", said.join("\n"));

    // A POST from another origin (the same host, another port) with the
    // session cookie: refused, and nothing changes.
    let evil = attacker(format!("{base}/api/v1/pause"));
    b.call(
        "Page.navigate",
        json!({"url": format!("http://127.0.0.1:{evil}/")}),
    );
    b.wait(
        "the daemon's answer to the cross-origin form",
        20,
        &format!(
            "location.href === {} && document.readyState === 'complete'",
            json!(format!("{base}/api/v1/pause"))
        ),
    );
    let answer = b.eval("document.body.textContent").to_string();
    assert!(
        answer.contains("refused: a request from another origin"),
        "{answer}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        state(port, &token),
        "running",
        "the cross-origin pause did nothing"
    );
    let (code, _) = http(port, "GET", "/api/v1/status", None, None).unwrap();
    assert_eq!(code, 401);

    // Stop gracefully through the API.
    assert_eq!(
        http(port, "POST", "/api/v1/stop", Some(&token), None)
            .unwrap()
            .0,
        202
    );
    let code = wait_for("the daemon to exit", 60, || daemon.try_wait().unwrap());
    assert_eq!(code.code(), Some(0), "{}", bed.log("daemon.log"));
    eprintln!("screenshots: {}/daemon-*.png", shots.display());
}
