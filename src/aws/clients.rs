//! The ports of every AWS scope (region and role) one controller serves.
//!
//! A policy's [`AwsScope`] says where its calls go. [`AwsClients`] builds one
//! [`AwsPorts`] (an SQS and an ECS client) per distinct scope, on first
//! use, and hands the same one to every policy with that scope: clients,
//! their connection pools and their queue-URL caches are shared, not made
//! per policy.
//!
//! - `region` overrides the controller's region; a scope whose region is
//!   the controller's own is the same scope as one without a region.
//! - `role_arn` is assumed through STS with the standard
//!   [`AssumeRoleProvider`], the controller's own credentials as the source,
//!   in the scope's region. The SDK's identity cache, shared by the scope's
//!   clients, keeps the role's credentials and refreshes them before they
//!   expire: one `AssumeRole` per scope per session, not per call.
//! - The ECS rate limiters follow ECS's quotas, which are per account and
//!   region: scopes of one (account, region) share one pair of limiters,
//!   whatever their clients. The account is the role ARN's, or "home" (the
//!   controller's own) without a role; a role in the controller's own account
//!   is counted apart from "home", since the controller does not know its
//!   account number without calling STS.
//! - All clients record into the one [`ApiCalls`] of the controller.
//! - The endpoint override (moto, LocalStack) of the base configuration
//!   applies to every scope, STS included.
//!
//! CloudWatch metrics are not per scope: the controller publishes them in
//! its own account and region (see `cli/run.rs`). Clients of a scope stay
//! until the process ends, even when a reload removes its last policy: a
//! scope costs a few idle connections, and a policy coming back reuses them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_types::sdk_config::SharedCredentialsProvider;

use super::{ApiCalls, AwsPorts, EcsServices, RateLimiter, SqsQueues};
use crate::policy::AwsScope;
use crate::ports::{Ports, PortsSource};

/// The role session name: what the assumed role's account shows in CloudTrail.
pub const SESSION_NAME: &str = "backlog-scaler";

/// What the ECS quotas are counted per: an account (`None`: the
/// controller's own) and a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitKey {
    pub account: Option<String>,
    pub region: Option<String>,
}

impl fmt::Display for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let account = self.account.as_deref().unwrap_or("home");
        let region = self.region.as_deref().unwrap_or("default");
        write!(f, "{account}/{region}")
    }
}

/// One (account, region)'s ECS limiters.
#[derive(Debug, Clone)]
pub struct EcsLimits {
    pub describe: Arc<RateLimiter>,
    pub update: Arc<RateLimiter>,
}

/// Ports per AWS scope, built lazily from the controller's own SDK
/// configuration and shared by every policy of a scope.
pub struct AwsClients {
    /// The controller's own configuration: credentials, region, endpoint,
    /// timeouts and retries. It must come from `aws_config`'s loader (which
    /// sets the time source the STS provider needs).
    base: SdkConfig,
    calls: Arc<ApiCalls>,
    /// Async lock: building a role's provider awaits, and two policies of a
    /// new scope starting together must get one set of clients, not two.
    ports: tokio::sync::Mutex<HashMap<AwsScope, Arc<AwsPorts>>>,
    limits: Mutex<HashMap<LimitKey, EcsLimits>>,
}

impl AwsClients {
    pub fn new(base: SdkConfig, calls: Arc<ApiCalls>) -> AwsClients {
        AwsClients {
            base,
            calls,
            ports: tokio::sync::Mutex::new(HashMap::new()),
            limits: Mutex::new(HashMap::new()),
        }
    }

    /// `scope` with its region resolved: no region means the controller's,
    /// so `{region: None}` and `{region: <own region>}` are one scope.
    pub fn resolve(&self, scope: &AwsScope) -> AwsScope {
        AwsScope {
            region: scope
                .region
                .clone()
                .or_else(|| self.base.region().map(|r| r.to_string())),
            role_arn: scope.role_arn.clone(),
        }
    }

    /// The (account, region) whose ECS quotas `scope`'s calls count against.
    pub fn limit_key(&self, scope: &AwsScope) -> LimitKey {
        let resolved = self.resolve(scope);
        LimitKey {
            account: resolved.role_account().map(str::to_owned),
            region: resolved.region,
        }
    }

    /// The limiters of `key`, made on first use.
    pub fn limits(&self, key: &LimitKey) -> EcsLimits {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        limits
            .entry(key.clone())
            .or_insert_with(|| EcsLimits {
                describe: Arc::new(RateLimiter::ecs_describe_services()),
                update: Arc::new(RateLimiter::ecs_update_service()),
            })
            .clone()
    }

    /// The ports of `scope`, built on first use and shared after.
    pub async fn ports_of(&self, scope: &AwsScope) -> Arc<AwsPorts> {
        let resolved = self.resolve(scope);
        let mut ports = self.ports.lock().await;
        if let Some(existing) = ports.get(&resolved) {
            return existing.clone();
        }
        // Boxed: every policy of a new scope waits here at start, and a
        // waiter's future would otherwise carry room for the whole build
        // (SDK config, STS provider), about 8 KiB; 1,000 of them made the
        // process's peak memory.
        let built = Arc::new(Box::pin(self.build(&resolved)).await);
        tracing::info!(
            region = resolved.region.as_deref(),
            role_arn = resolved.role_arn.as_deref(),
            "AWS clients for a new scope"
        );
        ports.insert(resolved, built.clone());
        built
    }

    /// How many distinct scopes have clients.
    pub async fn target_count(&self) -> usize {
        self.ports.lock().await.len()
    }

    async fn build(&self, resolved: &AwsScope) -> AwsPorts {
        let config = self.config_for(resolved).await;
        let limits = self.limits(&self.limit_key(resolved));
        let sqs = SqsQueues::new(aws_sdk_sqs::Client::new(&config), self.calls.clone());
        let ecs = EcsServices::with_limits(
            aws_sdk_ecs::Client::new(&config),
            self.calls.clone(),
            limits.describe,
            limits.update,
        );
        AwsPorts {
            sqs: Arc::new(sqs),
            ecs: Arc::new(ecs),
            cloudwatch: None,
            calls: self.calls.clone(),
        }
    }

    /// The base configuration with the scope's region and, for a role, the
    /// role's credentials.
    async fn config_for(&self, resolved: &AwsScope) -> SdkConfig {
        let mut builder = self.base.to_builder();
        let region = resolved.region.clone().map(Region::new);
        if let Some(region) = &region {
            builder = builder.region(region.clone());
        }
        if let Some(role_arn) = &resolved.role_arn {
            let mut provider = AssumeRoleProvider::builder(role_arn.clone())
                .session_name(SESSION_NAME)
                .configure(&self.base);
            if let Some(region) = region {
                provider = provider.region(region);
            }
            let provider = provider.build().await;
            // A cache of this scope's own, shared by its SQS and ECS
            // clients: one AssumeRole serves both until the credentials near
            // their expiry, then one refresh.
            builder = builder
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .identity_cache(IdentityCache::lazy().build());
        }
        builder.build()
    }
}

impl PortsSource for AwsClients {
    fn ports_for<'a>(
        &'a self,
        scope: &'a AwsScope,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Ports> + Send + 'a>> {
        Box::pin(async move { self.ports_of(scope).await.ports() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A base configuration like the controller's, made without a network.
    async fn base(region: &str) -> SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await
    }

    fn scope(region: Option<&str>, role_arn: Option<&str>) -> AwsScope {
        AwsScope {
            region: region.map(str::to_owned),
            role_arn: role_arn.map(str::to_owned),
        }
    }

    const ROLE_A: &str = "arn:aws:iam::111111111111:role/scaler";
    const ROLE_A2: &str = "arn:aws:iam::111111111111:role/other";
    const ROLE_B: &str = "arn:aws:iam::222222222222:role/scaler";

    #[tokio::test]
    async fn a_policy_waiting_for_its_targets_clients_holds_little_memory() {
        let fleet = AwsClients::new(base("eu-west-1").await, Arc::new(ApiCalls::new()));
        let scope = scope(None, Some(ROLE_A));
        let waiting = fleet.ports_of(&scope);
        let size = std::mem::size_of_val(&waiting);
        assert!(size < 512, "{size} bytes");
        drop(waiting);
        let boxed = fleet.ports_for(&scope);
        assert!(std::mem::size_of_val(&*boxed) < 512);
    }

    #[tokio::test]
    async fn equal_targets_share_one_set_of_clients() {
        let fleet = AwsClients::new(base("eu-west-1").await, Arc::new(ApiCalls::new()));
        let home = fleet.ports_of(&scope(None, None)).await;
        let home_again = fleet.ports_of(&scope(None, None)).await;
        let home_named = fleet.ports_of(&scope(Some("eu-west-1"), None)).await;
        let west = fleet.ports_of(&scope(Some("us-west-2"), None)).await;
        let role = fleet.ports_of(&scope(None, Some(ROLE_A))).await;
        let role_again = fleet
            .ports_of(&scope(Some("eu-west-1"), Some(ROLE_A)))
            .await;
        assert!(Arc::ptr_eq(&home, &home_again));
        assert!(
            Arc::ptr_eq(&home, &home_named),
            "the own region is no region"
        );
        assert!(!Arc::ptr_eq(&home, &west));
        assert!(!Arc::ptr_eq(&home, &role));
        assert!(Arc::ptr_eq(&role, &role_again));
        assert!(Arc::ptr_eq(&home.calls, &west.calls), "one set of counters");
        assert_eq!(fleet.target_count().await, 3);
    }

    #[tokio::test]
    async fn policies_starting_together_get_the_same_clients() {
        let fleet = Arc::new(AwsClients::new(
            base("eu-west-1").await,
            Arc::new(ApiCalls::new()),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let fleet = fleet.clone();
            tasks.spawn(async move { fleet.ports_of(&scope(None, Some(ROLE_A))).await });
        }
        let all = tasks.join_all().await;
        assert!(all.iter().all(|p| Arc::ptr_eq(p, &all[0])));
        assert_eq!(fleet.target_count().await, 1);
    }

    #[tokio::test]
    async fn limiters_are_shared_per_account_and_region() {
        let fleet = AwsClients::new(base("eu-west-1").await, Arc::new(ApiCalls::new()));
        let key = |region, role| fleet.limit_key(&scope(region, role));
        assert_eq!(
            key(None, Some(ROLE_A)),
            LimitKey {
                account: Some("111111111111".into()),
                region: Some("eu-west-1".into()),
            }
        );
        assert_eq!(key(None, None).to_string(), "home/eu-west-1");
        // Two roles of one account in one region: one quota.
        assert_eq!(
            key(None, Some(ROLE_A)),
            key(Some("eu-west-1"), Some(ROLE_A2))
        );
        assert_ne!(key(None, Some(ROLE_A)), key(None, Some(ROLE_B)));
        assert_ne!(
            key(None, Some(ROLE_A)),
            key(Some("us-west-2"), Some(ROLE_A))
        );
        assert_ne!(key(None, None), key(None, Some(ROLE_A)));

        let same = |a: &EcsLimits, b: &EcsLimits| {
            Arc::ptr_eq(&a.describe, &b.describe) && Arc::ptr_eq(&a.update, &b.update)
        };
        let a = fleet.limits(&key(None, Some(ROLE_A)));
        let a2 = fleet.limits(&key(None, Some(ROLE_A2)));
        let b = fleet.limits(&key(None, Some(ROLE_B)));
        assert!(same(&a, &a2));
        assert!(!same(&a, &b));
        assert!(!Arc::ptr_eq(&a.describe, &a.update));
    }

    #[tokio::test]
    async fn clients_of_one_account_and_region_hold_one_pair_of_limiters() {
        let fleet = AwsClients::new(base("eu-west-1").await, Arc::new(ApiCalls::new()));
        // The clients of two roles of one account hold the limiters of
        // their (account, region): a burst spent through one is spent for
        // both.
        fleet.ports_of(&scope(None, Some(ROLE_A))).await;
        fleet.ports_of(&scope(None, Some(ROLE_A2))).await;
        assert_eq!(fleet.target_count().await, 2);
        let limits = fleet.limits(&fleet.limit_key(&scope(None, Some(ROLE_A2))));
        // The map, both scopes' ECS clients and this handle.
        assert_eq!(Arc::strong_count(&limits.update), 4);
        let other = fleet.limits(&fleet.limit_key(&scope(None, Some(ROLE_B))));
        assert_eq!(
            Arc::strong_count(&other.update),
            2,
            "the map and this handle"
        );
    }
}
