//! The largest inputs the policy loader accepts: a policy file's size, and
//! the value of each duration key.
//!
//! A duration with no bound validates as "584542046years" and leaves a
//! policy that is never evaluated, or a window nothing ever leaves. The
//! maxima are generous for any real use and are enforced by the validator
//! (a located error) and shown in the JSON Schema (`x-maximum`).

use std::time::Duration;

/// The largest policy file read: 1 MiB, thousands of policies' worth. The
/// loader checks it before reading and the YAML reader is capped by it.
pub const MAX_POLICY_FILE_BYTES: u64 = 1024 * 1024;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// `(key, maximum, why)` for every duration key.
pub const DURATION_MAXIMA: &[(&str, Duration, &str)] = &[
    (
        "poll_interval",
        HOUR,
        "a policy polled less than hourly is not autoscaled",
    ),
    (
        "target_wait",
        DAY,
        "a wait longer than a day is a batch job, not a backlog target",
    ),
    (
        "message_cost",
        Duration::from_secs(12 * 3600),
        "SQS hides a received message for at most 12h",
    ),
    (
        "task_startup",
        HOUR,
        "a task that takes over an hour to start cannot follow a backlog",
    ),
    (
        "scale_out.cooldown",
        DAY,
        "windows and cooldowns are at most a day",
    ),
    (
        "scale_out.lookahead",
        HOUR,
        "growth extrapolated further than an hour is a guess",
    ),
    (
        "scale_in.stabilization_window",
        DAY,
        "windows and cooldowns are at most a day",
    ),
    (
        "scale_in.cooldown",
        DAY,
        "windows and cooldowns are at most a day",
    ),
    (
        "scale_to_zero_after",
        DAY,
        "windows and cooldowns are at most a day",
    ),
];

/// The largest value of duration key `key`, and why; `None` for a key
/// that is not a duration.
pub fn duration_maximum(key: &str) -> Option<(Duration, &'static str)> {
    DURATION_MAXIMA
        .iter()
        .find(|(name, _, _)| *name == key)
        .map(|&(_, maximum, why)| (maximum, why))
}

/// A maximum as a policy would write it: `24h`, `12h`, `1h`.
pub fn maximum_text(maximum: Duration) -> String {
    let seconds = maximum.as_secs();
    if seconds % 3600 == 0 {
        format!("{}h", seconds / 3600)
    } else {
        humantime::format_duration(maximum).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::keys::KEY_TABLE;

    #[test]
    fn every_maximum_names_a_known_key() {
        for (key, maximum, _) in DURATION_MAXIMA {
            assert!(
                KEY_TABLE.iter().any(|entry| entry.0 == *key),
                "{key} is not a policy key"
            );
            assert!(*maximum >= Duration::from_secs(3600), "{key}");
        }
        assert_eq!(maximum_text(DAY), "24h");
        assert_eq!(maximum_text(Duration::from_secs(90)), "1m 30s");
    }
}
