//! `--log-format` and `--log-level`, shared by the commands that log.
//!
//! The level comes from `--log-level`, else `RUST_LOG`, else `info`. Logs go
//! to stderr, so a command's own output on stdout stays clean. The SDK's
//! targets that would print credentials are capped at every level.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level or filter (`debug`, `warn`, `info,backlog_scaler=debug`);
    /// overrides RUST_LOG.
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
}

/// The SDK's own info lines (which credential provider it picked) are
/// noise at the default level.
const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn";

/// Targets of the SDK whose lines print the resolved credentials (the
/// access key ID; the secret key and session token are redacted by the SDK
/// itself) or the request being signed, capped whatever level is asked for:
/// the orchestrator's endpoint and identity lines are at debug and trace,
/// SigV4's at trace. Found by `tests/security.rs`, which runs the binary at
/// `trace` with distinctive credentials.
const CREDENTIAL_BEARING_TARGETS: &[&str] = &[
    "aws_smithy_runtime::client::orchestrator=info",
    "aws_sigv4=debug",
];

/// `filter` with the [`CREDENTIAL_BEARING_TARGETS`] capped. A directive for
/// a longer target wins over a shorter one or a bare level, so `trace` or
/// `aws_smithy_runtime=trace` cannot lift the cap.
fn cap_credential_bearing_targets(mut filter: EnvFilter) -> EnvFilter {
    for directive in CREDENTIAL_BEARING_TARGETS {
        // The constants are valid directives (a unit test parses them).
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

pub fn init(args: &LogArgs) -> anyhow::Result<()> {
    let filter = match &args.log_level {
        Some(level) => EnvFilter::try_new(level)
            .with_context(|| format!("--log-level {level:?} is not a valid level or filter"))?,
        None => match std::env::var("RUST_LOG") {
            Ok(value) if !value.trim().is_empty() => EnvFilter::try_new(&value)
                .with_context(|| format!("RUST_LOG={value:?} is not a valid level or filter"))?,
            _ => EnvFilter::new(DEFAULT_FILTER),
        },
    };
    let filter = cap_credential_bearing_targets(filter);
    // Colours only for a person at a terminal, never into a log pipeline.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    let result = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|error| anyhow::anyhow!("cannot set up logging: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caps_parse_and_outrank_a_global_trace() {
        for directive in CREDENTIAL_BEARING_TARGETS {
            directive
                .parse::<tracing_subscriber::filter::Directive>()
                .unwrap_or_else(|e| panic!("{directive}: {e}"));
        }
        let filter =
            cap_credential_bearing_targets(EnvFilter::new("trace,aws_smithy_runtime=trace"));
        let text = filter.to_string();
        assert!(
            text.contains("aws_smithy_runtime::client::orchestrator=info"),
            "{text}"
        );
        assert!(text.contains("aws_sigv4=debug"), "{text}");
    }
}
