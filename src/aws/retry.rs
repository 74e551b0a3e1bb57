//! Retrying one idempotent call ourselves, so that every attempt goes
//! through the client-side rate limiter.
//!
//! The SDK retries failed attempts by itself, inside one `send()`: those
//! attempts never pass our [`RateLimiter`], so a throttled call would be
//! retried faster than the limit we promise to keep. Calls that must stay
//! under a limit (ECS's `UpdateService` and `DescribeServices`) therefore
//! turn the SDK's retries off for that operation and are retried by
//! [`with_retries`] (the calls themselves are in `ecs.rs`; this module
//! knows no service): each attempt takes a token, waits between attempts follow exponential
//! backoff with full jitter (a random wait between zero and the ceiling,
//! as AWS recommends, so clients that failed together do not retry
//! together), and both the number of attempts and the total time are
//! bounded.

use std::future::Future;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rand::Rng;
use tokio::time::Instant;

use super::classify::classify_kind;
use super::rate_limit::RateLimiter;
use crate::ports::ErrorKind;

/// How a call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The ceiling of the wait after the first failed attempt; it doubles
    /// with each further failure.
    pub base: Duration,
    /// The highest ceiling.
    pub cap: Duration,
    /// No attempt starts later than this after the first.
    pub deadline: Duration,
}

impl Backoff {
    /// `UpdateService`: four attempts within 15 s, well inside the write
    /// deadline of an evaluation (20 s by default).
    pub const UPDATE_SERVICE: Backoff = Backoff {
        max_attempts: 4,
        base: Duration::from_millis(250),
        cap: Duration::from_secs(4),
        deadline: Duration::from_secs(15),
    };

    /// `DescribeServices`: three attempts within 8 s (the SDK's standard
    /// mode would make three too), well inside the observe deadline of an
    /// evaluation (20 s by default).
    pub const DESCRIBE_SERVICES: Backoff = Backoff {
        max_attempts: 3,
        base: Duration::from_millis(200),
        cap: Duration::from_secs(2),
        deadline: Duration::from_secs(8),
    };

    /// The longest wait after `failed` failed attempts (1 or more).
    pub fn ceiling(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(20);
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }

    /// A wait drawn uniformly from zero to [`Backoff::ceiling`] ("full
    /// jitter").
    pub fn delay(&self, failed: u32, rng: &mut impl Rng) -> Duration {
        self.ceiling(failed).mul_f64(rng.random::<f64>())
    }
}

/// Whether a failed attempt is worth repeating: throttling, timeouts,
/// unreachable endpoints, dropped connections, and server errors (5xx). A
/// refusal (access denied, missing service, bad request) or an answer that
/// could not be read would only fail again.
pub fn retryable<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match classify_kind(error) {
        ErrorKind::Throttled | ErrorKind::Unreachable => true,
        _ => match error {
            SdkError::ServiceError(context) => context.raw().status().is_server_error(),
            _ => false,
        },
    }
}

/// Run `attempt` until it succeeds, fails for good, or the attempts or the
/// deadline run out, taking a token from `limiter` before each attempt.
/// `observe`
/// hears of every attempt's result (for call counters). Returns the last
/// attempt's result.
pub async fn with_retries<T, E, F, Fut>(
    limiter: &RateLimiter,
    backoff: &Backoff,
    rng: &mut (impl Rng + Send),
    mut attempt: F,
    mut observe: impl FnMut(&Result<T, SdkError<E, HttpResponse>>),
) -> Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let started = Instant::now();
    let mut failed = 0;
    loop {
        limiter.acquire().await;
        let result = attempt().await;
        observe(&result);
        let error = match &result {
            Err(error) if retryable(error) => error,
            _ => return result,
        };
        failed += 1;
        if failed >= backoff.max_attempts.max(1) {
            return result;
        }
        let wait = backoff.delay(failed, rng);
        if started.elapsed() + wait > backoff.deadline {
            return result;
        }
        tracing::debug!(
            error_kind = %classify_kind(error),
            attempt = failed,
            retry_in_ms = wait.as_millis() as u64,
            "retrying after a transient error"
        );
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
// The tests hand out the SDK's own error type, large as it is.
#[allow(clippy::result_large_err)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    // Any service's error will do: the loop sees only its metadata.
    type Attempt = Result<(), SdkError<ErrorMetadata, HttpResponse>>;

    fn failure(code: &str, status: u16) -> Attempt {
        let error = ErrorMetadata::builder().code(code).build();
        let response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        Err(SdkError::service_error(error, response))
    }

    fn throttled() -> Attempt {
        failure("ThrottlingException", 400)
    }

    /// Runs `with_retries` over `answers` (one per attempt, then success),
    /// returning the result and the time of each attempt since the start.
    async fn run(
        limiter: &RateLimiter,
        backoff: &Backoff,
        seed: u64,
        answers: Vec<Attempt>,
    ) -> (Attempt, Vec<Duration>) {
        let start = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let mut rng = StdRng::seed_from_u64(seed);
        let mut observed = 0;
        let result = with_retries(
            limiter,
            backoff,
            &mut rng,
            || {
                let times = times.clone();
                let answers = answers.clone();
                async move {
                    times.lock().unwrap().push(start.elapsed());
                    answers.lock().unwrap().next().unwrap_or(Ok(()))
                }
            },
            |_| observed += 1,
        )
        .await;
        let times = times.lock().unwrap().clone();
        assert_eq!(observed, times.len(), "every attempt is observed");
        (result, times)
    }

    fn gaps(times: &[Duration]) -> Vec<Duration> {
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let backoff = Backoff::UPDATE_SERVICE;
        let ceilings: Vec<u128> = (1..=7).map(|n| backoff.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [250, 500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(backoff.ceiling(u32::MAX), backoff.cap);
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        let backoff = Backoff::UPDATE_SERVICE;
        let mut rng = StdRng::seed_from_u64(3);
        let delays: Vec<Duration> = (0..1000).map(|_| backoff.delay(3, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d < Duration::from_secs(1)));
        let low = delays
            .iter()
            .filter(|d| **d < Duration::from_millis(250))
            .count();
        let high = delays
            .iter()
            .filter(|d| **d > Duration::from_millis(750))
            .count();
        // Uniform: about a quarter each.
        assert!((180..320).contains(&low), "{low}");
        assert!((180..320).contains(&high), "{high}");
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_attempts_are_retried_with_jittered_exponential_waits() {
        let limiter = RateLimiter::new(1000.0, 100);
        let backoff = Backoff::UPDATE_SERVICE;
        let mut all_gaps = Vec::new();
        for seed in 0..20 {
            let answers = vec![throttled(), throttled(), throttled()];
            let (result, times) = run(&limiter, &backoff, seed, answers).await;
            assert!(result.is_ok());
            assert_eq!(times.len(), 4);
            for (i, gap) in gaps(&times).into_iter().enumerate() {
                assert!(gap <= backoff.ceiling(i as u32 + 1), "{i}: {gap:?}");
                all_gaps.push((i, gap));
            }
        }
        // The third wait's ceiling is 1 s: across runs some are long and
        // some short, so the waits are drawn, not fixed.
        let third: Vec<Duration> = all_gaps
            .iter()
            .filter(|(i, _)| *i == 2)
            .map(|(_, g)| *g)
            .collect();
        assert!(third.iter().any(|g| *g > Duration::from_millis(500)));
        assert!(third.iter().any(|g| *g < Duration::from_millis(500)));
    }

    #[tokio::test(start_paused = true)]
    async fn every_attempt_takes_a_token_from_the_limiter() {
        // One call per second, and its only token already gone.
        let limiter = RateLimiter::new(1.0, 1);
        limiter.acquire().await;
        let backoff = Backoff {
            max_attempts: 5,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            deadline: Duration::from_secs(60),
        };
        let answers = vec![throttled(), throttled(), throttled(), throttled()];
        let (result, times) = run(&limiter, &backoff, 1, answers).await;
        assert!(result.is_ok());
        assert_eq!(times.len(), 5);
        assert!(times[0] >= Duration::from_millis(999), "{times:?}");
        // Every retry waits for a token of its own.
        for gap in gaps(&times) {
            assert!(gap >= Duration::from_millis(999), "{times:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded() {
        let limiter = RateLimiter::new(1000.0, 100);
        let backoff = Backoff::UPDATE_SERVICE;
        let answers = (0..10).map(|_| failure("ServerException", 500)).collect();
        let (result, times) = run(&limiter, &backoff, 2, answers).await;
        assert!(result.is_err());
        assert_eq!(times.len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn no_attempt_starts_after_the_deadline() {
        let limiter = RateLimiter::new(1000.0, 100);
        let backoff = Backoff {
            max_attempts: 100,
            base: Duration::from_millis(400),
            cap: Duration::from_millis(400),
            deadline: Duration::from_secs(2),
        };
        let answers = (0..100).map(|_| throttled()).collect();
        let (result, times) = run(&limiter, &backoff, 5, answers).await;
        assert!(result.is_err());
        assert!(times.len() > 5, "{times:?}");
        assert!(
            *times.last().unwrap() <= Duration::from_secs(2),
            "{times:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_and_client_errors_are_not_retried() {
        let limiter = RateLimiter::new(1000.0, 100);
        let backoff = Backoff::UPDATE_SERVICE;
        for answer in [
            failure("AccessDeniedException", 400),
            failure("ServiceNotFoundException", 400),
            failure("InvalidParameterException", 400),
        ] {
            let (result, times) = run(&limiter, &backoff, 0, vec![answer]).await;
            assert!(result.is_err());
            assert_eq!(times.len(), 1);
        }
        let timeout: Attempt = Err(SdkError::timeout_error("attempt timed out"));
        let unavailable = failure("ServiceUnavailable", 503);
        let (result, times) = run(&limiter, &backoff, 0, vec![timeout, unavailable]).await;
        assert!(result.is_ok());
        assert_eq!(times.len(), 3);
    }
}
