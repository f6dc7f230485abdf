//! What a person who waits sees: indicatif displays for image builds (and,
//! through [`crate::cli`], cluster start-up and runs), drawn on standard
//! error. When standard error is not a terminal (CI, a log file, systemd)
//! nothing is animated: plain lines, at most one a minute for long waits.
//!
//! Shell, CLI only: the library reports what happens (lines of a build,
//! events of a run) and this module decides how it looks.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::images::MissingImage;

/// Is standard error a terminal (animate) or not (plain lines)?
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// A spinner on standard error, hidden when it is not a terminal.
pub fn spinner(prefix: &str) -> ProgressBar {
    let bar = if interactive() {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {wide_msg}")
            .expect("a valid template"),
    );
    bar.set_prefix(prefix.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The display of one image build, fed the build script's lines.
pub struct ImageBuild {
    bar: ProgressBar,
    image: String,
    compiled: u64,
    started: Instant,
    last_plain: Instant,
}

impl ImageBuild {
    /// Announce the build (with how long it takes) and start the display.
    pub fn start(missing: &MissingImage) -> ImageBuild {
        let expected = missing
            .recipe
            .as_ref()
            .and_then(|r| r.first_build.clone())
            .unwrap_or_else(|| "its time is unknown".to_string());
        eprintln!("chaos: building {} ({expected})", missing.image);
        ImageBuild {
            bar: spinner(&format!("building {}", missing.image)),
            image: missing.image.clone(),
            compiled: 0,
            started: Instant::now(),
            last_plain: Instant::now(),
        }
    }

    /// One line of the build script's output.
    pub fn line(&mut self, line: &str) {
        let line = line.trim_end();
        if let Some(krate) = line.trim_start().strip_prefix("Compiling ") {
            self.compiled += 1;
            let name = krate.split_whitespace().next().unwrap_or(krate);
            self.bar
                .set_message(format!("{} crates compiled: {name}", self.compiled));
        } else if let Some(step) = line.strip_prefix("[images] ") {
            // The build script's own steps are worth keeping in both modes.
            self.bar.suspend(|| eprintln!("  {step}"));
        }
        if !interactive() && self.last_plain.elapsed() >= Duration::from_secs(60) {
            self.last_plain = Instant::now();
            eprintln!(
                "  still building {}: {} min, {} crates compiled",
                self.image,
                self.started.elapsed().as_secs() / 60,
                self.compiled
            );
        }
    }

    /// Close the display, saying how it ended.
    pub fn finish(self, ok: bool) {
        self.bar.finish_and_clear();
        let took = crate::duration::format(Duration::from_secs(self.started.elapsed().as_secs()));
        if ok {
            eprintln!("chaos: built {} in {took}", self.image);
        } else {
            eprintln!("chaos: building {} failed after {took}", self.image);
        }
    }
}

/// The display of a run, fed the engine's events: a spinner through the
/// phases, a bar with op counts and the faults in place while the workload
/// runs. Not a terminal: one line per phase and fault, and a count line
/// every ten seconds.
pub struct RunDisplay {
    state: std::sync::Mutex<RunState>,
}

struct RunState {
    bar: ProgressBar,
    running: bool,
    last_plain: Instant,
}

impl Default for RunDisplay {
    fn default() -> Self {
        RunDisplay::new()
    }
}

impl RunDisplay {
    pub fn new() -> RunDisplay {
        RunDisplay {
            state: std::sync::Mutex::new(RunState {
                bar: spinner("chaos"),
                running: false,
                last_plain: Instant::now(),
            }),
        }
    }

    /// Clear the display (before the report is printed).
    pub fn finish(&self) {
        let s = self.state.lock().expect("display lock");
        s.bar.finish_and_clear();
    }

    fn phase_text(phase: &Phase) -> String {
        match phase {
            Phase::Preflight => "checking images and what the faults need".into(),
            Phase::StartingCluster => "starting the cluster".into(),
            Phase::WaitingHealthy => "waiting for the cluster to be healthy".into(),
            Phase::Connecting => "connecting the clients".into(),
            Phase::Running { total } => {
                format!(
                    "running the workload and the faults for {}",
                    crate::duration::format(*total)
                )
            }
            Phase::Healing => "healing every fault".into(),
            Phase::Recovering { wait } => format!(
                "faults healed; letting the cluster recover for {}",
                crate::duration::format(*wait)
            ),
            Phase::FinalReads { keys } => format!("reading each of {keys} keys once more"),
            Phase::Checking { ops } => format!("checking {ops} history lines"),
            Phase::SavingLogs => "keeping the nodes' logs".into(),
            Phase::Writing => "writing results.json and the report".into(),
            Phase::TearingDown => "tearing the cluster down".into(),
        }
    }
}

use crate::engine::progress::{Phase, ProgressSink, RunEvent};

impl ProgressSink for RunDisplay {
    fn event(&self, event: RunEvent) {
        let mut s = self.state.lock().expect("display lock");
        let tty = interactive();
        match event {
            RunEvent::Phase(phase) => {
                let text = Self::phase_text(&phase);
                if let Phase::Running { total } = phase {
                    s.bar.finish_and_clear();
                    let bar = if tty {
                        ProgressBar::with_draw_target(
                            Some(total.as_secs().max(1)),
                            ProgressDrawTarget::stderr(),
                        )
                    } else {
                        ProgressBar::hidden()
                    };
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{bar:30}] {pos:>3}/{len}s {wide_msg}",
                        )
                        .expect("a valid template")
                        .progress_chars("=> "),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    s.bar = bar;
                    s.running = true;
                } else if s.running {
                    s.bar.finish_and_clear();
                    s.bar = spinner("chaos");
                    s.running = false;
                }
                if tty {
                    if !s.running {
                        s.bar.set_message(text);
                    }
                } else {
                    eprintln!("chaos: {text}");
                }
            }
            RunEvent::Pending(pending) => {
                if tty {
                    s.bar
                        .set_message(format!("waiting for {}", pending.join("; ")));
                } else if s.last_plain.elapsed() >= Duration::from_secs(10) {
                    s.last_plain = Instant::now();
                    eprintln!("chaos: still waiting for {}", pending.join("; "));
                }
            }
            RunEvent::RunDir(dir) => {
                s.bar
                    .suspend(|| eprintln!("chaos: run directory {}", dir.display()));
            }
            RunEvent::Tick {
                elapsed,
                total: _,
                ok,
                fail,
                info,
                faults,
            } => {
                let faults = if faults.is_empty() {
                    "none".to_string()
                } else {
                    faults.join("; ")
                };
                let text = format!("ok {ok} fail {fail} info {info} | faults: {faults}");
                if tty {
                    s.bar.set_position(elapsed.as_secs());
                    s.bar.set_message(text);
                } else if s.last_plain.elapsed() >= Duration::from_secs(10) {
                    s.last_plain = Instant::now();
                    eprintln!("chaos: [{:>5.1}s] {text}", elapsed.as_secs_f64());
                }
            }
            RunEvent::FaultApplied { id, kind, targets } => {
                let line = format!("fault #{id} {kind} applied to {}", targets.join(", "));
                s.bar.suspend(|| eprintln!("chaos: {line}"));
            }
            RunEvent::FaultHealed { id } => {
                s.bar.suspend(|| eprintln!("chaos: fault #{id} healed"));
            }
            RunEvent::FaultError { id, error } => {
                s.bar.suspend(|| eprintln!("chaos: fault #{id}: {error}"));
            }
            RunEvent::Note(note) => {
                s.bar.suspend(|| eprintln!("chaos: {note}"));
            }
        }
    }
}
