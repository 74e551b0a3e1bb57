//! A fault-injecting HTTP/1.1 proxy for tests: the controller talks to the
//! proxy, the proxy to the emulator (moto). Per AWS operation, and while a
//! fault is switched on, it answers as a failing AWS would: throttling
//! errors with each protocol's status and body, 500 and 503, slow answers,
//! no answer at all, connections closed without an answer, and 200s with a
//! body that is not what the protocol promises. It logs every request's
//! operation and time, so tests can count calls and measure their spacing.
//!
//! The operation is found as the SDK sends it: the `X-Amz-Target` header for
//! the JSON protocols (`AmazonSQS.GetQueueAttributes`,
//! `AmazonEC2ContainerServiceV20141113.UpdateService`,
//! `DynamoDB_20120810.PutItem`), `Action=` in the form body for the query
//! protocol (CloudWatch's `PutMetricData`).
//!
//! HTTP/1.1 is handled by hand (the SDK sends bodies with a
//! `Content-Length`), because a proxy built on an HTTP library could not
//! easily close a connection mid-request or never answer. Each forwarded
//! request opens its own connection to the emulator.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a request instead of (or before) forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The protocol's throttling error: `ThrottlingException` (JSON, 400),
    /// `RequestThrottled` (SQS's JSON, 400 with `x-amzn-query-error`),
    /// `Throttling` (query, 400 XML `ErrorResponse`).
    Throttle,
    /// An error with this status: 500 `InternalFailure`, 503
    /// `ServiceUnavailable`, in the protocol's error format.
    Status(u16),
    /// Forward, but only after this long.
    Delay(Duration),
    /// Never answer; the connection stays open until the client gives up.
    Hang,
    /// Close the connection without an answer.
    Drop,
    /// Answer 200 with a body that is not JSON or XML.
    Garbage,
}

impl Fault {
    /// A short name for logs and assertions.
    pub fn name(&self) -> String {
        match self {
            Fault::Throttle => "throttle".into(),
            Fault::Status(code) => format!("http {code}"),
            Fault::Delay(delay) => format!("delay {delay:?}"),
            Fault::Hang => "hang".into(),
            Fault::Drop => "drop".into(),
            Fault::Garbage => "garbage".into(),
        }
    }
}

struct Rule {
    operation: String,
    /// Only requests whose body contains this (a queue URL, a cluster).
    matching: Option<String>,
    fault: Fault,
    until: Option<Instant>,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub operation: String,
    pub at: Instant,
    pub body: String,
    /// The fault applied to it, if any.
    pub fault: Option<Fault>,
}

struct Inner {
    upstream: SocketAddr,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
}

#[derive(Clone)]
pub struct FaultProxy {
    inner: Arc<Inner>,
    address: SocketAddr,
}

impl FaultProxy {
    /// A proxy on a free loopback port, forwarding to the emulator on
    /// `upstream_port`. It runs on the calling test's runtime.
    pub async fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let inner = Arc::new(Inner {
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        let accepting = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(accepting.clone(), stream));
            }
        });
        FaultProxy { inner, address }
    }

    /// The endpoint URL to give the SDK.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Apply `fault` to every request of `operation` until cleared.
    pub fn inject(&self, operation: &str, fault: Fault) {
        self.add(operation, None, fault, None);
    }

    /// Apply `fault` to requests of `operation` whose body contains
    /// `matching` (one queue's URL, one cluster's name) until cleared.
    pub fn inject_matching(&self, operation: &str, matching: &str, fault: Fault) {
        self.add(operation, Some(matching.to_owned()), fault, None);
    }

    /// Apply `fault` to every request of `operation` for `period`.
    pub fn inject_for(&self, operation: &str, fault: Fault, period: Duration) {
        self.add(operation, None, fault, Some(Instant::now() + period));
    }

    fn add(&self, operation: &str, matching: Option<String>, fault: Fault, until: Option<Instant>) {
        self.inner.rules.lock().unwrap().push(Rule {
            operation: operation.to_owned(),
            matching,
            fault,
            until,
        });
    }

    /// Switch every fault off.
    pub fn clear(&self) {
        self.inner.rules.lock().unwrap().clear();
    }

    /// Every request of `operation` seen so far.
    pub fn requests(&self, operation: &str) -> Vec<Seen> {
        let seen = self.inner.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.operation == operation)
            .cloned()
            .collect()
    }

    /// Requests of `operation` seen so far.
    pub fn count(&self, operation: &str) -> usize {
        self.requests(operation).len()
    }
}

impl Inner {
    fn fault_for(&self, operation: &str, body: &str) -> Option<Fault> {
        let now = Instant::now();
        let rules = self.rules.lock().unwrap();
        rules
            .iter()
            .filter(|rule| rule.until.is_none_or(|until| now < until))
            .filter(|rule| rule.operation == operation)
            .find(|rule| rule.matching.as_ref().is_none_or(|m| body.contains(m)))
            .map(|rule| rule.fault.clone())
    }
}

/// An HTTP/1.1 message: its head (start line and headers) and body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The head and body, framed by `Content-Length`, with `connection`.
    fn to_bytes(&self, connection: &str) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if [
                "connection",
                "content-length",
                "transfer-encoding",
                "keep-alive",
            ]
            .contains(&lower.as_str())
            {
                continue;
            }
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &str) -> (String, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    (start, headers)
}

/// Read one request from `stream` (bytes already read are in `buffer`).
/// `None` when the client closed the connection.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Message> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let (start, headers) = parse_head(&head);
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let total = head_end + 4 + length;
    while buffer.len() < total {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[head_end + 4..total].to_vec();
    buffer.drain(..total);
    Some(Message {
        start,
        headers,
        body,
    })
}

/// The AWS operation a request calls.
fn operation(request: &Message) -> String {
    if let Some(target) = request.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let body = String::from_utf8_lossy(&request.body);
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_owned()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// awsJson 1.0 / 1.1 (ECS, DynamoDB).
    Json,
    /// SQS's JSON protocol, which also names the error's query-protocol code
    /// in `x-amzn-query-error`.
    SqsJson,
    /// The query protocol (CloudWatch): form body, XML answers.
    Query,
}

fn protocol(request: &Message) -> Protocol {
    match request.header("x-amz-target") {
        Some(target) if target.starts_with("AmazonSQS.") => Protocol::SqsJson,
        Some(_) => Protocol::Json,
        None => Protocol::Query,
    }
}

/// An AWS error answer in the request's protocol.
fn error_answer(request: &Message, status: u16, code: &str, fault: &str) -> Message {
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let start = format!("HTTP/1.1 {status} {reason}");
    let message = "injected by the test's fault proxy";
    let json_type = request
        .header("content-type")
        .unwrap_or("application/x-amz-json-1.1")
        .to_owned();
    match protocol(request) {
        Protocol::Json => Message {
            start,
            headers: vec![("Content-Type".into(), json_type)],
            body: format!(r#"{{"__type":"{code}","message":"{message}"}}"#).into_bytes(),
        },
        Protocol::SqsJson => Message {
            start,
            headers: vec![
                ("Content-Type".into(), json_type),
                ("x-amzn-query-error".into(), format!("{code};{fault}")),
            ],
            body: format!(r#"{{"__type":"com.amazonaws.sqs#{code}","message":"{message}"}}"#)
                .into_bytes(),
        },
        Protocol::Query => Message {
            start,
            headers: vec![("Content-Type".into(), "text/xml".into())],
            body: format!(
                "<ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error>\
                 <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
            )
            .into_bytes(),
        },
    }
}

fn throttling_answer(request: &Message) -> Message {
    match protocol(request) {
        Protocol::Json => error_answer(request, 400, "ThrottlingException", "Sender"),
        Protocol::SqsJson => error_answer(request, 400, "RequestThrottled", "Sender"),
        Protocol::Query => error_answer(request, 400, "Throttling", "Sender"),
    }
}

fn status_answer(request: &Message, status: u16) -> Message {
    let code = match status {
        503 => "ServiceUnavailable",
        _ => "InternalFailure",
    };
    error_answer(request, status, code, "Receiver")
}

fn garbage_answer(request: &Message) -> Message {
    let content_type = match protocol(request) {
        Protocol::Query => "text/xml".to_owned(),
        _ => request
            .header("content-type")
            .unwrap_or("application/x-amz-json-1.1")
            .to_owned(),
    };
    Message {
        start: "HTTP/1.1 200 OK".into(),
        headers: vec![("Content-Type".into(), content_type)],
        body: b"\x00\xff<<not {\"json\": or <xml".to_vec(),
    }
}

/// Forward `request` to the emulator on a connection of its own and read
/// the whole answer.
async fn forward(upstream: SocketAddr, request: &Message) -> std::io::Result<Message> {
    let mut stream = TcpStream::connect(upstream).await?;
    stream.write_all(&request.to_bytes("close")).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let head_end = find(&raw, b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no header block"))?;
    let (start, headers) = parse_head(&String::from_utf8_lossy(&raw[..head_end]));
    let rest = &raw[head_end + 4..];
    let mut answer = Message {
        start,
        headers,
        body: Vec::new(),
    };
    answer.body = if answer
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)
    } else if let Some(length) = answer.header("content-length").and_then(|v| v.parse().ok()) {
        rest[..usize::min(length, rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(answer)
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = find(rest, b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let end = usize::min(start + size, rest.len());
        body.extend_from_slice(&rest[start..end]);
        rest = &rest[usize::min(end + 2, rest.len())..];
    }
    body
}

/// Serve one client connection: requests one after another (keep-alive).
async fn serve(inner: Arc<Inner>, mut stream: TcpStream) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer).await {
        let operation = operation(&request);
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let fault = inner.fault_for(&operation, &body);
        inner.seen.lock().unwrap().push(Seen {
            operation,
            at: Instant::now(),
            body,
            fault: fault.clone(),
        });
        let answer = match fault {
            None => forward(inner.upstream, &request).await,
            Some(Fault::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                forward(inner.upstream, &request).await
            }
            Some(Fault::Hang) => {
                // Until the client hangs up.
                let mut byte = [0u8; 1];
                let _ = stream.read(&mut byte).await;
                return;
            }
            Some(Fault::Drop) => return,
            Some(Fault::Throttle) => Ok(throttling_answer(&request)),
            Some(Fault::Status(status)) => Ok(status_answer(&request, status)),
            Some(Fault::Garbage) => Ok(garbage_answer(&request)),
        };
        let Ok(answer) = answer else {
            // The emulator is down: as a load balancer would.
            return;
        };
        if stream
            .write_all(&answer.to_bytes("keep-alive"))
            .await
            .is_err()
        {
            return;
        }
    }
}
