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
    fn totals_match_the_trace() {
        let text = "t_seconds,arrivals\n0,16083\n60,16510\n120,15463\n";
        let total: u64 = spread(text, 1.0).iter().map(|&(_, n)| n).sum();
        assert_eq!(total, 16083 + 16510 + 15463);
    }
}
