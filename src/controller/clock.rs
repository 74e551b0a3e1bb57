//! The controller's time for the engine: a [`Timestamp`] measured on tokio's
//! clock from the controller's start, so tests can pause and advance it.

use tokio::time::Instant;

use crate::engine::Timestamp;

/// Turns tokio instants into engine timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// The instant engine time counts from.
    pub fn origin(&self) -> Instant {
        self.start
    }

    pub fn now(&self) -> Timestamp {
        self.at(Instant::now())
    }

    pub fn at(&self, instant: Instant) -> Timestamp {
        Timestamp(instant.saturating_duration_since(self.start))
    }
}
