//! A real AWS API emulator for tests: `moto_server` on a loopback port.
//!
//! The server comes from `.venv/` (made by `scripts/test.sh`), or from the
//! path in `MOTO_SERVER`. Each [`Moto`] is its own server with its own state,
//! so tests do not see each other's queues and services. Dropping it kills
//! the server.
//!
//! The server binds port 0 and its startup line (`* Running on
//! http://127.0.0.1:PORT`, on stderr) says which port the kernel gave it.
//! Probing for a free port and binding it later would leave a window in
//! which another test's emulator takes the port, and a "something answers"
//! readiness check would then point this test at that emulator, queues and
//! all. The startup line comes from this very child, so the port is its own.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Region every emulator test uses.
pub const REGION: &str = "us-east-1";

/// How long a starting server may take to say it listens: generous, since
/// dozens of Python emulators share two cores while the suite runs.
const START_LIMIT: Duration = Duration::from_secs(60);

pub struct Moto {
    child: Child,
    port: u16,
    env: Vec<(String, String)>,
}

fn moto_server_path() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
}

/// The port in werkzeug's startup line ` * Running on http://127.0.0.1:PORT`
/// (its ANSI colours, when present, surround other lines).
pub fn parse_running_on(line: &str) -> Option<u16> {
    let rest = line.split("Running on http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Spawn `moto_server` on `port` (0: any) and wait for its startup line.
/// Returns the child and the port it bound, or `None` if it exited or said
/// nothing in time (e.g. the port was taken). Its stderr is drained for the
/// rest of its life, so its request log never fills the pipe.
fn spawn(port: u16, env: &[(String, String)]) -> Option<(Child, u16)> {
    let path = moto_server_path();
    assert!(
        path.exists(),
        "moto_server not found at {}: run scripts/test.sh (it creates .venv) or set MOTO_SERVER",
        path.display()
    );
    let mut child = Command::new(&path)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("moto_server starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        let mut told = false;
        while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
            if !told {
                if let Some(port) = parse_running_on(&line) {
                    let _ = tx.send(port);
                    told = true;
                }
            }
            line.clear();
        }
        // EOF before the startup line drops `tx`: the receiver sees the exit.
    });
    match rx.recv_timeout(START_LIMIT) {
        Ok(bound) => Some((child, bound)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

impl Moto {
    /// Start a fresh emulator and wait until it listens.
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// As [`Moto::start`], with extra environment for the server (e.g.
    /// `MOTO_ENABLE_RECORDING` and `MOTO_RECORDER_FILEPATH`, which make it
    /// log every request it serves to a file).
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Port 0 cannot conflict; a retry covers a server that dies at start.
        for _ in 0..3 {
            if let Some((child, port)) = spawn(0, &env) {
                return Moto { child, port, env };
            }
        }
        panic!("moto_server did not start");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint URL to give the SDK or the binary (`--endpoint-url`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a child `backlog-scaler` process pointed at this
    /// emulator with dummy credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// SDK config for test code that seeds or inspects the emulator.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }

    /// Kill the server (to test an unreachable endpoint). State is lost.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start a new, empty server on the same port after [`Moto::stop`] (the
    /// code under test keeps its endpoint URL). Another process may take the
    /// port in between; the new server then fails to bind and exits before
    /// its startup line, and binding is retried for a while (the startup
    /// line is from our own child, so a stranger on the port is never
    /// mistaken for it).
    pub fn restart(&mut self) {
        self.stop();
        for _ in 0..20 {
            if let Some((child, port)) = spawn(self.port, &self.env) {
                assert_eq!(port, self.port, "moto_server restarted on its old port");
                self.child = child;
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "moto_server could not bind its old port {} again",
            self.port
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
