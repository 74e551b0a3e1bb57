//! `backlog-scaler run`: the controller daemon.
//!
//! Loads the policies (refusing to start on invalid ones), connects to AWS,
//! and runs every policy until SIGTERM or SIGINT, reloading on SIGHUP or
//! when the policy files change.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use backlog_scaler::aws::AwsPorts;
use backlog_scaler::controller::{spawn_reloader, Controller, ControllerConfig};
use backlog_scaler::policy::load_path;

use super::aws_args::{self, AwsArgs};
use super::lease_args::{self, LeaseArgs};
use super::logging::{self, LogArgs};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A policy file, or a directory of `*.yaml` / `*.yml` policy files.
    #[arg(long, value_name = "PATH", default_value = "policies")]
    pub policies: PathBuf,
    /// Decide and log for every policy, but never change a desired count.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Publish Backlog, BacklogPerTask, DesiredTasks and RunningTasks per
    /// policy to this CloudWatch namespace.
    #[arg(
        long,
        value_name = "NAMESPACE",
        env = "BACKLOG_SCALER_CLOUDWATCH_NAMESPACE"
    )]
    pub cloudwatch_namespace: Option<String>,
    /// Most policies evaluated at the same moment.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrency: u32,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub lease: LeaseArgs,
}

pub fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    logging::init(&args.log)?;
    let loaded = match load_path(&args.policies) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for error in &errors.errors {
                eprintln!("{error}");
            }
            eprintln!(
                "error: {} has {} problem(s); not starting",
                args.policies.display(),
                errors.errors.len()
            );
            return Ok(ExitCode::from(1));
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    if loaded.policies.is_empty() {
        tracing::warn!(path = %args.policies.display(), "no policies found; waiting for a reload");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async move {
        // Signal handlers first: a SIGTERM during start-up must not kill us
        // with the default action.
        let shutdown = termination()?;
        let sdk_config = aws_args::load_config(&args.aws).await?;
        let aws = AwsPorts::new(&sdk_config, args.cloudwatch_namespace.clone());
        let lease = lease_args::start(&args.lease, &sdk_config).await?;
        let reloads = spawn_reloader(args.policies.clone());
        let config = ControllerConfig {
            dry_run: args.dry_run,
            max_concurrency: args.max_concurrency as usize,
            write_gate: lease.as_ref().map(lease_args::RunningLease::gate),
            ..ControllerConfig::default()
        };
        tracing::info!(
            policies = loaded.policies.len(),
            dry_run = args.dry_run,
            region = sdk_config.region().map(|r| r.as_ref()).unwrap_or_default(),
            cloudwatch_namespace = args.cloudwatch_namespace.as_deref(),
            "backlog-scaler starting"
        );
        Controller::new(config, aws.ports())
            .run(loaded.policies, reloads, shutdown)
            .await;
        lease_args::stop(lease).await;
        anyhow::Ok(())
    });
    // Do not wait on anything left behind (a file watcher, an abandoned
    // call): the controller has already finished what it had to.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
#[cfg(unix)]
fn termination() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!("{name} received");
    })
}

#[cfg(not(unix))]
fn termination() -> anyhow::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received");
    })
}
