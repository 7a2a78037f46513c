//! S3 event notifications on SQS: which objects were created, and keeping a message
//! invisible to other readers while its objects are read.

use std::time::Duration;

use serde_json::Value;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::layout::decode_event_key;

/// An object named by an `s3:ObjectCreated:*` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// The created objects of one message body: a direct S3 notification, or one wrapped by
/// SNS (`{"Type":"Notification","Message":"<json>"}`). `s3:TestEvent` and other events
/// give none. Err for a body that is not a notification.
pub fn created_objects(body: &str) -> Result<Vec<Created>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let v = match v.get("Message").and_then(Value::as_str) {
        Some(inner) => serde_json::from_str(inner).map_err(|e| format!("SNS message: {e}"))?,
        None => v,
    };
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let Some(records) = v.get("Records").and_then(Value::as_array) else {
        return Err("no Records".into());
    };
    let mut out = Vec::new();
    for r in records {
        let name = r.get("eventName").and_then(Value::as_str).unwrap_or("");
        if !name.starts_with("ObjectCreated:") {
            continue;
        }
        let s3 = &r["s3"];
        let (Some(bucket), Some(key)) =
            (s3["bucket"]["name"].as_str(), s3["object"]["key"].as_str())
        else {
            return Err("record without s3.bucket.name / s3.object.key".into());
        };
        out.push(Created {
            bucket: bucket.to_owned(),
            key: decode_event_key(key),
            size: s3["object"]["size"].as_u64().unwrap_or(0),
            etag: s3["object"]["eTag"]
                .as_str()
                .unwrap_or("")
                .trim_matches('"')
                .to_owned(),
        });
    }
    Ok(out)
}

/// Renews a message's visibility timeout every half timeout until dropped, so a slow read
/// does not let another reader take the message.
pub struct VisibilityKeeper(JoinHandle<()>);

impl VisibilityKeeper {
    pub fn start(
        rt: &Handle,
        sqs: aws_sdk_sqs::Client,
        queue: String,
        receipt: String,
        timeout: Duration,
    ) -> Self {
        Self(rt.spawn(async move {
            loop {
                tokio::time::sleep(timeout / 2).await;
                let r = sqs
                    .change_message_visibility()
                    .queue_url(&queue)
                    .receipt_handle(&receipt)
                    .visibility_timeout(timeout.as_secs() as i32)
                    .send()
                    .await;
                if let Err(e) = r {
                    tracing::warn!(queue = %queue, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "cannot extend the visibility of a notification");
                }
            }
        }))
    }
}

impl Drop for VisibilityKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_notifications() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert_eq!(created_objects(test).unwrap(), vec![]);
        let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs%2F1%2Fa+b.log.gz","size":12,"eTag":"abc"}}},{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"x"}}}]}"#;
        let c = created_objects(body).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].key, "AWSLogs/1/a b.log.gz");
        assert_eq!(c[0].size, 12);
        let sns = serde_json::json!({"Type": "Notification", "Message": body}).to_string();
        assert_eq!(created_objects(&sns).unwrap(), c);
        assert!(created_objects("nope").is_err());
        assert!(created_objects("{}").is_err());
    }
}
