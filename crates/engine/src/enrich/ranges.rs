//! Cloud service ranges in the published AWS `ip-ranges.json` format:
//! `{"prefixes":[{"ip_prefix":…,"service":…}],"ipv6_prefixes":[{"ipv6_prefix":…,"service":…}]}`.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::table::{parse_network, PrefixTable};
use super::LoadError;

/// `[engine.enrichment.cloud_ranges]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudRangesConfig {
    pub path: PathBuf,
    /// Keep only these services (e.g. `["S3", "DYNAMODB"]`); empty keeps all. The AWS file
    /// lists every AWS address under `AMAZON`, EC2 instances included, so without a filter
    /// traffic from any EC2 host counts as cloud-service traffic.
    #[serde(default)]
    pub services: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    prefixes: Vec<Prefix>,
    #[serde(default)]
    ipv6_prefixes: Vec<Prefix>,
}

#[derive(Deserialize)]
struct Prefix {
    #[serde(alias = "ipv6_prefix")]
    ip_prefix: String,
    #[serde(default)]
    service: Option<String>,
}

pub fn load(cfg: &CloudRangesConfig) -> Result<PrefixTable<Arc<str>>, LoadError> {
    let text = super::read(&cfg.path)?;
    let path = cfg.path.display().to_string();
    let file: File = serde_json::from_str(&text).map_err(|e| LoadError::Line {
        path: path.clone(),
        line: e.line(),
        reason: e.to_string(),
    })?;
    let mut table = PrefixTable::default();
    // More specific services first, so for a prefix listed under both `AMAZON` and `S3`
    // the first insert (which is kept) is the specific one.
    let mut all: Vec<Prefix> = file
        .prefixes
        .into_iter()
        .chain(file.ipv6_prefixes)
        .collect();
    all.sort_by_key(|p| p.service.as_deref() == Some("AMAZON"));
    for p in all {
        let service = p.service.unwrap_or_else(|| "unknown".into());
        if !cfg.services.is_empty()
            && !cfg
                .services
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&service))
        {
            continue;
        }
        let net = parse_network(&p.ip_prefix).map_err(|reason| LoadError::Line {
            path: path.clone(),
            line: 0,
            reason,
        })?;
        table.insert(net, Arc::from(service.as_str()));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_format_with_service_filter() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ip-ranges.json");
        std::fs::write(
            &p,
            r#"{"syncToken":"1","prefixes":[
                {"ip_prefix":"52.0.0.0/8","region":"us-east-1","service":"AMAZON"},
                {"ip_prefix":"52.216.0.0/15","region":"us-east-1","service":"AMAZON"},
                {"ip_prefix":"52.216.0.0/15","region":"us-east-1","service":"S3"}],
              "ipv6_prefixes":[{"ipv6_prefix":"2600:1f00::/24","service":"S3"}]}"#,
        )
        .unwrap();
        let mut cfg = CloudRangesConfig {
            path: p,
            services: vec![],
        };
        let t = load(&cfg).unwrap();
        let svc = |t: &PrefixTable<Arc<str>>, a: &str| {
            t.lookup(a.parse().unwrap()).map(|s| s.to_string())
        };
        assert_eq!(svc(&t, "52.216.1.1").as_deref(), Some("S3"));
        assert_eq!(svc(&t, "52.1.1.1").as_deref(), Some("AMAZON"));
        assert_eq!(svc(&t, "2600:1f00::1").as_deref(), Some("S3"));
        cfg.services = vec!["s3".into()];
        let t = load(&cfg).unwrap();
        assert_eq!(svc(&t, "52.1.1.1"), None);
        assert_eq!(svc(&t, "52.217.1.1").as_deref(), Some("S3"));
    }
}
