//! Simulator speed, without a benchmark framework: a two-day trace of about
//! 100 million messages through a scaling policy, timed with `Instant`.
//!
//! Run with `cargo bench --bench sim_speed`; the figures go to BENCHMARKS.md.

use std::time::{Duration, Instant};

use backlog_scaler::policy::{BacklogTarget, Policy};
use backlog_scaler::sim::{simulate, Bucket, SimConfig, Trace};

/// Two days of one-minute buckets: a daily swell plus hour-long spikes to
/// five times the base, about 790 messages a second on average.
fn two_day_trace() -> Trace {
    let buckets = (0..2 * 24 * 60u64)
        .map(|minute| {
            let hour = (minute / 60) % 24;
            let swell = 1.0 + 0.8 * ((hour as f64 - 6.0) / 24.0 * std::f64::consts::TAU).sin();
            let spike = if matches!(hour, 14 | 19) { 5.0 } else { 1.0 };
            let per_second = 410.0 * swell * spike;
            Bucket {
                start: minute * 60,
                seconds: 60,
                arrivals: (per_second * 60.0) as u64,
            }
        })
        .collect();
    Trace { buckets }
}

fn main() {
    let trace = two_day_trace();
    let mut policy = Policy::with_defaults("bench", "c", "s", "q");
    policy.target = BacklogTarget::BacklogPerTask(2000.0);
    policy.min_tasks = 1;
    policy.max_tasks = 300;
    let config = SimConfig {
        service_time: Duration::from_nanos(26_650_300),
        ..SimConfig::default()
    };
    let started = Instant::now();
    let result = simulate(&policy, &trace, &config, None).expect("a valid configuration");
    let elapsed = started.elapsed();
    let s = &result.summary;
    println!(
        "two-day trace: {} messages, {} served, {} scale actions, p99 {:.3} s, cost {:.3}x",
        s.messages,
        s.served,
        s.scale_actions,
        s.wait_p99_s,
        s.cost_ratio.unwrap_or(0.0)
    );
    println!(
        "simulated in {:.2} s ({:.1} M messages/s, both passes)",
        elapsed.as_secs_f64(),
        s.messages as f64 / elapsed.as_secs_f64() / 1e6
    );
}
