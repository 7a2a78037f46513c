//! Listing a destination cheaply: find the (account, region) roots under `AWSLogs/` with
//! delimiter listings, then list each root from a start day on (`start_after` on the date
//! folders), so a re-list reads the last day or two, not the whole history.

use std::collections::HashMap;

use aws_sdk_s3::error::DisplayErrorContext;
use chrono::NaiveDate;
use tokio::runtime::Handle;

use super::layout::{is_flow_log_key, root_and_day, start_after};
use crate::error::SourceError;

/// An object found by listing or a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

pub struct Lister<'a> {
    pub rt: &'a Handle,
    pub s3: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
    pub prefix: &'a str,
}

impl Lister<'_> {
    fn remote(&self, what: &str, e: impl std::error::Error) -> SourceError {
        SourceError::Remote {
            target: format!("s3://{}/{}", self.bucket, what),
            message: format!("list failed: {}", DisplayErrorContext(e)),
        }
    }

    /// Sub-folders of `prefix` (one delimiter level).
    fn folders(&self, prefix: &str) -> Result<Vec<String>, SourceError> {
        let mut out = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = self.rt.block_on(pages.next()) {
            let page = page.map_err(|e| self.remote(prefix, e))?;
            for p in page.common_prefixes() {
                if let Some(p) = p.prefix() {
                    out.push(p.to_owned());
                }
            }
        }
        Ok(out)
    }

    /// The (account, region) roots of VPC flow logs under the prefix.
    pub fn roots(&self) -> Result<Vec<String>, SourceError> {
        let mut roots = Vec::new();
        for account in self.folders(&format!("{}AWSLogs/", self.prefix))? {
            for service in self.folders(&account)? {
                let name = service
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or("");
                if name == "vpcflowlogs" || name == "aws-service=vpcflowlogs" {
                    roots.extend(self.folders(&service)?);
                }
            }
        }
        Ok(roots)
    }

    /// Flow-log objects under `prefix`, after `start_after` when given.
    pub fn objects(
        &self,
        prefix: &str,
        after: Option<String>,
    ) -> Result<Vec<S3Object>, SourceError> {
        let mut out = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(prefix)
            .set_start_after(after)
            .into_paginator()
            .send();
        while let Some(page) = self.rt.block_on(pages.next()) {
            let page = page.map_err(|e| self.remote(prefix, e))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                if !is_flow_log_key(key) {
                    continue;
                }
                out.push(S3Object {
                    key: key.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().unwrap_or("").trim_matches('"').to_owned(),
                });
            }
        }
        Ok(out)
    }

    /// Every object from each root's start day on: the day before the last day already
    /// read in that root (late deliveries land in earlier day folders), never before
    /// `from`. Without the `AWSLogs/` layout, the whole prefix is listed.
    pub fn list(
        &self,
        cursors: &HashMap<String, NaiveDate>,
        from: Option<NaiveDate>,
    ) -> Result<Vec<S3Object>, SourceError> {
        let roots = self.roots()?;
        if roots.is_empty() {
            let all = self.objects(self.prefix, None)?;
            return Ok(all
                .into_iter()
                .filter(|o| match (from, root_and_day(self.prefix, &o.key)) {
                    (Some(f), Some((_, day))) => day >= f,
                    _ => true,
                })
                .collect());
        }
        let mut out = Vec::new();
        for root in roots {
            let resume = cursors.get(&root).and_then(|d| d.pred_opt());
            let start = match (resume, from) {
                (Some(r), Some(f)) => Some(r.max(f)),
                (r, f) => r.or(f),
            };
            out.extend(self.objects(&root, start.map(|d| start_after(&root, d)))?);
        }
        Ok(out)
    }
}
