//! Every default of the policy format, written once: the value a key takes
//! when a policy leaves it out.
//!
//! The validator (`validate/`) fills left-out keys from here, the JSON
//! Schema (`raw.rs`, the `default` of each key) shows these values, and
//! [`super::Policy::with_defaults`] goes through the validator, so the model
//! has no copy of its own. A test checks that the schema's defaults,
//! written out in a policy, validate to the same policy as leaving them out.

use std::time::Duration;

/// `min_tasks`.
pub const MIN_TASKS: u32 = 1;
/// `poll_interval`.
pub const POLL_INTERVAL: Duration = Duration::from_secs(15);
/// `count_in_flight`.
pub const COUNT_IN_FLIGHT: bool = true;
/// `count_delayed`.
pub const COUNT_DELAYED: bool = false;
/// `tolerance`.
pub const TOLERANCE: f64 = 0.1;
/// `scale_out.cooldown`.
pub const SCALE_OUT_COOLDOWN: Duration = Duration::ZERO;
/// `scale_out.lookahead`.
pub const SCALE_OUT_LOOKAHEAD: Duration = Duration::ZERO;
/// `scale_in.stabilization_window`, for a policy without `task_startup`
/// (wait sizing keeps capacity by what it learns, so its window is 0).
pub const STABILIZATION_WINDOW: Duration = Duration::from_secs(300);
/// `scale_in.stabilization_window` for a policy with `task_startup`.
pub const STABILIZATION_WINDOW_WAIT_SIZED: Duration = Duration::ZERO;
/// `scale_in.cooldown`.
pub const SCALE_IN_COOLDOWN: Duration = Duration::ZERO;
/// `activation_backlog`.
pub const ACTIVATION_BACKLOG: f64 = 0.0;
/// `scale_to_zero_after`.
pub const SCALE_TO_ZERO_AFTER: Duration = Duration::from_secs(300);
/// `dry_run`.
pub const DRY_RUN: bool = false;
/// `queues[].weight`.
pub const QUEUE_WEIGHT: f64 = 1.0;

/// A duration as a policy writes it (`15s`, `5m`, `0s`): the schema's
/// default of a duration key, and what the validator reads back.
pub fn duration_text(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_a_policy_writes_them() {
        assert_eq!(duration_text(POLL_INTERVAL), "15s");
        assert_eq!(duration_text(STABILIZATION_WINDOW), "5m");
        assert_eq!(duration_text(SCALE_OUT_COOLDOWN), "0s");
        let odd = Duration::from_secs_f64(5.263158);
        assert_eq!(humantime::parse_duration(&duration_text(odd)).unwrap(), odd);
    }
}
