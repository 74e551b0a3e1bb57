//! SDK configuration: the standard credential and region chain, plus the
//! timeouts and retries the SDK does not set by default.
//!
//! The SDK has no operation timeout out of the box, so a hung endpoint would
//! stall a policy forever; every call here is bounded.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};

/// How the controller reaches AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// Overrides the region from the environment or profile.
    pub region: Option<String>,
    /// Overrides every service's endpoint (LocalStack, moto). The SDK also
    /// reads `AWS_ENDPOINT_URL` by itself.
    pub endpoint_url: Option<String>,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for one attempt of one call, connection included.
    pub attempt_timeout: Duration,
    /// Time for one call, retries included.
    pub operation_timeout: Duration,
    /// Attempts per call, the first included (standard retry mode, with
    /// exponential backoff and jitter).
    pub max_attempts: u32,
}

impl Default for AwsSettings {
    fn default() -> AwsSettings {
        AwsSettings {
            region: None,
            endpoint_url: None,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(12),
            max_attempts: 3,
        }
    }
}

/// Load the SDK configuration: credentials and region from the standard
/// chain (environment, profile, web identity, ECS task role, IMDS), with the
/// settings' overrides, timeouts and retries.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    configure(aws_config::defaults(BehaviorVersion::latest()), settings)
        .load()
        .await
}

/// Apply the settings' region, endpoint, timeouts and retries to `loader`
/// (for callers that also set something else, such as test credentials).
pub fn configure(loader: ConfigLoader, settings: &AwsSettings) -> ConfigLoader {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.attempt_timeout)
        .operation_attempt_timeout(settings.attempt_timeout)
        .operation_timeout(settings.operation_timeout)
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(settings.max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5));
    // The SDK's stalled-stream protection watches each response body's
    // throughput, which cost 3 to 10% of a call's CPU in
    // `benches/call_cost.rs`. Every attempt here is already cut off after
    // `attempt_timeout`, its body included, and the answers are a few
    // hundred bytes to a few kilobytes, so it could never fire first.
    let mut loader = loader
        .timeout_config(timeouts)
        .retry_config(retries)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint.clone());
    }
    loader
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_sqs::config::Credentials;

    /// The defaults `docs/operations.md` documents, written out here so that
    /// a change to `AwsSettings::default` fails a test instead of silently
    /// changing how long a hung endpoint can stall a policy.
    #[tokio::test]
    async fn the_sdk_gets_the_documented_default_timeouts_and_retries() {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("id", "secret", None, None, "test"));
        let config = configure(loader, &AwsSettings::default()).load().await;

        let timeouts = config.timeout_config().expect("timeouts");
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(timeouts.read_timeout(), Some(Duration::from_secs(5)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(12)));
        let retries = config.retry_config().expect("retries");
        assert_eq!(retries.max_attempts(), 3);
        assert_eq!(retries.initial_backoff(), Duration::from_millis(200));
        assert_eq!(retries.max_backoff(), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn every_call_is_bounded_and_retried_and_bodies_are_not_watched_twice() {
        let settings = AwsSettings {
            region: Some("eu-west-1".into()),
            ..AwsSettings::default()
        };
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("id", "secret", None, None, "test"));
        let config = configure(loader, &settings).load().await;

        assert_bounded_and_retried(config.timeout_config(), config.retry_config(), &settings);
        // The attempt timeout bounds a stalled body already.
        let stalled = config
            .stalled_stream_protection()
            .expect("stalled-stream protection set");
        assert!(!stalled.is_enabled());
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
    }

    /// A client's configuration has the settings' timeouts and attempts:
    /// what every adapter's client must carry (see `aws/mod.rs`'s test).
    pub(crate) fn assert_bounded_and_retried(
        timeouts: Option<&TimeoutConfig>,
        retries: Option<&RetryConfig>,
        settings: &AwsSettings,
    ) {
        let timeouts = timeouts.expect("timeouts");
        assert_eq!(timeouts.connect_timeout(), Some(settings.connect_timeout));
        assert_eq!(timeouts.read_timeout(), Some(settings.attempt_timeout));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(settings.attempt_timeout)
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(settings.operation_timeout)
        );
        assert_eq!(
            retries.expect("retries").max_attempts(),
            settings.max_attempts
        );
    }
}
