//! `chaos report`: make a run's report.html again from the files in its
//! directory (results.json, history.jsonl, plan.json), so that an older run
//! gets the current report; `--open` opens it in a browser.
//!
//! Exit 0 when the page is written, whatever the run's verdict (the page
//! says it); 2 when the directory is not a run or a file in it is
//! malformed (naming the file and line); 4 when a file cannot be read or
//! the page cannot be written, or `--open` finds no browser.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow};
use clap::Args;

use super::{CliError, CliResult, Outcome};
use crate::runfiles;
use crate::store::files;

/// Arguments of `chaos report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory (`results/<experiment>/<time>-seed<N>`).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,

    /// Write the page here instead of RUN_DIR/report.html (its links to
    /// the node logs are relative to the run directory).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Open the page in a browser ($BROWSER, else xdg-open or open).
    #[arg(long)]
    pub open: bool,
}

pub fn run(args: &ReportArgs) -> CliResult {
    let page = runfiles::render(&args.run_dir).map_err(|e| {
        if e.is_bad_input() {
            CliError::input(e)
        } else {
            CliError::environment(e)
        }
    })?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.run_dir.join(files::REPORT_HTML));
    runfiles::write_page(&out, &page)
        .with_context(|| format!("cannot write {}", out.display()))
        .map_err(CliError::environment)?;
    super::print_stdout(&format!(
        "wrote {} ({} KiB)\n",
        out.display(),
        page.len() / 1024
    ))?;
    if args.open {
        open(&out).map_err(CliError::environment)?;
    }
    Ok(Outcome::Success)
}

/// Open a file in the user's browser.
fn open(path: &Path) -> anyhow::Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let candidates: Vec<String> = match std::env::var("BROWSER") {
        Ok(b) if !b.trim().is_empty() => vec![b],
        _ if cfg!(target_os = "macos") => vec!["open".into()],
        _ => vec!["xdg-open".into()],
    };
    let mut tried = Vec::new();
    for c in &candidates {
        match Command::new(c).arg(&target).status() {
            Ok(s) if s.success() => return Ok(()),
            Ok(s) => tried.push(format!("{c} exited with {s}")),
            Err(e) => tried.push(format!("{c}: {e}")),
        }
    }
    Err(anyhow!(
        "the report is written, but no browser could be opened ({}); open {} yourself",
        tried.join("; "),
        target.display()
    ))
}
