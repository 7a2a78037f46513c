//! The access report, shared by every cloud: per destination the permission checks, per
//! account None / Partial / Full, and the flow logs that write into the destinations.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Aws,
    Azure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    None,
    Partial,
    Full,
}

/// One permission tested against one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionCheck {
    /// e.g. `s3:ListBucket`, `sts:AssumeRole`.
    pub action: String,
    /// ARN or URL the action was tried on.
    pub resource: String,
    pub ok: bool,
    /// What the service answered (code and message), when not ok.
    pub error: Option<String>,
    /// What to change so that it passes.
    pub fix: Option<String>,
}

/// A flow-log destination (bucket + prefix, storage container) as flowlogd reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationStatus {
    pub cloud: Cloud,
    /// Account (subscription) that owns the destination.
    pub account: String,
    pub region: Option<String>,
    /// `s3://bucket/prefix/`, or the container URL.
    pub destination: String,
    pub checks: Vec<PermissionCheck>,
    /// Every check passed: flowlogd can list and read it.
    pub readable: bool,
}

impl DestinationStatus {
    /// The first failed check (the permission to grant first).
    pub fn missing(&self) -> Option<&PermissionCheck> {
        self.checks.iter().find(|c| !c.ok)
    }
}

/// Full if every destination is readable, None if none is (or there are none), else
/// Partial.
pub fn access_of(destinations: &[DestinationStatus]) -> Access {
    let readable = destinations.iter().filter(|d| d.readable).count();
    if readable == 0 {
        Access::None
    } else if readable == destinations.len() {
        Access::Full
    } else {
        Access::Partial
    }
}

/// A flow-log configuration found by the inventory (AWS DescribeFlowLogs, Azure Network
/// Watcher).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowLog {
    pub cloud: Cloud,
    pub id: String,
    /// Account (subscription) whose traffic it logs.
    pub account: String,
    pub region: Option<String>,
    /// VPC, subnet, ENI, NSG or VNet it is attached to.
    pub resource: String,
    /// `s3://bucket/prefix/`, a container URL, or the destination as the cloud names it.
    pub destination: String,
    /// `s3`, `cloud-watch-logs`, `kinesis-data-firehose`, `storage`, ...
    pub destination_type: String,
    pub log_format: Option<String>,
    /// `plain-text` or `parquet`.
    pub file_format: Option<String>,
    pub hive_compatible: Option<bool>,
    pub per_hour_partition: Option<bool>,
    pub status: Option<String>,
    /// Account owning the destination, when flowlogd can tell.
    pub destination_account: Option<String>,
    /// Access to the destination: None when it is not a configured destination.
    pub access: Option<Access>,
    /// Why it is not read, and what to do.
    pub fix: Option<String>,
}

/// Per account: None / Partial / Full over its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStatus {
    pub cloud: Cloud,
    pub account: String,
    pub access: Access,
    pub destinations: usize,
    pub readable: usize,
}

/// Everything `access check` found.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Report {
    pub accounts: Vec<AccountStatus>,
    pub destinations: Vec<DestinationStatus>,
    pub flow_logs: Vec<FlowLog>,
    /// Problems found while gathering (an inventory that could not be read, ...).
    pub notes: Vec<String>,
}

impl Report {
    /// Builds the per-account summary from the destinations.
    pub fn new(
        destinations: Vec<DestinationStatus>,
        flow_logs: Vec<FlowLog>,
        notes: Vec<String>,
    ) -> Self {
        let mut keys: Vec<(Cloud, String)> = destinations
            .iter()
            .map(|d| (d.cloud, d.account.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        let accounts = keys
            .into_iter()
            .map(|(cloud, account)| {
                let own: Vec<DestinationStatus> = destinations
                    .iter()
                    .filter(|d| d.cloud == cloud && d.account == account)
                    .cloned()
                    .collect();
                AccountStatus {
                    cloud,
                    access: access_of(&own),
                    destinations: own.len(),
                    readable: own.iter().filter(|d| d.readable).count(),
                    account,
                }
            })
            .collect();
        Self {
            accounts,
            destinations,
            flow_logs,
            notes,
        }
    }

    /// Access of one account (None when unknown).
    pub fn access(&self, cloud: Cloud, account: &str) -> Access {
        self.accounts
            .iter()
            .find(|a| a.cloud == cloud && a.account == account)
            .map_or(Access::None, |a| a.access)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn dest(account: &str, readable: bool) -> DestinationStatus {
        DestinationStatus {
            cloud: Cloud::Aws,
            account: account.into(),
            region: None,
            destination: format!("s3://{account}/"),
            checks: vec![],
            readable,
        }
    }

    #[test]
    fn levels() {
        assert_eq!(access_of(&[]), Access::None);
        assert_eq!(access_of(&[dest("a", true)]), Access::Full);
        assert_eq!(
            access_of(&[dest("a", true), dest("a", false)]),
            Access::Partial
        );
        assert_eq!(access_of(&[dest("a", false)]), Access::None);
        let r = Report::new(
            vec![dest("a", true), dest("b", false), dest("a", false)],
            vec![],
            vec![],
        );
        assert_eq!(r.access(Cloud::Aws, "a"), Access::Partial);
        assert_eq!(r.access(Cloud::Aws, "b"), Access::None);
        assert_eq!(r.to_json()["accounts"][0]["access"], "partial");
    }
}
