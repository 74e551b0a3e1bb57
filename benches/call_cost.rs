//! What one AWS API call costs the controller in CPU, layer by layer.
//!
//! The load benchmark (`scripts/load-bench.sh`) finds about 1 ms of
//! controller CPU per call against the emulator, and `cycle_cost` finds the
//! controller's own work to be a few microseconds per policy. This bench
//! splits the difference: the same `GetQueueAttributes` exchange, against a
//! fast loopback server in a child process (so its CPU is not counted), made
//!
//! 1. over raw keep-alive TCP connections (the kernel's and tokio's floor),
//! 2. through hyper's client (the HTTP stack the SDK uses),
//! 3. through the controller's own SQS port on the AWS SDK for Rust, with
//!    the settings `backlog-scaler run` uses (the production path); then
//!    the same with the SDK's default stalled-stream protection (which the
//!    controller turns off), and the SDK's client called directly with
//!    nothing optional (no retries, timeouts or stalled-stream
//!    protection): the least any caller of the SDK pays.
//!
//! Each makes the same number of calls with 16 in flight (the controller's
//! default `--max-concurrency`) on a two-worker runtime, and reports CPU
//! microseconds per call (user + system, `CLOCK_PROCESS_CPUTIME_ID`). Then
//! hyper, the port and the bare client again against a server that answers
//! after 100 ms (all at once, or spread over 50 to 150 ms as the emulator's
//! answers are) and after 250 ms, as the emulator does under the load
//! benchmark; and the spread answers once more on a one-worker and on a
//! current-thread runtime. Slow answers cost more per call, and answers
//! that arrive one at a time cost more than answers in waves.
//!
//! Run with `cargo bench --bench call_cost`; the figures go to
//! BENCHMARKS.md.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog_scaler::aws::{configure, ApiCalls, AwsSettings, SqsQueues};
use backlog_scaler::ports::QueueDepthReader;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

const CALLS: usize = 4_000;
const IN_FLIGHT: usize = 16;
const ROUNDS: usize = 3;
const SERVER_ENV: &str = "CALL_COST_SERVER";
const ANSWER: &str = r#"{"Attributes":{"ApproximateNumberOfMessages":"7","ApproximateNumberOfMessagesNotVisible":"1","ApproximateNumberOfMessagesDelayed":"0"}}"#;
const QUEUE_URL: &str = "http://127.0.0.1/000000000000/bench";

/// How the server answers: after `delay`, or after 50% to 150% of it.
#[derive(Debug, Clone, Copy)]
struct Answers {
    delay: Duration,
    jitter: bool,
}

impl Answers {
    const INSTANT: Answers = Answers {
        delay: Duration::ZERO,
        jitter: false,
    };
}

impl std::fmt::Display for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.jitter {
            write!(f, "after {:?} +/- 50%", self.delay)
        } else {
            write!(f, "after {:?}", self.delay)
        }
    }
}

/// Answer delays like the emulator's: about 100 ms a call in the load
/// benchmark at 300 policies every 2 s (BENCHMARKS.md, "CPU per AWS
/// call"), about 250 ms at 1,000 policies. A fixed delay answers the 16
/// calls in flight together, in waves; the emulator answers one call at a
/// time, so `jitter` spreads each answer uniformly over 50% to 150% of the
/// delay.
const SLOW_ANSWERS: [Answers; 3] = [
    Answers {
        delay: Duration::from_millis(100),
        jitter: false,
    },
    Answers {
        delay: Duration::from_millis(100),
        jitter: true,
    },
    Answers {
        delay: Duration::from_millis(250),
        jitter: false,
    },
];
const SLOW_CALLS: usize = 480;

fn main() {
    if let Some(answers) = std::env::var_os(SERVER_ENV) {
        let answers = answers.to_str().unwrap();
        let (millis, jitter) = match answers.strip_suffix('~') {
            Some(millis) => (millis, true),
            None => (answers, false),
        };
        serve(Answers {
            delay: Duration::from_millis(millis.parse().unwrap()),
            jitter,
        });
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let (server, port) = start_server(Answers::INSTANT);
    println!("{CALLS} GetQueueAttributes calls, {IN_FLIGHT} in flight, an instant answer, best of {ROUNDS} rounds:");
    let raw = runtime.block_on(best_of(ROUNDS, || raw_tcp(port, CALLS)));
    report("raw keep-alive TCP (floor)", CALLS, raw);
    let hyper = runtime.block_on(best_of(ROUNDS, || hyper_client(port, CALLS)));
    report("hyper client", CALLS, hyper);
    let sdk = runtime.block_on(best_of(ROUNDS, || sdk_port(port, CALLS, |l| l)));
    report("AWS SDK, the controller's SQS port", CALLS, sdk);
    let sdk = runtime.block_on(best_of(ROUNDS, || {
        sdk_port(port, CALLS, |l| {
            l.stalled_stream_protection(
                aws_config::stalled_stream_protection::StalledStreamProtectionConfig::enabled()
                    .build(),
            )
        })
    }));
    report("  with the SDK's stalled-stream protection", CALLS, sdk);
    // The SDK's floor: its client called directly, with every optional
    // layer (retries, timeouts, stalled-stream protection) off.
    let sdk = runtime.block_on(best_of(ROUNDS, || sdk_client_bare(port, CALLS)));
    report("  the bare SDK client, nothing optional", CALLS, sdk);
    stop(server);

    for answers in SLOW_ANSWERS {
        let (server, port) = start_server(answers);
        println!(
            "{SLOW_CALLS} calls, {IN_FLIGHT} in flight, each answered {answers} \
             (as the emulator under the load benchmark), best of {ROUNDS} rounds:"
        );
        let hyper = runtime.block_on(best_of(ROUNDS, || hyper_client(port, SLOW_CALLS)));
        report("hyper client", SLOW_CALLS, hyper);
        let sdk = runtime.block_on(best_of(ROUNDS, || sdk_port(port, SLOW_CALLS, |l| l)));
        report("AWS SDK, the controller's SQS port", SLOW_CALLS, sdk);
        let sdk = runtime.block_on(best_of(ROUNDS, || sdk_client_bare(port, SLOW_CALLS)));
        report("  the bare SDK client, nothing optional", SLOW_CALLS, sdk);
        stop(server);
    }

    // Answers one at a time wake the runtime for each; how much of that is
    // the runtime's two workers waking each other?
    let jittered = SLOW_ANSWERS[1];
    let (server, port) = start_server(jittered);
    for (name, runtime) in [
        (
            "one-worker runtime",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime"),
        ),
        (
            "current-thread runtime",
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        ),
    ] {
        println!(
            "{SLOW_CALLS} calls, {IN_FLIGHT} in flight, each answered {jittered}, \
             on a {name}, best of {ROUNDS} rounds:"
        );
        let sdk = runtime.block_on(best_of(ROUNDS, || sdk_port(port, SLOW_CALLS, |l| l)));
        report("AWS SDK, the controller's SQS port", SLOW_CALLS, sdk);
        let sdk = runtime.block_on(best_of(ROUNDS, || sdk_client_bare(port, SLOW_CALLS)));
        report("  the bare SDK client, nothing optional", SLOW_CALLS, sdk);
    }
    stop(server);
}

fn stop(mut server: Child) {
    let _ = server.kill();
    let _ = server.wait();
}

fn report(what: &str, calls: usize, (cpu, wall): (Duration, Duration)) {
    let per_call = cpu.as_secs_f64() * 1e6 / calls as f64;
    println!(
        "  {what:<40} {per_call:>7.1} us CPU per call ({:.0} ms CPU, {:.0} ms wall)",
        cpu.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3
    );
}

/// The round with the least CPU: the others were disturbed by something.
async fn best_of<F, Fut>(rounds: usize, mut round: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut best = (Duration::MAX, Duration::ZERO);
    for _ in 0..rounds {
        let (cpu_before, wall_before) = (process_cpu(), Instant::now());
        round().await;
        let measured = (process_cpu() - cpu_before, wall_before.elapsed());
        if measured.0 < best.0 {
            best = measured;
        }
    }
    best
}

/// User + system CPU of this process (not of the server, a child), to the
/// nanosecond: a round of a few hundred slow calls uses only about 100 ms.
fn process_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only to the timespec it is given.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Runs `call` `calls` times, IN_FLIGHT at once.
async fn drive<F, Fut>(calls: usize, call: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(calls);
    for _ in 0..calls {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let call = call();
        tasks.push(tokio::spawn(async move {
            call.await;
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

async fn raw_tcp(port: u16, calls: usize) {
    // One connection per worker of IN_FLIGHT, each sending its share.
    let request = format!(
        "POST / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/x-amz-json-1.0\r\n\
         x-amz-target: AmazonSQS.GetQueueAttributes\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let mut buffer = vec![0u8; 4096];
            for _ in 0..calls / IN_FLIGHT {
                stream.write_all(request.as_bytes()).await.unwrap();
                read_response(&mut stream, &mut buffer).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Reads one response with a Content-Length body.
async fn read_response(stream: &mut TcpStream, buffer: &mut [u8]) {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buffer[filled..]).await.unwrap();
        assert!(n > 0, "server closed");
        filled += n;
        let text = std::str::from_utf8(&buffer[..filled]).unwrap_or("");
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap();
            if filled >= end + 4 + length {
                return;
            }
        }
    }
}

async fn hyper_client(port: u16, calls: usize) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
    drive(calls, || {
        let client = client.clone();
        let request = hyper::Request::post(uri.clone())
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "AmazonSQS.GetQueueAttributes")
            .body(Full::new(bytes::Bytes::from_static(b"{}")))
            .unwrap();
        async move {
            let response = client.request(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert!(body.len() > 10);
        }
    })
    .await;
}

async fn sdk_port(
    port: u16,
    calls: usize,
    tweak: impl FnOnce(aws_config::ConfigLoader) -> aws_config::ConfigLoader,
) {
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        ..AwsSettings::default()
    };
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).credentials_provider(
        aws_sdk_sqs::config::Credentials::new("bench", "bench", None, None, "bench"),
    );
    let config = tweak(configure(loader, &settings)).load().await;
    let queues = Arc::new(SqsQueues::new(
        aws_sdk_sqs::Client::new(&config),
        Arc::new(ApiCalls::new()),
    ));
    drive(calls, || {
        let queues = queues.clone();
        async move {
            let depth = queues.queue_depth(QUEUE_URL).await.expect("queue depth");
            assert_eq!(depth.visible, 7);
        }
    })
    .await;
}

/// `GetQueueAttributes` straight through `aws_sdk_sqs::Client`, without the
/// controller's port, and with no retries, timeouts or stalled-stream
/// protection: what any caller of the SDK pays at least.
async fn sdk_client_bare(port: u16, calls: usize) {
    use aws_config::retry::RetryConfig;
    use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_sqs::types::QueueAttributeName;

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(TimeoutConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .load()
        .await;
    let client = aws_sdk_sqs::Client::new(&config);
    drive(calls, || {
        let client = client.clone();
        async move {
            let answer = client
                .get_queue_attributes()
                .queue_url(QUEUE_URL)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                .send()
                .await
                .expect("queue attributes");
            assert!(answer.attributes().is_some());
        }
    })
    .await;
}

/// Starts this binary again as the server and reads its port.
fn start_server(answers: Answers) -> (Child, u16) {
    let jitter = if answers.jitter { "~" } else { "" };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(SERVER_ENV, format!("{}{jitter}", answers.delay.as_millis()))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("server port");
    (child, line.trim().parse().expect("server port"))
}

/// The server: every POST gets the same queue attributes as `answers`
/// says, kept alive.
fn serve(answers: Answers) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{port}").unwrap();
        stdout.flush().unwrap();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move || async move {
                let delay = if answers.jitter {
                    answers.delay.mul_f64(rand::random_range(0.5..1.5))
                } else {
                    answers.delay
                };
                tokio::time::sleep(delay).await;
                ([("content-type", "application/x-amz-json-1.0")], ANSWER)
            }),
        );
        axum::serve(listener, app).await.unwrap();
    });
}
