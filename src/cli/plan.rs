//! `backlog-scaler plan`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {}

pub fn execute(_args: PlanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`plan` is not built yet")
}
