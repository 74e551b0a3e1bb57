//! Two replicas and the DynamoDB lease, against the moto emulator: the
//! store's conditional writes in process, then two real `backlog-scaler run`
//! processes sharing one lease table. Waiting is always "poll a condition
//! until a deadline"; the deadlines are the bounds the lease promises.

#[path = "support/aws.rs"]
mod aws;
#[path = "support/child.rs"]
mod child;
#[path = "support/http.rs"]
mod http;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/process.rs"]
mod process;

use std::process::Command;
use std::time::{Duration, Instant};

use aws::{eventually, Aws};
use backlog_scaler::aws::DynamoLeaseStore;
use backlog_scaler::lease::{Attempt, LeaseStore, StoreOutcome};
use child::LoggedChild;
use moto::Moto;

const CLUSTER: &str = "jobs";
const TABLE: &str = "backlog-scaler-lease";
const LEASE: Duration = Duration::from_secs(3);
const RENEW: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// The DynamoDB store
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_grants_the_lease_to_one_replica_at_a_time() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_lease_table(TABLE).await;
    let store = DynamoLeaseStore::new(aws.dynamodb.clone(), TABLE, "default");
    let acquire = |now_ms: u64| Attempt::Acquire {
        now_ms,
        expires_at_ms: now_ms + 3_000,
    };
    let renew = |now_ms: u64| Attempt::Renew {
        now_ms,
        expires_at_ms: now_ms + 3_000,
    };

    assert_eq!(store.read().await.unwrap(), None);
    assert_eq!(
        store.attempt("a", acquire(10_000)).await.unwrap(),
        StoreOutcome::Won
    );
    // b cannot take an unexpired lease, nor renew a lease it does not hold.
    let held_by_a = StoreOutcome::HeldBy(Some("a".into()));
    assert_eq!(
        store.attempt("b", acquire(11_000)).await.unwrap(),
        held_by_a
    );
    assert_eq!(store.attempt("b", renew(11_000)).await.unwrap(), held_by_a);
    // a renews: the expiry moves and the version goes up by one.
    assert_eq!(
        store.attempt("a", renew(12_000)).await.unwrap(),
        StoreOutcome::Won
    );
    let record = store.read().await.unwrap().expect("the lease item");
    assert_eq!(record.holder, "a");
    assert_eq!(record.expires_at_ms, 15_000);
    assert_eq!(record.version, 10_001);
    // Still unexpired at 14.999 s; expired at 15.001 s, when b takes it.
    assert_eq!(
        store.attempt("b", acquire(14_999)).await.unwrap(),
        held_by_a
    );
    assert_eq!(
        store.attempt("b", acquire(15_001)).await.unwrap(),
        StoreOutcome::Won
    );
    // a's renewal now fails: it learns who holds the lease.
    assert_eq!(
        store.attempt("a", renew(15_500)).await.unwrap(),
        StoreOutcome::HeldBy(Some("b".into()))
    );
    // Releasing a lease one does not hold changes nothing.
    store.release("a").await.unwrap();
    assert_eq!(store.read().await.unwrap().unwrap().holder, "b");
    // Releasing one's own frees it for anyone at once.
    store.release("b").await.unwrap();
    assert_eq!(store.read().await.unwrap(), None);
    assert_eq!(
        store.attempt("a", acquire(16_000)).await.unwrap(),
        StoreOutcome::Won
    );
    // Another lease name in the same table is independent.
    let other = DynamoLeaseStore::new(aws.dynamodb.clone(), TABLE, "other");
    assert_eq!(
        other.attempt("b", acquire(16_000)).await.unwrap(),
        StoreOutcome::Won
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_an_error_not_a_lease() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    let store = DynamoLeaseStore::new(aws.dynamodb.clone(), "no-such-table", "default");
    let error = store
        .attempt(
            "a",
            Attempt::Acquire {
                now_ms: 0,
                expires_at_ms: 3_000,
            },
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no-such-table"), "{error}");
    assert!(error.to_string().contains("ResourceNotFound"), "{error}");
}

// ---------------------------------------------------------------------------
// Two real processes
// ---------------------------------------------------------------------------

/// A running `backlog-scaler run` replica whose stderr (JSON logs) is
/// collected as it comes.
struct Replica {
    id: &'static str,
    process: LoggedChild,
}

impl Replica {
    fn start(moto: &Moto, id: &'static str, policies: &std::path::Path) -> Replica {
        let mut command = backlog_scaler();
        command
            .envs(moto.env())
            .args(["run", "--log-format", "json", "--lease-table", TABLE])
            .args(["--lease-duration", "3s", "--lease-renew-every", "1s"])
            .args(["--listen", "127.0.0.1:0", "--replica-id", id, "--policies"])
            .arg(policies);
        Replica {
            id,
            process: LoggedChild::spawn(command),
        }
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// How many desired counts this replica wrote (not "would set").
    fn writes(&self) -> usize {
        self.log().matches("\"message\":\"set desired").count()
    }

    /// The address its endpoints listen on, from its log.
    fn address(&self) -> std::net::SocketAddr {
        let log = self.log();
        let start = log
            .find("on http://")
            .expect("the endpoints' address is logged")
            + 10;
        let end = start
            + log[start..]
                .find(|c: char| c == '"' || c == '\\' || c.is_whitespace())
                .unwrap();
        log[start..end].parse().expect("an address")
    }

    fn has(&self, needle: &str) -> bool {
        self.log().contains(needle)
    }

    fn signal(&self, signal: &str) {
        self.process.signal(signal);
    }

    async fn exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.process.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.id);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const ACQUIRED: &str = "lease acquired";

/// The binary with none of its own settings from the test's environment
/// (`BACKLOG_SCALER_SHARD`, `BACKLOG_SCALER_LEASE_*`, ...): a developer's
/// shell must not change what these tests run.
fn backlog_scaler() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backlog-scaler"));
    command.env_remove("RUST_LOG");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BACKLOG_SCALER_") {
            command.env_remove(name);
        }
    }
    command
}

/// When the JSON log line holding `needle` was written, in Unix ms.
fn logged_at_ms(log: &str, needle: &str) -> u64 {
    let line = log
        .lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in\n{log}"));
    let json: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    let stamp = json["timestamp"].as_str().expect("a timestamp");
    humantime::parse_rfc3339_weak(stamp)
        .unwrap_or_else(|e| panic!("{stamp}: {e}"))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_writes_and_the_other_takes_over_when_it_dies() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_lease_table(TABLE).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 45, CLUSTER, "orders", 1).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.yaml"),
        format!(
            "name: orders\ncluster: {CLUSTER}\nservice: orders\nqueues: [orders]\n\
             target_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 20\npoll_interval: 1s\n"
        ),
    )
    .unwrap();

    let a = Replica::start(&moto, "a", dir.path());
    let b = Replica::start(&moto, "b", dir.path());
    eventually(
        Duration::from_secs(20),
        "a holder and a standby",
        || async {
            let holders = [&a, &b].iter().filter(|r| r.has(ACQUIRED)).count();
            let standbys = [&a, &b]
                .iter()
                .filter(|r| r.has("standby: lease held by"))
                .count();
            holders == 1 && standbys == 1
        },
    )
    .await;
    let (holder, standby) = if a.has(ACQUIRED) { (a, b) } else { (b, a) };
    assert!(
        standby.has(&format!("standby: lease held by {}", holder.id)),
        "{}",
        standby.log()
    );
    // /readyz says who is who.
    for (replica, role) in [(&holder, "holder"), (&standby, "standby")] {
        let body = http::get(replica.address(), "/readyz")
            .expect("/readyz answers")
            .json();
        assert_eq!(
            body["lease"],
            serde_json::json!({"replica": replica.id, "role": role, "holder": holder.id}),
            "{body}"
        );
    }

    // The holder scales; the standby decides too but never writes.
    eventually(Duration::from_secs(20), "desired 5", || async {
        aws.desired(CLUSTER, "orders").await == 5
    })
    .await;
    aws.send("orders", 30).await;
    eventually(Duration::from_secs(20), "desired 8", || async {
        aws.desired(CLUSTER, "orders").await == 8
    })
    .await;
    eventually(Duration::from_secs(10), "the standby to see 8", || async {
        standby.has("hold at 8")
    })
    .await;
    // The emulator has the count as soon as UpdateService lands; the
    // replica logs the write once the answer is back: wait for the line.
    eventually(
        Duration::from_secs(10),
        "the holder to log 5 -> 8",
        || async { holder.has("set desired 5 -> 8") },
    )
    .await;
    assert_eq!(holder.writes(), 2, "{}", holder.log());
    assert!(holder.has("set desired 1 -> 5"));
    assert!(holder.has("set desired 5 -> 8"));
    assert_eq!(standby.writes(), 0, "{}", standby.log());
    assert!(standby.has("\"standby\":true"), "{}", standby.log());

    // SIGKILL: no release, so the standby must wait for expiry. More work
    // arrives at once, so the new holder has something to write.
    let mut holder = holder;
    holder.signal("KILL");
    let killed = Instant::now();
    holder.exit(Duration::from_secs(5)).await;
    let writes_by_dead_holder = holder.writes();
    aws.send("orders", 20).await;
    // The holder's last renewal was at most a renewal period before the
    // kill; the standby tries every renewal period after expiry: it takes
    // over within LEASE + 2 RENEW (5 s) on an idle machine. The waits are
    // generous (two binaries and an emulator share 2 cores with the other
    // tests); that it did not take over early is the bound below, a lower
    // bound, which a slow machine cannot break.
    eventually(
        Duration::from_secs(30),
        "the standby to take the lease",
        || async { standby.has(ACQUIRED) },
    )
    .await;
    let took_over = killed.elapsed();
    eventually(
        Duration::from_secs(30),
        "the new holder to write 10",
        || async { aws.desired(CLUSTER, "orders").await == 10 },
    )
    .await;
    assert!(
        took_over > LEASE - RENEW,
        "took the lease after {took_over:?}, before the dead holder's lease could expire"
    );
    eventually(
        Duration::from_secs(10),
        "the new holder to log 8 -> 10",
        || async { standby.has("set desired 8 -> 10") },
    )
    .await;
    assert_eq!(standby.writes(), 1, "{}", standby.log());
    assert!(standby.has("set desired 8 -> 10"), "{}", standby.log());
    assert_eq!(holder.writes(), writes_by_dead_holder);

    // A replica started now stays standby; a graceful stop of the holder
    // releases the lease, so it takes over well before any expiry.
    let restarted = Replica::start(&moto, holder.id, dir.path());
    let new_holder = standby;
    eventually(
        Duration::from_secs(20),
        "the restarted replica in standby",
        || async { restarted.has(&format!("standby: lease held by {}", new_holder.id)) },
    )
    .await;
    let mut new_holder = new_holder;
    new_holder.signal("TERM");
    assert!(new_holder.exit(Duration::from_secs(20)).await.success());
    assert!(new_holder.has("lease released"), "{}", new_holder.log());
    eventually(
        Duration::from_secs(20),
        "the restarted replica to take over",
        || async { restarted.has(ACQUIRED) },
    )
    .await;
    // At release, not at expiry: timed by the replicas' own log stamps, not
    // by when this test got round to looking. After a release the next
    // attempt (every RENEW) succeeds; waiting for expiry would take at
    // least LEASE - RENEW after the release (the last renewal came at most
    // RENEW before it).
    let released_at = logged_at_ms(&new_holder.log(), "lease released");
    let acquired_at = logged_at_ms(&restarted.log(), ACQUIRED);
    assert!(
        acquired_at >= released_at
            && acquired_at - released_at < (LEASE - RENEW).as_millis() as u64,
        "released at {released_at} ms, taken over at {acquired_at} ms: at expiry, not at release"
    );
    assert_eq!(restarted.writes(), 0, "nothing to change");
    assert_eq!(aws.desired(CLUSTER, "orders").await, 10);
}

#[test]
fn lease_settings_that_cannot_work_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.yaml"),
        format!(
            "name: orders\ncluster: {CLUSTER}\nservice: orders\nqueues: [orders]\n\
             target_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 20\n"
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        // Refused before any AWS call: a bounded wait, so that a
        // regression that starts the daemon fails instead of hanging.
        process::output_within(
            backlog_scaler()
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .args(["run", "--listen", "127.0.0.1:0"])
                .args(extra)
                .arg("--policies")
                .arg(dir.path()),
            Duration::from_secs(30),
        )
    };
    // Renewing every 2 s leaves no room in a 3 s lease.
    let output = run(&[
        "--lease-table",
        TABLE,
        "--lease-duration",
        "3s",
        "--lease-renew-every",
        "2s",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("more than twice the renewal period"),
        "{stderr}"
    );
    // Lease options without a table are a usage error.
    let output = run(&["--lease-duration", "30s"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--lease-table"));
}
