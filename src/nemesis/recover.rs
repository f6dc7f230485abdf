//! Undoing faults: one journaled intent ([`undo`]), every unhealed fault of
//! a project's journals ([`recover`]), and the exhaustive [`sweep`] that
//! needs no journal at all.
//!
//! The in-process heal and `chaos heal` after a crash run the same
//! [`undo`] on the same journaled [`Intent`], so the crash path is the
//! tested path. Every undo is idempotent: unpausing a running container,
//! starting a started one, reconnecting a connected one and deleting rules
//! that are gone all succeed and change nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use futures_util::future::join_all;

use crate::docker::{ComposeCluster, DockerError, Scoped, State, status_code};
use crate::journal::{self, FaultKind, HealedRecord, Intent, Journal, Record, utc_now};

use super::NemesisError;
use super::netns::{self, Helpers};

/// Re-check a journaled container against the scope guard. `Ok(None)`: it
/// no longer exists (the cluster was recreated): nothing to undo in it.
async fn scoped(
    cluster: &ComposeCluster,
    container: &str,
    engine: Option<&str>,
) -> Result<Option<Scoped>, NemesisError> {
    match cluster.scoped_on(container, engine).await {
        Ok(s) => Ok(Some(s)),
        Err(DockerError::Api { error, .. }) if status_code(&error) == Some(404) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Undo one fault from its intent. Returns what was done, for people.
pub async fn undo(
    cluster: &ComposeCluster,
    helpers: &Helpers,
    intent: &Intent,
) -> Result<Vec<String>, NemesisError> {
    let mut actions = Vec::new();
    let mut errors = Vec::new();
    let mut note = |r: Result<Option<String>, NemesisError>| match r {
        Ok(Some(a)) => actions.push(a),
        Ok(None) => {}
        Err(e) => errors.push(e.to_string()),
    };
    match intent.kind {
        FaultKind::DiskFull | FaultKind::IoError | FaultKind::IoDelay => {
            let clear = vec!["clear".to_string()];
            let clear = &clear;
            let rs = join_all(intent.targets.iter().map(|t| async move {
                let Some(c) = scoped(cluster, &t.container, t.engine.as_deref()).await? else {
                    return Ok(Some(format!("{}: container gone", t.service)));
                };
                let (state, status) = cluster.inspect_state(&c).await?;
                match state {
                    State::Running => {}
                    State::Paused => {
                        cluster.unpause(&c).await?;
                    }
                    State::Restarting => return Ok(None),
                    _ => {
                        // The database gave up under the fault (etcd exits
                        // on a failed WAL write) and chaos-fs, its parent,
                        // with it: its faults died with it. Start it again,
                        // as the disk has room again.
                        cluster.start(&c).await?;
                        return Ok(Some(format!(
                            "{} had stopped during the fault ({status}): started",
                            t.service
                        )));
                    }
                }
                // What the fault did, before it goes.
                let status = super::chaos_fs_ctl(cluster, &c, &["status".to_string()])
                    .await
                    .ok()
                    .map(|s| chaos_fs_effect(&s))
                    .unwrap_or_default();
                super::chaos_fs_ctl(cluster, &c, clear).await.map(|_| {
                    Some(format!(
                        "cleared chaos-fs's faults in {}{status}",
                        t.service
                    ))
                })
            }))
            .await;
            rs.into_iter().for_each(&mut note);
        }
        FaultKind::PowerLoss => {
            // Killed: start it. Still running (chaos died between the
            // freeze and the kill): lift the freeze, nothing was lost.
            let clear = vec!["clear".to_string()];
            let clear = &clear;
            let rs = join_all(intent.targets.iter().map(|t| async move {
                let Some(c) = scoped(cluster, &t.container, t.engine.as_deref()).await? else {
                    return Ok(Some(format!("{}: container gone", t.service)));
                };
                let (state, _) = cluster.inspect_state(&c).await?;
                Ok(match state {
                    State::Running | State::Restarting => {
                        super::chaos_fs_ctl(cluster, &c, clear).await?;
                        Some(format!("lifted chaos-fs's freeze in {}", t.service))
                    }
                    State::Paused => {
                        cluster.unpause(&c).await?;
                        super::chaos_fs_ctl(cluster, &c, clear).await?;
                        Some(format!("unpaused {} and lifted its freeze", t.service))
                    }
                    _ => {
                        cluster.start(&c).await?;
                        Some(format!("started {}", t.service))
                    }
                })
            }))
            .await;
            rs.into_iter().for_each(&mut note);
        }
        FaultKind::Kill | FaultKind::Stop | FaultKind::Restart | FaultKind::Pause => {
            let rs = join_all(intent.targets.iter().map(|t| async move {
                let Some(c) = scoped(cluster, &t.container, t.engine.as_deref()).await? else {
                    return Ok(Some(format!("{}: container gone", t.service)));
                };
                let (state, _) = cluster.inspect_state(&c).await?;
                Ok(match state {
                    State::Paused => {
                        cluster.unpause(&c).await?;
                        Some(format!("unpaused {}", t.service))
                    }
                    State::Running | State::Restarting => None,
                    _ => {
                        cluster.start(&c).await?;
                        Some(format!("started {}", t.service))
                    }
                })
            }))
            .await;
            rs.into_iter().for_each(&mut note);
        }
        FaultKind::Disconnect => {
            let rs = join_all(intent.links.iter().map(|l| async move {
                let Some(c) = scoped(cluster, &l.container, l.engine.as_deref()).await? else {
                    return Ok(Some(format!("{}: container gone", l.service)));
                };
                let now = cluster.endpoints(&c).await?;
                if now.contains_key(&l.network) {
                    return Ok(None);
                }
                cluster.connect_network(&c, &l.network, &l.aliases).await?;
                Ok(Some(format!("reconnected {} to {}", l.service, l.network)))
            }))
            .await;
            rs.into_iter().for_each(&mut note);
        }
        FaultKind::Partition | FaultKind::Loss => {
            let rs = join_all(intent.rules.iter().map(|r| async move {
                let Some(c) = scoped(cluster, &r.container, r.engine.as_deref()).await? else {
                    return Ok(Some(format!("{}: container gone", r.service)));
                };
                // What the rules dropped (their counters), then the rules.
                let script = format!(
                    "{}{}",
                    netns::count_dropped_script(&r.tag),
                    netns::delete_rules_script(&r.tag, false)
                );
                match helpers
                    .run(cluster, &c, "deleting iptables rules", &script)
                    .await
                {
                    Ok(out) => {
                        let n = netns::removed_count(&out);
                        let dropped = netns::dropped_count(&out)
                            .map(|d| format!(" (they had dropped {d} packet(s))"))
                            .unwrap_or_default();
                        Ok((n > 0).then(|| {
                            format!("deleted {n} rule(s) {} in {}{dropped}", r.tag, r.service)
                        }))
                    }
                    // No namespace: the rules died with it.
                    Err(NemesisError::NoNamespace { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }))
            .await;
            rs.into_iter().for_each(&mut note);
        }
        FaultKind::Netem | FaultKind::Bandwidth => {
            let qdisc = if intent.kind == FaultKind::Netem {
                "netem"
            } else {
                "tbf"
            };
            let rs = join_all(intent.targets.iter().map(|t| async move {
                let Some(c) = scoped(cluster, &t.container, t.engine.as_deref()).await? else {
                    return Ok(Some(format!("{}: container gone", t.service)));
                };
                match helpers
                    .run(
                        cluster,
                        &c,
                        &format!("deleting {qdisc}"),
                        &netns::qdisc_del_script(qdisc),
                    )
                    .await
                {
                    Ok(out) => {
                        let n = netns::removed_count(&out);
                        Ok((n > 0).then(|| {
                            format!("removed {qdisc} from {n} interface(s) of {}", t.service)
                        }))
                    }
                    Err(NemesisError::NoNamespace { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }))
            .await;
            rs.into_iter().for_each(&mut note);
        }
        FaultKind::Clock => {
            // The real clock again: the heal jumps back by the offset in
            // force, no further.
            for t in &intent.targets {
                note(
                    super::write_clock(cluster.project(), &t.service, 0.0)
                        .map(|()| Some(format!("set {}'s clock back to the real one", t.service)))
                        .map_err(|e| NemesisError::Helper {
                            service: t.service.clone(),
                            purpose: "writing its clock offset".to_string(),
                            detail: e.to_string(),
                        }),
                );
            }
        }
        FaultKind::Cpu | FaultKind::Memory => {
            let kind = intent.kind;
            let rs = join_all(intent.limits.iter().map(|l| async move {
                let Some(c) = scoped(cluster, &l.container, l.engine.as_deref()).await? else {
                    return Ok(Some(format!("{}: container gone", l.service)));
                };
                let before = super::limits_of(l);
                let (_, oom) = cluster.limits(&c).await?;
                let restore = if kind == FaultKind::Cpu {
                    super::cpu_restore(&before)
                } else {
                    let host = cluster.host_memory(&c).await?;
                    super::memory_restore(&before, host)
                };
                cluster.update_limits(&c, restore).await?;
                let mut what = format!(
                    "restored the {} limits of {}",
                    if kind == FaultKind::Cpu {
                        "CPU"
                    } else {
                        "memory"
                    },
                    l.service
                );
                let (state, _) = cluster.inspect_state(&c).await?;
                if oom {
                    what.push_str(" (the kernel's OOM killer had ended it under the limit)");
                }
                match state {
                    State::Running | State::Restarting => {}
                    State::Paused => {
                        cluster.unpause(&c).await?;
                        what.push_str("; unpaused");
                    }
                    _ => {
                        cluster.start(&c).await?;
                        what.push_str(&format!("; it had stopped ({}): started", state.name()));
                    }
                }
                Ok(Some(what))
            }))
            .await;
            rs.into_iter().for_each(&mut note);
        }
    }
    if errors.is_empty() {
        Ok(actions)
    } else {
        Err(NemesisError::HealFailed {
            fault: intent.fault,
            kind: intent.kind.name(),
            errors: errors.join("; "),
        })
    }
}

/// What healing one journal did.
#[derive(Debug, Clone, Default)]
pub struct JournalRecovery {
    pub journal: PathBuf,
    /// Fault id, kind and what its heal did.
    pub healed: Vec<(u64, String, Vec<String>)>,
    pub failed: Vec<(u64, String)>,
    /// The journal could not be read (gone, corrupt): the sweep still runs.
    pub unreadable: Option<String>,
    /// The process that wrote it still runs (healed anyway).
    pub writer_alive: bool,
}

/// Heal every unhealed fault of one journal, appending a heal record for
/// each that says who healed it (`by`: `chaos heal`, `drop`).
pub async fn heal_journal(
    cluster: &ComposeCluster,
    helpers: &Helpers,
    path: &Path,
    by: &str,
) -> JournalRecovery {
    let mut report = JournalRecovery {
        journal: path.to_path_buf(),
        ..Default::default()
    };
    let records = match journal::read(path) {
        Ok(r) => r,
        Err(e) => {
            report.unreadable = Some(e.to_string());
            return report;
        }
    };
    let open = journal::unhealed(&records);
    if open.is_empty() {
        return report;
    }
    let mut writer = match Journal::open_append(path) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("cannot append heal records: {e}");
            None
        }
    };
    // Newest first, as a run heals.
    for intent in open.iter().rev() {
        let r = undo(cluster, helpers, intent).await;
        let error = r.as_ref().err().map(|e| e.to_string());
        if let Some(w) = writer.as_mut() {
            let rec = Record::Healed(HealedRecord {
                fault: intent.fault,
                at_ms: None,
                utc: utc_now(),
                by: by.to_string(),
                error: error.clone(),
            });
            if let Err(e) = w.append(&rec) {
                tracing::warn!("cannot append a heal record: {e}");
            }
        }
        match r {
            Ok(actions) => report
                .healed
                .push((intent.fault, intent.description.clone(), actions)),
            Err(e) => report.failed.push((intent.fault, e.to_string())),
        }
    }
    report
}

/// What an exhaustive sweep did.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    pub reconnected: Vec<String>,
    pub unpaused: Vec<String>,
    pub started: Vec<String>,
    /// Service and how many chaos rules were deleted in it.
    pub rules_deleted: Vec<(String, usize)>,
    pub netem_removed: Vec<String>,
    /// Services whose bandwidth limit (`tbf`) was removed.
    pub tbf_removed: Vec<String>,
    /// Services whose clock offset file was set back to the real clock.
    pub clocks_reset: Vec<String>,
    /// Services whose chaos-fs had a fault set or was frozen, cleared.
    pub chaos_fs_cleared: Vec<String>,
    pub helpers_removed: usize,
    /// Rule and netem cleanup was skipped: the helper image is missing
    /// (then chaos cannot have added any).
    pub skipped_rules: bool,
    pub errors: Vec<String>,
}

impl SweepReport {
    /// Did the sweep change anything?
    pub fn changed(&self) -> bool {
        !(self.reconnected.is_empty()
            && self.unpaused.is_empty()
            && self.started.is_empty()
            && self.rules_deleted.is_empty()
            && self.netem_removed.is_empty()
            && self.tbf_removed.is_empty()
            && self.clocks_reset.is_empty()
            && self.chaos_fs_cleared.is_empty()
            && self.helpers_removed == 0)
    }
}

/// Put every container of the project back the way compose made it:
/// reconnect its compose networks, unpause, start, delete every chaos
/// iptables rule and netem qdisc in its namespace, and remove every helper
/// container. Needs no journal. Errors are collected, never raised: a sweep
/// does all it can.
pub async fn sweep(cluster: &ComposeCluster) -> SweepReport {
    let mut report = SweepReport::default();
    // Helpers left by others (a crashed run); the sweep's own are not news.
    let left = match cluster.helpers().await {
        Ok(h) => h,
        Err(e) => {
            report.errors.push(e.to_string());
            Vec::new()
        }
    };
    report.helpers_removed = left.len();
    let containers = match cluster.containers().await {
        Ok(c) => c,
        Err(e) => {
            report.errors.push(e.to_string());
            return report;
        }
    };
    // 1. Networks: those the compose file gives the service; without the
    // file, those it is on now (nothing to compare with).
    for c in containers.values() {
        let s = cluster.scoped_info(c);
        let Some(expected) = cluster.compose_networks(&c.service) else {
            continue;
        };
        let now: BTreeSet<&String> = c.networks.keys().collect();
        for net in expected.iter().filter(|n| !now.contains(n)) {
            let aliases = vec![c.service.clone(), c.short_id().to_string()];
            match cluster.connect_network(&s, net, &aliases).await {
                Ok(()) => report.reconnected.push(format!("{} to {net}", c.service)),
                Err(e) => report.errors.push(e.to_string()),
            }
        }
    }
    // 2. States.
    for c in containers.values() {
        let s = cluster.scoped_info(c);
        match c.state {
            State::Paused => match cluster.unpause(&s).await {
                Ok(()) => report.unpaused.push(c.service.clone()),
                Err(e) => report.errors.push(e.to_string()),
            },
            State::Exited | State::Created | State::Dead => match cluster.start(&s).await {
                Ok(()) => report.started.push(c.service.clone()),
                Err(e) => report.errors.push(e.to_string()),
            },
            _ => {}
        }
    }
    // 2b. chaos-fs faults (disk-full, io-error, io-delay, a freeze) in
    // every running container that runs chaos-fs.
    let rs = join_all(
        containers
            .values()
            .filter(|c| c.state == State::Running)
            .map(|c| async move {
                let s = cluster.scoped_info(c);
                let status = vec!["status".to_string()];
                let Ok(out) = super::chaos_fs_ctl(cluster, &s, &status).await else {
                    return Ok(None); // no chaos-fs there
                };
                if !chaos_fs_busy(&out) {
                    return Ok(None);
                }
                super::chaos_fs_ctl(cluster, &s, &["clear".to_string()])
                    .await
                    .map(|_| Some(c.service.clone()))
            }),
    )
    .await;
    for r in rs {
        match r {
            Ok(Some(service)) => report.chaos_fs_cleared.push(service),
            Ok(None) => {}
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    // 2c. Clock offsets: every offset file of the project that does not
    // read the real clock.
    let clocks = crate::journal::state_dir()
        .join("clock")
        .join(cluster.project());
    for entry in std::fs::read_dir(&clocks).into_iter().flatten().flatten() {
        let service = entry.file_name().to_string_lossy().into_owned();
        let file = entry.path().join("faketime");
        let now = std::fs::read_to_string(&file).unwrap_or_default();
        if now.trim().trim_start_matches('+').parse::<f64>() == Ok(0.0) {
            continue;
        }
        match super::write_clock(cluster.project(), &service, 0.0) {
            Ok(()) => report.clocks_reset.push(service),
            Err(e) => report
                .errors
                .push(format!("{}: resetting the clock: {e}", file.display())),
        }
    }
    // 3. Rules and qdiscs, in every container's namespace.
    let image = netns::helper_image();
    match cluster.has_image(&image).await {
        Ok(false) => report.skipped_rules = true,
        Err(e) => report.errors.push(e.to_string()),
        Ok(true) => {
            let helpers = Helpers::default();
            let script = format!(
                "{}\n{}\n{}",
                netns::delete_rules_script(netns::TAG_PREFIX, true),
                netns::qdisc_del_script("netem").replace("removed ", "netem "),
                netns::qdisc_del_script("tbf").replace("removed ", "tbf ")
            );
            let helpers = &helpers;
            let script = &script;
            let rs = join_all(containers.values().map(|c| async move {
                let s = cluster.scoped_info(c);
                (
                    c.service.clone(),
                    helpers
                        .run(cluster, &s, "sweeping rules and netem", script)
                        .await,
                )
            }))
            .await;
            // Remove the helpers while their shells are attached, before
            // the pool is dropped (which would end them and start the
            // engine's own auto-removal).
            if let Err(e) = helpers.remove_all(cluster).await {
                report.errors.push(e.to_string());
            }
            for (service, r) in rs {
                match r {
                    Ok(out) => {
                        let n = netns::removed_count(&out);
                        if n > 0 {
                            report.rules_deleted.push((service.clone(), n));
                        }
                        if netns::prefixed_count(&out, "netem ") > 0 {
                            report.netem_removed.push(service.clone());
                        }
                        if netns::prefixed_count(&out, "tbf ") > 0 {
                            report.tbf_removed.push(service);
                        }
                    }
                    Err(NemesisError::NoNamespace { .. }) => {}
                    Err(e) => report.errors.push(e.to_string()),
                }
            }
        }
    }
    // 4. Helpers, ours and any left by a crashed run.
    if let Err(e) = cluster.remove_helpers().await {
        report.errors.push(e.to_string());
    }
    report
}

/// What a `chaos-fs ctl status` answer says the faults did, in words
/// (` (it had injected 12 errors)`), or nothing. Pure.
pub fn chaos_fs_effect(answer: &str) -> String {
    let json = answer.split_once(": ").map_or(answer, |(_, j)| j);
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return String::new();
    };
    let f = &v["faults"];
    let mut parts = Vec::new();
    if let Some(n) = f["io_error"]["injected"].as_u64() {
        parts.push(format!("{n} I/O error(s) injected"));
    }
    if let Some(n) = f["disk_full"]["injected"].as_u64() {
        parts.push(format!("{n} ENOSPC error(s) injected"));
    }
    if let (Some(n), Some(ms)) = (
        f["io_delay"]["delayed"].as_u64(),
        f["io_delay"]["total_ms"].as_f64(),
    ) {
        parts.push(format!("{n} operation(s) delayed, {ms:.0} ms in all"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// Does a `chaos-fs ctl status` answer (`service: {json}`) show a fault
/// set or a freeze? Pure.
pub fn chaos_fs_busy(answer: &str) -> bool {
    let json = answer.split_once(": ").map_or(answer, |(_, j)| j);
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return false;
    };
    v["frozen"] == true
        || v["faults"]
            .as_object()
            .is_some_and(|f| f.values().any(|x| !x.is_null()))
}

/// What `chaos heal` did: each active journal, then the sweep.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub journals: Vec<JournalRecovery>,
    pub sweep: SweepReport,
}

impl RecoveryReport {
    /// Every unhealed fault healed and the sweep without errors.
    pub fn clean(&self) -> bool {
        self.sweep.errors.is_empty() && self.journals.iter().all(|j| j.failed.is_empty())
    }
}

/// Heal every unhealed fault in the project's active journals, take the
/// healed journals out of the index, then sweep.
pub async fn recover(cluster: &ComposeCluster) -> RecoveryReport {
    recover_in(cluster, &journal::state_dir()).await
}

/// [`recover`] with the active index under another state dir.
pub async fn recover_in(cluster: &ComposeCluster, state: &Path) -> RecoveryReport {
    let mut report = RecoveryReport::default();
    let runs = match journal::active_runs_in(state, cluster.project()) {
        Ok(r) => r,
        Err(e) => {
            report.sweep.errors.push(e.to_string());
            Vec::new()
        }
    };
    let helpers = Helpers::default();
    for run in runs {
        let mut j = heal_journal(cluster, &helpers, &run.journal, "chaos heal").await;
        j.writer_alive = run.process_alive();
        if j.failed.is_empty()
            && let Err(e) = journal::retire(&run)
        {
            report.sweep.errors.push(e.to_string());
        }
        report.journals.push(j);
    }
    let _ = helpers.remove_all(cluster).await;
    report.sweep = {
        let mut s = sweep(cluster).await;
        s.errors.append(&mut report.sweep.errors);
        s
    };
    report
}
