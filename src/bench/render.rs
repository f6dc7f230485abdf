//! The text of a bench: what `chaos bench` prints and keeps as
//! `report.txt`, rendered from the [`BenchReport`] alone so that the text
//! and `bench.json` cannot disagree. Pure: depends on nothing but its
//! parent.

use std::fmt::Write as _;

use super::{BenchReport, GoalStatus, KINDS, Percentiles, StepReport, fmt_ms, thousands};

fn percentiles(p: &Percentiles) -> String {
    match (p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms) {
        (Some(a), Some(b), Some(c), Some(d), Some(e)) => format!(
            "p50 {} p90 {} p99 {} p99.9 {} max {} ms",
            fmt_ms(a),
            fmt_ms(b),
            fmt_ms(c),
            fmt_ms(d),
            fmt_ms(e)
        ),
        _ => "no ops".to_string(),
    }
}

fn step(out: &mut String, n: usize, s: &StepReport, judged: bool) {
    let l = &s.load;
    let verdict = if s.objective.met {
        "meets the objective".to_string()
    } else {
        format!("misses the objective: {}", s.objective.reasons.join("; "))
    };
    let _ = writeln!(
        out,
        "  step {n}{}: {} ops/s offered for {} s: {} ops/s completed, {} ok ops/s; {verdict}",
        if judged { " (judged)" } else { "" },
        thousands(l.target_rate),
        l.duration_s,
        thousands(l.throughput_per_s.round() as u64),
        thousands(l.throughput_ok_per_s.round() as u64),
    );
    let _ = writeln!(
        out,
        "    latency from the intended start: {}",
        percentiles(&l.latency)
    );
    let _ = writeln!(
        out,
        "    service time (from the actual start): {}",
        percentiles(&l.service_time)
    );
    for f in KINDS {
        if let Some(k) = l.by_kind.get(f.as_str()) {
            let _ = writeln!(
                out,
                "    {:<6} {:>8} ok {:>7} fail {:>6} info  {}",
                f.as_str(),
                k.ops.ok,
                k.ops.fail,
                k.ops.info,
                percentiles(&k.latency)
            );
        }
    }
    if l.errors.is_empty() {
        let _ = writeln!(out, "    errors: none");
    } else {
        let _ = writeln!(
            out,
            "    errors ({:.2}% of ops, compare failures aside):",
            l.error_ratio * 100.0
        );
        for (class, e) in &l.errors {
            let _ = writeln!(
                out,
                "      {class}: {} fail, {} info (e.g. {})",
                e.fail,
                e.info,
                shorten(&e.example, 100)
            );
        }
    }
    if l.not_started > 0 {
        let _ = writeln!(
            out,
            "    {} ops the schedule wanted were never started (every client was busy)",
            thousands(l.not_started)
        );
    }
    let _ = writeln!(
        out,
        "    client pool busy {:.0}% of the time",
        l.pool_busy * 100.0
    );
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}...")
}

/// Render a bench for a person.
pub fn render(r: &BenchReport) -> String {
    let mut out = String::new();
    let s = &r.settings;
    let _ = writeln!(
        out,
        "chaos bench: {} ({}, project {}), seed {}",
        r.experiment, r.client, r.project, r.seed
    );
    if r.interrupted {
        let _ = writeln!(
            out,
            "INTERRUPTED: stopped before its end; the figures below cover what ran"
        );
    }
    let _ = writeln!(
        out,
        "load: {} clients, {} mix over {} keys, {} reads, timeout {} ms; each step {} s",
        s.clients, s.mix, s.keys, s.read_mode, s.timeout_ms, s.step_s
    );
    match &s.ramp {
        Some(ramp) => {
            let _ = writeln!(
                out,
                "ramp: from {} to at most {} ops/s, to the highest rate with p99 < {} ms",
                thousands(ramp.from),
                thousands(ramp.max),
                fmt_ms(s.objective.p99_ms)
            );
        }
        None => {
            let _ = writeln!(out, "rate: {} ops/s offered", thousands(s.rate));
        }
    }
    for (i, st) in r.steps.iter().enumerate() {
        step(&mut out, i + 1, st, r.judged_step == Some(i));
    }
    if s.ramp.is_some() {
        let _ = match r.best_rate {
            Some(best) => writeln!(
                out,
                "ramp result: {} ops/s is the highest offered rate that met the objective",
                thousands(best)
            ),
            None => writeln!(out, "ramp result: no rate met the objective"),
        };
    }
    if let Some(rs) = &r.restart {
        let port = match (rs.port_before, rs.port_after) {
            (Some(a), Some(b)) if a != b => format!("; its port moved from {a} to {b}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "restart of {}: {} failed probes while it was away{port}",
            rs.service, rs.failed_probes
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "goals:");
    for g in &r.goals {
        let _ = writeln!(
            out,
            "  {:<14} {:<16} {:<22} {}",
            format!("[{}]", g.status.as_str()),
            g.goal,
            g.target,
            g.figure
        );
    }
    let unmet = r
        .goals
        .iter()
        .filter(|g| g.status == GoalStatus::NotMet)
        .count();
    let unmeasured = r
        .goals
        .iter()
        .filter(|g| g.status == GoalStatus::NotMeasured)
        .count();
    let _ = writeln!(
        out,
        "{} of {} goals met{}{}",
        r.goals.len() - unmet - unmeasured,
        r.goals.len(),
        if unmet > 0 {
            format!(", {unmet} not met")
        } else {
            String::new()
        },
        if unmeasured > 0 {
            format!(", {unmeasured} not measured")
        } else {
            String::new()
        }
    );
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "run directory: {}", r.run_dir);
    let _ = writeln!(
        out,
        "check the history: chaos check {}/history.jsonl",
        r.run_dir
    );
    let _ = writeln!(out, "rerun: {}", r.rerun);
    out
}
