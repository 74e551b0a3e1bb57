//! When a policy is evaluated: plain functions of the interval, the failure
//! count and a seed, so the schedule can be tested alone.
//!
//! Policies tick on a grid shared by their group (same `poll_interval`,
//! same AWS scope): tick `k` is at `origin + phase + k * interval`. Ticking
//! together is what lets one evaluation cycle read a shared queue once and
//! describe a cluster's services ten at a time. The phase is drawn per group
//! from a seed, within the first `phase_spread` of the interval, so groups
//! (and replicas, and restarts) do not call the APIs in lockstep. A failing
//! policy backs off by skipping ticks, never by leaving the grid.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The default phase spread: a group's phase is in the first tenth of its
/// interval, so a start (or a new group) is evaluated within a tenth of an
/// interval and `/readyz` does not wait a whole interval.
pub const DEFAULT_PHASE_SPREAD: f64 = 0.1;

/// A failing policy waits at most this many intervals between attempts, so
/// it recovers within two intervals of the API recovering.
pub const MAX_BACKOFF_INTERVALS: u32 = 2;

/// The phase of the group `key` ticking every `interval`: drawn from `seed`
/// and the key, uniformly in the first `spread` (0..=1) of the interval.
/// The same seed and key always give the same phase.
pub fn group_phase(seed: u64, key: &impl Hash, interval: Duration, spread: f64) -> Duration {
    let spread = spread.clamp(0.0, 1.0);
    if spread == 0.0 {
        return Duration::ZERO;
    }
    let mut hasher = DefaultHasher::new();
    (seed, key).hash(&mut hasher);
    let mut rng = StdRng::seed_from_u64(hasher.finish());
    interval.mul_f64(rng.random_range(0.0..spread))
}

/// The first tick at or after `elapsed` (time since the grid's origin) of a
/// grid with `phase` and `interval`.
pub fn tick_at_or_after(elapsed: Duration, phase: Duration, interval: Duration) -> u64 {
    let Some(since_phase) = elapsed.checked_sub(phase) else {
        return 0;
    };
    let interval = interval.as_nanos().max(1);
    let nanos = since_phase.as_nanos();
    let tick = nanos.div_ceil(interval);
    u64::try_from(tick).unwrap_or(u64::MAX)
}

/// When tick `tick` is, as time since the grid's origin.
pub fn tick_time(tick: u64, phase: Duration, interval: Duration) -> Duration {
    let steps = u32::try_from(tick).unwrap_or(u32::MAX);
    phase.saturating_add(interval.saturating_mul(steps))
}

/// The tick after an evaluation at `tick` that left `consecutive_failures`
/// failures: the next one, or further on while failing (see
/// [`error_backoff_ticks`]); never one before `earliest` (an evaluation
/// that ran past its next tick skips it).
pub fn next_tick(tick: u64, consecutive_failures: u32, earliest: u64) -> u64 {
    tick.saturating_add(u64::from(error_backoff_ticks(consecutive_failures)))
        .max(earliest)
}

/// The error policy, in ticks: after `consecutive_failures` failed
/// evaluations in a row (0 means the last one succeeded), the next attempt
/// is this many ticks on. It doubles with each failure, up to
/// [`MAX_BACKOFF_INTERVALS`].
pub fn error_backoff_ticks(consecutive_failures: u32) -> u32 {
    if consecutive_failures == 0 {
        return 1;
    }
    let doublings = (consecutive_failures - 1).min(31);
    (1u32 << doublings).min(MAX_BACKOFF_INTERVALS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let interval = Duration::from_secs(15);
        let waits: Vec<u64> = (0..6)
            .map(|n| interval.saturating_mul(error_backoff_ticks(n)).as_secs())
            .collect();
        assert_eq!(waits, [15, 15, 30, 30, 30, 30]);
        assert_eq!(
            interval.saturating_mul(error_backoff_ticks(u32::MAX)),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn backoff_skips_ticks_and_late_evaluations_skip_the_missed_ones() {
        assert_eq!(next_tick(4, 0, 0), 5);
        assert_eq!(next_tick(4, 1, 0), 5);
        assert_eq!(next_tick(4, 2, 0), 6);
        assert_eq!(next_tick(4, 9, 0), 6);
        // Ran until after tick 7: the next is 8, not 5.
        assert_eq!(next_tick(4, 0, 8), 8);
    }

    #[test]
    fn ticks_are_on_the_grid() {
        let phase = Duration::from_millis(2500);
        let interval = Duration::from_secs(10);
        assert_eq!(tick_at_or_after(Duration::ZERO, phase, interval), 0);
        assert_eq!(tick_at_or_after(phase, phase, interval), 0);
        assert_eq!(tick_at_or_after(Duration::from_secs(3), phase, interval), 1);
        assert_eq!(
            tick_at_or_after(Duration::from_millis(12_500), phase, interval),
            1
        );
        assert_eq!(
            tick_at_or_after(Duration::from_millis(12_501), phase, interval),
            2
        );
        assert_eq!(tick_time(2, phase, interval), Duration::from_millis(22_500));
    }

    #[test]
    fn phases_are_seeded_per_group_and_within_the_spread() {
        let interval = Duration::from_secs(30);
        let phases: Vec<Duration> = (0..100)
            .map(|group| group_phase(7, &group, interval, 1.0))
            .collect();
        assert!(phases.iter().all(|p| *p < interval));
        let distinct: std::collections::BTreeSet<_> = phases.iter().collect();
        assert!(distinct.len() > 90, "phases should differ: {distinct:?}");
        // Reproducible for a seed, different for another.
        assert_eq!(group_phase(7, &3, interval, 1.0), phases[3]);
        assert_ne!(group_phase(8, &3, interval, 1.0), phases[3]);
        for group in 0..100 {
            assert!(group_phase(1, &group, interval, 0.1) < Duration::from_secs(3));
        }
        assert_eq!(group_phase(7, &3, interval, 0.0), Duration::ZERO);
    }
}
