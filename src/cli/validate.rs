//! `backlog-scaler validate [PATH]`: check policy files and print every
//! problem, one per line as `file:line:column: severity: ...`, then a
//! summary. Exit 0 when every policy is valid (warnings allowed), 1 if not.

use std::path::PathBuf;
use std::process::ExitCode;

use backlog_scaler::policy::check_path;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// A policy file, or a directory of `*.yaml` / `*.yml` policy files.
    #[arg(default_value = "policies")]
    pub path: PathBuf,
}

pub fn execute(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let report = check_path(&args.path);
    for diagnostic in &report.diagnostics {
        println!("{diagnostic}");
    }
    let errors = report.errors().count();
    let warnings = plural(report.warnings().count(), "warning");
    if errors > 0 {
        println!(
            "{}: {}, {warnings}",
            args.path.display(),
            plural(errors, "error")
        );
        return Ok(ExitCode::from(1));
    }
    let names: Vec<&str> = report.policies.iter().map(|p| p.name.as_str()).collect();
    println!(
        "OK: {} in {} ({}), {warnings}",
        plural(names.len(), "valid policy"),
        args.path.display(),
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn plural(count: usize, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{count} {stem}ies"),
        (_, None) => format!("{count} {noun}s"),
    }
}
