//! `backlog-scaler healthcheck`: ask a running controller's `/healthz` (or
//! `/readyz`) and exit 0 on `200 OK`, 1 otherwise.
//!
//! Container health checks run a command inside the container, and the
//! small images the controller ships in have no `curl` or `wget`; the
//! binary itself is the probe: `HEALTHCHECK CMD ["backlog-scaler",
//! "healthcheck"]`. One GET on a loopback connection needs no HTTP client
//! library: the request is fixed and only the status line matters.

use super::duration_arg::parse_duration;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The address the controller serves on (its `--listen`); an
    /// unspecified address such as 0.0.0.0 is asked on loopback.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9090",
        env = "BACKLOG_SCALER_LISTEN"
    )]
    pub listen: SocketAddr,
    /// Ask /readyz (every policy evaluated, none failing) instead of
    /// /healthz (the process and its loop are alive).
    #[arg(long)]
    pub ready: bool,
    /// Give up after this long.
    #[arg(long, value_name = "DURATION", default_value = "3s",
          value_parser = parse_duration)]
    pub timeout: Duration,
}

pub fn execute(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let address = reachable(args.listen);
    let path = if args.ready { "/readyz" } else { "/healthz" };
    let (status_line, body) =
        get(address, path, args.timeout).with_context(|| format!("GET http://{address}{path}"))?;
    print!("{body}");
    if !body.is_empty() && !body.ends_with('\n') {
        println!();
    }
    if status_line.split(' ').nth(1) == Some("200") {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("unhealthy: GET http://{address}{path}: {status_line}");
        Ok(ExitCode::from(1))
    }
}

/// Where to connect to reach a server listening on `listen`.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The status line and the body of `GET path`, within `timeout` in all.
fn get(address: SocketAddr, path: &str, timeout: Duration) -> anyhow::Result<(String, String)> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let mut stream = TcpStream::connect_timeout(&address, left()).context("cannot connect")?;
    stream.set_write_timeout(Some(left()))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .context("cannot send the request")?;
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        stream.set_read_timeout(Some(left()))?;
        match stream.read(&mut buffer).context("no complete answer")? {
            0 => break,
            n => response.extend_from_slice(&buffer[..n]),
        }
        // The answers are a few kilobytes; never hold more than a probe needs.
        if response.len() > 64 * 1024 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default().to_owned();
    anyhow::ensure!(
        status_line.starts_with("HTTP/"),
        "not an HTTP answer: {status_line:?}"
    );
    Ok((status_line, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_address_is_asked_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        assert_eq!(reachable(v4), "127.0.0.1:9090".parse().unwrap());
        let v6: SocketAddr = "[::]:9090".parse().unwrap();
        assert_eq!(reachable(v6), "[::1]:9090".parse().unwrap());
        let given: SocketAddr = "10.0.0.5:8080".parse().unwrap();
        assert_eq!(reachable(given), given);
    }
}
