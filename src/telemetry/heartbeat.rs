//! The controller loop's heartbeat: the supervisor beats it every
//! [`crate::controller::HEARTBEAT_INTERVAL`]; `/healthz` fails once it has
//! gone quiet for longer than `stale_after`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct Heartbeat {
    last_unix_ms: AtomicU64,
    stale_after: Duration,
}

impl Heartbeat {
    /// A heartbeat that has just beaten, so start-up counts as alive.
    pub fn new(stale_after: Duration) -> Heartbeat {
        let heartbeat = Heartbeat {
            last_unix_ms: AtomicU64::new(0),
            stale_after,
        };
        heartbeat.beat();
        heartbeat
    }

    pub fn beat(&self) {
        self.last_unix_ms.store(unix_ms(), Ordering::Relaxed);
    }

    pub fn is_alive(&self) -> bool {
        let last = self.last_unix_ms.load(Ordering::Relaxed);
        unix_ms().saturating_sub(last) <= self.stale_after.as_millis() as u64
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_until_it_goes_quiet() {
        assert!(Heartbeat::new(Duration::from_secs(60)).is_alive());
        let quiet = Heartbeat {
            last_unix_ms: AtomicU64::new(unix_ms() - 5_000),
            stale_after: Duration::from_secs(2),
        };
        assert!(!quiet.is_alive());
        quiet.beat();
        assert!(quiet.is_alive());
    }
}
