//! `chaos check`: read history files, check each, print verdicts.
//! (Owned by the checker work; placeholder until it lands.)

use super::{CheckArgs, CliError, CliResult};

pub fn run(_args: &CheckArgs) -> CliResult {
    Err(CliError::environment(anyhow::anyhow!(
        "chaos check is not built yet"
    )))
}
