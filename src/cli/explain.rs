//! `backlog-scaler explain`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {}

pub fn execute(_args: ExplainArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`explain` is not built yet")
}
