//! `--region` and `--endpoint-url`, shared by the commands that call AWS.

use backlog_scaler::aws::AwsSettings;

#[derive(Debug, Clone, clap::Args)]
pub struct AwsArgs {
    /// AWS region; defaults to the standard chain (AWS_REGION, profile, IMDS).
    #[arg(long)]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (LocalStack, moto). The
    /// AWS_ENDPOINT_URL environment variable works too.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

impl AwsArgs {
    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            ..AwsSettings::default()
        }
    }
}

/// The SDK configuration, refusing to go on without a region: every call
/// would fail, and the error would be far less clear.
pub async fn load_config(args: &AwsArgs) -> anyhow::Result<aws_config::SdkConfig> {
    let config = backlog_scaler::aws::load_sdk_config(&args.settings()).await;
    if config.region().is_none() {
        anyhow::bail!(
            "no AWS region: pass --region or set AWS_REGION (or a region in your profile)"
        );
    }
    Ok(config)
}
