//! `[[sources.s3]]` configuration: one flow-log destination (bucket + prefix) and the AWS
//! account identity used to read it.

use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// VPC flow logs delivered to S3 (`<prefix>AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/`,
/// hourly and Hive-compatible layouts too), discovered by listing and, when a queue is set,
/// by S3 event notifications on SQS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3SourceConfig {
    /// Name used in chunk ids and the ledger; keep it stable across restarts.
    pub name: String,
    /// Bucket the flow logs are delivered to.
    pub bucket: String,
    /// Custom prefix of the flow logs inside the bucket (the part before `AWSLogs/`).
    #[serde(default)]
    pub prefix: String,
    /// Region of the bucket (and of the queue); default: the AWS environment's region.
    #[serde(default)]
    pub region: Option<String>,
    /// AWS account that owns the bucket (for access reports); default: the account of the
    /// credentials in use.
    #[serde(default)]
    pub account: Option<String>,
    /// Role in the bucket's account to assume (cross-account access); default: the
    /// credentials of the environment (aws-config's default chain).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// ExternalId required by the role's trust policy.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Session name shown in the account's CloudTrail.
    #[serde(default = "default_session_name")]
    pub session_name: String,
    /// SQS queue receiving the bucket's `s3:ObjectCreated:*` notifications; new objects are
    /// then read within seconds, and listing only catches what notifications missed.
    #[serde(default)]
    pub sqs_queue_url: Option<String>,
    /// How often the bucket is listed (the safety net when a queue is set).
    #[serde(default = "default_list_interval", with = "humantime_serde")]
    pub list_interval: Duration,
    /// Earliest delivery day (UTC, `YYYY-MM-DD`) to read; default: everything in the bucket.
    #[serde(default, with = "opt_date")]
    pub from_date: Option<NaiveDate>,
    /// Upper bound of one chunk (bytes of decompressed text); default as for
    /// [`crate::LocalDirConfig::max_chunk_bytes`].
    #[serde(default)]
    pub max_chunk_bytes: Option<usize>,
    /// S3-compatible endpoint (default: AWS, or `AWS_ENDPOINT_URL`).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), for S3-compatible stores.
    #[serde(default)]
    pub force_path_style: bool,
    /// How long a received notification stays invisible to other readers; extended while
    /// its object is read.
    #[serde(default = "default_visibility", with = "humantime_serde")]
    pub visibility_timeout: Duration,
}

fn default_session_name() -> String {
    "flowlogd".into()
}

const fn default_list_interval() -> Duration {
    Duration::from_secs(300)
}

const fn default_visibility() -> Duration {
    Duration::from_secs(60)
}

impl S3SourceConfig {
    pub fn new(name: impl Into<String>, bucket: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            bucket: bucket.into(),
            prefix: String::new(),
            region: None,
            account: None,
            role_arn: None,
            external_id: None,
            session_name: default_session_name(),
            sqs_queue_url: None,
            list_interval: default_list_interval(),
            from_date: None,
            max_chunk_bytes: None,
            endpoint_url: None,
            force_path_style: false,
            visibility_timeout: default_visibility(),
        }
    }

    /// The configured chunk size, or the Kafka bus's default.
    pub fn chunk_bytes(&self) -> usize {
        self.max_chunk_bytes
            .unwrap_or(crate::localdir::config::KAFKA_CHUNK_BYTES)
    }

    /// The prefix with a trailing `/` (or empty).
    pub fn normalized_prefix(&self) -> String {
        let p = self.prefix.trim_start_matches('/');
        if p.is_empty() || p.ends_with('/') {
            p.to_owned()
        } else {
            format!("{p}/")
        }
    }

    /// The identity this destination is read with.
    pub fn identity(&self) -> AwsIdentity {
        AwsIdentity {
            region: self.region.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            session_name: self.session_name.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }

    /// Problems as (key suffix, message, fix).
    pub fn issues(&self) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        if self.bucket.is_empty() || self.bucket.contains('/') {
            out.push((
                "bucket",
                format!("{:?} is not a bucket name", self.bucket),
                "give the bare bucket name; put folders into prefix".into(),
            ));
        }
        if let Some(n) = self.max_chunk_bytes.filter(|n| *n < 64 * 1024) {
            out.push((
                "max_chunk_bytes",
                format!("{n} is below 64 KiB"),
                "use 1048576 (1 MiB)".into(),
            ));
        }
        if let Some(r) = &self.role_arn {
            if !r.starts_with("arn:") || !r.contains(":role/") {
                out.push((
                    "role_arn",
                    format!("{r:?} is not a role ARN"),
                    "use arn:aws:iam::<account>:role/<name>".into(),
                ));
            }
        } else if self.external_id.is_some() {
            out.push((
                "external_id",
                "external_id without role_arn".into(),
                "set role_arn, or remove external_id".into(),
            ));
        }
        if self.list_interval < Duration::from_secs(1) {
            out.push((
                "list_interval",
                "shorter than one second".into(),
                "use \"5m\"".into(),
            ));
        }
        if self.visibility_timeout < Duration::from_secs(10)
            || self.visibility_timeout > Duration::from_secs(12 * 3600)
        {
            out.push((
                "visibility_timeout",
                format!("{:?} is outside 10 s ..= 12 h", self.visibility_timeout),
                "use \"60s\"".into(),
            ));
        }
        out
    }
}

/// How flowlogd authenticates to one AWS account: the default credential chain, optionally
/// followed by assuming a role (credentials are refreshed by the provider before expiry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AwsIdentity {
    pub region: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub session_name: String,
    pub endpoint_url: Option<String>,
}

impl AwsIdentity {
    /// Account of the role ARN, if any.
    pub fn role_account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(|r| r.split(':').nth(4))
    }
}

/// `YYYY-MM-DD` in TOML strings (chrono's serde feature would rebuild its dependents).
mod opt_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&d.format("%Y-%m-%d").to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| {
                serde::de::Error::custom(format!("from_date {s:?}: {e}; use YYYY-MM-DD"))
            })
        })
        .transpose()
    }
}
