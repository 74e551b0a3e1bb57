//! Exact nearest-rank wait percentiles without keeping every wait.
//!
//! A run records waits into a [`WaitSink`]. The first pass counts them in a
//! log-linear histogram (exact below 1024 ns, then 1024 sub-buckets per
//! power of two) and tracks the exact maximum, and per bucket whether all
//! its waits were one value (which it keeps). The rank a percentile asks for
//! falls in one bucket; when that bucket held more than one value, a second,
//! identical pass collects the exact waits of just the buckets that matter
//! ([`BucketCollector`]) and picks the rank among them. Memory stays bounded
//! whatever the number of messages, and the result is exact.
//!
//! Waits often take few values (with slots freed together, messages of one
//! arrival second wait whole multiples of the service time), so the one
//! value a bucket held usually settles a percentile and the second pass,
//! a whole rerun, is skipped.

/// Somewhere to put `count` messages that waited `wait` nanoseconds.
pub trait WaitSink {
    fn record(&mut self, wait: u64, count: u64);
}

const SUB_BITS: u32 = 10;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

fn bucket_of(value: u64) -> usize {
    if value < SUB {
        value as usize
    } else {
        let exponent = 63 - value.leading_zeros();
        let shift = exponent - SUB_BITS;
        let mantissa = value >> shift; // in [SUB, 2*SUB)
        (shift as usize) * SUB as usize + mantissa as usize
    }
}

fn bucket_is_exact(bucket: usize) -> bool {
    bucket < 2 * SUB as usize
}

/// The smallest and the largest wait `bucket` holds.
pub fn bucket_bounds(bucket: usize) -> (u64, u64) {
    if bucket_is_exact(bucket) {
        return (bucket as u64, bucket as u64);
    }
    let shift = (bucket as u64 / SUB - 1) as u32;
    let mantissa = bucket as u64 % SUB + SUB;
    let high = ((u128::from(mantissa) + 1) << shift) - 1;
    (mantissa << shift, u64::try_from(high).unwrap_or(u64::MAX))
}

/// Counts of waits per log-linear bucket, plus the exact maximum.
#[derive(Debug, Clone)]
pub struct WaitHistogram {
    counts: Vec<u64>,
    /// Per bucket, the first wait recorded there...
    first: Vec<u64>,
    /// ...and whether another value was recorded there since.
    mixed: Vec<bool>,
    total: u64,
    max: u64,
}

impl Default for WaitHistogram {
    fn default() -> Self {
        WaitHistogram {
            counts: vec![0; BUCKETS],
            first: vec![0; BUCKETS],
            mixed: vec![false; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

impl WaitSink for WaitHistogram {
    #[inline]
    fn record(&mut self, wait: u64, count: u64) {
        let bucket = bucket_of(wait);
        if self.counts[bucket] == 0 {
            self.first[bucket] = wait;
        } else if self.first[bucket] != wait {
            self.mixed[bucket] = true;
        }
        self.counts[bucket] += count;
        self.total += count;
        self.max = self.max.max(wait);
    }
}

/// Where the `rank`-th smallest wait lies: its bucket and how many of that
/// bucket's waits come before it (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankInBucket {
    pub bucket: usize,
    pub offset: u64,
}

impl WaitHistogram {
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// Locate the 1-based `rank`-th smallest wait.
    pub fn locate(&self, rank: u64) -> RankInBucket {
        let mut before = 0u64;
        for (bucket, &count) in self.counts.iter().enumerate() {
            if before + count >= rank {
                return RankInBucket {
                    bucket,
                    offset: rank - 1 - before,
                };
            }
            before += count;
        }
        RankInBucket {
            bucket: bucket_of(self.max),
            offset: 0,
        }
    }

    /// The wait at `located` if its bucket holds one value only: one it can
    /// hold, or one it was given.
    pub fn exact_value(&self, located: RankInBucket) -> Option<u64> {
        let bucket = located.bucket;
        if bucket_is_exact(bucket) {
            Some(bucket as u64)
        } else if self.counts[bucket] > 0 && !self.mixed[bucket] {
            Some(self.first[bucket])
        } else {
            None
        }
    }
}

/// The 1-based nearest rank of percentile `p` among `n` values:
/// `ceil(p * n / 100)`, at least 1.
pub fn nearest_rank(p: u32, n: u64) -> u64 {
    let rank = (u128::from(p) * u128::from(n)).div_ceil(100) as u64;
    rank.max(1)
}

/// The second pass: the exact waits (run-length encoded) of a few buckets.
#[derive(Debug, Clone, Default)]
pub struct BucketCollector {
    wanted: Vec<usize>,
    /// Per wanted bucket: `(wait, count)`, appended unsorted and compacted
    /// (sorted, equal waits merged) whenever it doubles, so memory follows
    /// the number of distinct waits, not of messages.
    values: Vec<Vec<(u64, u64)>>,
    compact_at: Vec<usize>,
}

const FIRST_COMPACTION: usize = 1 << 16;

fn compact(values: &mut Vec<(u64, u64)>) {
    values.sort_unstable_by_key(|&(wait, _)| wait);
    values.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 += later.1;
            true
        } else {
            false
        }
    });
}

impl BucketCollector {
    pub fn new(mut wanted: Vec<usize>) -> BucketCollector {
        wanted.sort_unstable();
        wanted.dedup();
        let values = vec![Vec::new(); wanted.len()];
        let compact_at = vec![FIRST_COMPACTION; wanted.len()];
        BucketCollector {
            wanted,
            values,
            compact_at,
        }
    }

    /// Sort and merge what was collected; call once the pass is over.
    pub fn finish(&mut self) {
        for values in &mut self.values {
            compact(values);
        }
    }

    /// The `offset`-th (0-based) smallest wait collected in `bucket`, once
    /// [`BucketCollector::finish`] has run.
    pub fn value(&self, located: RankInBucket) -> Option<u64> {
        let index = self.wanted.iter().position(|&b| b == located.bucket)?;
        let mut before = 0u64;
        for &(value, count) in &self.values[index] {
            if before + count > located.offset {
                return Some(value);
            }
            before += count;
        }
        None
    }
}

impl WaitSink for BucketCollector {
    #[inline]
    fn record(&mut self, wait: u64, count: u64) {
        let bucket = bucket_of(wait);
        if let Some(index) = self.wanted.iter().position(|&b| b == bucket) {
            let values = &mut self.values[index];
            values.push((wait, count));
            if values.len() >= self.compact_at[index] {
                compact(values);
                self.compact_at[index] = (2 * values.len()).max(FIRST_COMPACTION);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nearest_rank_is_ceil_of_p_n_over_100() {
        assert_eq!(nearest_rank(50, 10), 5);
        assert_eq!(nearest_rank(90, 10), 9);
        assert_eq!(nearest_rank(99, 10), 10);
        assert_eq!(nearest_rank(99, 100), 99);
        assert_eq!(nearest_rank(99, 101), 100);
        assert_eq!(nearest_rank(50, 1), 1);
    }

    #[test]
    fn buckets_are_monotone_and_contiguous() {
        let mut previous = 0;
        for value in (0..5000u64).chain([1 << 40, (1 << 40) + 1, u64::MAX]) {
            let bucket = bucket_of(value);
            assert!(bucket >= previous);
            assert!(bucket < BUCKETS);
            previous = bucket;
        }
        assert_eq!(bucket_of(1023), 1023);
        assert_eq!(bucket_of(1024), 1024);
        assert_eq!(bucket_of(2047), 2047);
        assert_eq!(bucket_of(2048), 2048);
        assert_eq!(bucket_of(2049), 2048);
    }

    #[test]
    fn bucket_bounds_hold_exactly_the_bucket() {
        for value in (0..5000u64).chain([1 << 35, 60_000_000_000, 60_033_554_431, u64::MAX]) {
            let (low, high) = bucket_bounds(bucket_of(value));
            assert!(low <= value && value <= high, "{value} in {low}..={high}");
            assert_eq!(bucket_of(low), bucket_of(value));
            assert_eq!(bucket_of(high), bucket_of(value));
            if low > 0 {
                assert_ne!(bucket_of(low - 1), bucket_of(value));
            }
            if high < u64::MAX {
                assert_ne!(bucket_of(high + 1), bucket_of(value));
            }
        }
    }

    #[test]
    fn a_bucket_that_held_one_value_gives_it_without_a_second_pass() {
        let mut histogram = WaitHistogram::default();
        histogram.record(106_601_200, 5);
        histogram.record(213_202_400, 3);
        histogram.record(106_601_200, 2);
        let located = histogram.locate(nearest_rank(50, histogram.total()));
        assert_eq!(histogram.exact_value(located), Some(106_601_200));
        // One nanosecond more shares the bucket: now it needs the exact pass.
        histogram.record(106_601_201, 1);
        let located = histogram.locate(nearest_rank(50, histogram.total()));
        assert_eq!(histogram.exact_value(located), None);
        let located = histogram.locate(histogram.total());
        assert_eq!(histogram.exact_value(located), Some(213_202_400));
    }

    /// The nearest-rank `p` percentile of `waits` (wait, count) as the
    /// simulator finds it (one histogram pass, a second only when the bucket
    /// held several values) and by sorting them all, with the histogram's
    /// maximum and the largest wait.
    fn percentile_both_ways(waits: &[(u64, u64)], p: u32) -> (u64, u64, u64, u64) {
        let mut histogram = WaitHistogram::default();
        for &(wait, count) in waits {
            histogram.record(wait, count);
        }
        let mut all: Vec<u64> = waits
            .iter()
            .flat_map(|&(w, c)| std::iter::repeat_n(w, c as usize))
            .collect();
        all.sort_unstable();
        let rank = nearest_rank(p, all.len() as u64);
        let located = histogram.locate(rank);
        let value = histogram.exact_value(located).unwrap_or_else(|| {
            let mut collector = BucketCollector::new(vec![located.bucket]);
            for &(wait, count) in waits {
                collector.record(wait, count);
            }
            collector.finish();
            collector.value(located).unwrap()
        });
        (
            value,
            all[rank as usize - 1],
            histogram.max(),
            *all.last().unwrap(),
        )
    }

    proptest! {
        #[test]
        fn two_passes_give_the_sorted_rank(waits in proptest::collection::vec((0u64..5_000_000_000, 1u64..5), 1..200), p in 1u32..=100) {
            let (value, expected, max, largest) = percentile_both_ways(&waits, p);
            prop_assert_eq!(value, expected);
            prop_assert_eq!(max, largest);
        }

        /// Few distinct waits, some sharing a bucket: the one value a bucket
        /// held, or the second pass, still gives the sorted rank.
        #[test]
        fn few_values_give_the_sorted_rank(picks in proptest::collection::vec((0usize..6, 1u64..5), 1..100), p in 1u32..=100) {
            let values = [0, 700, 26_650_300, 26_650_301, 53_300_600, 60_000_000_000];
            let waits: Vec<(u64, u64)> = picks.iter().map(|&(i, c)| (values[i], c)).collect();
            let (value, expected, _, _) = percentile_both_ways(&waits, p);
            prop_assert_eq!(value, expected);
        }
    }
}
