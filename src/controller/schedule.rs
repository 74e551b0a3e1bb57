//! When a policy is evaluated next: plain functions of the interval, the
//! failure count and a random draw, so the schedule can be tested alone.
//!
//! Jitter only ever shortens a wait (each wait is drawn between
//! `1 - jitter` and 1 times its base), so a policy is never evaluated later
//! than its `poll_interval`, and policies that started together drift apart
//! instead of calling the APIs in lockstep.

use std::time::Duration;

use rand::Rng;

/// The default jitter: waits are drawn between 90% and 100% of their base.
pub const DEFAULT_JITTER: f64 = 0.1;

/// A failing policy waits at most this many intervals between attempts, so
/// it recovers within two intervals of the API recovering.
pub const MAX_BACKOFF_INTERVALS: u32 = 2;

/// `base` shortened by a random fraction of at most `jitter`.
pub fn jittered(base: Duration, jitter: f64, rng: &mut impl Rng) -> Duration {
    let jitter = jitter.clamp(0.0, 1.0);
    if jitter == 0.0 {
        return base;
    }
    let factor = 1.0 - rng.random_range(0.0..jitter);
    base.mul_f64(factor)
}

/// The wait before a policy's first evaluation: spread over the first
/// `jitter` of its interval, so a restart does not evaluate every policy in
/// the same instant.
pub fn first_delay(interval: Duration, jitter: f64, rng: &mut impl Rng) -> Duration {
    let jitter = jitter.clamp(0.0, 1.0);
    if jitter == 0.0 {
        return Duration::ZERO;
    }
    interval.mul_f64(rng.random_range(0.0..jitter))
}

/// The error policy: the wait after `consecutive_failures` failed
/// evaluations in a row (0 means the last one succeeded). The interval
/// doubles with each failure, up to [`MAX_BACKOFF_INTERVALS`] intervals.
pub fn error_backoff(interval: Duration, consecutive_failures: u32) -> Duration {
    if consecutive_failures == 0 {
        return interval;
    }
    let doublings = (consecutive_failures - 1).min(31);
    let factor = (1u32 << doublings).min(MAX_BACKOFF_INTERVALS);
    interval.saturating_mul(factor)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let interval = Duration::from_secs(15);
        let waits: Vec<u64> = (0..6)
            .map(|n| error_backoff(interval, n).as_secs())
            .collect();
        assert_eq!(waits, [15, 15, 30, 30, 30, 30]);
        assert_eq!(error_backoff(interval, u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_only_shortens_and_varies() {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::from_secs(10);
        let waits: Vec<Duration> = (0..100).map(|_| jittered(base, 0.1, &mut rng)).collect();
        assert!(waits
            .iter()
            .all(|w| (Duration::from_secs(9)..=base).contains(w)));
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 50, "jitter should vary: {distinct:?}");
        assert_eq!(jittered(base, 0.0, &mut rng), base);
    }

    #[test]
    fn first_evaluations_spread_over_the_first_tenth() {
        let mut rng = StdRng::seed_from_u64(1);
        let interval = Duration::from_secs(30);
        for _ in 0..100 {
            assert!(first_delay(interval, 0.1, &mut rng) < Duration::from_secs(3));
        }
        assert_eq!(first_delay(interval, 0.0, &mut rng), Duration::ZERO);
    }
}
