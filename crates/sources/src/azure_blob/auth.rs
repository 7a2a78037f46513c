//! Turning an `[[sources.azure_blob]]` auth setting into a container client.
//!
//! `azure_storage_blob` 1.x authenticates with Entra ID tokens or a SAS in the URL, not with
//! a shared key. A connection string's account key therefore signs a short-lived, read-only
//! account SAS here (the documented HMAC over the SAS fields); the key itself never leaves
//! the process.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::Url;
use azure_storage_blob::BlobContainerClient;
use chrono::{DateTime, Utc};

use super::config::{AzureAuth, AzureBlobSourceConfig};
use super::credential::credential;

/// Service version the minted SAS tokens are signed for.
const SAS_VERSION: &str = "2021-08-06";
/// Lifetime of a minted SAS; a new one is minted when less than a third is left.
const SAS_LIFETIME: Duration = Duration::from_secs(2 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("connection string: {0}")]
    ConnectionString(String),
    #[error("{0} is not a valid endpoint: {1}")]
    BadUrl(String, String),
    #[error("{0}")]
    Credential(String),
}

/// The parts of a storage connection string flowlogd uses.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    pub account: String,
    pub blob_endpoint: String,
    key: Option<String>,
    sas: Option<String>,
}

impl std::fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionString")
            .field("account", &self.account)
            .field("blob_endpoint", &self.blob_endpoint)
            .finish_non_exhaustive()
    }
}

impl ConnectionString {
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let mut get = std::collections::HashMap::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(AuthError::ConnectionString(format!(
                    "part {:?} is not Key=Value",
                    part.split('=').next().unwrap_or_default()
                )));
            };
            get.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        if get
            .get("usedevelopmentstorage")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Ok(Self {
                account: "devstoreaccount1".into(),
                blob_endpoint: "http://127.0.0.1:10000/devstoreaccount1".into(),
                key: Some(
                    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
                        .into(),
                ),
                sas: None,
            });
        }
        let account = get.get("accountname").cloned();
        let blob_endpoint = match (get.get("blobendpoint"), &account) {
            (Some(e), _) => e.trim_end_matches('/').to_owned(),
            (None, Some(a)) => {
                let proto = get
                    .get("defaultendpointsprotocol")
                    .map(String::as_str)
                    .unwrap_or("https");
                let suffix = get
                    .get("endpointsuffix")
                    .map(String::as_str)
                    .unwrap_or("core.windows.net");
                format!("{proto}://{a}.blob.{suffix}")
            }
            (None, None) => {
                return Err(AuthError::ConnectionString(
                    "has neither AccountName nor BlobEndpoint".into(),
                ))
            }
        };
        let account = account.unwrap_or_else(|| account_from_endpoint(&blob_endpoint));
        let key = get.get("accountkey").cloned();
        let sas = get
            .get("sharedaccesssignature")
            .map(|s| s.trim_start_matches('?').to_owned());
        if key.is_none() && sas.is_none() {
            return Err(AuthError::ConnectionString(
                "has neither AccountKey nor SharedAccessSignature".into(),
            ));
        }
        if let Some(k) = &key {
            if azure_core::base64::decode(k).is_err() {
                return Err(AuthError::ConnectionString(
                    "AccountKey is not base64".into(),
                ));
            }
        }
        Ok(Self {
            account,
            blob_endpoint,
            key,
            sas,
        })
    }

    /// A read + list account SAS for the blob service, valid from a few minutes ago (clock
    /// skew) for `lifetime`.
    pub fn account_sas(&self, now: SystemTime, lifetime: Duration) -> Result<String, AuthError> {
        if let Some(sas) = &self.sas {
            return Ok(sas.clone());
        }
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| AuthError::ConnectionString("no AccountKey".into()))?;
        account_sas(&self.account, key, "rl", now, lifetime)
    }
}

/// An account SAS (blob service; service, container and object level) signed with `key`.
pub fn account_sas(
    account: &str,
    key: &str,
    permissions: &str,
    now: SystemTime,
    lifetime: Duration,
) -> Result<String, AuthError> {
    let fmt = |t: SystemTime| {
        DateTime::<Utc>::from(t)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let start = fmt(now - Duration::from_secs(300));
    let expiry = fmt(now + lifetime);
    let (services, types, protocol) = ("b", "sco", "https,http");
    let to_sign = format!(
        "{account}\n{permissions}\n{services}\n{types}\n{start}\n{expiry}\n\n{protocol}\n{SAS_VERSION}\n\n"
    );
    let sig = azure_core::hmac::hmac_sha256(&to_sign, &Secret::new(key.to_owned()))
        .map_err(|e| AuthError::ConnectionString(format!("signing a SAS: {e}")))?;
    let mut url = Url::parse("http://x/").map_err(|e| AuthError::Credential(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("sv", SAS_VERSION)
        .append_pair("ss", services)
        .append_pair("srt", types)
        .append_pair("sp", permissions)
        .append_pair("st", &start)
        .append_pair("se", &expiry)
        .append_pair("spr", protocol)
        .append_pair("sig", &sig);
    Ok(url.query().unwrap_or_default().to_owned())
}

/// `devstoreaccount1` from `http://127.0.0.1:10000/devstoreaccount1`, `acct` from
/// `https://acct.blob.core.windows.net`.
pub fn account_from_endpoint(endpoint: &str) -> String {
    let Ok(url) = Url::parse(endpoint) else {
        return String::new();
    };
    if let Some(seg) = url
        .path_segments()
        .and_then(|mut s| s.find(|p| !p.is_empty()))
    {
        return seg.to_owned();
    }
    url.host_str()
        .and_then(|h| h.split('.').next())
        .unwrap_or_default()
        .to_owned()
}

/// `endpoint/container?query`.
pub fn container_url(
    endpoint: &str,
    container: &str,
    query: Option<&str>,
) -> Result<Url, AuthError> {
    let mut url = Url::parse(endpoint.trim_end_matches('/'))
        .map_err(|e| AuthError::BadUrl(endpoint.into(), e.to_string()))?;
    url.path_segments_mut()
        .map_err(|_| AuthError::BadUrl(endpoint.into(), "cannot hold a path".into()))?
        .pop_if_empty()
        .push(container);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.set_query(Some(q.trim_start_matches('?')));
    }
    Ok(url)
}

/// Builds container clients for one source, minting a fresh SAS when the previous one is
/// about to expire.
pub struct ContainerAuth {
    endpoint: String,
    account: String,
    container: String,
    kind: Kind,
    client: Option<(Arc<BlobContainerClient>, Option<SystemTime>)>,
}

enum Kind {
    Minted(ConnectionString),
    Sas(String),
    Token(Arc<dyn TokenCredential>),
}

impl ContainerAuth {
    pub fn new(cfg: &AzureBlobSourceConfig) -> Result<Self, AuthError> {
        let env = |name: &str| std::env::var(name).map_err(|_| AuthError::MissingEnv(name.into()));
        let (endpoint, kind) = match cfg.auth {
            AzureAuth::ConnectionString => {
                let cs = ConnectionString::parse(&env(&cfg.connection_string_env)?)?;
                let endpoint = cfg
                    .account_url
                    .clone()
                    .unwrap_or_else(|| cs.blob_endpoint.clone());
                (endpoint, Kind::Minted(cs))
            }
            AzureAuth::Sas => (
                required_url(cfg)?,
                Kind::Sas(env(&cfg.sas_env)?.trim_start_matches('?').to_owned()),
            ),
            AzureAuth::Default => (required_url(cfg)?, Kind::Token(credential(cfg.credential)?)),
        };
        let account = match &kind {
            Kind::Minted(cs) => cs.account.clone(),
            _ => account_from_endpoint(&endpoint),
        };
        Ok(Self {
            endpoint,
            account,
            container: cfg.container.clone(),
            kind,
            client: None,
        })
    }

    /// The storage account name (for messages and access reports).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Endpoint and container, without any secret: safe to log.
    pub fn display(&self) -> String {
        format!("{}/{}", self.endpoint, self.container)
    }

    /// A client that is valid for a while yet.
    pub fn client(&mut self, now: SystemTime) -> Result<Arc<BlobContainerClient>, AuthError> {
        let fresh = match &self.client {
            Some((_, Some(renew_at))) => now < *renew_at,
            Some((_, None)) => true,
            None => false,
        };
        if !fresh {
            let (url, cred, renew_at) = match &self.kind {
                Kind::Minted(cs) => (
                    container_url(
                        &self.endpoint,
                        &self.container,
                        Some(&cs.account_sas(now, SAS_LIFETIME)?),
                    )?,
                    None,
                    Some(now + SAS_LIFETIME * 2 / 3),
                ),
                Kind::Sas(sas) => (
                    container_url(&self.endpoint, &self.container, Some(sas))?,
                    None,
                    None,
                ),
                Kind::Token(c) => (
                    container_url(&self.endpoint, &self.container, None)?,
                    Some(c.clone()),
                    None,
                ),
            };
            let client = BlobContainerClient::new(url, cred, None)
                .map_err(|e| AuthError::Credential(e.to_string()))?;
            self.client = Some((Arc::new(client), renew_at));
        }
        match &self.client {
            Some((c, _)) => Ok(c.clone()),
            None => Err(AuthError::Credential("no client".into())),
        }
    }
}

fn required_url(cfg: &AzureBlobSourceConfig) -> Result<String, AuthError> {
    cfg.account_url.clone().ok_or_else(|| {
        AuthError::Credential(format!(
            "source {}: account_url is required with this auth",
            cfg.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    #[test]
    fn connection_strings() {
        let cs = ConnectionString::parse(&format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
        ))
        .unwrap();
        assert_eq!(cs.account, "devstoreaccount1");
        assert_eq!(cs.blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert!(!format!("{cs:?}").contains(KEY));
        let cs = ConnectionString::parse(&format!(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net"
        ))
        .unwrap();
        assert_eq!(cs.blob_endpoint, "https://acct.blob.core.windows.net");
        assert!(ConnectionString::parse("AccountName=a").is_err());
        assert!(ConnectionString::parse("AccountName=a;AccountKey=!!").is_err());
        assert!(ConnectionString::parse("UseDevelopmentStorage=true").is_ok());
        let cs = ConnectionString::parse(
            "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=?sv=1&sig=x",
        )
        .unwrap();
        assert_eq!(cs.account, "acct");
        assert_eq!(
            cs.account_sas(SystemTime::now(), SAS_LIFETIME).unwrap(),
            "sv=1&sig=x"
        );
    }

    #[test]
    fn sas_is_signed_and_url_encoded() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_600_000);
        let sas = account_sas("devstoreaccount1", KEY, "rl", t, SAS_LIFETIME).unwrap();
        assert!(sas.starts_with("sv=2021-08-06&ss=b&srt=sco&sp=rl&st=2026-11-25T09%3A41%3A40Z&se=2026-11-25T11%3A46%3A40Z"));
        assert!(sas.contains("&spr=https%2Chttp&sig="));
        assert_eq!(
            sas,
            account_sas("devstoreaccount1", KEY, "rl", t, SAS_LIFETIME).unwrap()
        );
        let url = container_url("http://h:1/acct/", "c", Some(&sas)).unwrap();
        assert_eq!(url.path(), "/acct/c");
        assert_eq!(account_from_endpoint("http://h:1/acct"), "acct");
        assert_eq!(
            account_from_endpoint("https://acct.blob.core.windows.net"),
            "acct"
        );
    }
}
