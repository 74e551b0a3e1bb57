//! A real AWS API emulator for tests: `moto_server` on a free loopback port.
//!
//! The server comes from `.venv/` (made by `scripts/test.sh`), or from the
//! path in `MOTO_SERVER`. Each [`Moto`] is its own server with its own state,
//! so tests do not see each other's queues and services. Dropping it kills
//! the server.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Region every emulator test uses.
pub const REGION: &str = "us-east-1";

pub struct Moto {
    child: Child,
    port: u16,
}

fn moto_server_path() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

impl Moto {
    /// Start a fresh emulator and wait until it answers.
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// As [`Moto::start`], with extra environment for the server (e.g.
    /// `MOTO_ENABLE_RECORDING` and `MOTO_RECORDER_FILEPATH`, which make it
    /// log every request it serves to a file).
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let path = moto_server_path();
        assert!(
            path.exists(),
            "moto_server not found at {}: run scripts/test.sh (it creates .venv) or set MOTO_SERVER",
            path.display()
        );
        // A port can be taken between probing and binding; retry a few times.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&path)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server starts");
            let mut moto = Moto { child, port };
            if moto.wait_ready(Duration::from_secs(30)) {
                return moto;
            }
            let _ = moto.child.kill();
        }
        panic!("moto_server did not start");
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
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

    /// Start a new, empty server on the same port after [`Moto::stop`].
    pub fn restart(&mut self) {
        self.stop();
        let path = moto_server_path();
        self.child = Command::new(&path)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server restarts");
        assert!(
            self.wait_ready(Duration::from_secs(30)),
            "moto_server restarted"
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
