//! `backlog-scaler validate`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {}

pub fn execute(_args: ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`validate` is not built yet")
}
