//! The ECS service in the simulated world: tasks, their slots, startup,
//! stop order, and billing.
//!
//! Slots are not tracked one by one. Busy slots of RUNNING tasks sit in one
//! deque of groups, one per `free_at`, each listing its `(rank, count)`
//! members in the order they were filled (a RUNNING task's rank is its
//! position among RUNNING tasks, see `idle.rs`). Because every slot was filled at
//! most one service time `S` ago, all `free_at` lie within one `S`, so
//! serving the next messages from the front group and pushing it back at
//! `free_at + S` keeps the order: between two outside events the queue
//! drains by rotating this deque, a few instructions per instant at which
//! slots free up (all the tasks that finish together are served together),
//! and nothing per idle slot. Idle slots wait in [`IdleSlots`], in the
//! order they take messages.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::idle::IdleSlots;
use super::queue::Fifo;
use super::waits::WaitSink;

#[derive(Debug, Clone)]
struct SlotGroup {
    free_at: u64,
    /// `(rank, slots)`, in the order the slots were filled: the order in
    /// which they take messages when they free up together.
    members: Vec<(u32, u32)>,
    /// Their slots in all.
    slots: u64,
}

#[derive(Debug, Clone, Copy)]
struct TaskRecord {
    launched: u64,
    ended: Option<u64>,
}

/// Launches, stops and serves; times are nanoseconds since the trace start.
#[derive(Debug)]
pub struct Fleet {
    service: u64,
    concurrency: u32,
    startup: u64,
    end: u64,
    tasks: Vec<TaskRecord>,
    /// RUNNING task indices, oldest launch first; a task's position here
    /// is its rank.
    running: Vec<u32>,
    /// PENDING task indices, oldest launch first (so also soonest ready).
    pending: VecDeque<u32>,
    /// Slots of RUNNING tasks that hold (or held until `free_at`) a message.
    busy: VecDeque<SlotGroup>,
    /// Idle slots of RUNNING tasks, by rank.
    idle: IdleSlots,
    /// Slots of STOPPING tasks still serving: `(free_at, slots)`.
    stopping_slots: BinaryHeap<Reverse<(u64, u32)>>,
    /// When each STOPPING task ends.
    stopping_ends: BinaryHeap<Reverse<u64>>,
    /// Member lists of groups gone, cleared, for the next groups: groups
    /// come and go several times a simulated second, and reusing their
    /// lists keeps the allocator out of that loop.
    spare: Vec<Vec<(u32, u32)>>,
    desired: u32,
    /// Task time of tasks that have ended or whose end is known, in ns.
    billed: u128,
}

impl Fleet {
    /// `initial` tasks RUNNING at time 0; desired count equal to it.
    pub fn new(initial: u32, service: u64, concurrency: u32, startup: u64, end: u64) -> Fleet {
        let mut fleet = Fleet {
            service,
            concurrency,
            startup,
            end,
            tasks: Vec::new(),
            running: Vec::new(),
            pending: VecDeque::new(),
            busy: VecDeque::new(),
            idle: IdleSlots::default(),
            stopping_slots: BinaryHeap::new(),
            stopping_ends: BinaryHeap::new(),
            spare: Vec::new(),
            desired: initial,
            billed: 0,
        };
        for _ in 0..initial {
            let task = fleet.launch(0);
            fleet.start(task);
        }
        fleet
    }

    fn launch(&mut self, now: u64) -> u32 {
        let index = u32::try_from(self.tasks.len()).expect("fewer than 2^32 task launches");
        self.tasks.push(TaskRecord {
            launched: now,
            ended: None,
        });
        index
    }

    fn start(&mut self, task: u32) {
        self.running.push(task);
        self.idle.push_rank(self.concurrency);
    }

    fn finish(&mut self, task: u32, at: u64) {
        let record = &mut self.tasks[task as usize];
        record.ended = Some(at);
        self.billed += u128::from(at.min(self.end) - record.launched);
    }

    pub fn desired(&self) -> u32 {
        self.desired
    }

    pub fn running(&self) -> u32 {
        self.running.len() as u32
    }

    pub fn pending(&self) -> u32 {
        self.pending.len() as u32
    }

    /// When the next PENDING task becomes RUNNING.
    pub fn next_ready(&self) -> Option<u64> {
        self.pending
            .front()
            .map(|&task| self.tasks[task as usize].launched + self.startup)
    }

    /// Step 1: tasks whose startup ends at `now` become RUNNING.
    pub fn start_ready(&mut self, now: u64) {
        while self.next_ready() == Some(now) {
            let task = self.pending.pop_front().expect("a pending task");
            self.start(task);
        }
    }

    /// Step 2: slots whose message completes by `now` become idle; STOPPING
    /// tasks whose last message completed have ended (their end was billed
    /// when they were stopped).
    pub fn release_finished(&mut self, now: u64) {
        while let Some(group) = self.busy.front() {
            if group.free_at > now {
                break;
            }
            let group = self.busy.pop_front().expect("a front group");
            for &(rank, slots) in &group.members {
                self.idle.add(rank, slots);
            }
            recycle(&mut self.spare, group.members);
        }
        while matches!(self.stopping_slots.peek(), Some(Reverse((at, _))) if *at <= now) {
            self.stopping_slots.pop();
        }
        while matches!(self.stopping_ends.peek(), Some(Reverse(at)) if *at <= now) {
            self.stopping_ends.pop();
        }
    }

    /// Step 4: idle slots take the oldest messages, oldest task first.
    pub fn assign(&mut self, queue: &mut Fifo, now: u64, waits: &mut impl WaitSink) -> u64 {
        if queue.is_empty() || self.idle.total() == 0 {
            return 0;
        }
        // One take for every idle slot: the messages' waits do not depend on
        // which slot takes them, only on how many start now.
        let served = queue.take(self.idle.total(), now, waits);
        // Then the slots take them in order, all freeing up at `now + S`.
        let mut members = self.spare.pop().unwrap_or_default();
        self.idle.take(served, &mut members);
        let group = SlotGroup {
            free_at: now + self.service,
            members,
            slots: served,
        };
        push_busy(&mut self.busy, group, &mut self.spare);
        served
    }

    /// Serve the queue between outside events: every completion strictly
    /// before `until` takes the next message at once. Returns messages served.
    pub fn serve_until(&mut self, queue: &mut Fifo, until: u64, waits: &mut impl WaitSink) -> u64 {
        let mut served = 0;
        while !queue.is_empty() {
            let Some(front) = self.busy.front() else {
                break;
            };
            if front.free_at >= until {
                break;
            }
            let mut group = self.busy.pop_front().expect("a front group");
            // Every member frees up at the same instant: one take for all.
            let taken = queue.take(group.slots, group.free_at, waits);
            served += taken;
            let free_at = group.free_at;
            if taken == group.slots {
                group.free_at += self.service;
                push_busy(&mut self.busy, group, &mut self.spare);
                continue;
            }
            // The queue ran dry: members take messages in order, the rest
            // of the group idles from here (released at the next event).
            let mut left = taken;
            let mut serving = self.spare.pop().unwrap_or_default();
            let mut idle = self.spare.pop().unwrap_or_default();
            for &(task, slots) in &group.members {
                let take = left.min(u64::from(slots)) as u32;
                left -= u64::from(take);
                if take > 0 {
                    serving.push((task, take));
                }
                if take < slots {
                    idle.push((task, slots - take));
                }
            }
            recycle(&mut self.spare, group.members);
            push_busy(
                &mut self.busy,
                SlotGroup {
                    free_at: free_at + self.service,
                    members: serving,
                    slots: taken,
                },
                &mut self.spare,
            );
            self.busy.push_front(SlotGroup {
                free_at,
                members: idle,
                slots: group.slots - taken,
            });
        }
        served
    }

    /// Messages in service at `now` (after step 2), STOPPING tasks included.
    pub fn in_flight(&self) -> u64 {
        let running: u64 = self.busy.iter().map(|g| g.slots).sum();
        let stopping: u64 = self
            .stopping_slots
            .iter()
            .map(|Reverse((_, slots))| u64::from(*slots))
            .sum();
        running + stopping
    }

    /// PENDING + RUNNING + STOPPING tasks alive now.
    pub fn alive(&self) -> u32 {
        (self.running.len() + self.pending.len() + self.stopping_ends.len()) as u32
    }

    /// Apply a desired count at `now` (step 5), launching or stopping tasks
    /// in the contract's order.
    pub fn set_desired(&mut self, desired: u32, now: u64) {
        self.desired = desired;
        let live = self.running.len() + self.pending.len();
        let desired = desired as usize;
        if desired > live {
            for _ in live..desired {
                let task = self.launch(now);
                self.pending.push_back(task);
            }
            if self.startup == 0 {
                self.start_ready(now);
            }
            return;
        }
        let mut to_stop = live - desired;
        while to_stop > 0 {
            let Some(task) = self.pending.pop_back() else {
                break;
            };
            self.finish(task, now);
            to_stop -= 1;
        }
        while to_stop > 0 {
            let task = self.running.pop().expect("a running task to stop");
            let rank = self.running.len() as u32;
            self.idle.pop_rank();
            let mut last = None;
            let stopping = &mut self.stopping_slots;
            self.busy.retain_mut(|group| {
                let mut held = 0;
                group.members.retain(|&(r, slots)| {
                    if r == rank {
                        held += slots;
                    }
                    r != rank
                });
                if held > 0 {
                    group.slots -= u64::from(held);
                    if group.free_at > now {
                        stopping.push(Reverse((group.free_at, held)));
                        last = last.max(Some(group.free_at));
                    }
                }
                !group.members.is_empty()
            });
            match last {
                Some(end) => {
                    self.stopping_ends.push(Reverse(end));
                    self.finish(task, end);
                }
                None => self.finish(task, now),
            }
            to_stop -= 1;
        }
    }

    /// Task time billed from launch to end (or `T_end`), in ns.
    pub fn task_nanos(&self) -> u128 {
        let open: u128 = self
            .tasks
            .iter()
            .filter(|task| task.ended.is_none())
            .map(|task| u128::from(self.end - task.launched))
            .sum();
        self.billed + open
    }

    /// Every task ever launched, as `(launched, ended)` in ns, for tests.
    pub fn lifetimes(&self) -> Vec<(u64, Option<u64>)> {
        self.tasks.iter().map(|t| (t.launched, t.ended)).collect()
    }
}

/// Append a busy group, joining the last one when it frees up at the same
/// instant (its members after the last one's, the order they were filled).
fn push_busy(busy: &mut VecDeque<SlotGroup>, group: SlotGroup, spare: &mut Vec<Vec<(u32, u32)>>) {
    match busy.back_mut() {
        Some(back) if back.free_at == group.free_at => {
            back.members.extend_from_slice(&group.members);
            back.slots += group.slots;
            recycle(spare, group.members);
        }
        _ => busy.push_back(group),
    }
}

/// Keep a member list's allocation for a later group.
fn recycle(spare: &mut Vec<Vec<(u32, u32)>>, mut members: Vec<(u32, u32)>) {
    members.clear();
    spare.push(members);
}
