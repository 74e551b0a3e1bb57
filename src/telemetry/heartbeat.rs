//! The controller loop's heartbeat: the supervisor beats it every
//! [`crate::controller::HEARTBEAT_INTERVAL`]; `/healthz` fails once it has
//! gone quiet for longer than `stale_after`.
//!
//! Time is read from a monotonic clock (a wall clock stepped by NTP could
//! make a live loop look stalled, or a stalled one alive); tests inject their
//! own with [`Heartbeat::with_clock`] to stall the loop without waiting 30 s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Monotonic time since some fixed origin.
pub type HeartbeatClock = Arc<dyn Fn() -> Duration + Send + Sync>;

pub struct Heartbeat {
    /// Clock reading at the last beat, in milliseconds.
    last_ms: AtomicU64,
    stale_after: Duration,
    clock: HeartbeatClock,
}

impl std::fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartbeat")
            .field("last_ms", &self.last_ms)
            .field("stale_after", &self.stale_after)
            .finish_non_exhaustive()
    }
}

impl Heartbeat {
    /// A heartbeat that has just beaten, so start-up counts as alive.
    pub fn new(stale_after: Duration) -> Heartbeat {
        let origin = Instant::now();
        Heartbeat::with_clock(stale_after, Arc::new(move || origin.elapsed()))
    }

    /// As [`Heartbeat::new`], reading time from `clock`.
    pub fn with_clock(stale_after: Duration, clock: HeartbeatClock) -> Heartbeat {
        let heartbeat = Heartbeat {
            last_ms: AtomicU64::new(0),
            stale_after,
            clock,
        };
        heartbeat.beat();
        heartbeat
    }

    pub fn beat(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    pub fn is_alive(&self) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        self.now_ms().saturating_sub(last) <= self.stale_after.as_millis() as u64
    }

    fn now_ms(&self) -> u64 {
        (self.clock)().as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock the test moves by hand.
    pub(crate) fn manual_clock() -> (HeartbeatClock, Arc<AtomicU64>) {
        let ms = Arc::new(AtomicU64::new(1_000));
        let read = ms.clone();
        let clock: HeartbeatClock =
            Arc::new(move || Duration::from_millis(read.load(Ordering::Relaxed)));
        (clock, ms)
    }

    #[test]
    fn alive_until_it_goes_quiet_for_longer_than_stale_after() {
        let (clock, ms) = manual_clock();
        let heartbeat = Heartbeat::with_clock(Duration::from_secs(2), clock);
        assert!(heartbeat.is_alive());
        ms.fetch_add(2_000, Ordering::Relaxed);
        assert!(heartbeat.is_alive(), "exactly stale_after is still alive");
        ms.fetch_add(1, Ordering::Relaxed);
        assert!(!heartbeat.is_alive());
        heartbeat.beat();
        assert!(heartbeat.is_alive());
    }

    #[test]
    fn the_default_clock_starts_alive() {
        assert!(Heartbeat::new(Duration::from_secs(60)).is_alive());
    }
}
