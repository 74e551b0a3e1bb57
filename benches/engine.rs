//! Criterion benchmarks for issue 7: the decision engine with a full
//! stabilization window, and the policy loader and validator on 1,000
//! policies. Figures and the command that made them are in `BENCHMARKS.md`.
//!
//! Run with `cargo bench --bench engine`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use backlog_scaler::engine::{
    decide, Observation, PolicyState, QueueDepth, ServiceCounts, Timestamp,
};
use backlog_scaler::policy::{load_path, load_str, Policy};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A 5-minute stabilization window at 1 s polls: the window holds ~300
/// recommendations once it is full, the most a sane policy carries.
fn full_window_policy() -> Policy {
    let mut policy = Policy::with_defaults("bench", "prod", "bench", "jobs");
    policy.min_tasks = 2;
    policy.max_tasks = 200;
    policy.poll_interval = Duration::from_secs(1);
    policy.scale_in.stabilization_window = Duration::from_secs(300);
    policy
}

fn observation(visible: u64, desired: u32) -> Observation {
    Observation::single(
        QueueDepth {
            visible,
            in_flight: visible / 10,
            delayed: 0,
        },
        ServiceCounts {
            desired,
            running: desired,
            pending: 0,
            deployment_in_progress: false,
        },
    )
}

/// A backlog that rises and falls, so recommendations vary and scale-in is
/// held by the window (the window's `max` is over real, varied values).
fn backlog_at(second: u64) -> u64 {
    let phase = second % 120;
    let wave = if phase < 60 { phase } else { 120 - phase };
    2_000 + wave * 150
}

/// The state after `seconds` 1 s polls, and the desired count then.
fn warmed_state(policy: &Policy, seconds: u64) -> (PolicyState, u32) {
    let mut state = PolicyState::default();
    let mut desired = 20;
    for second in 0..seconds {
        let (decision, next) = decide(
            policy,
            Ok(&observation(backlog_at(second), desired)),
            &state,
            Timestamp::from_secs(second),
        );
        desired = decision.desired().unwrap_or(desired);
        state = next;
    }
    (state, desired)
}

fn engine(c: &mut Criterion) {
    let policy = full_window_policy();
    let warm_up = 600;
    let (state, desired) = warmed_state(&policy, warm_up);
    let window_len = state_window_len(&state);
    assert!(
        (290..=301).contains(&window_len),
        "the window holds {window_len} recommendations"
    );

    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));

    // One decision on a full window, the state as the daemon holds it.
    let now = Timestamp::from_secs(warm_up);
    let seen = observation(backlog_at(warm_up), desired);
    group.bench_function("decide, full 300-entry window", |b| {
        b.iter(|| {
            decide(
                black_box(&policy),
                Ok(black_box(&seen)),
                black_box(&state),
                now,
            )
        })
    });

    // The daemon's loop: each decision's state feeds the next, one second
    // later, so the window slides (one recommendation in, one out).
    group.bench_function("decide, sliding 300-entry window, state carried", |b| {
        b.iter_custom(|iterations| {
            let (mut state, mut desired, mut second) = (state.clone(), desired, warm_up);
            let start = Instant::now();
            for _ in 0..iterations {
                let seen = observation(backlog_at(second), desired);
                let (decision, next) =
                    decide(&policy, Ok(&seen), &state, Timestamp::from_secs(second));
                desired = black_box(decision).desired().unwrap_or(desired);
                state = next;
                second += 1;
            }
            start.elapsed()
        })
    });

    // The same decision with no window, to show what the window costs.
    let mut no_window = policy.clone();
    no_window.scale_in.stabilization_window = Duration::ZERO;
    let (empty_state, _) = warmed_state(&no_window, 10);
    group.bench_function("decide, no window", |b| {
        b.iter(|| {
            decide(
                black_box(&no_window),
                Ok(black_box(&seen)),
                black_box(&empty_state),
                now,
            )
        })
    });

    // The scale-in rule's scan of the window for its highest entry.
    group.bench_function("highest of a full window alone", |b| {
        b.iter(|| black_box(&state).highest_recent_recommendation())
    });

    // The part of a decision that is copying the state it was given.
    group.bench_function("clone of a full-window state alone", |b| {
        b.iter(|| black_box(&state).clone())
    });
    group.finish();
}

/// The number of recommendations in the window, through the public API:
/// the serialised state lists them.
fn state_window_len(state: &PolicyState) -> usize {
    let json = serde_json::to_value(state).expect("the state serialises");
    json["recommendations"]
        .as_array()
        .map_or(0, |list| list.len())
}

/// `count` distinct, valid policies as YAML documents.
fn policy_documents(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            format!(
                "name: worker-{i}\n\
                 cluster: cluster-{cluster}\n\
                 service: worker-{i}\n\
                 queues:\n  - jobs-{i}\n  - queue: jobs-{i}-retry\n    weight: 0.5\n\
                 target_backlog_per_task: 100\n\
                 min_tasks: 2\n\
                 max_tasks: 40\n\
                 poll_interval: 15s\n\
                 tolerance: 0.1\n\
                 scale_out:\n  max_step: 100%\n  cooldown: 1m\n\
                 scale_in:\n  stabilization_window: 5m\n  max_step: 25%\n  cooldown: 2m\n",
                cluster = i % 100
            )
        })
        .collect()
}

fn loader(c: &mut Criterion) {
    const POLICIES: usize = 1_000;
    let documents = policy_documents(POLICIES);
    let stream = documents.join("---\n");
    let origin = Path::new("policies/all.yaml");
    let loaded = load_str(origin, &stream).expect("the generated policies are valid");
    assert_eq!(loaded.policies.len(), POLICIES);

    let one_file = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(one_file.path().join("all.yaml"), &stream).expect("written");
    let many_files = tempfile::tempdir().expect("a temporary directory");
    for (i, document) in documents.iter().enumerate() {
        std::fs::write(
            many_files.path().join(format!("worker-{i:04}.yaml")),
            document,
        )
        .expect("written");
    }
    assert_eq!(
        load_path(many_files.path()).expect("valid").policies.len(),
        POLICIES
    );

    let mut group = c.benchmark_group("loader");
    group.throughput(Throughput::Elements(POLICIES as u64));
    group.sample_size(20);
    group.bench_function("1,000 policies, one string in memory", |b| {
        b.iter(|| load_str(origin, black_box(&stream)).expect("valid"))
    });
    group.bench_function("1,000 policies, one file of 1,000 documents", |b| {
        b.iter(|| load_path(black_box(one_file.path())).expect("valid"))
    });
    group.bench_function("1,000 policies, a directory of 1,000 files", |b| {
        b.iter(|| load_path(black_box(many_files.path())).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, engine, loader);
criterion_main!(benches);
