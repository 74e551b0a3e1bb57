//! Secrets stay out of logs and `Debug` output, and the HTTP endpoints are
//! loopback-only by default and read-only.
//!
//! The binary runs `plan` and `run` at the most verbose level (`trace`,
//! every crate: the SDK, its HTTP client, our own) with distinctive
//! credentials in the environment, against the emulator; none of them may
//! appear in anything it prints.

#[path = "support/aws.rs"]
mod aws;
#[path = "support/http.rs"]
mod http;
#[path = "support/moto.rs"]
mod moto;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws::Aws;
use aws_sdk_sqs::config::ProvideCredentials;
use backlog_scaler::aws::{configure, AwsSettings};
use backlog_scaler::telemetry::Telemetry;
use moto::{Moto, REGION};

const ACCESS_KEY_ID: &str = "AKIAZZSECRETID7QX42";
const SECRET_ACCESS_KEY: &str = "SeCrEtKeY/Zq8+vW3nB5xLm9Tp2Rj6Hd4Kf1Gs0Aa";
const SESSION_TOKEN: &str = "SeSsIoNtOkEnQq77/ZxYw//Vu+Ts9Rq8Po7Nm6Lk5Ji4Hg3Fe2Dc1Ba0";

/// Each secret, and the parts of it a log could quote (the key ID is sent in
/// the `Authorization` header; URL-encoded forms too).
fn secrets() -> Vec<(&'static str, String)> {
    let mut all = Vec::new();
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
    ] {
        all.push((name, value.to_owned()));
        all.push((name, value.replace('/', "%2F").replace('+', "%2B")));
        // A distinctive part, in case of truncation or other encodings.
        all.push((name, value[4..16].to_owned()));
    }
    all
}

fn assert_no_secret(text: &str, what: &str) {
    for (name, secret) in secrets() {
        if let Some(at) = text.find(&secret) {
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            panic!(
                "{what} shows {name} ({secret}) in:\n{}",
                &text[start..end.min(start + 2000)]
            );
        }
    }
}

/// Queue `orders` with 30 messages and service `orders` at 1 in `jobs`.
async fn seed(moto: &Moto) {
    let aws = Aws::new(moto).await;
    aws.create_cluster("jobs").await;
    aws.seed("orders", 30, "jobs", "orders", 1).await;
}

fn command(moto: &Moto, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backlog-scaler"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "trace")
        .env("BACKLOG_SCALER_LISTEN", "127.0.0.1:0")
        .args(args);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_appear_in_logs_even_at_trace_level() {
    let moto = Moto::start();
    seed(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.yaml");
    std::fs::write(
        &file,
        "name: orders\ncluster: jobs\nservice: orders\nqueues: [orders]\n\
         target_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 10\npoll_interval: 1s\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();

    // `plan`: one observation of everything, at trace level.
    let plan = command(&moto, &["plan", "--policies", file])
        .output()
        .expect("plan runs");
    let plan_out = String::from_utf8_lossy(&plan.stdout);
    let plan_err = String::from_utf8_lossy(&plan.stderr);
    assert!(plan.status.success(), "plan failed: {plan_err}");
    assert!(plan_out.contains("scale_out"), "{plan_out}");
    // The trace level really is on, HTTP and signing included.
    assert!(plan_err.contains("TRACE"), "no trace lines");
    assert!(
        plan_err.len() > 10_000,
        "only {} bytes of logs",
        plan_err.len()
    );
    assert_no_secret(&plan_out, "plan's stdout");
    assert_no_secret(&plan_err, "plan's trace logs");

    // `run` until it has scaled (UpdateService signed and sent), then stop;
    // as JSON lines too, where fields are printed differently.
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    for format in ["text", "json"] {
        // Back to one task, so each run has a write to make.
        ecs.update_service()
            .cluster("jobs")
            .service("orders")
            .desired_count(1)
            .send()
            .await
            .expect("UpdateService");
        let mut child = command(&moto, &["run", "--log-format", format, "--policies", file])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stderr.lock().unwrap().contains("set desired 1 -> 3") {
            assert!(
                Instant::now() < deadline,
                "run did not scale: {}",
                stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A few more evaluations, then a clean stop.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        let status = child.wait().expect("run exits");
        reader.join().unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        assert!(status.success(), "{status:?}");
        let logs = stderr.lock().unwrap().clone();
        assert_no_secret(&stdout, "run's stdout");
        assert_no_secret(&logs, &format!("run's {format} trace logs"));
    }
}

#[tokio::test]
async fn debug_output_of_the_configuration_shows_no_secret() {
    let settings = AwsSettings {
        region: Some(REGION.into()),
        endpoint_url: Some("http://127.0.0.1:1".into()),
        ..AwsSettings::default()
    };
    assert_no_secret(&format!("{settings:?}"), "AwsSettings");
    let credentials = aws_sdk_sqs::config::Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        Some(SESSION_TOKEN.into()),
        None,
        "test",
    );
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .credentials_provider(credentials.clone());
    let config = configure(loader, &settings).load().await;
    let provider = config.credentials_provider().expect("a provider");
    let resolved = provider.provide_credentials().await.expect("credentials");
    for (what, text) in [
        ("SdkConfig", format!("{config:?}")),
        ("SdkConfig (pretty)", format!("{config:#?}")),
        ("the credentials provider", format!("{provider:?}")),
        ("the credentials", format!("{resolved:?}")),
        ("the SQS client's config", {
            let client = aws_sdk_sqs::Client::new(&config);
            format!("{:?}", client.config())
        }),
    ] {
        // The key ID is an identifier, not a secret: the SDK shows it, so
        // only the secret key and the session token are checked here.
        for secret in [SECRET_ACCESS_KEY, SESSION_TOKEN] {
            assert!(!text.contains(secret), "{what} shows a secret: {text}");
        }
    }
    // What the SDK shows instead.
    assert!(format!("{resolved:?}").contains("** redacted **"));
}

// ---------------------------------------------------------------------------
// The endpoints
// ---------------------------------------------------------------------------

#[test]
fn the_endpoints_listen_on_loopback_by_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_backlog-scaler"))
        .args(["run", "--help"])
        .env_remove("BACKLOG_SCALER_LISTEN")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&output.stdout);
    let default = help
        .split("[default: ")
        .filter_map(|rest| rest.split(']').next())
        .find_map(|value| value.parse::<SocketAddr>().ok())
        .unwrap_or_else(|| panic!("no default listen address in:\n{help}"));
    assert!(default.ip().is_loopback(), "default {default}");
    assert_eq!(default.to_string(), "127.0.0.1:9090");
}

/// One raw HTTP/1.1 request; the status code of the answer.
fn status(address: SocketAddr, method: &str, path: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 2\r\n\
         Content-Type: application/json\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoints_accept_only_reads() {
    let telemetry = Telemetry::default();
    let (address, serve) = backlog_scaler::http::bind(
        "127.0.0.1:0".parse().unwrap(),
        telemetry.clone(),
        std::future::pending(),
    )
    .await
    .expect("bind");
    tokio::spawn(serve);
    let metrics_before = telemetry.metrics.encode();
    let readiness_before = telemetry.readiness.report();
    let address_for_thread = address;
    let statuses = tokio::task::spawn_blocking(move || {
        let address = address_for_thread;
        let mut seen = Vec::new();
        for path in ["/healthz", "/readyz", "/metrics"] {
            for method in ["POST", "PUT", "PATCH", "DELETE"] {
                seen.push((method, path, status(address, method, path)));
            }
            let get = http::get(address, path).expect("GET");
            seen.push(("GET", path, get.status));
        }
        for path in [
            "/",
            "/admin",
            "/debug/pprof",
            "/reload",
            "/shutdown",
            "/config",
        ] {
            for method in ["GET", "POST"] {
                seen.push((method, path, status(address, method, path)));
            }
        }
        seen
    })
    .await
    .unwrap();
    for (method, path, code) in statuses {
        match (method, path) {
            // A fresh heartbeat and no policy: healthy and ready.
            ("GET", "/healthz" | "/readyz" | "/metrics") => {
                assert_eq!(code, 200, "{method} {path}")
            }
            (_, "/healthz" | "/readyz" | "/metrics") => {
                assert_eq!(code, 405, "{method} {path}")
            }
            _ => assert_eq!(code, 404, "{method} {path}"),
        }
    }
    // Nothing the requests sent changed what the endpoints serve.
    assert_eq!(telemetry.metrics.encode(), metrics_before);
    assert_eq!(telemetry.readiness.report(), readiness_before);
}
