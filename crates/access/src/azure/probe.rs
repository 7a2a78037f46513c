//! Testing the real permissions on a container: list its blobs, read one.

use azure_core::http::StatusCode;
use azure_storage_blob::models::{BlobClientDownloadOptions, BlobContainerClientListBlobsOptions};
use azure_storage_blob::BlobContainerClient;
use futures::TryStreamExt;

use crate::model::{Cloud, DestinationStatus, PermissionCheck};

/// The RBAC data action behind both List Blobs and Get Blob.
pub const BLOB_READ_ACTION: &str =
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read";

/// Lists `container` (one page of one blob) and reads the first byte of the first blob
/// found, with whatever credentials `client` carries. `account` names the storage account
/// in the report and the fix.
pub async fn probe_container(
    client: &BlobContainerClient,
    account: &str,
    container: &str,
) -> DestinationStatus {
    let resource = format!("storageAccounts/{account}/blobServices/default/containers/{container}");
    let mut checks = Vec::new();
    let listed = list_one(client).await;
    let first = match listed {
        Ok(first) => {
            checks.push(PermissionCheck {
                action: BLOB_READ_ACTION.into(),
                resource: format!("{resource} (list blobs)"),
                ok: true,
                error: None,
                fix: None,
            });
            first
        }
        Err(e) => {
            checks.push(PermissionCheck {
                action: BLOB_READ_ACTION.into(),
                resource: format!("{resource} (list blobs)"),
                ok: false,
                fix: Some(fix_for(&e, account, container)),
                error: Some(e.to_string()),
            });
            None
        }
    };
    if let Some(name) = first {
        let r = read_one(client, &name).await;
        checks.push(PermissionCheck {
            action: BLOB_READ_ACTION.into(),
            resource: format!("{resource}/blobs/{name}"),
            ok: r.is_ok(),
            fix: r.as_ref().err().map(|e| fix_for(e, account, container)),
            error: r.err().map(|e| e.to_string()),
        });
    }
    let readable = !checks.is_empty() && checks.iter().all(|c| c.ok);
    DestinationStatus {
        cloud: Cloud::Azure,
        account: account.into(),
        region: None,
        destination: format!("{account}/{container}"),
        checks,
        readable,
    }
}

/// A storage failure as the operator needs it: status and service error code.
#[derive(Debug)]
struct Failure {
    status: Option<StatusCode>,
    code: Option<String>,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.status, &self.code) {
            (Some(s), Some(c)) => write!(f, "HTTP {} {c}", u16::from(s)),
            (Some(s), None) => write!(f, "HTTP {}", u16::from(s)),
            _ => write!(f, "{}", self.message),
        }
    }
}

impl From<azure_core::Error> for Failure {
    fn from(e: azure_core::Error) -> Self {
        let code = match e.kind() {
            azure_core::error::ErrorKind::HttpResponse { error_code, .. } => error_code.clone(),
            _ => None,
        };
        Self {
            status: e.http_status(),
            code,
            // Messages of transport errors can carry the request URL (with a SAS).
            message: redact_sig(&e.to_string()),
        }
    }
}

async fn list_one(client: &BlobContainerClient) -> Result<Option<String>, Failure> {
    let opts = BlobContainerClientListBlobsOptions {
        maxresults: Some(1),
        ..Default::default()
    };
    let mut pages = client.list_blobs(Some(opts))?.into_pages();
    let Some(page) = pages.try_next().await? else {
        return Ok(None);
    };
    let body = page.into_model()?;
    Ok(body.blob_items.into_iter().find_map(|b| b.name))
}

async fn read_one(client: &BlobContainerClient, name: &str) -> Result<(), Failure> {
    let opts = BlobClientDownloadOptions {
        range: Some(azure_storage_blob::models::HttpRange::new(0, 1)),
        ..Default::default()
    };
    let r = client.blob_client(name).download(Some(opts)).await?;
    r.body.collect().await?;
    Ok(())
}

fn fix_for(e: &Failure, account: &str, container: &str) -> String {
    let role = format!(
        "assign the Storage Blob Data Reader role scoped to container {container} of storage account {account} \
         (`flowlogd access grant azure --storage-account {account} --container {container} ...` prints the commands)"
    );
    match (e.status.map(u16::from), e.code.as_deref()) {
        (Some(404), Some("ContainerNotFound")) => format!(
            "container {container} does not exist in {account}: check `container` (VNet flow logs: \
             insights-logs-flowlogflowevent, NSG: insights-logs-networksecuritygroupflowevent) or enable flow logs to this account"
        ),
        (Some(403), Some("AuthorizationPermissionMismatch")) => format!(
            "the credential is valid but lacks read/list: {role}; with a SAS, issue one with read and list permission (sp=rl)"
        ),
        (Some(403), Some("AuthorizationFailure" | "AuthenticationFailed")) | (Some(401), _) => {
            format!(
                "authentication failed (expired or wrong SAS, wrong key, or no token): renew the SAS or key, or {role}"
            )
        }
        (Some(403), _) => role,
        (None, _) => format!(
            "storage account {account} is not reachable: check account_url, DNS, firewall and private endpoints"
        ),
        _ => format!("unexpected storage error; if it persists, {role}"),
    }
}

fn redact_sig(s: &str) -> String {
    match s.find("sig=") {
        Some(i) => {
            let rest = &s[i + 4..];
            let end = rest
                .find(|c: char| c == '&' || c.is_whitespace())
                .unwrap_or(rest.len());
            format!("{}sig=REDACTED{}", &s[..i], redact_sig(&rest[end..]))
        }
        None => s.to_owned(),
    }
}
