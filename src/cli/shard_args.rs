//! `--shard I/N` for `run` and `plan`: the policies of one shard only.

use backlog_scaler::controller::Shard;
use backlog_scaler::policy::Policy;

#[derive(Debug, clap::Args)]
pub struct ShardArgs {
    /// Own only the policies whose name hashes to shard I of N (FNV-1a 64
    /// of the name, modulo N; I from 0 to N-1), so N processes split the
    /// policies without coordination. Applied at start and at every reload.
    #[arg(long, value_name = "I/N", env = "BACKLOG_SCALER_SHARD")]
    pub shard: Option<Shard>,
}

impl ShardArgs {
    /// The policies of the shard (all of them without `--shard`).
    pub fn select(&self, policies: Vec<Policy>) -> Vec<Policy> {
        match self.shard {
            Some(shard) => policies
                .into_iter()
                .filter(|policy| shard.owns(&policy.name))
                .collect(),
            None => policies,
        }
    }
}
