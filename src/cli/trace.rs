//! `backlog-scaler trace export`: write a queue's arrivals from CloudWatch
//! as a trace the simulator replays.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use backlog_scaler::trace_export::{self, MinuteRange};

#[derive(Debug, clap::Subcommand)]
pub enum TraceCommand {
    /// Export a queue's arrivals (NumberOfMessagesSent, per minute) from
    /// CloudWatch as a `t_seconds,arrivals` trace.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Queue name or URL.
    #[arg(long, value_name = "NAME_OR_URL")]
    queue: String,
    /// Start: how long ago (7d, 36h) or an RFC 3339 time.
    #[arg(long, value_name = "AGO_OR_TIME")]
    since: String,
    /// End: how long ago or an RFC 3339 time (default: now).
    #[arg(long, value_name = "AGO_OR_TIME")]
    until: Option<String>,
    /// Where to write the trace.
    #[arg(long, value_name = "FILE.csv")]
    out: PathBuf,
    /// AWS region (default: from the environment or profile).
    #[arg(long)]
    region: Option<String>,
    /// Send CloudWatch requests here instead of AWS (e.g. an emulator).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
}

pub fn execute(command: TraceCommand) -> anyhow::Result<ExitCode> {
    match command {
        TraceCommand::Export(args) => export(args),
    }
}

/// A point in time from `7d` (that long before `now`) or an RFC 3339 time.
fn point_in_time(text: &str, now: SystemTime, flag: &str) -> anyhow::Result<i64> {
    let at = match humantime::parse_duration(text) {
        Ok(ago) => now.checked_sub(ago).unwrap_or(UNIX_EPOCH),
        Err(_) => humantime::parse_rfc3339_weak(text).map_err(|_| {
            anyhow::anyhow!(
                "{flag} `{text}` is neither a duration ago (7d, 36h) nor a time (2024-05-01T12:00:00Z)"
            )
        })?,
    };
    Ok(at
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64)
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let now = SystemTime::now();
    let start = point_in_time(&args.since, now, "--since")?;
    let end = match &args.until {
        Some(until) => point_in_time(until, now, "--until")?,
        None => point_in_time("0s", now, "--until")?,
    };
    let range = MinuteRange::new(start, end)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let rows = runtime.block_on(async {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &args.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &args.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        let client = aws_sdk_cloudwatch::Client::new(&config);
        trace_export::fetch_arrivals(&client, &args.queue, range).await
    })?;
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    trace_export::write_trace(&rows, std::io::BufWriter::new(file))?;
    let total: u64 = rows.iter().map(|&(_, n)| n).sum();
    eprintln!(
        "wrote {} minutes ({total} messages) to {}",
        rows.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
