//! The ECS service in the simulated world: tasks, their slots, startup,
//! stop order, and billing.
//!
//! Slots are not tracked one by one. Busy slots of RUNNING tasks sit in one
//! deque of `(free_at, task, count)` groups ordered by `(free_at, task)`.
//! Because every slot was filled at most one service time `S` ago, all
//! `free_at` lie within one `S`, so serving the next message from the front
//! and pushing the group back at `free_at + S` keeps the order: between two
//! outside events the queue drains by rotating this deque, a few
//! instructions per message and nothing per idle slot.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::queue::Fifo;
use super::waits::WaitSink;

#[derive(Debug, Clone, Copy)]
struct SlotGroup {
    free_at: u64,
    task: u32,
    slots: u32,
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
    /// RUNNING task indices, oldest launch first.
    running: Vec<u32>,
    /// PENDING task indices, oldest launch first (so also soonest ready).
    pending: VecDeque<u32>,
    /// Slots of RUNNING tasks that hold (or held until `free_at`) a message.
    busy: VecDeque<SlotGroup>,
    /// Idle slots of RUNNING tasks: `(task, slots)`, sorted on demand.
    idle: Vec<(u32, u32)>,
    idle_sorted: bool,
    /// Slots of STOPPING tasks still serving: `(free_at, slots)`.
    stopping_slots: BinaryHeap<Reverse<(u64, u32)>>,
    /// When each STOPPING task ends.
    stopping_ends: BinaryHeap<Reverse<u64>>,
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
            idle: Vec::new(),
            idle_sorted: true,
            stopping_slots: BinaryHeap::new(),
            stopping_ends: BinaryHeap::new(),
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
        self.idle.push((task, self.concurrency));
        self.idle_sorted = false;
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
            self.idle.push((group.task, group.slots));
            self.idle_sorted = false;
            self.busy.pop_front();
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
        if queue.is_empty() || self.idle.is_empty() {
            return 0;
        }
        if !self.idle_sorted {
            self.idle.sort_unstable_by_key(|&(task, _)| task);
            self.idle.dedup_by(|later, earlier| {
                if later.0 == earlier.0 {
                    earlier.1 += later.1;
                    true
                } else {
                    false
                }
            });
            self.idle_sorted = true;
        }
        let mut served = 0;
        let mut used = 0;
        for entry in self.idle.iter_mut() {
            let taken = queue.take(u64::from(entry.1), now, waits) as u32;
            served += u64::from(taken);
            if taken > 0 {
                self.busy.push_back(SlotGroup {
                    free_at: now + self.service,
                    task: entry.0,
                    slots: taken,
                });
            }
            entry.1 -= taken;
            if entry.1 > 0 {
                break;
            }
            used += 1;
        }
        self.idle.drain(..used);
        served
    }

    /// Serve the queue between outside events: every completion strictly
    /// before `until` takes the next message at once. Returns messages served.
    pub fn serve_until(&mut self, queue: &mut Fifo, until: u64, waits: &mut impl WaitSink) -> u64 {
        let mut served = 0;
        while !queue.is_empty() {
            let Some(&group) = self.busy.front() else {
                break;
            };
            if group.free_at >= until {
                break;
            }
            self.busy.pop_front();
            let taken = queue.take(u64::from(group.slots), group.free_at, waits) as u32;
            served += u64::from(taken);
            self.busy.push_back(SlotGroup {
                free_at: group.free_at + self.service,
                slots: taken,
                ..group
            });
            if taken < group.slots {
                // The queue ran dry: the rest of the group idles from here.
                self.busy.push_front(SlotGroup {
                    slots: group.slots - taken,
                    ..group
                });
            }
        }
        served
    }

    /// Messages in service at `now` (after step 2), STOPPING tasks included.
    pub fn in_flight(&self) -> u64 {
        let running: u64 = self.busy.iter().map(|g| u64::from(g.slots)).sum();
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
            self.idle.retain(|&(t, _)| t != task);
            let mut last = None;
            let stopping = &mut self.stopping_slots;
            self.busy.retain(|group| {
                if group.task != task {
                    return true;
                }
                if group.free_at > now {
                    stopping.push(Reverse((group.free_at, group.slots)));
                    last = last.max(Some(group.free_at));
                }
                false
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
