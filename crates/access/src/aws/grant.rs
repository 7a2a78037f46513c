//! The least-privilege CloudFormation template for reading flow logs: a role that
//! flowlogd's principal may assume with an ExternalId, allowed to list and read the
//! flow-log prefixes only, decrypt with the named KMS keys, consume the notification
//! queues, and describe flow logs (inventory).

use serde_json::{json, Value};

use crate::error::AccessError;
use crate::yaml;

/// What to grant.
#[derive(Debug, Clone, Default)]
pub struct AwsGrant {
    /// Principal ARN allowed to assume the role (flowlogd's user or role).
    pub principal: String,
    pub external_id: String,
    pub role_name: String,
    /// (bucket, prefix) pairs; the prefix may be empty (whole bucket).
    pub destinations: Vec<(String, String)>,
    pub kms_keys: Vec<String>,
    pub queues: Vec<String>,
    /// Include `ec2:DescribeFlowLogs` (inventory).
    pub inventory: bool,
}

/// `s3://bucket/prefix` → (bucket, prefix without slashes at the ends).
pub fn parse_destination(s: &str) -> Result<(String, String), AccessError> {
    let rest = s
        .strip_prefix("s3://")
        .ok_or_else(|| AccessError::Input(format!("{s:?}: use s3://bucket/prefix")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(AccessError::Input(format!("{s:?}: no bucket")));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

impl AwsGrant {
    pub fn validate(&self) -> Result<(), AccessError> {
        if self.destinations.is_empty() {
            return Err(AccessError::Input(
                "no destination: give --destination s3://bucket/prefix or --config with [[sources.s3]]".into(),
            ));
        }
        if !self.principal.starts_with("arn:") {
            return Err(AccessError::Input(format!(
                "principal {:?} is not an ARN: give --principal arn:aws:iam::<account>:role/<name>",
                self.principal
            )));
        }
        if self.external_id.is_empty() {
            return Err(AccessError::Input(
                "empty ExternalId: give --external-id (a secret shared with flowlogd's config)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The role's permission policy.
    pub fn policy(&self) -> Value {
        let mut statements = Vec::new();
        let mut buckets: Vec<&str> = self.destinations.iter().map(|(b, _)| b.as_str()).collect();
        buckets.sort();
        buckets.dedup();
        for b in buckets {
            let prefixes: Vec<&str> = self
                .destinations
                .iter()
                .filter(|(x, _)| x == b)
                .map(|(_, p)| p.as_str())
                .collect();
            let mut st = json!({
                "Sid": format!("List{}", sid(b)),
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": format!("arn:aws:s3:::{b}"),
            });
            if !prefixes.iter().any(|p| p.is_empty()) {
                let mut like = Vec::new();
                for p in &prefixes {
                    like.push(format!("{p}/"));
                    like.push(format!("{p}/*"));
                }
                st["Condition"] = json!({"StringLike": {"s3:prefix": like}});
            }
            statements.push(st);
        }
        let objects: Vec<String> = self
            .destinations
            .iter()
            .map(|(b, p)| {
                if p.is_empty() {
                    format!("arn:aws:s3:::{b}/*")
                } else {
                    format!("arn:aws:s3:::{b}/{p}/*")
                }
            })
            .collect();
        statements.push(json!({
            "Sid": "ReadFlowLogObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": objects,
        }));
        if !self.kms_keys.is_empty() {
            statements.push(json!({
                "Sid": "DecryptFlowLogObjects",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": self.kms_keys,
                "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
            }));
        }
        if !self.queues.is_empty() {
            statements.push(json!({
                "Sid": "ConsumeNotifications",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
                "Resource": self.queues,
            }));
        }
        if self.inventory {
            statements.push(json!({
                "Sid": "InventoryFlowLogs",
                "Effect": "Allow",
                "Action": "ec2:DescribeFlowLogs",
                "Resource": "*",
            }));
        }
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    /// The role's trust policy.
    pub fn trust_policy(&self) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": self.principal},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": self.external_id}},
            }],
        })
    }

    pub fn template(&self) -> Value {
        let dests: Vec<String> = self
            .destinations
            .iter()
            .map(|(b, p)| format!("s3://{b}/{p}"))
            .collect();
        json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": format!("flowlogd read access to VPC flow logs in {}", dests.join(", ")),
            "Resources": {
                "FlowlogdReadRole": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "RoleName": self.role_name,
                        "Description": "Assumed by flowlogd to read VPC flow logs",
                        "MaxSessionDuration": 3600,
                        "AssumeRolePolicyDocument": self.trust_policy(),
                        "Policies": [{
                            "PolicyName": "flowlogd-read-flow-logs",
                            "PolicyDocument": self.policy(),
                        }],
                    },
                },
            },
            "Outputs": {
                "RoleArn": {
                    "Description": "role_arn for flowlogd's [[sources.s3]]",
                    "Value": {"Fn::GetAtt": ["FlowlogdReadRole", "Arn"]},
                },
            },
        })
    }

    /// The CloudFormation template as YAML.
    pub fn yaml(&self) -> String {
        let mut out = String::from(
            "# flowlogd: least-privilege read access to VPC flow logs.\n# Deploy in the bucket's account: aws cloudformation deploy --template-file flowlogd-read.yaml --stack-name flowlogd-read --capabilities CAPABILITY_NAMED_IAM\n",
        );
        out.push_str(&yaml::to_yaml(&self.template()));
        out
    }
}

fn sid(bucket: &str) -> String {
    let s: String = bucket
        .split(['-', '.', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{s}FlowLogPrefixes")
}

#[cfg(test)]
mod test {
    use super::*;

    fn grant() -> AwsGrant {
        AwsGrant {
            principal: "arn:aws:iam::123456789012:role/flowlogd".into(),
            external_id: "ext-1".into(),
            role_name: "flowlogd-read".into(),
            destinations: vec![
                parse_destination("s3://logs-a/vpc/").unwrap(),
                parse_destination("s3://logs-b").unwrap(),
            ],
            kms_keys: vec!["arn:aws:kms:us-east-1:123456789012:key/k".into()],
            queues: vec!["arn:aws:sqs:us-east-1:123456789012:q".into()],
            inventory: true,
        }
    }

    #[test]
    fn yaml_parses_back_to_the_template() {
        let g = grant();
        g.validate().unwrap();
        let parsed: serde_json::Value = serde_yaml::from_str(&g.yaml()).unwrap();
        assert_eq!(parsed, g.template());
        let doc =
            &parsed["Resources"]["FlowlogdReadRole"]["Properties"]["Policies"][0]["PolicyDocument"];
        let actions: Vec<String> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Action"].to_string())
            .collect();
        assert!(actions.iter().any(|a| a.contains("kms:Decrypt")));
        assert!(actions.iter().any(|a| a.contains("ec2:DescribeFlowLogs")));
        assert_eq!(
            doc["Statement"][2]["Resource"][0],
            "arn:aws:s3:::logs-a/vpc/*"
        );
        assert_eq!(doc["Statement"][2]["Resource"][1], "arn:aws:s3:::logs-b/*");
        // A bucket read whole has no prefix condition; a prefix has one.
        assert!(doc["Statement"][0]["Condition"].is_object());
        assert!(doc["Statement"][1].get("Condition").is_none());
    }

    #[test]
    fn rejects_incomplete_grants() {
        let mut g = grant();
        g.external_id.clear();
        assert!(g.validate().is_err());
        assert!(parse_destination("logs-a").is_err());
    }
}
