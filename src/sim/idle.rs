//! Idle slots of RUNNING tasks, kept in the order they take messages
//! (oldest task first) without sorting.
//!
//! A RUNNING task is named by its rank, its position in the fleet's list of
//! RUNNING tasks. Tasks start in launch order and stop newest first, so that
//! list is in launch order and only ever grows or shrinks at its end: a
//! rank names the same task for as long as it runs, and rank order is launch
//! order. The ranks holding idle slots sit in a bit set, which yields them
//! in that order: freeing slots is one step per member of a group, and
//! handing slots out one step per task served, with nothing to sort.

#[derive(Debug, Default)]
pub struct IdleSlots {
    /// Idle slots per rank.
    slots: Vec<u32>,
    /// Bit `rank % 64` of word `rank / 64` set when `rank` has idle slots.
    bits: Vec<u64>,
    /// Idle slots in all.
    total: u64,
}

impl IdleSlots {
    pub fn total(&self) -> u64 {
        self.total
    }

    /// A task starts: the next rank, with `slots` idle slots.
    pub fn push_rank(&mut self, slots: u32) {
        let rank = self.slots.len();
        self.slots.push(0);
        if rank / 64 == self.bits.len() {
            self.bits.push(0);
        }
        self.add(rank as u32, slots);
    }

    /// The task of the last rank stops: its idle slots go with it.
    pub fn pop_rank(&mut self) {
        let rank = self.slots.len() - 1;
        let slots = self.slots.pop().expect("a rank to stop");
        self.total -= u64::from(slots);
        self.bits[rank / 64] &= !(1 << (rank % 64));
        if rank % 64 == 0 {
            self.bits.pop();
        }
    }

    /// `slots` more idle slots at `rank`.
    pub fn add(&mut self, rank: u32, slots: u32) {
        if slots == 0 {
            return;
        }
        let rank = rank as usize;
        self.slots[rank] += slots;
        self.bits[rank / 64] |= 1 << (rank % 64);
        self.total += u64::from(slots);
    }

    /// Hand out `count` idle slots (at most [`IdleSlots::total`]), lowest
    /// rank first, appending `(rank, slots)` to `out`.
    pub fn take(&mut self, count: u64, out: &mut Vec<(u32, u32)>) {
        debug_assert!(count <= self.total);
        self.total -= count;
        let mut left = count;
        let mut word = 0;
        while left > 0 {
            let mut bits = self.bits[word];
            while bits != 0 && left > 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let rank = word * 64 + bit;
                let have = &mut self.slots[rank];
                let taken = left.min(u64::from(*have)) as u32;
                *have -= taken;
                left -= u64::from(taken);
                if *have == 0 {
                    self.bits[word] &= !(1 << bit);
                }
                out.push((rank as u32, taken));
            }
            word += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_go_out_lowest_rank_first_and_stop_with_their_rank() {
        let mut idle = IdleSlots::default();
        for _ in 0..70 {
            idle.push_rank(2);
        }
        let mut out = Vec::new();
        idle.take(3, &mut out);
        assert_eq!(out, vec![(0, 2), (1, 1)]);
        idle.add(0, 1);
        out.clear();
        idle.take(2, &mut out);
        assert_eq!(out, vec![(0, 1), (1, 1)]);
        assert_eq!(idle.total(), 136);
        // Ranks 2..70 have all their slots; 65 and up span a second word.
        idle.pop_rank();
        idle.pop_rank();
        assert_eq!(idle.total(), 132);
        out.clear();
        idle.take(132, &mut out);
        assert_eq!(out.len(), 66);
        assert_eq!(out.last(), Some(&(67, 2)));
        assert_eq!(idle.total(), 0);
        for _ in 0..4 {
            idle.pop_rank();
        }
        assert_eq!(idle.bits.len(), 1);
        idle.push_rank(1);
        out.clear();
        idle.take(1, &mut out);
        assert_eq!(out, vec![(64, 1)]);
    }
}
