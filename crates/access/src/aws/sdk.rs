//! Turning SDK errors into what an operator needs: was it a denial, and the service's words.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// An SDK failure, classified.
pub struct Failure {
    pub denied: bool,
    pub not_found: bool,
    pub text: String,
}

pub fn failure<E>(e: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().map(str::to_owned);
    let message = e.message().map(str::to_owned);
    // moto (and some proxies) answer denials with a 403 the SDK cannot parse a code from:
    // the status alone means denied.
    let denied = status == Some(403)
        || status == Some(401)
        || matches!(
            code.as_deref(),
            Some(
                "AccessDenied"
                    | "AccessDeniedException"
                    | "UnauthorizedOperation"
                    | "AuthFailure"
                    | "InvalidClientTokenId"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
            )
        );
    let not_found = status == Some(404)
        || matches!(
            code.as_deref(),
            Some(
                "NoSuchBucket"
                    | "NoSuchKey"
                    | "AWS.SimpleQueueService.NonExistentQueue"
                    | "QueueDoesNotExist"
            )
        );
    let text = match (code, message, status) {
        (Some(c), Some(m), _) => format!("{c}: {m}"),
        (Some(c), None, _) => c,
        (None, Some(m), Some(s)) => format!("HTTP {s}: {m}"),
        (None, None, Some(s)) => format!("HTTP {s}"),
        (None, m, None) => {
            m.unwrap_or_else(|| aws_sdk_s3::error::DisplayErrorContext(e).to_string())
        }
    };
    Failure {
        denied,
        not_found,
        text,
    }
}
