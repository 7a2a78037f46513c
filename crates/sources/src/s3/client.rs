//! AWS clients for one identity: the default credential chain, an assumed role on top when
//! configured, the SDK's standard retry mode (throttling such as 503 SlowDown, 5xx and
//! connection errors are retried with jittered exponential backoff).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use super::config::AwsIdentity;

/// Attempts per request (first try included).
pub const MAX_ATTEMPTS: u32 = 10;

/// Loads the shared config of an identity. Assuming the role happens lazily on the first
/// request; the provider caches the session and renews it before it expires.
pub async fn sdk_config(id: &AwsIdentity) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(10)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(r) = &id.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(e) = &id.endpoint_url {
        loader = loader.endpoint_url(e.clone());
    }
    let base = loader.load().await;
    let Some(role) = &id.role_arn else {
        return base;
    };
    let mut builder = AssumeRoleProvider::builder(role.clone()).session_name(&id.session_name);
    if let Some(x) = &id.external_id {
        builder = builder.external_id(x.clone());
    }
    if let Some(r) = &id.region {
        builder = builder.region(Region::new(r.clone()));
    }
    let provider = builder.configure(&base).build().await;
    base.into_builder()
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(provider))
        .build()
}

pub fn s3_client(shared: &SdkConfig, force_path_style: bool) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(shared)
        .force_path_style(force_path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn sqs_client(shared: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(shared)
}

pub fn sts_client(shared: &SdkConfig) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(shared)
}
