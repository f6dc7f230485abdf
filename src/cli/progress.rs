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
