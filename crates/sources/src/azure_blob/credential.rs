//! Entra ID credentials for `auth = "default"`: workload identity, developer tools (az /
//! azd login) or managed identity.

use std::sync::Arc;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, WorkloadIdentityCredential,
};

use super::auth::AuthError;
use super::config::AzureCredentialKind;

/// The Entra ID credential for `auth = "default"`.
pub(super) fn credential(kind: AzureCredentialKind) -> Result<Arc<dyn TokenCredential>, AuthError> {
    let err = |e: azure_core::Error| AuthError::Credential(e.to_string());
    Ok(match kind {
        AzureCredentialKind::ManagedIdentity => {
            ManagedIdentityCredential::new(None).map_err(err)?
        }
        AzureCredentialKind::WorkloadIdentity => {
            WorkloadIdentityCredential::new(None).map_err(err)?
        }
        AzureCredentialKind::DeveloperTools => DeveloperToolsCredential::new(None).map_err(err)?,
        AzureCredentialKind::Auto => {
            if std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").is_some() {
                WorkloadIdentityCredential::new(None).map_err(err)?
            } else {
                Arc::new(FirstOf {
                    sources: vec![
                        DeveloperToolsCredential::new(None).map_err(err)?,
                        ManagedIdentityCredential::new(None).map_err(err)?,
                    ],
                    chosen: std::sync::OnceLock::new(),
                })
            }
        }
    })
}

/// Tries each credential in turn and keeps the first that yields a token.
#[derive(Debug)]
struct FirstOf {
    sources: Vec<Arc<dyn TokenCredential>>,
    chosen: std::sync::OnceLock<usize>,
}

#[async_trait::async_trait]
impl TokenCredential for FirstOf {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        if let Some(&i) = self.chosen.get() {
            return self.sources[i].get_token(scopes, options).await;
        }
        let mut errors = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            match s.get_token(scopes, options.clone()).await {
                Ok(t) => {
                    let _ = self.chosen.set(i);
                    return Ok(t);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!(
                "no Entra ID credential worked (az login, azd, managed identity): {}",
                errors.join("; ")
            ),
        ))
    }
}
