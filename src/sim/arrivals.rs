//! The arrival spreading rule: a bucket of `B` seconds with `A` arrivals at
//! scale `s` delivers, in its second `k`, exactly
//! `floor((k+1)*A*s/B) - floor(k*A*s/B)` messages at the start of that
//! second, so the bucket's total is `floor(A*s)`, spread evenly.

use super::trace::{Bucket, Trace};

/// Messages a bucket delivers in total at `scale`.
pub fn bucket_total(bucket: &Bucket, scale: f64) -> u64 {
    cumulative(bucket.arrivals, scale, bucket.seconds, bucket.seconds)
}

/// `floor(k * A * s / B)`: messages of a bucket delivered before its second `k`.
fn cumulative(arrivals: u64, scale: f64, seconds: u64, k: u64) -> u64 {
    if scale == 1.0 {
        // Exact integer arithmetic for the common case.
        (u128::from(k) * u128::from(arrivals) / u128::from(seconds)) as u64
    } else {
        let scaled = arrivals as f64 * scale;
        (k as f64 * scaled / seconds as f64).floor() as u64
    }
}

/// A second `k` at or before the first one whose cumulative delivery
/// (`floor((k+1)*A*s/B)`) reaches `count`.
fn first_second_reaching(arrivals: u64, scale: f64, seconds: u64, count: u64) -> u64 {
    if arrivals == 0 || scale == 0.0 {
        return seconds;
    }
    if scale == 1.0 {
        // (k+1)*A >= count*B  <=>  k+1 >= ceil(count*B/A).
        let k1 = (u128::from(count) * u128::from(seconds)).div_ceil(u128::from(arrivals));
        return u64::try_from(k1).unwrap_or(u64::MAX).saturating_sub(1);
    }
    // Floating point: stay two seconds early; the caller checks each second.
    let k1 = (count as f64 * seconds as f64 / (arrivals as f64 * scale)).floor();
    if k1.is_finite() && k1 > 2.0 {
        (k1 as u64).saturating_sub(3)
    } else {
        0
    }
}

/// Every second with at least one arrival, in time order: `(second, count)`.
pub struct Arrivals<'a> {
    buckets: std::slice::Iter<'a, Bucket>,
    scale: f64,
    current: Option<Bucket>,
    /// The next second of `current` to look at.
    k: u64,
    /// Messages of `current` delivered before second `k`.
    delivered: u64,
}

impl<'a> Arrivals<'a> {
    pub fn new(trace: &'a Trace, scale: f64) -> Arrivals<'a> {
        Arrivals {
            buckets: trace.buckets.iter(),
            scale,
            current: None,
            k: 0,
            delivered: 0,
        }
    }
}

impl Iterator for Arrivals<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        loop {
            let bucket = match self.current {
                Some(bucket) if self.k < bucket.seconds => bucket,
                _ => {
                    let bucket = *self.buckets.next()?;
                    self.k = 0;
                    self.delivered = 0;
                    if bucket_total(&bucket, self.scale) == 0 {
                        self.current = None;
                        continue;
                    }
                    self.current = Some(bucket);
                    bucket
                }
            };
            // Jump to the first second that can deliver the next message, so
            // a sparse bucket costs nothing per empty second.
            self.k = self.k.max(first_second_reaching(
                bucket.arrivals,
                self.scale,
                bucket.seconds,
                self.delivered + 1,
            ));
            if self.k >= bucket.seconds {
                continue;
            }
            let second = self.k;
            self.k += 1;
            let through = cumulative(bucket.arrivals, self.scale, bucket.seconds, self.k);
            let count = through - self.delivered;
            self.delivered = through;
            if count > 0 {
                return Some((bucket.start + second, count));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spread(text: &str, scale: f64) -> Vec<(u64, u64)> {
        let trace = Trace::parse(Path::new("t.csv"), text).unwrap();
        Arrivals::new(&trace, scale).collect()
    }

    #[test]
    fn spreads_evenly_with_floors() {
        // A = 5 over B = 4: floor(5/4)=1, floor(10/4)=2, floor(15/4)=3, 5.
        assert_eq!(
            spread("t_seconds,arrivals\n0,5\n4,0\n", 1.0),
            vec![(0, 1), (1, 1), (2, 1), (3, 2)]
        );
        // A = 2 over B = 4: seconds 1 and 3.
        assert_eq!(
            spread("t_seconds,arrivals\n0,2\n4,0\n", 1.0),
            vec![(1, 1), (3, 1)]
        );
    }

    #[test]
    fn scale_multiplies_then_floors_the_bucket_total() {
        // A*s = 7.5 over 3 s: floor(2.5)=2, floor(5)=5, floor(7.5)=7.
        assert_eq!(
            spread("t_seconds,arrivals\n0,5\n3,0\n", 1.5),
            vec![(0, 2), (1, 3), (2, 2)]
        );
        assert_eq!(
            bucket_total(
                &Bucket {
                    start: 0,
                    seconds: 60,
                    arrivals: 33
                },
                0.5
            ),
            16
        );
    }

    #[test]
    fn per_second_rows_are_delivered_as_is() {
        assert_eq!(
            spread("t_seconds,arrivals\n10,3\n11,0\n12,4\n", 1.0),
            vec![(0, 3), (2, 4)]
        );
    }

    #[test]
    fn sparse_buckets_are_skipped_to_their_arrivals() {
        // Two messages over a billion seconds: at 499999999 and 999999999.
        let text = "t_seconds,arrivals\n0,2\n1000000000,0\n";
        assert_eq!(spread(text, 1.0), vec![(499_999_999, 1), (999_999_999, 1)]);
        assert_eq!(
            spread(text, 1.5),
            vec![(333_333_333, 1), (666_666_666, 1), (999_999_999, 1)]
        );
    }

    proptest::proptest! {
        #[test]
        fn skipping_matches_the_rule_second_by_second(
            arrivals in 0u64..50,
            seconds in 1u64..200,
            scale in proptest::prop_oneof![proptest::strategy::Just(1.0), 0.1f64..3.0],
        ) {
            let bucket = Bucket { start: 0, seconds, arrivals };
            let expected: Vec<(u64, u64)> = (0..seconds)
                .map(|k| (k, cumulative(arrivals, scale, seconds, k + 1) - cumulative(arrivals, scale, seconds, k)))
                .filter(|&(_, n)| n > 0)
                .collect();
            let trace = Trace { buckets: vec![bucket] };
            let got: Vec<(u64, u64)> = Arrivals::new(&trace, scale).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn totals_match_the_trace() {
        let text = "t_seconds,arrivals\n0,16083\n60,16510\n120,15463\n";
        let total: u64 = spread(text, 1.0).iter().map(|&(_, n)| n).sum();
        assert_eq!(total, 16083 + 16510 + 15463);
    }
}
