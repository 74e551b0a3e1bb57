//! `backlog-scaler simulate`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {}

pub fn execute(_args: SimulateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`simulate` is not built yet")
}
