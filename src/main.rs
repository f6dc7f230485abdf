//! The `chaos` binary: parse arguments, run the command, choose the exit code.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = chaos::cli::Cli::parse();
    // A daemon says what it does at `info`; one-shot commands only warn.
    let daemon = matches!(
        &cli.command,
        chaos::cli::Command::Daemon(d) if matches!(d.which, chaos::cli::daemon::Which::Run(_))
    );
    let default_level = match (cli.verbose, daemon) {
        (0, false) => "warn",
        (0, true) => "info",
        (1, _) => "debug",
        _ => "trace",
    };
    // The SurrealDB SDK logs an ERROR for every answer that arrives after
    // chaos stopped waiting (a timed-out op, which the history already
    // records as such); below -vv it is noise.
    let quiet = if cli.verbose >= 2 {
        ""
    } else {
        ",surrealdb::engine=off"
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level}{quiet}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let json = cli.log_format == "json";
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    match chaos::cli::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            if json {
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                eprintln!("{}", chaos::cli::error_json(&err, now_ms));
            } else {
                eprintln!("error: {err}");
            }
            ExitCode::from(err.exit_code())
        }
    }
}
