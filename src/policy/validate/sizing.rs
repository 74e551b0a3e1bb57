//! Checks of how many tasks a policy asks for: its target, its bounds, its
//! tolerance band, and the keys that act from or towards zero tasks.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::{at, must_be, Checker};
use crate::policy::defaults;
use crate::policy::model::{BacklogTarget, TaskStartup};
use crate::policy::outline::quoted;
use crate::policy::raw::RawPolicy;

impl Checker<'_> {
    pub(super) fn target(&mut self, raw: &RawPolicy) -> Option<BacklogTarget> {
        let both_hint = "keep one of them: with target_wait, each gives the other \
                         (target_backlog_per_task = target_wait / message_cost)";
        match (
            raw.target_backlog_per_task.as_ref(),
            raw.target_wait.as_ref(),
            raw.message_cost.as_ref(),
        ) {
            (Some(_), Some(_), Some(other)) => {
                let message = "cannot be used with both target_wait and target_backlog_per_task";
                self.error(at(other), "message_cost", message, both_hint);
                None
            }
            (Some(_), None, Some(other)) => {
                let message = "needs target_wait, and cannot be used with target_backlog_per_task";
                let hint = "keep `target_backlog_per_task`, or `target_wait` with `message_cost`";
                self.error(at(other), "message_cost", message, hint);
                None
            }
            (Some(direct), wait, None) => {
                let target = self.backlog_per_task(direct);
                let Some(wait) = wait else {
                    return target.map(BacklogTarget::BacklogPerTask);
                };
                if raw.task_startup.is_none() {
                    self.warning(
                        at(wait),
                        "target_wait",
                        "does nothing next to target_backlog_per_task without task_startup: \
                         the target alone sizes the service",
                        "add `task_startup` to size for the wait, or remove `target_wait`",
                    );
                }
                let wait_value = self.positive_duration(wait, "target_wait");
                let (backlog_per_task, wait_value) = (target?, wait_value?);
                if crate::policy::model::derived_cost(wait_value, backlog_per_task).is_none() {
                    self.error(
                        at(direct),
                        "target_backlog_per_task",
                        format!(
                            "gives a message cost (target_wait / target) under a nanosecond, found {}",
                            direct.value
                        ),
                        "lower target_backlog_per_task, or give `message_cost` instead",
                    );
                    return None;
                }
                Some(BacklogTarget::WaitPerTask {
                    wait: wait_value,
                    backlog_per_task,
                })
            }
            (None, Some(wait), Some(cost)) => {
                let wait_value = self.positive_duration(wait, "target_wait");
                let cost_value = self.positive_duration(cost, "message_cost");
                let (wait_value, cost_value) = (wait_value?, cost_value?);
                if wait_value < cost_value {
                    self.warning(
                        at(wait),
                        "target_wait",
                        format!(
                            "is shorter than message_cost {}, so no number of tasks can meet it",
                            humantime::format_duration(cost_value)
                        ),
                        "a message waits at least as long as one task takes for it; raise target_wait",
                    );
                }
                Some(BacklogTarget::Wait {
                    wait: wait_value,
                    message_cost: cost_value,
                })
            }
            (None, Some(wait), None) => {
                let hint = "add `message_cost`, the time one task spends on one message, or \
                            `target_backlog_per_task`, the messages one task serves within the wait";
                self.error(
                    at(wait),
                    "target_wait",
                    "needs message_cost or target_backlog_per_task",
                    hint,
                );
                None
            }
            (None, None, Some(cost)) => {
                let hint = "add `target_wait`: how long a message may wait";
                self.error(at(cost), "message_cost", "needs target_wait", hint);
                None
            }
            (None, None, None) => {
                self.error(
                    self.start,
                    "",
                    "no target is given",
                    "add `target_backlog_per_task`, or `target_wait` and `message_cost`",
                );
                None
            }
        }
    }

    /// `target_backlog_per_task`, when it is a number greater than 0.
    fn backlog_per_task(&mut self, direct: &Spanned<f64>) -> Option<f64> {
        if direct.value > 0.0 && direct.value.is_finite() {
            Some(direct.value)
        } else {
            self.error(
                at(direct),
                "target_backlog_per_task",
                must_be("greater than 0", direct.value),
                "give the number of waiting messages one task should have, e.g. `100`",
            );
            None
        }
    }

    /// `task_startup`: `None` when left out, `Some(None)` when wrong. It
    /// sizes for a wait, so it needs `target_wait` (with `message_cost` or
    /// `target_backlog_per_task`), and the engine then plans for the startup
    /// itself, so `lookahead` goes.
    pub(super) fn task_startup(&mut self, raw: &RawPolicy) -> Option<Option<TaskStartup>> {
        let Some(value) = raw.task_startup.as_ref() else {
            return Some(None);
        };
        let mut valid = true;
        if raw.target_wait.is_none() {
            self.error(
                at(value),
                "task_startup",
                "sizes for a wait: it needs target_wait",
                "add `target_wait` (and `message_cost`, or keep `target_backlog_per_task`: \
                 message cost = target_wait / target)",
            );
            valid = false;
        }
        let lookahead = raw
            .scale_out
            .as_ref()
            .and_then(|section| section.value.lookahead.as_ref());
        if let Some(lookahead) = lookahead {
            self.error(
                at(lookahead),
                "scale_out.lookahead",
                "cannot be used with task_startup",
                "with task_startup the engine plans for the startup itself; remove `lookahead`",
            );
            valid = false;
        }
        let text = value.value.trim();
        let startup = if text == "measured" {
            Some(TaskStartup::Measured)
        } else if !text.starts_with('-') && humantime::parse_duration(text).is_err() {
            self.error(
                at(value),
                "task_startup",
                format!("{} is neither a duration nor `measured`", quoted(text)),
                "write the time a new task takes to start, such as `60s`, or `measured`",
            );
            None
        } else {
            self.duration(value, "task_startup")
                .map(TaskStartup::Stated)
        };
        if valid {
            startup.map(Some)
        } else {
            None
        }
    }

    /// A task count: a whole number from 0 to `u32::MAX`.
    pub(super) fn count(&mut self, value: &Spanned<i64>, key: &str) -> Option<u32> {
        match u32::try_from(value.value) {
            Ok(count) => Some(count),
            Err(_) if value.value < 0 => {
                let message = format!("must be 0 or more, got {}", value.value);
                self.error(at(value), key, message, "give a number of tasks");
                None
            }
            Err(_) => {
                let message = format!("must be at most {}, got {}", u32::MAX, value.value);
                self.error(at(value), key, message, "give a number of tasks");
                None
            }
        }
    }

    pub(super) fn bounds(&mut self, raw: &RawPolicy) -> Option<(u32, u32)> {
        let min = match raw.min_tasks.as_ref() {
            None => Some(defaults::MIN_TASKS),
            Some(value) => self.count(value, "min_tasks"),
        };
        let hint = "add `max_tasks`: the most tasks the service may run";
        let max_value = self.required(raw.max_tasks.as_ref(), "max_tasks", hint);
        let max = max_value.and_then(|value| self.count(value, "max_tasks"));
        if let (Some(0), Some(value)) = (max, max_value) {
            self.error(
                at(value),
                "max_tasks",
                "must be at least 1",
                "a service that may never run a task needs no policy; remove it",
            );
            return None;
        }
        let (min, max) = (min?, max?);
        let min_at = raw.min_tasks.as_ref().map_or(self.start, at);
        if min > max {
            self.error(
                min_at,
                "min_tasks",
                format!("{min} is greater than max_tasks {max}"),
                "lower min_tasks or raise max_tasks",
            );
            return None;
        }
        if min == 1 && max >= 2 {
            self.warning(
                min_at,
                "min_tasks",
                "one task is a single point of failure",
                "set `min_tasks: 2` so one failing task or host does not stop consumption",
            );
        }
        Some((min, max))
    }

    pub(super) fn tolerance(&mut self, value: Option<&Spanned<f64>>) -> Option<f64> {
        let Some(value) = value else {
            return Some(defaults::TOLERANCE);
        };
        if (0.0..1.0).contains(&value.value) {
            return Some(value.value);
        }
        self.error(
            at(value),
            "tolerance",
            format!("must be at least 0 and below 1, got {}", value.value),
            "0.1 holds still while the backlog per task is within 10% of the target",
        );
        None
    }

    pub(super) fn activation_backlog(&mut self, value: Option<&Spanned<f64>>) -> Option<f64> {
        let Some(value) = value else {
            return Some(defaults::ACTIVATION_BACKLOG);
        };
        if value.value >= 0.0 && value.value.is_finite() {
            return Some(value.value);
        }
        self.error(
            at(value),
            "activation_backlog",
            must_be("at least 0", value.value),
            "give the backlog, in messages, that starts the first task",
        );
        None
    }

    /// `in_flight_per_task`: absent, or a positive number.
    pub(super) fn in_flight_per_task(
        &mut self,
        value: Option<&Spanned<f64>>,
    ) -> Option<Option<f64>> {
        let Some(value) = value else {
            return Some(None);
        };
        if value.value > 0.0 && value.value.is_finite() {
            return Some(Some(value.value));
        }
        self.error(
            at(value),
            "in_flight_per_task",
            must_be("greater than 0", value.value),
            "give how many messages one task works on at once, e.g. `1`",
        );
        None
    }

    pub(super) fn scale_to_zero_after(
        &mut self,
        value: Option<&Spanned<String>>,
    ) -> Option<Duration> {
        match value {
            None => Some(defaults::SCALE_TO_ZERO_AFTER),
            Some(value) => self.duration(value, "scale_to_zero_after"),
        }
    }

    /// Keys that only act from or towards zero tasks.
    pub(super) fn zero_only_keys(&mut self, raw: &RawPolicy, min_tasks: u32) {
        if min_tasks == 0 {
            return;
        }
        let hint = "remove it, or set `min_tasks: 0` to let the service scale to zero";
        if let Some(value) = &raw.activation_backlog {
            self.warning(
                at(value),
                "activation_backlog",
                "has no effect unless min_tasks is 0",
                hint,
            );
        }
        if let Some(value) = &raw.scale_to_zero_after {
            self.warning(
                at(value),
                "scale_to_zero_after",
                "has no effect unless min_tasks is 0",
                hint,
            );
        }
    }
}
