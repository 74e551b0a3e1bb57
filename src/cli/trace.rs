//! `backlog-scaler trace export`: write a queue's arrivals from CloudWatch
//! as a trace the simulator replays.
//!
//! The SDK configuration is the one every command uses (timeouts, retries,
//! the region check), and the queue is looked up in SQS first: CloudWatch
//! answers a query for a queue that does not exist with no datapoints,
//! which would be a trace of empty minutes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::aws_args::{self, AwsArgs};
use backlog_scaler::aws::{ApiCalls, SentMessages, SqsQueues};
use backlog_scaler::ports::{error_chain, QueueDepthReader};
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
    #[command(flatten)]
    aws: AwsArgs,
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
        let config = aws_args::load_config(&args.aws).await?;
        let queues = SqsQueues::new(aws_sdk_sqs::Client::new(&config), Arc::new(ApiCalls::new()));
        queues
            .queue_depth(&args.queue)
            .await
            .map_err(|error| anyhow::anyhow!("{}", error_chain(&error)))?;
        let sent = SentMessages::new(&config);
        anyhow::Ok(trace_export::fetch_arrivals(&sent, &args.queue, range).await?)
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
