//! `backlog-scaler run`: the controller daemon.
//!
//! Loads the policies (refusing to start on invalid ones), starts serving
//! `/healthz`, `/readyz`, `/metrics` and `/state/{policy}`, connects to
//! AWS, and runs every policy until SIGTERM or SIGINT, reloading on SIGHUP
//! or when the policy files change.
//!
//! It writes nothing to disk (logs go to stderr, state lives in memory), so
//! it runs on a read-only root file system.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use backlog_scaler::aws::{ApiCalls, AwsClients, CloudWatchPublisher, DynamoLeaseStore};
use backlog_scaler::controller::{
    spawn_fixed_policies, spawn_reloader, Controller, ControllerConfig,
};
use backlog_scaler::http;
use backlog_scaler::lease::RunningLease;
use backlog_scaler::plural::plural;
use backlog_scaler::ports::{error_chain, MetricsPublisher};
use backlog_scaler::telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

use super::allocator;
use super::aws_args::{self, AwsArgs};
use super::lease_args::{self, LeaseArgs};
use super::logging::{self, LogArgs};
use super::policy_source::{PolicySource, POLICIES_HELP};
use super::shard_args::ShardArgs;

/// After the controller has stopped, how long open HTTP connections may
/// take to finish before the process exits anyway.
const HTTP_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[arg(long, value_name = "PATH", help = POLICIES_HELP)]
    pub policies: Option<PathBuf>,
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
    /// Serve /healthz, /readyz, /metrics and /state/POLICY (a policy's last
    /// decision, for `explain --state`) on this address; port 0 picks a free
    /// port (the address is logged). In a container, use 0.0.0.0:9090.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9090",
        env = "BACKLOG_SCALER_LISTEN"
    )]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub lease: LeaseArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
}

pub fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    logging::init(&args.log)?;
    let source = PolicySource::resolve(args.policies.clone())?;
    let mut loaded = match source.load_or_report() {
        Ok(loaded) => loaded,
        Err(problems) => {
            let problems = plural(problems as u64, "problem", "problems");
            eprintln!("error: {source} has {problems}; not starting");
            return Ok(ExitCode::from(1));
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    // The controller applies the shard to every reload; the readiness
    // below must not wait for policies of other shards.
    loaded.policies = args.shard.select(loaded.policies);
    if loaded.policies.is_empty() {
        // Only a shard can be empty: no policy at all is an error above.
        tracing::warn!(policies = %source, "no policies in this shard; waiting for a reload");
    }

    if allocator::share_one_malloc_arena() {
        tracing::debug!("malloc limited to one arena (set MALLOC_ARENA_MAX to change)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async move {
        // One token stops everything; its children stop in order: the
        // controller at SIGTERM or SIGINT, then the lease once the
        // controller no longer writes, then the HTTP endpoints, which
        // answer until the end so probes see the process alive while it
        // drains.
        let stop = CancellationToken::new();
        let stop_lease = stop.child_token();
        let shutdown = stop_lease.child_token();
        // Signal handlers first: a SIGTERM during start-up must not kill us
        // with the default action.
        let signal = termination()?;
        tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                signal.await;
                shutdown.cancel();
            }
        });

        // Readiness knows the policies before the endpoints answer, so
        // `/readyz` never reports ready before a first evaluation.
        let telemetry = Telemetry::default();
        if let Some(shard) = args.shard.shard {
            telemetry.readiness.set_shard(shard.to_string());
        }
        telemetry
            .readiness
            .set_policies(loaded.policies.iter().map(|p| p.name.as_str()));
        let (address, serve) = http::bind(
            args.listen,
            telemetry.clone(),
            stop.clone().cancelled_owned(),
        )
        .await
        .context("--listen: cannot serve /healthz, /readyz and /metrics")?;
        tracing::info!(
            address = %address,
            "serving /healthz, /readyz and /metrics on http://{address}"
        );
        let server = tokio::spawn(async move {
            if let Err(error) = serve.await {
                tracing::error!("the HTTP endpoints stopped: {}", error_chain(&error));
            }
        });

        let sdk_config = aws_args::load_config(&args.aws).await?;
        let home_region = sdk_config.region().map(|r| r.as_ref().to_owned());
        if let Some(region) = &home_region {
            if let Err(problems) = source.check_home_region(region) {
                let problems = plural(problems as u64, "problem", "problems");
                anyhow::bail!("{source} has {problems} in region `{region}`; not starting");
            }
        }
        let calls = Arc::new(ApiCalls::with_listener(telemetry.call_listener()));
        // Clients per policy target (region, role), made as policies need
        // them; metrics go to CloudWatch in the controller's own account and
        // region, whatever the targets.
        let fleet = Arc::new(AwsClients::new(sdk_config.clone(), calls.clone()));
        let metrics_publisher = args.cloudwatch_namespace.clone().map(|namespace| {
            Arc::new(CloudWatchPublisher::new(
                aws_sdk_cloudwatch::Client::new(&sdk_config),
                namespace,
                calls,
            )) as Arc<dyn MetricsPublisher>
        });
        let reloads = match &source {
            PolicySource::Path(path) => spawn_reloader(path.clone(), home_region.clone()),
            PolicySource::Env(_) => spawn_fixed_policies(source.to_string()),
        };
        let lease = match lease_args::settings(&args.lease, args.shard.shard)? {
            Some(settings) => {
                let store = DynamoLeaseStore::from_config(
                    &sdk_config,
                    settings.table.clone(),
                    settings.name.clone(),
                );
                Some(
                    RunningLease::start(&settings, Arc::new(store), stop_lease, |gate| {
                        telemetry.readiness.set_lease(gate.clone())
                    })
                    .await,
                )
            }
            None => None,
        };
        let config = ControllerConfig {
            dry_run: args.dry_run,
            max_concurrency: args.max_concurrency as usize,
            write_gate: lease.as_ref().map(RunningLease::gate),
            shard: args.shard.shard,
            ..ControllerConfig::default()
        };
        tracing::info!(
            policies = loaded.policies.len(),
            source = %source,
            dry_run = args.dry_run,
            shard = args.shard.shard.map(|shard| shard.to_string()),
            region = sdk_config.region().map(|r| r.as_ref()).unwrap_or_default(),
            cloudwatch_namespace = args.cloudwatch_namespace.as_deref(),
            "backlog-scaler starting"
        );
        Controller::with_source(config, fleet, metrics_publisher)
            .with_observer(Arc::new(telemetry.observer()))
            .run(loaded.policies, reloads, shutdown.cancelled_owned())
            .await;
        if let Some(lease) = lease {
            lease.stop().await;
        }

        // The endpoints answer until the controller has finished, so probes
        // see it alive while it drains.
        stop.cancel();
        if tokio::time::timeout(HTTP_SHUTDOWN_GRACE, server)
            .await
            .is_err()
        {
            tracing::warn!("HTTP connections still open at exit; closing them");
        }
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
