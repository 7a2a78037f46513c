//! Tests the real permissions of each configured S3 destination, in the order flowlogd
//! needs them: assume the role, list the prefix, read an object (and decrypt it when it is
//! SSE-KMS), receive from the notification queue.

use aws_sdk_s3::types::ServerSideEncryption;
use flowlogd_sources::s3::{s3_client, sdk_config, sqs_client, sts_client};
use flowlogd_sources::S3SourceConfig;

use super::sdk::failure;
use crate::model::{Cloud, DestinationStatus, PermissionCheck};

fn pass(action: &str, resource: &str) -> PermissionCheck {
    PermissionCheck {
        action: action.into(),
        resource: resource.into(),
        ok: true,
        error: None,
        fix: None,
    }
}

fn fail(action: &str, resource: &str, error: String, fix: String) -> PermissionCheck {
    PermissionCheck {
        action: action.into(),
        resource: resource.into(),
        ok: false,
        error: Some(error),
        fix: Some(fix),
    }
}

/// Who flowlogd is before assuming any role (for trust policies and fixes).
pub async fn caller_arn(endpoint_url: Option<String>) -> Option<String> {
    let id = flowlogd_sources::s3::AwsIdentity {
        region: None,
        role_arn: None,
        external_id: None,
        session_name: "flowlogd".into(),
        endpoint_url,
    };
    let shared = sdk_config(&id).await;
    sts_client(&shared)
        .get_caller_identity()
        .send()
        .await
        .ok()
        .and_then(|o| o.arn().map(str::to_owned))
}

/// The status of one destination.
pub async fn check_destination(src: &S3SourceConfig, grant_hint: &str) -> DestinationStatus {
    let prefix = src.normalized_prefix();
    let destination = format!("s3://{}/{}", src.bucket, prefix);
    let bucket_arn = format!("arn:aws:s3:::{}", src.bucket);
    let identity = src.identity();
    let shared = sdk_config(&identity).await;
    let mut checks = Vec::new();
    let mut account = src
        .account
        .clone()
        .or_else(|| identity.role_account().map(str::to_owned));

    // Assuming the role (or, without one, loading credentials) happens on the first
    // request: GetCallerIdentity, which needs no permission of its own. A service answer
    // other than "bad credentials" proves the credentials work.
    let who = sts_client(&shared).get_caller_identity().send().await;
    let cred_error = match &who {
        Ok(o) => {
            if account.is_none() {
                account = o.account().map(str::to_owned);
            }
            None
        }
        Err(aws_sdk_sts::error::SdkError::ServiceError(se)) => {
            use aws_sdk_sts::error::ProvideErrorMetadata;
            match se.err().code() {
                Some(c @ ("InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken")) => {
                    Some(format!("{c}: {}", se.err().message().unwrap_or("")))
                }
                _ => None,
            }
        }
        Err(e) => Some(format!("{}", aws_sdk_sts::error::DisplayErrorContext(e))),
    };
    match (cred_error, &src.role_arn) {
        (None, Some(role)) => checks.push(pass("sts:AssumeRole", role)),
        (None, None) => {}
        (Some(why), Some(role)) => {
            let principal = caller_arn(identity.endpoint_url.clone())
                .await
                .unwrap_or_else(|| "flowlogd's principal".into());
            checks.push(fail(
                "sts:AssumeRole",
                role,
                why,
                format!(
                    "let {principal} assume {role}: the role's trust policy must name it{} and its own policy must allow sts:AssumeRole on the role ({grant_hint})",
                    if src.external_id.is_some() { " with this ExternalId" } else { "" }
                ),
            ));
        }
        (Some(why), None) => checks.push(fail(
            "sts:GetCallerIdentity",
            "credentials",
            why,
            "give flowlogd valid AWS credentials (environment, profile, instance or pod role)"
                .into(),
        )),
    }
    let account = account.unwrap_or_else(|| "unknown".into());
    if checks.iter().any(|c| !c.ok) {
        return status(src, account, destination, checks);
    }

    let s3 = s3_client(&shared, src.force_path_style);
    let listed = s3
        .list_objects_v2()
        .bucket(&src.bucket)
        .prefix(&prefix)
        .max_keys(100)
        .send()
        .await;
    let sample = match listed {
        Ok(out) => {
            checks.push(pass("s3:ListBucket", &bucket_arn));
            out.contents()
                .iter()
                .filter_map(|o| o.key())
                .find(|k| !k.ends_with('/'))
                .map(str::to_owned)
        }
        Err(e) => {
            let f = failure(&e);
            let fix = if f.denied {
                format!("allow s3:ListBucket on {bucket_arn} for prefix {prefix:?} ({grant_hint})")
            } else if f.not_found {
                format!("bucket {} does not exist in this account: fix `bucket`, or set role_arn to a role in the bucket's account", src.bucket)
            } else {
                "check the bucket name, region and network".into()
            };
            checks.push(fail("s3:ListBucket", &bucket_arn, f.text, fix));
            return status(src, account, destination, checks);
        }
    };

    match sample {
        None => checks.push(PermissionCheck {
            error: Some("not tested: no object under the prefix yet".into()),
            ..pass("s3:GetObject", &format!("{bucket_arn}/{prefix}*"))
        }),
        Some(key) => {
            let object_arn = format!("{bucket_arn}/{key}");
            let head = s3.head_object().bucket(&src.bucket).key(&key).send().await;
            let kms_key = head.as_ref().ok().and_then(|h| {
                (h.server_side_encryption() == Some(&ServerSideEncryption::AwsKms)).then(|| {
                    h.ssekms_key_id()
                        .unwrap_or("the bucket's KMS key")
                        .to_owned()
                })
            });
            let get = s3
                .get_object()
                .bucket(&src.bucket)
                .key(&key)
                .range("bytes=0-0")
                .send()
                .await;
            match get {
                Ok(_) => {
                    checks.push(pass("s3:GetObject", &object_arn));
                    if let Some(k) = kms_key {
                        checks.push(pass("kms:Decrypt", &k));
                    }
                }
                Err(e) => {
                    let f = failure(&e);
                    let kms_denied = f.denied
                        && (f.text.contains("kms")
                            || f.text.contains("KMS")
                            || (kms_key.is_some() && head.is_ok()));
                    if kms_denied {
                        let k = kms_key.unwrap_or_else(|| "the bucket's KMS key".into());
                        checks.push(pass("s3:GetObject", &object_arn));
                        checks.push(fail(
                            "kms:Decrypt",
                            &k,
                            f.text,
                            format!("allow kms:Decrypt on {k} (key policy and role policy; {grant_hint} --kms-key-arn {k})"),
                        ));
                    } else {
                        let fix = if f.denied {
                            format!("allow s3:GetObject on {bucket_arn}/{prefix}* ({grant_hint})")
                        } else {
                            "check the network and retry".into()
                        };
                        checks.push(fail("s3:GetObject", &object_arn, f.text, fix));
                    }
                }
            }
        }
    }

    if let Some(queue) = &src.sqs_queue_url {
        // Visibility 0: the probe leaves any message it receives visible to the reader.
        let r = sqs_client(&shared)
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(1)
            .visibility_timeout(0)
            .wait_time_seconds(0)
            .send()
            .await;
        match r {
            Ok(_) => checks.push(pass("sqs:ReceiveMessage", queue)),
            Err(e) => {
                let f = failure(&e);
                let fix = if f.denied {
                    format!("allow sqs:ReceiveMessage, sqs:DeleteMessage and sqs:ChangeMessageVisibility on the queue ({grant_hint} --sqs-queue-arn <arn>)")
                } else {
                    "check sqs_queue_url".into()
                };
                checks.push(fail("sqs:ReceiveMessage", queue, f.text, fix));
            }
        }
    }
    status(src, account, destination, checks)
}

fn status(
    src: &S3SourceConfig,
    account: String,
    destination: String,
    checks: Vec<PermissionCheck>,
) -> DestinationStatus {
    DestinationStatus {
        cloud: Cloud::Aws,
        readable: checks.iter().all(|c| c.ok),
        account,
        region: src.region.clone(),
        destination,
        checks,
    }
}
