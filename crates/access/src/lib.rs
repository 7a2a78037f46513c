//! # flowlogd-access
//!
//! What flowlogd can read, and how to grant the rest. For every configured destination
//! (S3 bucket + prefix; Azure containers alike) [`check`] tests the real permissions in the
//! order the sources need them and records, per failure, the exact missing permission and
//! its fix; per account the result is [`Access::Full`] (every destination readable),
//! [`Access::Partial`] or [`Access::None`] ([`access_of`]). The flow-log inventory of each
//! account links flow logs to destinations and reports those whose destination flowlogd
//! does not read. [`view`] renders the report by destination account or by source account;
//! the [`Report`] is `Serialize` for JSON output and the admin endpoint. [`aws::grant`]
//! prints the least-privilege CloudFormation template, [`azure::grant_script`] the az CLI /
//! PowerShell role assignments.
//!
//! ```
//! use flowlogd_access::{access_of, Access, Cloud, DestinationStatus};
//! let d = |readable| DestinationStatus {
//!     cloud: Cloud::Aws, account: "123456789012".into(), region: None,
//!     destination: "s3://logs/".into(), checks: vec![], readable,
//! };
//! assert_eq!(access_of(&[d(true), d(false)]), Access::Partial);
//! ```

pub mod aws;
pub mod azure;
pub mod error;
pub mod model;
pub mod view;
mod yaml;

pub use error::AccessError;
pub use model::{
    access_of, Access, AccountStatus, Cloud, DestinationStatus, FlowLog, PermissionCheck, Report,
};
pub use view::{render, Filter, View};

use flowlogd_sources::{AzureBlobSourceConfig, S3SourceConfig};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckInput {
    pub aws: Vec<S3SourceConfig>,
    /// Azure Blob sources, each probed with its own credentials.
    pub azure: Vec<AzureBlobSourceConfig>,
    /// Also list each account's flow logs (AWS DescribeFlowLogs).
    pub inventory: bool,
    /// Regions the inventory covers besides each source's own.
    pub inventory_regions: Vec<String>,
}

/// Tests every destination and builds the report (unfiltered).
pub async fn check(input: &CheckInput) -> Report {
    let (mut destinations, flow_logs, notes) =
        aws::check_all(&input.aws, input.inventory, &input.inventory_regions).await;
    for cfg in &input.azure {
        destinations.push(azure::probe_source(cfg).await);
    }
    Report::new(destinations, flow_logs, notes)
}
