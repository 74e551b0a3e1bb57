//! `backlog-scaler schema`: print the JSON Schema of a policy document, for
//! editors to validate and complete policy files. `policies/schema.json` is
//! this output, committed; a test fails when it is stale.

use std::process::ExitCode;

use backlog_scaler::policy::policy_schema;

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub fn execute(_args: SchemaArgs) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&policy_schema())?);
    Ok(ExitCode::SUCCESS)
}
