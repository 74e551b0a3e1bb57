//! Groups of policies that tick together: same `poll_interval`, same AWS
//! target. Each group has a grid (see `schedule.rs`) and, at each tick, one
//! [`Cycle`] whose [`SharedReads`] the policies due at that tick share.
//!
//! Workers stay per policy (their engine state, health and reloads are
//! theirs); a worker joins its group with a [`Membership`], says which tick
//! it is due at next, and takes the tick's cycle when it wakes. The cycle
//! is planned with the services of the members due at its tick, and is
//! finished (reported once, with what it cost) when each of them has
//! evaluated or left.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::cycle::{CycleReport, SharedReads};
use super::observer::Observer;
use super::schedule::{group_phase, tick_at_or_after, tick_time};
use crate::plural::plural;
use crate::policy::{AwsTarget, Policy};
use crate::ports::Ports;

/// What makes policies tick together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    interval: Duration,
    target: AwsTarget,
}

/// Every group of one controller.
pub(crate) struct Groups {
    /// Tick grids count from here.
    origin: Instant,
    seed: u64,
    phase_spread: f64,
    observer: Arc<dyn Observer>,
    groups: Mutex<HashMap<GroupKey, Group>>,
    next_member: AtomicU64,
}

struct Group {
    phase: Duration,
    members: HashMap<u64, Member>,
    /// The latest tick's cycle.
    current: Option<Arc<Cycle>>,
}

struct Member {
    cluster: String,
    service: String,
    due: u64,
}

/// One tick of one group.
pub(crate) struct Cycle {
    tick: u64,
    interval: Duration,
    started: Instant,
    reads: Arc<SharedReads>,
    /// Members due at this tick that have not evaluated (or left) yet;
    /// `None` once reported.
    pending: Mutex<Option<HashSet<u64>>>,
    evaluated: AtomicUsize,
}

impl Cycle {
    /// `ports` with their reads shared across the cycle.
    pub fn ports(&self, ports: &Ports) -> Ports {
        self.reads.ports(ports)
    }

    /// `member` is done with this cycle; the last one reports it.
    fn done(&self, member: u64, evaluated: bool, observer: &dyn Observer) {
        if evaluated {
            self.evaluated.fetch_add(1, Ordering::Relaxed);
        }
        let finished = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            match pending.as_mut() {
                Some(members) => {
                    members.remove(&member);
                    let last = members.is_empty();
                    if last {
                        *pending = None;
                    }
                    last
                }
                None => false,
            }
        };
        if finished {
            self.report(observer);
        }
    }

    fn report(&self, observer: &dyn Observer) {
        let report = CycleReport {
            poll_interval: self.interval,
            policies: self.evaluated.load(Ordering::Relaxed),
            queues_read: self.reads.queues_read(),
            service_batches: self.reads.service_batches(),
            duration: self.started.elapsed(),
        };
        // Per tick: DEBUG, like repeated holds; the minute summary is INFO.
        tracing::debug!(
            poll_interval = %humantime::format_duration(report.poll_interval),
            tick = self.tick,
            policies = report.policies,
            queues_read = report.queues_read,
            describe_calls = report.service_batches,
            duration_ms = report.duration.as_millis() as u64,
            "cycle finished: {}, {} read, {} in {:?}",
            plural(report.policies as u64, "policy", "policies"),
            plural(report.queues_read as u64, "queue", "queues"),
            plural(report.service_batches as u64, "service batch read", "service batch reads"),
            report.duration,
        );
        observer.cycle_finished(&report);
    }
}

impl Groups {
    /// Groups whose grids start at `origin`, with phases drawn from `seed`
    /// (from the OS when `None`) within `phase_spread` of the interval.
    pub fn new(
        origin: Instant,
        seed: Option<u64>,
        phase_spread: f64,
        observer: Arc<dyn Observer>,
    ) -> Groups {
        Groups {
            origin,
            seed: seed.unwrap_or_else(rand::random),
            phase_spread,
            observer,
            groups: Mutex::default(),
            next_member: AtomicU64::new(0),
        }
    }

    fn groups(&self) -> std::sync::MutexGuard<'_, HashMap<GroupKey, Group>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Join `policy`'s group, due at the group's next tick.
    pub fn join(self: &Arc<Self>, policy: &Policy) -> Membership {
        let key = GroupKey {
            interval: policy.poll_interval,
            target: policy.aws.clone(),
        };
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let mut groups = self.groups();
        let group = groups.entry(key.clone()).or_insert_with(|| Group {
            phase: group_phase(self.seed, &key, key.interval, self.phase_spread),
            members: HashMap::new(),
            current: None,
        });
        let phase = group.phase;
        let first = tick_at_or_after(self.origin.elapsed(), phase, key.interval);
        group.members.insert(
            id,
            Member {
                cluster: policy.cluster.clone(),
                service: policy.service.clone(),
                due: first,
            },
        );
        Membership {
            groups: self.clone(),
            key,
            id,
            phase,
            first,
        }
    }
}

/// A worker's place in its group; leaves the group when dropped.
pub(crate) struct Membership {
    groups: Arc<Groups>,
    key: GroupKey,
    id: u64,
    phase: Duration,
    first: u64,
}

impl Membership {
    /// The tick the member is first due at.
    pub fn first_tick(&self) -> u64 {
        self.first
    }

    /// When `tick` is.
    pub fn instant(&self, tick: u64) -> Instant {
        self.groups.origin + tick_time(tick, self.phase, self.key.interval)
    }

    /// The first tick at or after now.
    pub fn next_tick_from_now(&self) -> u64 {
        tick_at_or_after(self.groups.origin.elapsed(), self.phase, self.key.interval)
    }

    /// The member is due at `tick` next. If a cycle before it was
    /// planned with the member, the member is done with that one.
    pub fn due_at(&self, tick: u64) {
        let skipped = {
            let mut groups = self.groups.groups();
            let Some(group) = groups.get_mut(&self.key) else {
                return;
            };
            if let Some(member) = group.members.get_mut(&self.id) {
                member.due = tick;
            }
            group.current.clone().filter(|cycle| cycle.tick < tick)
        };
        if let Some(cycle) = skipped {
            cycle.done(self.id, false, self.groups.observer.as_ref());
        }
    }

    /// The cycle of `tick`, created by its first member to ask, planned
    /// with the services of every member due at it; `ports` are the
    /// group's (same target, same ports).
    pub fn cycle(&self, tick: u64, ports: &Ports) -> Arc<Cycle> {
        let mut groups = self.groups.groups();
        let Some(group) = groups.get_mut(&self.key) else {
            return self.lone_cycle(tick, ports);
        };
        match &group.current {
            Some(cycle) if cycle.tick == tick => return cycle.clone(),
            // Woken after the group moved on: read alone.
            Some(cycle) if cycle.tick > tick => return self.lone_cycle(tick, ports),
            _ => {}
        }
        let due: Vec<(&u64, &Member)> = group
            .members
            .iter()
            .filter(|(_, member)| member.due == tick)
            .collect();
        let reads = SharedReads::new(
            ports,
            due.iter()
                .map(|(_, m)| (m.cluster.as_str(), m.service.as_str())),
        );
        let pending: HashSet<u64> = due.iter().map(|(id, _)| **id).collect();
        let cycle = Arc::new(Cycle {
            tick,
            interval: self.key.interval,
            started: Instant::now(),
            reads: Arc::new(reads),
            pending: Mutex::new(Some(pending)),
            evaluated: AtomicUsize::new(0),
        });
        group.current = Some(cycle.clone());
        cycle
    }

    /// A cycle of one, neither shared nor reported.
    fn lone_cycle(&self, tick: u64, ports: &Ports) -> Arc<Cycle> {
        Arc::new(Cycle {
            tick,
            interval: self.key.interval,
            started: Instant::now(),
            reads: Arc::new(SharedReads::new(ports, [])),
            pending: Mutex::new(None),
            evaluated: AtomicUsize::new(0),
        })
    }

    /// The member evaluated in `cycle`.
    pub fn evaluated(&self, cycle: &Cycle) {
        cycle.done(self.id, true, self.groups.observer.as_ref());
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let current = {
            let mut groups = self.groups.groups();
            let Some(group) = groups.get_mut(&self.key) else {
                return;
            };
            group.members.remove(&self.id);
            let current = group.current.clone();
            if group.members.is_empty() {
                groups.remove(&self.key);
            }
            current
        };
        // A member due in the current cycle that leaves without evaluating
        // must not keep the cycle from finishing.
        if let Some(cycle) = current {
            cycle.done(self.id, false, self.groups.observer.as_ref());
        }
    }
}
