//! The `chaos` binary: parse arguments, run the command, choose the exit code.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = chaos::cli::Cli::parse();
    let default_level = match cli.verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            // The SurrealDB SDK logs an ERROR for every answer that
            // arrives after chaos stopped waiting (a timed-out op, which
            // the history already records as such); below -vv it is noise.
            let quiet = if cli.verbose >= 2 {
                ""
            } else {
                ",surrealdb::engine=off"
            };
            EnvFilter::new(format!("{default_level}{quiet}"))
        }))
        .with_writer(std::io::stderr)
        .init();
    match chaos::cli::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
