//! The simulated world's settings, and the duration syntax the CLI takes for
//! them (decimal seconds such as `5.263158`, or humantime such as `300ms`).

use std::time::Duration;

/// Settings of one simulation; the policy brings its own poll interval.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// `S`: how long one message occupies one slot.
    pub service_time: Duration,
    /// `c`: slots per task.
    pub concurrency: u32,
    /// `U`: how long a launched task stays PENDING.
    pub startup: Duration,
    /// `s`: multiplies every bucket's arrivals.
    pub scale: f64,
    /// Tasks RUNNING at time 0; `None` is the policy's `min_tasks`.
    pub initial_tasks: Option<u32>,
    /// `W`: the p99 wait a run must not exceed to meet the target.
    pub wait_target: Duration,
    /// Keep one timeline row per poll (for `--out`).
    pub record_timeline: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            service_time: Duration::from_secs(1),
            concurrency: 1,
            startup: Duration::from_secs(60),
            scale: 1.0,
            initial_tasks: None,
            wait_target: Duration::from_secs(60),
            record_timeline: false,
        }
    }
}

/// Settings that cannot be simulated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("service time must be more than zero")]
    ZeroServiceTime,
    #[error("concurrency must be at least 1")]
    ZeroConcurrency,
    #[error("scale must be a finite number of at least 0, found {0}")]
    BadScale(String),
    #[error("the policy's poll interval must be more than zero")]
    ZeroPollInterval,
}

impl SimConfig {
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.service_time.is_zero() {
            return Err(ConfigError::ZeroServiceTime);
        }
        if self.concurrency == 0 {
            return Err(ConfigError::ZeroConcurrency);
        }
        if !self.scale.is_finite() || self.scale < 0.0 {
            return Err(ConfigError::BadScale(self.scale.to_string()));
        }
        Ok(())
    }
}
