//! `backlog-scaler validate [PATH]`: check policy files (or the YAML in
//! `BACKLOG_SCALER_POLICIES`) and print every problem, one per line as
//! `file:line:column: severity: ...`, then a summary. Exit 0 when every
//! policy is valid (warnings allowed), 1 if not.

use std::path::PathBuf;
use std::process::ExitCode;

use backlog_scaler::plural::plural;

use super::policy_source::{PolicySource, POLICIES_ENV, POLICIES_HELP};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    #[arg(value_name = "PATH", help = POLICIES_HELP)]
    pub path: Option<PathBuf>,
    /// The controller's region, when known: a policy without `region` whose
    /// queue URL or ARN names another region is then an error, as in `plan`
    /// and `run`.
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
}

pub fn execute(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let source = PolicySource::resolve(args.path)?;
    if source.shadows_env() {
        eprintln!("note: {source} is given, so {POLICIES_ENV} is ignored");
    }
    let report = source.check_in(args.region.as_deref().filter(|r| !r.is_empty()));
    for diagnostic in &report.diagnostics {
        println!("{diagnostic}");
    }
    let errors = report.errors().count();
    let warnings = plural(report.warnings().count() as u64, "warning", "warnings");
    if errors > 0 {
        println!(
            "{source}: {}, {warnings}",
            plural(errors as u64, "error", "errors")
        );
        return Ok(ExitCode::from(1));
    }
    let names: Vec<&str> = report.policies.iter().map(|p| p.name.as_str()).collect();
    println!(
        "OK: {} in {source} ({}), {warnings}",
        plural(names.len() as u64, "valid policy", "valid policies"),
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
