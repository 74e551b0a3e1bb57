//! On/off traffic, as wait sizing learns it: bursts of work separated by
//! idle spells (no message waiting or in flight).
//!
//! When tasks launched at a burst's start cannot start within the wait, the
//! burst's first messages are served by the tasks already there or not in
//! time at all. So between bursts the engine keeps a warm fleet: the tasks
//! that serve a burst like the recent ones within the wait on their own
//! (its messages over what one task serves in the burst's arrival time plus
//! the wait, or before the next burst began if that came sooner: a burst
//! not served by then runs into the next, and the queue never empties),
//! through idle spells as long as those seen before. Bounded: the last
//! [`BurstMemory::KEPT`] bursts and spells.
//!
//! A warm fleet kept through a whole spell costs the spell; given back and
//! launched again to be running when the next burst begins, it costs a
//! startup. So while bursts have begun at least a steady time apart
//! ([`BurstMemory::next_burst`]), the warm fleet is given back during the
//! spell and launched again in time for the earliest moment the next one
//! can begin.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::observation::Timestamp;
use super::state::push_bounded;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Burst {
    /// Messages estimated to have arrived during it.
    messages: f64,
    /// Time during which messages were arriving.
    arriving: Duration,
    /// When its first messages were seen.
    #[serde(default)]
    began: Timestamp,
    /// From its start to the next burst's, once that began.
    #[serde(default)]
    period: Option<Duration>,
}

/// The recent bursts and idle spells of one policy's traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BurstMemory {
    current: Option<Burst>,
    bursts: VecDeque<Burst>,
    idle_since: Option<Timestamp>,
    spells: VecDeque<Duration>,
}

impl BurstMemory {
    /// Bursts and idle spells remembered.
    pub const KEPT: usize = 32;
    /// Bursts needed before they are trusted.
    pub const EVIDENCE: usize = 3;

    /// Note one poll: `arrived` messages since the previous poll `interval`
    /// ago, and whether any work is in the system now.
    pub fn observe(&mut self, now: Timestamp, interval: Duration, arrived: f64, any_work: bool) {
        if !any_work {
            if let Some(burst) = self.current.take() {
                push_bounded(&mut self.bursts, burst, Self::KEPT);
            }
            self.idle_since.get_or_insert(now);
            return;
        }
        if let Some(since) = self.idle_since.take() {
            push_bounded(&mut self.spells, now.since(since), Self::KEPT);
        }
        if self.current.is_none() {
            if let Some(last) = self.bursts.back_mut() {
                last.period = Some(now.since(last.began));
            }
        }
        let burst = self.current.get_or_insert_with(|| Burst {
            began: now,
            ..Burst::default()
        });
        burst.messages += arrived;
        if arrived > 0.0 {
            burst.arriving = burst.arriving.saturating_add(interval);
        }
    }

    /// Tasks that serve a burst like 90% of the recent ones within `wait`
    /// on their own, and before the next burst began; `None` before
    /// [`Self::EVIDENCE`] bursts.
    pub fn warm_tasks(&self, per_task_rate: f64, wait: Duration) -> Option<f64> {
        if self.bursts.len() < Self::EVIDENCE || self.spells.len() < Self::EVIDENCE {
            return None;
        }
        let needs = self.bursts.iter().map(|burst| {
            let within = burst.arriving.saturating_add(wait);
            let within = burst.period.map_or(within, |period| within.min(period));
            burst.messages / (per_task_rate * within.as_secs_f64().max(f64::MIN_POSITIVE))
        });
        Some(quantile(needs.collect(), 0.9))
    }

    /// How long an idle spell is bridged with the warm fleet: as long as
    /// 90% of those seen, never longer than the longest.
    pub fn bridge(&self) -> Option<Duration> {
        if self.spells.len() < Self::EVIDENCE {
            return None;
        }
        let secs: Vec<f64> = self.spells.iter().map(Duration::as_secs_f64).collect();
        Some(Duration::from_secs_f64(quantile(secs, 0.9)))
    }

    /// The median idle spell, for reasons.
    pub fn typical_spell(&self) -> Option<Duration> {
        let secs: Vec<f64> = self.spells.iter().map(Duration::as_secs_f64).collect();
        (!secs.is_empty()).then(|| Duration::from_secs_f64(quantile(secs, 0.5)))
    }

    /// Since when the traffic has been idle, if it is.
    pub fn idle_since(&self) -> Option<Timestamp> {
        self.idle_since
    }

    /// While the traffic is idle, how long until the next burst begins at
    /// the earliest: the last burst's start plus the shortest time between
    /// the starts of two bursts in a row seen recently, and that time;
    /// `None` before [`Self::EVIDENCE`] such times, during a burst, or once
    /// that moment has passed (the traffic is not keeping its rhythm).
    pub fn next_burst(&self, now: Timestamp) -> Option<(Duration, Duration)> {
        self.idle_since?;
        let periods: Vec<Duration> = self.bursts.iter().filter_map(|b| b.period).collect();
        if periods.len() < Self::EVIDENCE {
            return None;
        }
        let shortest = periods.into_iter().min()?;
        let last = self.bursts.back()?;
        let due = Timestamp(last.began.0.saturating_add(shortest));
        (due > now).then(|| (due.since(now), shortest))
    }
}

/// The nearest-rank quantile `q` of `values` (not empty).
pub(super) fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}
