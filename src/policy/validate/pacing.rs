//! Checks of how fast a policy moves: durations, the poll interval, step
//! limits, cooldowns and the scale-in stabilization window.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::{at, Checker};
use crate::policy::defaults;
use crate::policy::limits::{duration_maximum, maximum_text};
use crate::policy::model::{ScaleIn, ScaleOut, Step};
use crate::policy::outline::quoted;
use crate::policy::raw::{RawScaleIn, RawScaleOut, RawStep};

const DURATION_HINT: &str = "write a duration such as `30s`, `5m` or `300ms`";
const STEP_HINT: &str = "write a number of tasks such as `4`, or a percent such as `50%`";
const NO_LIMIT_HINT: &str = "leave `max_step` out for no limit";

impl Checker<'_> {
    pub(super) fn duration(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
        let text = value.value.trim();
        if text.starts_with('-') {
            let message = format!("{} is negative; a duration is 0 or more", quoted(text));
            self.error(at(value), key, message, DURATION_HINT);
            return None;
        }
        match humantime::parse_duration(text) {
            Ok(duration) => match duration_maximum(key) {
                Some((maximum, why)) if duration > maximum => {
                    let maximum = maximum_text(maximum);
                    let message = format!("{} is longer than the maximum, {maximum}", quoted(text));
                    let hint = format!("{why}: write at most `{maximum}`");
                    self.error(at(value), key, message, &hint);
                    None
                }
                _ => Some(duration),
            },
            Err(error) => {
                let message = format!("{} is not a duration: {error}", quoted(&value.value));
                self.error(at(value), key, message, DURATION_HINT);
                None
            }
        }
    }

    pub(super) fn positive_duration(
        &mut self,
        value: &Spanned<String>,
        key: &str,
    ) -> Option<Duration> {
        let duration = self.duration(value, key)?;
        if duration.is_zero() {
            self.error(at(value), key, "must be longer than 0s", DURATION_HINT);
            return None;
        }
        Some(duration)
    }

    pub(super) fn poll_interval(&mut self, value: Option<&Spanned<String>>) -> Option<Duration> {
        let Some(value) = value else {
            return Some(defaults::POLL_INTERVAL);
        };
        let interval = self.positive_duration(value, "poll_interval")?;
        if interval < Duration::from_secs(1) {
            self.warning(
                at(value),
                "poll_interval",
                "polls SQS and ECS more than once a second",
                "SQS counts are approximate; a few seconds or more only saves API calls",
            );
        }
        Some(interval)
    }

    pub(super) fn step(&mut self, value: &Spanned<RawStep>, key: &str) -> Option<Step> {
        let step = match &value.value {
            RawStep::Tasks(n) => match u32::try_from(*n) {
                Ok(n) if n >= 1 => Ok(Step::Tasks(n)),
                Ok(_) => Err((format!("must be at least 1, got {n}"), NO_LIMIT_HINT)),
                Err(_) if *n < 1 => Err((format!("must be at least 1, got {n}"), NO_LIMIT_HINT)),
                Err(_) => Err((
                    format!("must be at most {}, got {n}", u32::MAX),
                    NO_LIMIT_HINT,
                )),
            },
            RawStep::Fraction(f) => Err((
                format!("must be a whole number of tasks, got {f}"),
                STEP_HINT,
            )),
            RawStep::Text(text) => step_text(text.trim()),
        };
        match step {
            Ok(step) => Some(step),
            Err((message, hint)) => {
                self.error(at(value), key, message, hint);
                None
            }
        }
    }

    pub(super) fn scale_out(&mut self, section: Option<&Spanned<RawScaleOut>>) -> Option<ScaleOut> {
        let Some(section) = section else {
            return Some(ScaleOut {
                max_step: None,
                cooldown: defaults::SCALE_OUT_COOLDOWN,
                lookahead: defaults::SCALE_OUT_LOOKAHEAD,
            });
        };
        let max_step = section
            .value
            .max_step
            .as_ref()
            .map(|v| self.step(v, "scale_out.max_step"));
        let cooldown = section
            .value
            .cooldown
            .as_ref()
            .map(|v| self.duration(v, "scale_out.cooldown"));
        let lookahead = section
            .value
            .lookahead
            .as_ref()
            .map(|v| self.duration(v, "scale_out.lookahead"));
        Some(ScaleOut {
            max_step: max_step.map_or(Some(None), |step| step.map(Some))?,
            cooldown: cooldown.unwrap_or(Some(defaults::SCALE_OUT_COOLDOWN))?,
            lookahead: lookahead.unwrap_or(Some(defaults::SCALE_OUT_LOOKAHEAD))?,
        })
    }

    pub(super) fn scale_in(&mut self, section: Option<&Spanned<RawScaleIn>>) -> Option<ScaleIn> {
        let default_window = defaults::STABILIZATION_WINDOW;
        let Some(section) = section else {
            return Some(ScaleIn {
                stabilization_window: default_window,
                max_step: None,
                cooldown: defaults::SCALE_IN_COOLDOWN,
            });
        };
        let raw = &section.value;
        let window = raw
            .stabilization_window
            .as_ref()
            .map(|v| self.duration(v, "scale_in.stabilization_window"));
        let max_step = raw
            .max_step
            .as_ref()
            .map(|v| self.step(v, "scale_in.max_step"));
        let cooldown = raw
            .cooldown
            .as_ref()
            .map(|v| self.duration(v, "scale_in.cooldown"));
        if let (Some(Some(Step::Percent(p))), Some(value)) = (&max_step, &raw.max_step) {
            if *p > 100.0 {
                self.warning(
                    at(value),
                    "scale_in.max_step",
                    format!("{p}% removes no more than 100% would"),
                    "write `100%`",
                );
            }
        }
        Some(ScaleIn {
            stabilization_window: window.unwrap_or(Some(default_window))?,
            max_step: max_step.map_or(Some(None), |step| step.map(Some))?,
            cooldown: cooldown.unwrap_or(Some(defaults::SCALE_IN_COOLDOWN))?,
        })
    }
}

/// A step written as text: `50%`, or a quoted number of tasks.
fn step_text(text: &str) -> Result<Step, (String, &'static str)> {
    if let Some(number) = text.strip_suffix('%') {
        return match number.trim().parse::<f64>() {
            Ok(p) if p > 0.0 && p.is_finite() => Ok(Step::Percent(p)),
            Ok(_) => Err(("must be more than 0%".to_owned(), NO_LIMIT_HINT)),
            Err(_) => Err((format!("{} is not a percent", quoted(text)), STEP_HINT)),
        };
    }
    match text.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(Step::Tasks(n)),
        Ok(_) => Err(("must be at least 1, got 0".to_owned(), NO_LIMIT_HINT)),
        Err(_) => Err((format!("{} is not a step", quoted(text)), STEP_HINT)),
    }
}
