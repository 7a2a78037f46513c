//! Probing Azure flow-log containers on Azurite with real credentials: a valid read + list
//! SAS gives a readable destination; a SAS signed with the wrong key, a SAS without list
//! permission and a missing container are not readable, each with the failing action, the
//! storage error code and a fix.
//!
//! Skipped unless `AZURITE_BLOB_ENDPOINT` is set (scripts/emulators.sh starts Azurite).

use std::time::{Duration, SystemTime};

use azure_core::http::RequestContent;
use azure_storage_blob::BlobContainerClient;
use flowlogd_access::azure::{probe_container, BLOB_READ_ACTION};
use flowlogd_access::{Cloud, DestinationStatus};
use flowlogd_sources::azure_blob::{account_sas, container_url};

const WRONG_KEY: &str =
    "AAAAAdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

struct Azurite {
    endpoint: String,
    account: String,
    key: String,
}

fn azurite(test: &str) -> Option<Azurite> {
    let Ok(endpoint) = std::env::var("AZURITE_BLOB_ENDPOINT") else {
        eprintln!("skipping {test}: AZURITE_BLOB_ENDPOINT is not set (run it via scripts/test.sh, which starts Azurite)");
        return None;
    };
    Some(Azurite {
        endpoint,
        account: std::env::var("AZURITE_ACCOUNT").unwrap_or_else(|_| "devstoreaccount1".into()),
        key: std::env::var("AZURITE_KEY").expect("AZURITE_KEY is set with AZURITE_BLOB_ENDPOINT"),
    })
}

impl Azurite {
    fn client(&self, container: &str, key: &str, permissions: &str) -> BlobContainerClient {
        let sas = account_sas(
            &self.account,
            key,
            permissions,
            SystemTime::now(),
            Duration::from_secs(3600),
        )
        .unwrap();
        let url = container_url(&self.endpoint, container, Some(&sas)).unwrap();
        BlobContainerClient::new(url, None, None).unwrap()
    }

    async fn probe(&self, container: &str, key: &str, permissions: &str) -> DestinationStatus {
        let client = self.client(container, key, permissions);
        probe_container(&client, &self.account, container).await
    }
}

fn unique(tag: &str) -> String {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    format!("p{}-{tag}-{n}", std::process::id())
}

#[tokio::test]
async fn azure_probe_full_and_none() {
    let Some(az) = azurite("azure_probe_full_and_none") else {
        return;
    };
    let container = unique("flowlogs");
    let admin = az.client(&container, &az.key, "rwdlac");
    admin.create(None).await.unwrap();
    admin
        .blob_client("resourceId=/SUBSCRIPTIONS/S/y=2026/m=11/d=25/h=10/m=00/macAddress=000D3A000001/PT1H.json")
        .upload(RequestContent::from(br#"{"records":[]}"#.to_vec()), None)
        .await
        .unwrap();

    // Read + list: both checks pass.
    let full = az.probe(&container, &az.key, "rl").await;
    assert_eq!(full.cloud, Cloud::Azure);
    assert_eq!(full.account, az.account);
    assert_eq!(full.destination, format!("{}/{container}", az.account));
    assert!(full.readable, "{full:#?}");
    assert_eq!(full.checks.len(), 2, "list and read: {full:#?}");
    assert!(full
        .checks
        .iter()
        .all(|c| c.ok && c.action == BLOB_READ_ACTION && c.fix.is_none()));
    assert!(full.checks[1].resource.ends_with("/PT1H.json"));

    // A SAS signed with another key: authentication fails.
    let wrong = az.probe(&container, WRONG_KEY, "rl").await;
    assert!(!wrong.readable);
    let c = &wrong.checks[0];
    assert!(!c.ok);
    let err = c.error.as_deref().unwrap();
    assert!(
        err.contains("403") && err.contains("AuthorizationFailure"),
        "{err}"
    );
    assert!(c
        .fix
        .as_deref()
        .unwrap()
        .contains("Storage Blob Data Reader"));
    assert!(
        !format!("{wrong:?}").contains("sig="),
        "a signature leaked: {wrong:?}"
    );

    // Read but no list permission: the list check says what is missing.
    let no_list = az.probe(&container, &az.key, "r").await;
    assert!(!no_list.readable);
    let c = &no_list.checks[0];
    assert!(c.resource.contains("list blobs"));
    assert!(
        c.error
            .as_deref()
            .unwrap()
            .contains("AuthorizationPermissionMismatch"),
        "{c:?}"
    );
    assert!(c.fix.as_deref().unwrap().contains("sp=rl"));

    // A container that does not exist.
    let missing = az.probe(&unique("missing"), &az.key, "rl").await;
    assert!(!missing.readable);
    let c = &missing.checks[0];
    assert!(
        c.error
            .as_deref()
            .unwrap()
            .contains("404 ContainerNotFound"),
        "{c:?}"
    );
    assert!(c.fix.as_deref().unwrap().contains("does not exist"));

    // An empty container is readable (nothing to read yet): the list check alone.
    let empty = unique("empty");
    az.client(&empty, &az.key, "rwdlac")
        .create(None)
        .await
        .unwrap();
    let status = az.probe(&empty, &az.key, "rl").await;
    assert!(status.readable && status.checks.len() == 1, "{status:#?}");

    // The JSON shape other tools read.
    let json = serde_json::to_value(&full).unwrap();
    assert_eq!(json["cloud"], "azure");
    assert_eq!(json["checks"][0]["ok"], true);
}

#[tokio::test]
async fn azure_probe_configured_sources() {
    use flowlogd_access::azure::probe_source;
    use flowlogd_sources::azure_blob::{AzureAuth, AzureBlobSourceConfig};
    let Some(az) = azurite("azure_probe_configured_sources") else {
        return;
    };
    let container = unique("src");
    az.client(&container, &az.key, "rwdlac")
        .create(None)
        .await
        .unwrap();
    // The connection string scripts/emulators.sh exports: the key signs a read + list SAS.
    let cfg = AzureBlobSourceConfig::new("azure-vnet", &container);
    let status = probe_source(&cfg).await;
    assert!(status.readable, "{status:#?}");
    assert_eq!(status.account, az.account);

    // A source whose secret is missing from the environment.
    let mut cfg = AzureBlobSourceConfig::new("azure-sas", &container);
    cfg.auth = AzureAuth::Sas;
    cfg.account_url = Some(az.endpoint.clone());
    cfg.sas_env = "FLOWLOGD_TEST_UNSET_SAS".into();
    let status = probe_source(&cfg).await;
    assert!(!status.readable);
    assert_eq!(status.account, az.account);
    let c = &status.checks[0];
    assert!(
        c.error
            .as_deref()
            .unwrap()
            .contains("FLOWLOGD_TEST_UNSET_SAS"),
        "{c:?}"
    );
}
