//! A small Chrome DevTools Protocol client for the browser tests that drive
//! a live page (the daemon's control room): headless Chromium with
//! `--remote-debugging-port=0`, one page, spoken to over a WebSocket
//! written here (RFC 6455: a text frame out, masked; frames in, joined).
//! It navigates, evaluates script in the page, captures screenshots and
//! keeps what the page said on its console (console calls, uncaught
//! exceptions and the browser's own log entries: a failed load, a
//! refused request). No test here: the helper of `control_room`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A headless Chromium and a WebSocket to its page.
pub struct Browser {
    child: Child,
    ws: TcpStream,
    next: u64,
    /// The events received so far (method and params).
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read an HTTP/1.1 response's head (up to the blank line).
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("the DevTools server answers");
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

impl Browser {
    /// Start Chromium (`$CHAOS_CHROMIUM`, else `chromium`) with a fresh
    /// profile and a 1280 x 1000 window, and connect to its first page.
    pub fn launch() -> Browser {
        let bin = std::env::var("CHAOS_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--hide-scrollbars",
                "--window-size=1280,1000",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the browser test group is switched on but `{bin}` does not start ({e}); \
                     install it with `bash .ci/install.sh --tests`"
                )
            });
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium says where DevTools listens within 30 s");
        let port: u16 = url
            .trim_start_matches("ws://127.0.0.1:")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        // The page target.
        let list = http_get(port, "/json/list");
        let targets: Value = serde_json::from_str(&list).unwrap();
        let page = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .unwrap_or_else(|| panic!("no page target: {list}"));
        let ws_url = page["webSocketDebuggerUrl"].as_str().unwrap().to_string();
        let path = ws_url.splitn(4, '/').nth(3).unwrap();
        let mut ws = TcpStream::connect(("127.0.0.1", port)).unwrap();
        ws.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            ws,
            "GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let head = read_head(&mut ws);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let mut b = Browser {
            child,
            ws,
            next: 0,
            events: Vec::new(),
            _profile: profile,
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            b.call(domain, json!({}));
        }
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
        );
        b
    }

    fn send(&mut self, text: &str) {
        let data = text.as_bytes();
        let mut frame = vec![0x81u8];
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        match data.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65_536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.ws.write_all(&frame).unwrap();
    }

    /// The next whole text message.
    fn receive(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.ws.read_exact(&mut h).expect("a DevTools message");
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let mut len = (h[1] & 0x7f) as u64;
            if len == 126 {
                let mut x = [0u8; 2];
                self.ws.read_exact(&mut x).unwrap();
                len = u16::from_be_bytes(x) as u64;
            } else if len == 127 {
                let mut x = [0u8; 8];
                self.ws.read_exact(&mut x).unwrap();
                len = u64::from_be_bytes(x);
            }
            let mut payload = vec![0u8; len as usize];
            self.ws.read_exact(&mut payload).unwrap();
            match opcode {
                0x8 => panic!("DevTools closed the connection"),
                0x9 | 0xa => continue,
                _ => message.extend_from_slice(&payload),
            }
            if fin {
                return String::from_utf8(message).unwrap();
            }
        }
    }

    /// Call a DevTools method: its whole answer (`result` or `error`);
    /// events that arrive meanwhile are kept.
    fn call_raw(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.send(&json!({"id": id, "method": method, "params": params}).to_string());
        loop {
            let m: Value = serde_json::from_str(&self.receive()).unwrap();
            if m["id"] == id {
                return m;
            }
            if m["method"].is_string() {
                self.events.push(m);
            }
        }
    }

    /// Call a DevTools method and wait for its result; an error fails.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let m = self.call_raw(method, params);
        assert!(m["error"].is_null(), "{method}: {m}");
        m["result"].clone()
    }

    /// Evaluate an expression in the page (promises awaited): its value,
    /// or `None` if it threw or the page was between documents.
    pub fn try_eval(&mut self, expression: &str) -> Option<Value> {
        let m = self.call_raw(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        let r = &m["result"];
        (m["error"].is_null() && r["exceptionDetails"].is_null())
            .then(|| r["result"]["value"].clone())
    }

    /// Evaluate an expression in the page: its value; a throw fails.
    pub fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .unwrap_or_else(|| panic!("{expression} threw or found no page"))
    }

    /// Poll `expression` until it is true, or fail after `secs`.
    pub fn wait(&mut self, what: &str, secs: u64, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.try_eval(expression) != Some(json!(true)) {
            assert!(Instant::now() < deadline, "{what}: not within {secs} s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Go to `url` and wait for its document to be complete.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait(
            &format!("{url} to load"),
            30,
            &format!(
                "document.readyState === 'complete' && location.href.startsWith({})",
                json!(url.split('?').next().unwrap().trim_end_matches('/'))
            ),
        );
    }

    /// A PNG of the page, `full` or its first 1000 pixels, to `path`.
    pub fn screenshot(&mut self, path: &Path, full: bool) {
        let mut params = json!({"format": "png"});
        if full {
            let m = self.call("Page.getLayoutMetrics", json!({}));
            let size = &m["cssContentSize"];
            params["captureBeyondViewport"] = json!(true);
            params["clip"] = json!({"x": 0, "y": 0, "width": 1280,
                "height": size["height"].as_f64().unwrap_or(1000.0).min(8000.0), "scale": 1});
        }
        let r = self.call("Page.captureScreenshot", params);
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        std::fs::write(path, png).unwrap();
    }

    /// What the page said on the console since `from` (an index into
    /// [`events`](Self::events)): console calls, uncaught exceptions, and
    /// the browser's log entries of level warning or error.
    pub fn console(&mut self, from: usize) -> Vec<String> {
        // Collect what is pending.
        self.eval("1");
        self.events[from..]
            .iter()
            .filter_map(|e| match e["method"].as_str() {
                Some("Runtime.consoleAPICalled") => Some(format!("console: {}", e["params"])),
                Some("Runtime.exceptionThrown") => Some(format!("exception: {}", e["params"])),
                Some("Log.entryAdded")
                    if matches!(
                        e["params"]["entry"]["level"].as_str(),
                        Some("error" | "warning")
                    ) =>
                {
                    Some(format!("log: {}", e["params"]["entry"]))
                }
                _ => None,
            })
            .collect()
    }
}

/// A GET to the DevTools HTTP endpoint: the body (as long as its
/// Content-Length says: the server keeps the connection open).
fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut s);
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}
