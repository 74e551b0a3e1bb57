//! `run`'s lease options (two replicas, one writer) and starting the lease
//! keeper from them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use backlog_scaler::controller::Shard;
use backlog_scaler::lease::{
    default_replica_id, DynamoLeaseStore, LeaseKeeper, LeaseTiming, WriteGate,
};
use backlog_scaler::telemetry::Readiness;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct LeaseArgs {
    /// Run as one of several replicas: only the holder of a lease in this
    /// DynamoDB table (partition key `lease`, a string) writes desired
    /// counts; the others observe, as in dry-run, and take over when the
    /// lease expires.
    #[arg(long, value_name = "TABLE", env = "BACKLOG_SCALER_LEASE_TABLE")]
    pub lease_table: Option<String>,
    /// The lease's key in the table: replicas that share it elect one
    /// writer [default: `default`, or `default-shard-I-of-N` with
    /// `--shard I/N`, so each shard has its own writer and standby].
    #[arg(long, value_name = "NAME", requires = "lease_table")]
    pub lease_name: Option<String>,
    /// How long a lease lasts without renewal: how long the other replica
    /// waits to take over from one that died.
    #[arg(long, value_name = "DURATION", default_value = "15s",
          env = "BACKLOG_SCALER_LEASE_DURATION",
          value_parser = humantime::parse_duration, requires = "lease_table")]
    pub lease_duration: Duration,
    /// How often the holder renews the lease and a standby tries to take
    /// it. Also the safety margin: a holder that cannot renew stops writing
    /// this long before its lease expires. Must be less than half the
    /// lease duration [default: a third of the lease duration].
    #[arg(long, value_name = "DURATION",
          value_parser = humantime::parse_duration, requires = "lease_table")]
    pub lease_renew_every: Option<Duration>,
    /// This replica's name in the lease and the logs [default: the ECS
    /// task's container id, else hostname-pid].
    #[arg(
        long,
        value_name = "ID",
        env = "BACKLOG_SCALER_REPLICA_ID",
        requires = "lease_table"
    )]
    pub replica_id: Option<String>,
}

/// The lease keeper running beside the controller.
pub struct RunningLease {
    gate: WriteGate,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningLease {
    /// The gate the controller writes through.
    pub fn gate(&self) -> WriteGate {
        self.gate.clone()
    }
}

/// The lease's name: `--lease-name`, else one per shard.
pub fn lease_name(args: &LeaseArgs, shard: Option<Shard>) -> String {
    match (&args.lease_name, shard) {
        (Some(name), _) => name.clone(),
        (None, Some(shard)) => format!("default-shard-{}-of-{}", shard.index(), shard.count()),
        (None, None) => "default".to_owned(),
    }
}

/// Start keeping the lease when `--lease-table` is given. The first attempt
/// is made before returning, so the holder writes from its first
/// evaluation and the logs say at once which replica is which. `readiness`
/// reports the lease from before that attempt: `/readyz` never lags the
/// logs. The keeper stops when `stop` is cancelled (or at [`stop`]).
pub async fn start(
    args: &LeaseArgs,
    shard: Option<Shard>,
    sdk_config: &aws_config::SdkConfig,
    readiness: &Readiness,
    stop: CancellationToken,
) -> anyhow::Result<Option<RunningLease>> {
    let Some(table) = &args.lease_table else {
        return Ok(None);
    };
    let timing = LeaseTiming {
        duration: args.lease_duration,
        renew_every: args.lease_renew_every.unwrap_or(args.lease_duration / 3),
    };
    timing
        .validate()
        .map_err(anyhow::Error::msg)
        .context("invalid --lease-duration / --lease-renew-every")?;
    let replica = args.replica_id.clone().unwrap_or_else(default_replica_id);
    let name = lease_name(args, shard);
    let store = DynamoLeaseStore::new(
        aws_sdk_dynamodb::Client::new(sdk_config),
        table.clone(),
        name.clone(),
    );
    tracing::info!(
        replica = %replica,
        lease_table = %table,
        lease_name = %name,
        lease_duration = %humantime::format_duration(timing.duration),
        lease_renew_every = %humantime::format_duration(timing.renew_every),
        "two-replica mode: only the lease holder writes desired counts"
    );
    let mut keeper = LeaseKeeper::new(Arc::new(store), replica, timing);
    let gate = keeper.gate();
    readiness.set_lease(gate.clone());
    keeper.step().await;
    let task = tokio::spawn(keeper.run(stop.clone()));
    Ok(Some(RunningLease { gate, stop, task }))
}

/// After the controller has stopped writing: release the lease so the
/// other replica takes over without waiting for it to expire.
pub async fn stop(lease: Option<RunningLease>) {
    if let Some(lease) = lease {
        lease.gate.allow_until(0);
        lease.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), lease.task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: Option<&str>) -> LeaseArgs {
        LeaseArgs {
            lease_table: Some("leases".into()),
            lease_name: name.map(str::to_owned),
            lease_duration: Duration::from_secs(15),
            lease_renew_every: None,
            replica_id: None,
        }
    }

    #[test]
    fn each_shard_has_its_own_default_lease() {
        let shard = "2/8".parse::<Shard>().unwrap();
        assert_eq!(lease_name(&args(None), None), "default");
        assert_eq!(lease_name(&args(None), Some(shard)), "default-shard-2-of-8");
        assert_eq!(lease_name(&args(Some("mine")), Some(shard)), "mine");
    }
}
