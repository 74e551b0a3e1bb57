//! `run`'s lease options (two replicas, one writer), turned into the
//! [`LeaseSettings`] that `lease::RunningLease` starts from.

use super::duration_arg::parse_duration;
use std::time::Duration;

use anyhow::Context;
use backlog_scaler::controller::Shard;
use backlog_scaler::lease::{default_replica_id, LeaseSettings, LeaseTiming};

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
          value_parser = parse_duration, requires = "lease_table")]
    pub lease_duration: Duration,
    /// How often the holder renews the lease and a standby tries to take
    /// it. Also the safety margin: a holder that cannot renew stops writing
    /// this long before its lease expires. Must be less than half the
    /// lease duration [default: a third of the lease duration].
    #[arg(long, value_name = "DURATION",
          value_parser = parse_duration, requires = "lease_table")]
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

/// The lease's name: `--lease-name`, else one per shard.
pub fn lease_name(args: &LeaseArgs, shard: Option<Shard>) -> String {
    match (&args.lease_name, shard) {
        (Some(name), _) => name.clone(),
        (None, Some(shard)) => format!("default-shard-{}-of-{}", shard.index(), shard.count()),
        (None, None) => "default".to_owned(),
    }
}

/// The lease settings of `args`: `None` without `--lease-table`; an error
/// naming the options when the timing is invalid.
pub fn settings(args: &LeaseArgs, shard: Option<Shard>) -> anyhow::Result<Option<LeaseSettings>> {
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
    Ok(Some(LeaseSettings {
        table: table.clone(),
        name: lease_name(args, shard),
        replica: args.replica_id.clone().unwrap_or_else(default_replica_id),
        timing,
    }))
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
