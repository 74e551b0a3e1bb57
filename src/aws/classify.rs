//! Turning SDK errors into [`PortError`]s by what the controller does about
//! them, not by which API raised them.

use std::error::Error;
use std::sync::Arc;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::ports::{ErrorKind, ErrorSource, PortError};

/// Error codes AWS services use for throttling (the SDK's own list, plus the
/// SQS and ECS spellings).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes for missing permissions or unusable credentials: both need a
/// person to fix them, so both are "access denied".
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "InvalidSecurity",
];

/// Error codes that say the queue is not there.
pub(crate) const QUEUE_MISSING_CODES: &[&str] = &[
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
];

/// Error codes that say the ECS service or its cluster is not there.
pub(crate) const SERVICE_MISSING_CODES: &[&str] = &[
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "ClusterNotFoundException",
];

/// The error code of a service error, if the call got that far.
pub(crate) fn error_code<E>(error: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}

/// The kind of failure an SDK error is, leaving resource-specific "not
/// found" codes to the caller (it knows which resource it asked for).
pub(crate) fn classify_kind<E>(error: &SdkError<E, HttpResponse>) -> ErrorKind
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::DispatchFailure(failure) => failure
            .as_connector_error()
            .and_then(|connector| assume_role_failure(connector))
            .unwrap_or(ErrorKind::Unreachable),
        SdkError::TimeoutError(_) => ErrorKind::Unreachable,
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or_default();
            let status = context.raw().status().as_u16();
            if THROTTLING_CODES.contains(&code) || status == 429 {
                ErrorKind::Throttled
            } else if ACCESS_DENIED_CODES.contains(&code) || status == 403 {
                ErrorKind::AccessDenied
            } else if QUEUE_MISSING_CODES.contains(&code) {
                ErrorKind::QueueNotFound
            } else if SERVICE_MISSING_CODES.contains(&code) {
                ErrorKind::ServiceNotFound
            } else if status == 502 || status == 503 || status == 504 {
                // The service is there but cannot answer now: like a timeout,
                // it is expected to pass by itself.
                ErrorKind::Unreachable
            } else {
                ErrorKind::Other
            }
        }
        // A response the SDK could not parse, or a request it could not
        // build (no credentials, no region): neither passes by itself.
        _ => ErrorKind::Other,
    }
}

/// A call whose credentials could not be loaded fails before it is sent,
/// as a dispatch failure. When the cause is an STS `AssumeRole` (a policy's
/// `role_arn`), its kind is the STS error's: a role that may not be assumed
/// is access denied, not an unreachable endpoint.
fn assume_role_failure(error: &(dyn Error + 'static)) -> Option<ErrorKind> {
    let mut cause = error.source();
    while let Some(error) = cause {
        type AssumeRoleFailure =
            SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError, HttpResponse>;
        if let Some(sts) = error.downcast_ref::<AssumeRoleFailure>() {
            return Some(classify_kind(sts));
        }
        cause = error.source();
    }
    None
}

/// The cause to keep for an SDK error: the service's own error when the
/// service answered (its text is the API's message, without the SDK's
/// generic "service error" wrapper), else the SDK error with its chain
/// (dispatch failure, timeout, ...).
pub(crate) fn error_source<E>(error: SdkError<E, HttpResponse>) -> ErrorSource
where
    E: Error + Send + Sync + 'static,
{
    match error {
        SdkError::ServiceError(context) => Arc::new(context.into_err()),
        other => Arc::new(other),
    }
}

/// A [`PortError`] for an SDK error of `operation`. Not-found kinds become
/// [`PortError::Other`] here; callers that know the resource map them first.
pub(crate) fn port_error<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    let kind = classify_kind(&error);
    let source = error_source(error);
    match kind {
        ErrorKind::AccessDenied => PortError::AccessDenied { operation, source },
        ErrorKind::Throttled => PortError::Throttled { operation, source },
        ErrorKind::Unreachable => PortError::Unreachable { operation, source },
        ErrorKind::QueueNotFound | ErrorKind::ServiceNotFound | ErrorKind::Other => {
            PortError::Other { operation, source }
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn service_error(code: &str, status: u16) -> SdkError<GetQueueAttributesError, HttpResponse> {
        let error = GetQueueAttributesError::generic(ErrorMetadata::builder().code(code).build());
        let response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(error, response)
    }

    #[test]
    fn codes_map_to_kinds() {
        let cases = [
            ("ThrottlingException", 400, ErrorKind::Throttled),
            ("RequestThrottled", 403, ErrorKind::Throttled),
            ("Whatever", 429, ErrorKind::Throttled),
            ("AccessDeniedException", 400, ErrorKind::AccessDenied),
            ("UnrecognizedClientException", 400, ErrorKind::AccessDenied),
            ("Whatever", 403, ErrorKind::AccessDenied),
            (
                "AWS.SimpleQueueService.NonExistentQueue",
                400,
                ErrorKind::QueueNotFound,
            ),
            ("QueueDoesNotExist", 400, ErrorKind::QueueNotFound),
            ("ClusterNotFoundException", 400, ErrorKind::ServiceNotFound),
            ("ServiceUnavailable", 503, ErrorKind::Unreachable),
            ("InternalFailure", 500, ErrorKind::Other),
            ("InvalidParameterValue", 400, ErrorKind::Other),
        ];
        for (code, status, kind) in cases {
            assert_eq!(
                classify_kind(&service_error(code, status)),
                kind,
                "{code} {status}"
            );
        }
    }

    #[test]
    fn a_timeout_is_unreachable_and_keeps_its_operation() {
        let error: SdkError<GetQueueAttributesError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        let port = port_error("GetQueueAttributes", error);
        assert_eq!(port.kind(), ErrorKind::Unreachable);
        assert!(
            port.to_string().starts_with("GetQueueAttributes:"),
            "{port}"
        );
        assert!(port.source().is_some());
    }
}
