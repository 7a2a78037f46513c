//! `[[sources.azure_blob]]` configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Container of VNet flow logs (Network Watcher writes it on its own).
pub const VNET_CONTAINER: &str = "insights-logs-flowlogflowevent";
/// Container of the legacy NSG flow logs.
pub const NSG_CONTAINER: &str = "insights-logs-networksecuritygroupflowevent";

/// One flow-log container of one storage account. Hourly `PT1H.json` blobs are listed by
/// prefix and read incrementally: each poll reads only the bytes appended since the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureBlobSourceConfig {
    /// Name used in chunk ids and the ledger; keep it stable across restarts.
    pub name: String,
    /// Blob endpoint of the storage account, e.g. `https://acct.blob.core.windows.net`.
    /// Required with `auth = "sas"` and `auth = "default"`; with `auth = "connection_string"`
    /// it overrides the connection string's endpoint.
    #[serde(default)]
    pub account_url: Option<String>,
    /// Container: `insights-logs-flowlogflowevent` (VNet flow logs, the default) or
    /// `insights-logs-networksecuritygroupflowevent` (NSG flow logs).
    #[serde(default = "default_container")]
    pub container: String,
    /// Only blobs whose name starts with this (e.g. one subscription's
    /// `resourceId=/SUBSCRIPTIONS/<id>/`).
    #[serde(default)]
    pub prefix: String,
    /// How flowlogd authenticates.
    #[serde(default)]
    pub auth: AzureAuth,
    /// Environment variable holding the connection string (`auth = "connection_string"`).
    /// An `AccountKey` is used to sign short-lived read-only account SAS tokens locally; a
    /// `SharedAccessSignature` is used as is.
    #[serde(default = "default_connection_string_env")]
    pub connection_string_env: String,
    /// Environment variable holding a SAS token (`auth = "sas"`), with read and list
    /// permissions on the container.
    #[serde(default = "default_sas_env")]
    pub sas_env: String,
    /// Entra ID credential for `auth = "default"`.
    #[serde(default)]
    pub credential: AzureCredentialKind,
    /// How often the container is listed in continuous mode.
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often continuous mode lists the whole container (under `prefix`); the polls in
    /// between list only the hours still being written (the current one and those that
    /// ended less than `settle_after_hour` ago) of the flow logs already seen. A new NSG or
    /// flow log, or a blob written into an older hour, is found by the next full listing.
    /// `0s` lists everything on every poll.
    #[serde(default = "default_full_listing", with = "humantime_serde")]
    pub full_listing_interval: Duration,
    /// Upper bound of one chunk (bytes of JSON).
    #[serde(default = "default_max_chunk_bytes")]
    pub max_chunk_bytes: usize,
    /// Azure keeps appending to an hour's blob for a while after the hour ends. A blob whose
    /// hour ended longer ago than this, read to its end, is considered final; it is still
    /// re-read (new bytes only) if it changes afterwards.
    #[serde(default = "default_settle_after_hour", with = "humantime_serde")]
    pub settle_after_hour: Duration,
}

/// `auth` of `[[sources.azure_blob]]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AzureAuth {
    /// A storage connection string from the environment (`connection_string_env`).
    #[default]
    ConnectionString,
    /// A SAS token from the environment (`sas_env`) with `account_url`.
    Sas,
    /// Entra ID (`credential`): managed identity, workload identity or developer tools.
    Default,
}

/// `credential` of `[[sources.azure_blob]]` (with `auth = "default"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AzureCredentialKind {
    /// Workload identity when `AZURE_FEDERATED_TOKEN_FILE` is set; otherwise the Azure CLI /
    /// Azure Developer CLI login, then the managed identity.
    #[default]
    Auto,
    ManagedIdentity,
    WorkloadIdentity,
    /// `az login` or `azd auth login`.
    DeveloperTools,
}

/// A problem in one key of the config, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub field: &'static str,
    pub problem: String,
    pub fix: String,
}

fn default_container() -> String {
    VNET_CONTAINER.into()
}

fn default_connection_string_env() -> String {
    "AZURE_STORAGE_CONNECTION_STRING".into()
}

fn default_sas_env() -> String {
    "AZURE_STORAGE_SAS_TOKEN".into()
}

const fn default_poll() -> Duration {
    Duration::from_secs(60)
}

const fn default_full_listing() -> Duration {
    Duration::from_secs(3600)
}

const fn default_max_chunk_bytes() -> usize {
    1 << 20
}

const fn default_settle_after_hour() -> Duration {
    Duration::from_secs(15 * 60)
}

impl AzureBlobSourceConfig {
    pub fn new(name: &str, container: &str) -> Self {
        Self {
            name: name.into(),
            account_url: None,
            container: container.into(),
            prefix: String::new(),
            auth: AzureAuth::default(),
            connection_string_env: default_connection_string_env(),
            sas_env: default_sas_env(),
            credential: AzureCredentialKind::default(),
            poll_interval: default_poll(),
            full_listing_interval: default_full_listing(),
            max_chunk_bytes: default_max_chunk_bytes(),
            settle_after_hour: default_settle_after_hour(),
        }
    }

    /// Every problem of this table, including secrets missing from the environment.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut push = |field, problem: String, fix: &str| {
            out.push(ConfigProblem {
                field,
                problem,
                fix: fix.into(),
            })
        };
        if self.name.trim().is_empty() {
            push("name", "is empty".into(), "set name = \"azure-vnet\"");
        }
        if !valid_container(&self.container) {
            push(
                "container",
                format!("{:?} is not a valid container name", self.container),
                "use insights-logs-flowlogflowevent (VNet) or insights-logs-networksecuritygroupflowevent (NSG)",
            );
        }
        if let Some(u) = &self.account_url {
            match azure_core::http::Url::parse(u) {
                Ok(url) if matches!(url.scheme(), "https" | "http") && url.query().is_none() => {}
                Ok(_) => push(
                    "account_url",
                    format!("{u:?} is not an http(s) endpoint without a query"),
                    "use https://<account>.blob.core.windows.net and put a SAS token in sas_env",
                ),
                Err(e) => push(
                    "account_url",
                    format!("{u:?} is not a URL: {e}"),
                    "use https://<account>.blob.core.windows.net",
                ),
            }
        }
        match self.auth {
            AzureAuth::ConnectionString => {
                match std::env::var(&self.connection_string_env) {
                    Err(_) => push(
                        "connection_string_env",
                        format!(
                            "environment variable {} is not set",
                            self.connection_string_env
                        ),
                        "export the storage account's connection string in it, or use auth = \"default\"",
                    ),
                    Ok(s) => {
                        if let Err(e) = super::auth::ConnectionString::parse(&s) {
                            push(
                                "connection_string_env",
                                format!("{}: {e}", self.connection_string_env),
                                "copy the connection string from the portal (Access keys)",
                            );
                        }
                    }
                }
            }
            AzureAuth::Sas => {
                if self.account_url.is_none() {
                    push(
                        "account_url",
                        "auth = \"sas\" needs the account endpoint".into(),
                        "set account_url = \"https://<account>.blob.core.windows.net\"",
                    );
                }
                if std::env::var(&self.sas_env).is_err() {
                    push(
                        "sas_env",
                        format!("environment variable {} is not set", self.sas_env),
                        "export a SAS token with read and list permission (sp=rl) in it",
                    );
                }
            }
            AzureAuth::Default => {
                if self.account_url.is_none() {
                    push(
                        "account_url",
                        "auth = \"default\" needs the account endpoint".into(),
                        "set account_url = \"https://<account>.blob.core.windows.net\"",
                    );
                }
            }
        }
        if self.max_chunk_bytes < 64 * 1024 {
            push(
                "max_chunk_bytes",
                format!("{} is below 64 KiB", self.max_chunk_bytes),
                "use 1048576 (1 MiB)",
            );
        }
        if self.poll_interval.is_zero() {
            push(
                "poll_interval",
                "is zero".into(),
                "use \"60s\" (Azure re-commits flow-log blobs about every minute)",
            );
        }
        out
    }
}

/// Azure's rule: 3-63 characters of lower-case letters, digits and single dashes.
fn valid_container(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_problems() {
        let mut c = AzureBlobSourceConfig::new("a", VNET_CONTAINER);
        c.auth = AzureAuth::Sas;
        c.account_url = Some("https://x.blob.core.windows.net".into());
        c.sas_env = "FLOWLOGD_TEST_UNSET_SAS".into();
        assert_eq!(c.poll_interval, Duration::from_secs(60));
        let p = c.problems();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].field, "sas_env");

        let mut c = AzureBlobSourceConfig::new("", "Bad_Name");
        c.auth = AzureAuth::Default;
        let fields: Vec<_> = c.problems().iter().map(|p| p.field).collect();
        assert_eq!(fields, vec!["name", "container", "account_url"]);
        assert!(valid_container(NSG_CONTAINER));
    }
}
