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

/// A duration given as decimal seconds (`5.263158`, `60`) or humantime
/// (`300ms`, `1m 30s`). Decimal seconds are read exactly to the nanosecond.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Some(duration) = parse_decimal_seconds(text) {
        return Ok(duration);
    }
    humantime::parse_duration(text).map_err(|error| {
        format!("`{text}` is neither decimal seconds (5.263158) nor a duration like 300ms: {error}")
    })
}

fn parse_decimal_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) || fraction.len() > 9 {
        return None;
    }
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    Some(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_seconds_are_exact() {
        assert_eq!(
            parse_duration("5.263158"),
            Ok(Duration::new(5, 263_158_000))
        );
        assert_eq!(
            parse_duration("0.0266503"),
            Ok(Duration::new(0, 26_650_300))
        );
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration(".5"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn humantime_works_too() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("1.2.3").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
