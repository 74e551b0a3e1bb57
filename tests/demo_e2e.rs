//! End to end: the local playground (`deploy/local/demo.sh --quick`) with
//! the real binary's `run` against the emulator, real worker processes and
//! a real burst of messages.
//!
//! The demo records what it saw through the AWS APIs every second
//! (`timeline.csv`: queue counts from SQS, desired count from ECS, local
//! workers, messages sent and processed); this test reads that record and
//! checks that the burst drained, the service scaled out within its bounds,
//! the workers followed, and the service came back to its minimum.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The quick mode's policy and load (see `--quick` in demo.sh).
const MIN_TASKS: u64 = 1;
const MAX_TASKS: u64 = 6;
const BURST_MESSAGES: u64 = 12 * 15;
/// The demo ends itself once settled (about 40 s here); this is the limit.
const DEADLINE: Duration = Duration::from_secs(150);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One line of timeline.csv.
#[derive(Debug)]
struct Sample {
    t_s: u64,
    visible: u64,
    in_flight: u64,
    desired: u64,
    workers: u64,
    sent: u64,
    processed: u64,
}

fn read_timeline(path: &Path) -> Vec<Sample> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (t_s, visible, in_flight, desired, workers, sent, processed) = (
        column("t_s"),
        column("visible"),
        column("in_flight"),
        column("desired"),
        column("workers"),
        column("sent"),
        column("processed"),
    );
    // The decision, the only text column, comes last and may hold commas.
    let numeric = header.len() - 1;
    lines
        .map(|line| {
            let fields: Vec<&str> = line.splitn(numeric + 1, ',').collect();
            let number = |index: usize| -> u64 {
                fields[index]
                    .parse()
                    .unwrap_or_else(|_| panic!("column {index} of {line:?} is not a count"))
            };
            Sample {
                t_s: number(t_s),
                visible: number(visible),
                in_flight: number(in_flight),
                desired: number(desired),
                workers: number(workers),
                sent: number(sent),
                processed: number(processed),
            }
        })
        .collect()
}

/// Wait for the demo to end by itself; past the deadline, stop it the way
/// Ctrl-C would (its trap stops everything it started) and fail.
fn wait_with_deadline(child: &mut Child, output: &Path) {
    let started = Instant::now();
    loop {
        match child.try_wait().expect("demo.sh can be waited for") {
            Some(status) => {
                assert!(
                    status.success(),
                    "demo.sh failed ({status}):\n{}",
                    demo_output(output)
                );
                return;
            }
            None if started.elapsed() > DEADLINE => {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let stop_by = Instant::now() + Duration::from_secs(30);
                while child.try_wait().ok().flatten().is_none() && Instant::now() < stop_by {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = child.kill();
                panic!(
                    "demo.sh still running after {DEADLINE:?}:\n{}",
                    demo_output(output)
                );
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn demo_output(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let workdir = path.parent().expect("the output sits in the work dir");
    let controller = std::fs::read_to_string(workdir.join("controller.log")).unwrap_or_default();
    let tail: Vec<&str> = controller
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{text}\n--- controller.log (end) ---\n{}", tail.join("\n"))
}

#[test]
fn the_playground_drains_a_burst_by_scaling_out_and_back_in() {
    let workdir = tempfile::tempdir().expect("a temp dir");
    let output = workdir.path().join("demo.out");
    let log = std::fs::File::create(&output).expect("the output file");
    let mut demo = Command::new("bash")
        .arg(repo_root().join("deploy/local/demo.sh"))
        .arg("--quick")
        .arg("--workdir")
        .arg(workdir.path())
        .env("BACKLOG_SCALER_BIN", env!("CARGO_BIN_EXE_backlog-scaler"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the output file"))
        .stderr(log)
        .spawn()
        .expect("bash runs demo.sh");
    wait_with_deadline(&mut demo, &output);
    let context = demo_output(&output);

    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workdir.path().join("summary.json")).expect("summary.json"),
    )
    .expect("summary.json is JSON");
    assert_eq!(summary["ended_by"], "settled", "{context}");
    assert!(
        summary["decisions_seen"].as_u64().unwrap_or(0) > 0,
        "the live view never showed a decision from the controller's log:\n{context}"
    );

    let timeline = read_timeline(&workdir.path().join("timeline.csv"));
    let last = timeline.last().expect("at least one sample");
    assert_eq!(
        last.sent, BURST_MESSAGES,
        "the load generator sent the whole burst"
    );
    assert_eq!(
        last.processed, BURST_MESSAGES,
        "every message was received and deleted by a worker"
    );
    assert_eq!(last.visible + last.in_flight, 0, "the queue drained");

    for sample in &timeline {
        assert!(
            (MIN_TASKS..=MAX_TASKS).contains(&sample.desired),
            "desired {} at {} s is outside [{MIN_TASKS}, {MAX_TASKS}]",
            sample.desired,
            sample.t_s
        );
    }
    let peak = timeline.iter().map(|s| s.desired).max().unwrap_or(0);
    assert!(
        peak >= 3,
        "the burst should need several workers; desired peaked at {peak}:\n{context}"
    );
    let peak_at = timeline
        .iter()
        .position(|s| s.desired == peak)
        .expect("the peak");
    assert!(
        timeline.iter().map(|s| s.workers).max().unwrap_or(0) >= peak,
        "the worker pool never followed the desired count up to {peak}"
    );
    let back_in = timeline[peak_at..].iter().find(|s| s.desired == MIN_TASKS);
    assert!(
        back_in.is_some(),
        "desired never came back to {MIN_TASKS} after peaking at {peak}:\n{context}"
    );
    assert_eq!(last.desired, MIN_TASKS);
    assert_eq!(
        last.workers, MIN_TASKS,
        "the pool stopped the extra workers"
    );
}
