//! The command line: one module per subcommand.
//!
//! Exit codes: 0 success, 1 invalid input (policy files, arguments that
//! parse but make no sense) or a failed command, 2 usage errors (clap).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod allocator;
mod aws_args;
mod compare;
mod duration_arg;
mod explain;
mod healthcheck;
mod lease_args;
mod logging;
mod pipe;
mod plan;
mod policy_source;
mod progress;
mod run;
mod schema;
mod shard_args;
mod simulate;
mod trace;
mod validate;

#[derive(Debug, Parser)]
#[command(
    name = "backlog-scaler",
    version,
    about = "Sets each ECS service's desired count from its SQS backlog",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check policy files and print every problem with its location.
    Validate(validate::ValidateArgs),
    /// Show one decision for the counts you give, with its reason.
    Explain(explain::ExplainArgs),
    /// Print the JSON Schema of a policy file.
    Schema(schema::SchemaArgs),
    /// Observe every policy once and print what the controller would do.
    Plan(plan::PlanArgs),
    /// Run the controller.
    Run(run::RunArgs),
    /// Ask a running controller's /healthz (or /readyz); exit 0 if healthy.
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Replay a traffic trace through a policy.
    Simulate(simulate::SimulateArgs),
    /// Work with traffic traces.
    #[command(subcommand)]
    Trace(trace::TraceCommand),
}

pub fn main() -> ExitCode {
    pipe::end_quietly_on_closed_pipe();
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run(_)) {
        pipe::ignore_closed_pipe();
    }
    let result = match cli.command {
        Command::Validate(args) => validate::execute(args),
        Command::Explain(args) => explain::execute(args),
        Command::Schema(args) => schema::execute(args),
        Command::Plan(args) => plan::execute(args),
        Command::Run(args) => run::execute(args),
        Command::Healthcheck(args) => healthcheck::execute(args),
        Command::Simulate(args) => simulate::execute(args),
        Command::Trace(command) => trace::execute(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
