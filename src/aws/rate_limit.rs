//! A client-side token bucket that keeps calls under an API's quota.
//!
//! ECS throttles `UpdateService` and `DescribeServices` per account; staying
//! under the quota on our side means one busy controller never starves other
//! tools in the account and our calls are not throttled in the first place.
//! Time comes from tokio, so tests can pause it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: `burst` calls at once, then `rate` per second.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// May go negative: each waiter reserves its token, so waiters are
    /// served in arrival order and nobody polls.
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A full bucket. `rate` must be positive; `burst` is at least 1.
    pub fn new(rate_per_second: f64, burst: u32) -> RateLimiter {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate: rate_per_second.max(f64::MIN_POSITIVE),
            burst,
            bucket: Mutex::new(Bucket {
                tokens: burst,
                updated: Instant::now(),
            }),
        }
    }

    /// `UpdateService`: ECS allows 5 per second sustained, bursts of 50.
    pub fn ecs_update_service() -> RateLimiter {
        RateLimiter::new(5.0, 50)
    }

    /// `DescribeServices`: ECS allows 20 per second sustained.
    pub fn ecs_describe_services() -> RateLimiter {
        RateLimiter::new(20.0, 20)
    }

    /// Take a token, waiting until one is available.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Reserve a token now and say how long to wait before using it.
    fn reserve(&self) -> Duration {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn time_to_acquire(limiter: &RateLimiter, n: usize) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            limiter.acquire().await;
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_at_once_then_the_rate_applies() {
        let limiter = RateLimiter::ecs_update_service();
        assert_eq!(time_to_acquire(&limiter, 50).await, Duration::ZERO);
        // Ten more at 5/s take two seconds.
        let took = time_to_acquire(&limiter, 10).await;
        assert!(
            (Duration::from_millis(1990)..=Duration::from_millis(2010)).contains(&took),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_refills_while_idle_but_not_past_the_burst() {
        let limiter = RateLimiter::ecs_describe_services();
        time_to_acquire(&limiter, 20).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(time_to_acquire(&limiter, 20).await, Duration::ZERO);
        let took = time_to_acquire(&limiter, 1).await;
        assert!(took >= Duration::from_millis(49), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_never_exceed_the_rate() {
        let limiter = std::sync::Arc::new(RateLimiter::new(10.0, 1));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..21 {
            let limiter = limiter.clone();
            tasks.spawn(async move {
                limiter.acquire().await;
                Instant::now()
            });
        }
        let mut times = tasks.join_all().await;
        times.sort();
        // 1 at once, then 20 more at 10/s: the last at 2 s, never sooner.
        let last = times.last().unwrap().duration_since(start);
        assert!(last >= Duration::from_millis(1999), "{last:?}");
        for pair in times.windows(2) {
            assert!(pair[1].duration_since(pair[0]) >= Duration::from_millis(99));
        }
    }
}
