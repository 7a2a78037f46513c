//! Probing a configured `[[sources.azure_blob]]` with the credentials the source itself
//! would use.

use std::time::SystemTime;

use flowlogd_sources::azure_blob::{account_from_endpoint, AzureBlobSourceConfig, ContainerAuth};

use super::probe::{probe_container, BLOB_READ_ACTION};
use crate::model::{Cloud, DestinationStatus, PermissionCheck};

/// The access status of one Azure Blob source: its container probed with its own auth. A
/// source whose credentials cannot even be set up (a variable not set, a malformed
/// connection string) is reported as not readable, with the reason.
pub async fn probe_source(cfg: &AzureBlobSourceConfig) -> DestinationStatus {
    let mut auth = match ContainerAuth::new(cfg) {
        Ok(a) => a,
        Err(e) => return unusable(cfg, e.to_string()),
    };
    let account = auth.account().to_owned();
    match auth.client(SystemTime::now()) {
        Ok(client) => probe_container(&client, &account, &cfg.container).await,
        Err(e) => unusable(cfg, e.to_string()),
    }
}

fn unusable(cfg: &AzureBlobSourceConfig, error: String) -> DestinationStatus {
    let account = cfg
        .account_url
        .as_deref()
        .map(account_from_endpoint)
        .unwrap_or_default();
    DestinationStatus {
        cloud: Cloud::Azure,
        account: account.clone(),
        region: None,
        destination: format!("{account}/{}", cfg.container),
        checks: vec![PermissionCheck {
            action: BLOB_READ_ACTION.into(),
            resource: format!("source {} credentials", cfg.name),
            ok: false,
            error: Some(error),
            fix: Some(format!(
                "fix the auth settings of source {} (flowlogd validate-config names the key)",
                cfg.name
            )),
        }],
        readable: false,
    }
}
