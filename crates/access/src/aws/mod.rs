//! AWS: permission checks of S3 destinations, the flow-log inventory, the CloudFormation
//! grant.

pub mod check;
pub mod grant;
#[cfg(feature = "inventory")]
pub mod inventory;
mod sdk;

use flowlogd_sources::S3SourceConfig;

use crate::model::{Access, DestinationStatus, FlowLog};

/// Checks every destination, then (with `inventory`) lists the flow logs of each account
/// and matches them to the destinations. Returns the destinations, flow logs and notes.
pub async fn check_all(
    sources: &[S3SourceConfig],
    inventory: bool,
    extra_regions: &[String],
) -> (Vec<DestinationStatus>, Vec<FlowLog>, Vec<String>) {
    let hint = "`flowlogd access grant aws` prints the policy";
    let mut dests = Vec::new();
    for s in sources {
        dests.push(check::check_destination(s, hint).await);
    }
    let mut notes = Vec::new();
    let mut flow_logs: Vec<FlowLog> = Vec::new();
    if inventory {
        #[cfg(feature = "inventory")]
        {
            let mut seen = std::collections::BTreeSet::new();
            for (s, d) in sources.iter().zip(&dests) {
                let regions = s
                    .region
                    .iter()
                    .cloned()
                    .map(Some)
                    .chain(extra_regions.iter().cloned().map(Some))
                    .chain(s.region.is_none().then_some(None));
                for region in regions {
                    let mut id = s.identity();
                    id.region = region.clone();
                    if !seen.insert((id.clone(), d.account.clone())) {
                        continue;
                    }
                    match inventory::describe_flow_logs(&id, &d.account, region.as_deref()).await {
                        Ok(f) => flow_logs.extend(f),
                        Err(e) => notes.push(e),
                    }
                }
            }
        }
        #[cfg(not(feature = "inventory"))]
        let _ = extra_regions;
        #[cfg(not(feature = "inventory"))]
        notes.push("this build has no flow-log inventory (cargo feature `inventory`)".into());
    }
    flow_logs.sort_by(|a, b| (&a.account, &a.id).cmp(&(&b.account, &b.id)));
    flow_logs.dedup_by(|a, b| a.id == b.id && a.account == b.account);
    for fl in &mut flow_logs {
        match_destination(fl, sources, &dests);
    }
    (dests, flow_logs, notes)
}

/// Links a flow log to the configured destination it writes into, or says how to add it.
fn match_destination(fl: &mut FlowLog, sources: &[S3SourceConfig], dests: &[DestinationStatus]) {
    if fl.destination_type != "s3" {
        fl.fix = Some(format!(
            "delivers to {} ({}): flowlogd reads flow logs from S3; add an S3 flow log for this resource",
            fl.destination, fl.destination_type
        ));
        return;
    }
    let hit = sources.iter().zip(dests).find(|(s, _)| {
        let base = format!("s3://{}/{}", s.bucket, s.normalized_prefix());
        fl.destination.starts_with(&base)
    });
    match hit {
        Some((_, d)) => {
            fl.destination_account = Some(d.account.clone());
            fl.access = Some(if d.readable {
                Access::Full
            } else {
                Access::None
            });
            if !d.readable {
                fl.fix = d.missing().and_then(|c| c.fix.clone());
            }
        }
        None => {
            let rest = fl.destination.trim_start_matches("s3://");
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_end_matches('/');
            let prefix = if prefix.is_empty() {
                String::new()
            } else {
                format!(" prefix = \"{prefix}\"")
            };
            fl.fix = Some(format!(
                "destination {} is not read by flowlogd (no source for it; its account may not be configured): add [[sources.s3]] bucket = \"{bucket}\"{prefix}, with role_arn of a role in the bucket's account when that is another account, or grant cross-account read (`flowlogd access grant aws --destination {}`)",
                fl.destination, fl.destination
            ));
        }
    }
}
