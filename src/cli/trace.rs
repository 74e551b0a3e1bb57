//! `backlog-scaler trace ...`.

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum TraceCommand {
    /// Export a queue's arrivals from CloudWatch as a trace.
    Export {},
}

pub fn execute(_command: TraceCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`trace export` is not built yet")
}
