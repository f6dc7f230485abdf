//! Commands in a target's network namespace: iptables rules for partitions,
//! netem qdiscs, and the netem probe.
//!
//! A container of the project has no NET_ADMIN, so chaos runs these
//! commands in a **helper container** (image [`helper_image`]) that shares
//! the target's network namespace (`network_mode: container:<id>`) with
//! NET_ADMIN. One long-lived helper per target runs `sh` reading commands
//! from its attached stdin: created on first use, reused for every later
//! command (a write and a read, about a millisecond, where a `docker exec`
//! costs tens), replaced when the target restarted (a new namespace), and
//! removed by `heal_all` and by every sweep. Its stdin closes when chaos's
//! attachment does, so a helper ends (and the engine removes it) when chaos
//! exits or is killed. Helpers carry the label `io.chaos.helper.project=<project>` and
//! never the compose labels, so compose does not count them as its own.
//!
//! The shell scripts are built by pure functions below and unit-tested.
//! Every rule chaos adds carries a comment tag `chaos:<project>:f<fault id>`
//! ([`rule_tag`]); heals delete by exact tag, sweeps delete every `chaos:`
//! tag.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::container::LogOutput;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::docker::{ComposeCluster, DockerError, ExecOutput, Scoped, State, labels};

use super::NemesisError;

/// The helper image (built by `compose/images/build.sh`); `CHAOS_HELPER_IMAGE`
/// overrides it.
pub fn helper_image() -> String {
    std::env::var("CHAOS_HELPER_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "chaos/nethelper:local".to_string())
}

/// The comment every rule of a fault carries.
pub fn rule_tag(project: &str, fault: u64) -> String {
    format!("chaos:{project}:f{fault}")
}

/// The prefix of every chaos rule tag.
pub const TAG_PREFIX: &str = "chaos:";

/// Insert one DROP rule per source address at the top of INPUT.
pub fn add_rules_script(tag: &str, sources: &[String]) -> String {
    let mut s = String::from("set -e\n");
    for ip in sources {
        s.push_str(&format!(
            "iptables -w -I INPUT -s {ip} -m comment --comment {tag} -j DROP\n"
        ));
    }
    s
}

/// Insert DROP rules at the top of INPUT that drop a share (`probability`,
/// 0 to 1) of what the target receives: from each source address, or,
/// with none, from everyone but the loopback (clients included).
pub fn add_loss_script(tag: &str, sources: &[String], probability: f64) -> String {
    let p = format!("{probability:.4}");
    let stat = format!("-m statistic --mode random --probability {p}");
    let mut s = String::from("set -e\n");
    if sources.is_empty() {
        s.push_str(&format!(
            "iptables -w -I INPUT ! -i lo {stat} -m comment --comment {tag} -j DROP\n"
        ));
    }
    for ip in sources {
        s.push_str(&format!(
            "iptables -w -I INPUT -s {ip} {stat} -m comment --comment {tag} -j DROP\n"
        ));
    }
    s
}

/// Print `dropped N`: the packets the rules tagged exactly `tag` have
/// dropped (their counters), before a heal deletes them.
pub fn count_dropped_script(tag: &str) -> String {
    format!(
        "iptables -w -L INPUT -v -x -n | grep -E -- '/\\* {}( |\\*)' | awk '{{n+=$1}} END {{print \"dropped \" n+0}}'\n",
        ere_escape(tag)
    )
}

/// The `dropped N` of [`count_dropped_script`]'s output.
pub fn dropped_count(out: &ExecOutput) -> Option<u64> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("dropped "))
        .find_map(|n| n.trim().parse().ok())
}

/// The burst a `tbf` of `rate_bits` per second needs: 20 ms of the rate,
/// at least a few full frames (a smaller bucket than one packet passes
/// nothing). Pure.
pub fn tbf_burst_bytes(rate_bits: u64) -> u64 {
    (rate_bits / 8 / 50).max(4 * 1514)
}

/// A token bucket on every interface but `lo`: what the target sends
/// leaves at `rate_bits` per second at most.
pub fn tbf_add_script(rate_bits: u64) -> String {
    format!(
        "set -e\nfor i in $(ls /sys/class/net); do [ \"$i\" = lo ] && continue; tc qdisc replace dev \"$i\" root tbf rate {rate_bits}bit burst {} latency 200ms; done\n",
        tbf_burst_bytes(rate_bits)
    )
}

/// Remove a root qdisc of `kind` (netem, tbf) from every interface that
/// has one; print `removed N`.
pub fn qdisc_del_script(kind: &str) -> String {
    format!(
        "n=0\nfor i in $(ls /sys/class/net); do if tc qdisc show dev \"$i\" root 2>/dev/null | grep -q '^qdisc {kind} '; then tc qdisc del dev \"$i\" root && n=$((n+1)); fi; done\necho \"removed $n\"\n"
    )
}

/// Escape a literal for an extended regular expression.
fn ere_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.[]{}()*+?^$|".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Delete every filter rule whose comment is exactly `tag` (or, with
/// `prefix`, starts with it); print `removed N`; fail if any remains.
/// iptables prints comments quoted (`--comment "chaos:p:f1"`), or not:
/// both match.
pub fn delete_rules_script(tag: &str, prefix: bool) -> String {
    let pattern = if prefix {
        format!("--comment \"?{}", ere_escape(tag))
    } else {
        format!("--comment \"?{}\"?( |$)", ere_escape(tag))
    };
    format!(
        r#"set -f
pattern='{pattern}'
rules=$(iptables -w -S | grep -E -- "$pattern" || true)
n=0
IFS='
'
for r in $rules; do
  d=$(printf '%s' "$r" | sed 's/^-A /-D /')
  eval "iptables -w $d"
  n=$((n+1))
done
echo "removed $n"
left=$(iptables -w -S | grep -cE -- "$pattern" || true)
if [ "$left" != 0 ]; then echo "$left rules still match $pattern" >&2; exit 1; fi
"#
    )
}

/// Count the rules whose comment starts with `prefix` (for status and tests).
pub fn count_rules_script(prefix: &str) -> String {
    format!(
        "iptables -w -S | grep -cE -- '--comment \"?{}' || true\n",
        ere_escape(prefix)
    )
}

/// What a netem qdisc does to the packets a target sends (shares in
/// percent, 0 for none).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetemArgs {
    pub delay_ms: u64,
    pub jitter_ms: u64,
    pub loss: f64,
    pub duplicate: f64,
    pub corrupt: f64,
    /// Sent at once, ahead of the delayed ones: netem needs a delay for it
    /// (the experiment validator refuses a reorder without one).
    pub reorder: f64,
}

/// netem on every interface but `lo`.
pub fn netem_add_script(a: &NetemArgs) -> String {
    let mut args = String::new();
    if a.delay_ms > 0 || a.jitter_ms > 0 {
        args.push_str(&format!(" delay {}ms", a.delay_ms));
        if a.jitter_ms > 0 {
            args.push_str(&format!(" {}ms", a.jitter_ms));
        }
    }
    for (name, share) in [
        ("loss", a.loss),
        ("duplicate", a.duplicate),
        ("corrupt", a.corrupt),
        ("reorder", a.reorder),
    ] {
        if share > 0.0 {
            args.push_str(&format!(" {name} {share}%"));
        }
    }
    format!(
        "set -e\nfor i in $(ls /sys/class/net); do [ \"$i\" = lo ] && continue; tc qdisc replace dev \"$i\" root netem{args}; done\n"
    )
}

/// Does this kernel have netem? Tried on `lo` of a helper with no network,
/// so that no target is touched.
pub const NETEM_PROBE_SCRIPT: &str =
    "tc qdisc add dev lo root netem delay 1ms && tc qdisc del dev lo root";

/// The number in a script's `removed N` line.
pub fn removed_count(out: &ExecOutput) -> usize {
    prefixed_count(out, "removed ")
}

/// The sum of the numbers on a script's lines that start with `prefix`
/// (`removed `, and the sweep's `netem `, `tbf `).
pub fn prefixed_count(out: &ExecOutput, prefix: &str) -> usize {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|n| n.trim().parse::<usize>().ok())
        .sum()
}

/// A shell in a helper container, fed through its attached stdin: one
/// command costs a write and a read, not a `docker exec`.
struct Session {
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
    buf: Vec<u8>,
    next: u64,
}

/// How long one script may take in a helper.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The text a script is wrapped in: a subshell (so `set -e` or `exit` end
/// only the script), no stdin, stderr merged, and a numbered end marker
/// with the exit status. Pure.
pub fn session_command(script: &str, marker: &str) -> String {
    format!("(\n{script}\n) </dev/null 2>&1; printf '\\n{marker} %s\\n' \"$?\"\n")
}

/// If `buf` holds a whole answer ending in `marker`, its output, exit
/// status, and the bytes it took. Pure.
pub fn session_answer(buf: &[u8], marker: &str) -> Option<(String, i64, usize)> {
    let needle = format!("\n{marker} ");
    let pos = buf
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())?;
    let rest = &buf[pos + needle.len()..];
    let eol = rest.iter().position(|b| *b == b'\n')?;
    let code = String::from_utf8_lossy(&rest[..eol])
        .trim()
        .parse()
        .unwrap_or(-1);
    let text = String::from_utf8_lossy(&buf[..pos]).into_owned();
    Some((text, code, pos + needle.len() + eol + 1))
}

impl Session {
    async fn run(&mut self, script: &str) -> Result<ExecOutput, String> {
        self.next += 1;
        let marker = format!("__chaos_done_{}__", self.next);
        let cmd = session_command(script, &marker);
        self.input
            .write_all(cmd.as_bytes())
            .await
            .map_err(|e| format!("writing to the helper: {e}"))?;
        self.input
            .flush()
            .await
            .map_err(|e| format!("writing to the helper: {e}"))?;
        let deadline = tokio::time::Instant::now() + SCRIPT_TIMEOUT;
        loop {
            if let Some((text, code, used)) = session_answer(&self.buf, &marker) {
                self.buf.drain(..used);
                return Ok(ExecOutput {
                    code,
                    stdout: text,
                    stderr: String::new(),
                });
            }
            match tokio::time::timeout_at(deadline, self.output.next()).await {
                Ok(Some(Ok(chunk))) => self.buf.extend_from_slice(&chunk.into_bytes()),
                Ok(Some(Err(e))) => return Err(format!("reading from the helper: {e}")),
                Ok(None) => return Err("the helper's shell ended".to_string()),
                Err(_) => return Err(format!("no answer within {SCRIPT_TIMEOUT:?}")),
            }
        }
    }
}

#[derive(Clone)]
struct Helper {
    id: String,
    /// The target's start time when the helper joined its namespace.
    target_started: String,
    session: Arc<tokio::sync::Mutex<Session>>,
}

/// The long-lived helpers of one nemesis (or one heal), by target container
/// id. Dropping it closes the helpers' stdin, which ends them.
#[derive(Default)]
pub struct Helpers {
    by_target: Mutex<HashMap<String, Helper>>,
}

impl std::fmt::Debug for Helpers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.by_target.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "Helpers({n})")
    }
}

impl Helpers {
    /// Run a shell script in the target's network namespace. Fails if the
    /// target has no namespace (not running) or the script fails.
    pub async fn run(
        &self,
        cluster: &ComposeCluster,
        target: &Scoped,
        purpose: &str,
        script: &str,
    ) -> Result<ExecOutput, NemesisError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let helper = self.ensure(cluster, target).await?;
            let r = helper.session.lock().await.run(script).await;
            match r {
                Ok(out) if out.ok() => return Ok(out),
                Ok(out) => {
                    return Err(NemesisError::Helper {
                        service: target.service.clone(),
                        purpose: purpose.to_string(),
                        detail: format!(
                            "exit {}: {}",
                            out.code,
                            format!("{}{}", out.stdout, out.stderr).trim()
                        ),
                    });
                }
                // The helper's shell is gone (removed by a sweep, or stuck):
                // make a new one, once. Scripts are idempotent.
                Err(e) => {
                    self.forget(&target.id);
                    let _ = cluster.remove(&helper.id).await;
                    if attempt > 1 {
                        return Err(NemesisError::Helper {
                            service: target.service.clone(),
                            purpose: purpose.to_string(),
                            detail: e,
                        });
                    }
                    tracing::debug!(service = %target.service, "helper session lost ({e}); replacing it");
                }
            }
        }
    }

    fn forget(&self, target: &str) -> Option<Helper> {
        self.by_target.lock().expect("helpers lock").remove(target)
    }

    /// The helper for a target, created (or replaced) as needed.
    async fn ensure(
        &self,
        cluster: &ComposeCluster,
        target: &Scoped,
    ) -> Result<Helper, NemesisError> {
        let (state, started) = cluster.inspect_state(target).await?;
        if !matches!(state, State::Running | State::Paused) {
            return Err(NemesisError::NoNamespace {
                service: target.service.clone(),
                state: state.name().to_string(),
            });
        }
        let cached = self
            .by_target
            .lock()
            .expect("helpers lock")
            .get(&target.id)
            .cloned();
        if let Some(h) = cached {
            if h.target_started == started {
                return Ok(h);
            }
            // The target restarted: the helper sits in a dead namespace.
            self.forget(&target.id);
            cluster.remove(&h.id).await?;
        }
        let (id, io) = cluster
            .create_helper(
                Some(target),
                &helper_image(),
                &format!("container:{}", target.id),
                &["sh"],
                &[
                    (labels::HELPER_TARGET, &target.id),
                    (labels::HELPER_TARGET_STARTED, &started),
                ],
                true,
            )
            .await?;
        let io = io.expect("an attached helper");
        let helper = Helper {
            id,
            target_started: started,
            session: Arc::new(tokio::sync::Mutex::new(Session {
                input: io.input,
                output: io.output,
                buf: Vec::new(),
                next: 0,
            })),
        };
        self.by_target
            .lock()
            .expect("helpers lock")
            .insert(target.id.clone(), helper.clone());
        Ok(helper)
    }

    /// Create helpers ahead of time, so that the first partition does not
    /// pay for a container start. Targets without a namespace are skipped.
    pub async fn prepare(&self, cluster: &ComposeCluster, targets: &[Scoped]) {
        let all = targets.iter().map(|t| self.ensure(cluster, t));
        for r in futures_util::future::join_all(all).await {
            if let Err(e) = r {
                tracing::debug!("helper not prepared: {e}");
            }
        }
    }

    /// Remove this pool's helpers.
    pub async fn remove_all(&self, cluster: &ComposeCluster) -> Result<usize, DockerError> {
        let helpers: Vec<Helper> = self
            .by_target
            .lock()
            .expect("helpers lock")
            .drain()
            .map(|(_, h)| h)
            .collect();
        for h in &helpers {
            cluster.remove(&h.id).await?;
        }
        Ok(helpers.len())
    }
}

/// Probe netem in a throwaway helper with no network. `Ok(None)`: netem
/// works; `Ok(Some(why))`: it does not.
pub async fn probe_netem(cluster: &ComposeCluster) -> Result<Option<String>, NemesisError> {
    let (id, _) = cluster
        .create_helper(None, &helper_image(), "none", &["sleep", "60"], &[], false)
        .await?;
    let out = cluster.exec(&id, &["sh", "-c", NETEM_PROBE_SCRIPT]).await;
    cluster.remove(&id).await?;
    let out = out?;
    Ok(if out.ok() {
        None
    } else {
        Some(format!(
            "`tc qdisc add dev lo root netem delay 1ms` failed: {}",
            out.stderr.trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_scripts() {
        let tag = rule_tag("chaos-etcd", 3);
        assert_eq!(tag, "chaos:chaos-etcd:f3");
        let add = add_rules_script(&tag, &["172.20.0.3".to_string(), "172.21.0.3".to_string()]);
        assert_eq!(
            add,
            "set -e\n\
             iptables -w -I INPUT -s 172.20.0.3 -m comment --comment chaos:chaos-etcd:f3 -j DROP\n\
             iptables -w -I INPUT -s 172.21.0.3 -m comment --comment chaos:chaos-etcd:f3 -j DROP\n"
        );
        let del = delete_rules_script(&tag, false);
        assert!(
            del.contains(r#"pattern='--comment "?chaos:chaos-etcd:f3"?( |$)'"#),
            "{del}"
        );
        let sweep = delete_rules_script("chaos:", true);
        assert!(sweep.contains(r#"pattern='--comment "?chaos:'"#), "{sweep}");
        assert_eq!(ere_escape("a.b*c"), r"a\.b\*c");
    }

    #[test]
    fn netem_scripts() {
        let netem = |a: NetemArgs| {
            let s = netem_add_script(&a);
            let line = s.lines().nth(1).unwrap().to_string();
            assert!(line.contains("[ \"$i\" = lo ] && continue;"), "{s}");
            line.split("root netem")
                .nth(1)
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string()
        };
        let base = NetemArgs::default();
        assert_eq!(
            netem(NetemArgs {
                delay_ms: 50,
                jitter_ms: 10,
                loss: 1.5,
                ..base
            }),
            " delay 50ms 10ms loss 1.5%"
        );
        assert_eq!(
            netem(NetemArgs { loss: 5.0, ..base }),
            " loss 5%",
            "no delay without one"
        );
        assert_eq!(
            netem(NetemArgs {
                delay_ms: 200,
                loss: 2.0,
                duplicate: 1.0,
                corrupt: 0.1,
                reorder: 25.0,
                ..base
            }),
            " delay 200ms loss 2% duplicate 1% corrupt 0.1% reorder 25%"
        );
        assert_eq!(
            netem(NetemArgs {
                duplicate: 100.0,
                ..base
            }),
            " duplicate 100%"
        );
        assert_eq!(
            netem(NetemArgs {
                corrupt: 3.0,
                ..base
            }),
            " corrupt 3%"
        );
        assert!(netem_add_script(&base).starts_with("set -e\n"));
    }

    #[test]
    fn loss_scripts() {
        let tag = rule_tag("p", 2);
        let all = add_loss_script(&tag, &[], 0.2);
        assert_eq!(
            all,
            "set -e\niptables -w -I INPUT ! -i lo -m statistic --mode random --probability 0.2000 \
             -m comment --comment chaos:p:f2 -j DROP\n"
        );
        let some = add_loss_script(&tag, &["10.0.0.2".to_string()], 0.05);
        assert!(
            some.contains("-I INPUT -s 10.0.0.2 -m statistic --mode random --probability 0.0500 "),
            "{some}"
        );
        assert!(!some.contains("! -i lo"), "{some}");
        let count = count_dropped_script(&tag);
        assert!(count.contains(r"'/\* chaos:p:f2( |\*)'"), "{count}");
        let out = ExecOutput {
            code: 0,
            stdout: "dropped 41\nremoved 1\n".to_string(),
            stderr: String::new(),
        };
        assert_eq!(dropped_count(&out), Some(41));
        assert_eq!(removed_count(&out), 1);
    }

    #[test]
    fn tbf_scripts_and_burst() {
        // 20 ms of the rate, never under four full frames.
        assert_eq!(tbf_burst_bytes(1_000_000), 6056);
        assert_eq!(tbf_burst_bytes(100_000_000), 250_000);
        let s = tbf_add_script(1_000_000);
        assert!(
            s.contains("root tbf rate 1000000bit burst 6056 latency 200ms"),
            "{s}"
        );
        assert!(s.contains("[ \"$i\" = lo ] && continue"), "{s}");
        let d = qdisc_del_script("tbf");
        assert!(d.contains("grep -q '^qdisc tbf '"), "{d}");
        assert!(d.contains("echo \"removed $n\""), "{d}");
    }

    #[test]
    fn session_framing() {
        let cmd = session_command("set -e\niptables -S", "__chaos_done_3__");
        assert_eq!(
            cmd,
            "(\nset -e\niptables -S\n) </dev/null 2>&1; printf '\\n__chaos_done_3__ %s\\n' \"$?\"\n"
        );
        let m = "__chaos_done_3__";
        assert_eq!(session_answer(b"partial output", m), None);
        assert_eq!(session_answer(b"out\n\n__chaos_done_3__ 0", m), None);
        let buf = b"removed 2\n\n__chaos_done_3__ 0\nnext";
        let (text, code, used) = session_answer(buf, m).unwrap();
        assert_eq!((text.as_str(), code), ("removed 2\n", 0));
        assert_eq!(&buf[used..], b"next");
        let (_, code, _) = session_answer(b"\n__chaos_done_3__ 4\n", m).unwrap();
        assert_eq!(code, 4);
        // An earlier marker does not answer a later command.
        assert_eq!(session_answer(b"\n__chaos_done_2__ 0\n", m), None);
    }

    #[test]
    fn removed_counts() {
        let out = ExecOutput {
            code: 0,
            stdout: "removed 2\n".to_string(),
            stderr: String::new(),
        };
        assert_eq!(removed_count(&out), 2);
    }
}
