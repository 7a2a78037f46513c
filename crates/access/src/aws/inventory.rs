//! AWS flow-log inventory: `DescribeFlowLogs` in each configured account and region.

use aws_sdk_ec2::types::FlowLog as Ec2FlowLog;
use flowlogd_sources::s3::{sdk_config, AwsIdentity};

use super::sdk::failure;
use crate::model::{Cloud, FlowLog};

/// Flow logs visible to one identity, tagged with its account and region.
pub async fn describe_flow_logs(
    id: &AwsIdentity,
    account: &str,
    region: Option<&str>,
) -> Result<Vec<FlowLog>, String> {
    let shared = sdk_config(id).await;
    let region = region
        .map(str::to_owned)
        .or_else(|| shared.region().map(|r| r.to_string()));
    let ec2 = aws_sdk_ec2::Client::new(&shared);
    let mut out = Vec::new();
    let mut pages = ec2.describe_flow_logs().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let f = failure(&e);
            if f.denied {
                format!("ec2:DescribeFlowLogs denied in account {account} ({}): {}; grant ec2:DescribeFlowLogs", region.as_deref().unwrap_or("default region"), f.text)
            } else {
                format!("ec2:DescribeFlowLogs in account {account}: {}", f.text)
            }
        })?;
        for fl in page.flow_logs() {
            out.push(convert(fl, account, region.clone()));
        }
    }
    Ok(out)
}

fn convert(fl: &Ec2FlowLog, account: &str, region: Option<String>) -> FlowLog {
    let destination_type = fl
        .log_destination_type()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_else(|| "cloud-watch-logs".into());
    let destination = match fl.log_destination() {
        Some(arn) if destination_type == "s3" => s3_url(arn),
        Some(arn) => arn.to_owned(),
        None => fl.log_group_name().unwrap_or("").to_owned(),
    };
    let opts = fl.destination_options();
    FlowLog {
        cloud: Cloud::Aws,
        id: fl.flow_log_id().unwrap_or("").to_owned(),
        account: account.to_owned(),
        region,
        resource: fl.resource_id().unwrap_or("").to_owned(),
        destination,
        destination_type,
        log_format: fl.log_format().map(str::to_owned),
        file_format: opts
            .and_then(|o| o.file_format())
            .map(|f| f.as_str().to_owned()),
        hive_compatible: opts.and_then(|o| o.hive_compatible_partitions()),
        per_hour_partition: opts.and_then(|o| o.per_hour_partition()),
        status: fl.flow_log_status().map(str::to_owned),
        destination_account: None,
        access: None,
        fix: None,
    }
}

/// `arn:aws:s3:::bucket/prefix` → `s3://bucket/prefix/`.
pub fn s3_url(arn: &str) -> String {
    let rest = arn.strip_prefix("arn:aws:s3:::").unwrap_or(arn);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("s3://{bucket}/")
    } else {
        format!("s3://{bucket}/{prefix}/")
    }
}
