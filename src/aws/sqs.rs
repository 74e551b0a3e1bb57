//! SQS: the three backlog counts of a queue.
//!
//! Queue names are resolved to URLs once (`GetQueueUrl`) and cached; a
//! `QueueDoesNotExist` answer drops the cached URL so the next evaluation
//! resolves it again (the queue may have been recreated). A policy entry that
//! already is a URL is used as given, which is how queues of other accounts
//! are read. Each reading is exactly one `GetQueueAttributes` call asking for
//! exactly the three counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;

use super::calls::ApiCalls;
use super::classify::{classify_kind, error_code, error_source, port_error, QUEUE_MISSING_CODES};
use crate::engine::QueueDepth;
use crate::ports::{ErrorKind, PortError, PortFuture, QueueDepthReader};

const GET_QUEUE_URL: &str = "GetQueueUrl";
const GET_QUEUE_ATTRIBUTES: &str = "GetQueueAttributes";

/// Reads queue depths through the SQS API.
pub struct SqsQueues {
    client: Client,
    calls: Arc<ApiCalls>,
    urls: Mutex<HashMap<String, String>>,
}

impl SqsQueues {
    /// The SDK client, for the test that every adapter has the shared
    /// timeouts and retries.
    #[cfg(test)]
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub fn new(client: Client, calls: Arc<ApiCalls>) -> SqsQueues {
        SqsQueues {
            client,
            calls,
            urls: Mutex::new(HashMap::new()),
        }
    }

    fn cached_url(&self, queue: &str) -> Option<String> {
        self.urls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(queue)
            .cloned()
    }

    fn forget_url(&self, queue: &str) {
        self.urls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(queue);
    }

    async fn queue_url(&self, queue: &str) -> Result<String, PortError> {
        if is_url(queue) {
            return Ok(queue.to_owned());
        }
        if let Some(url) = self.cached_url(queue) {
            return Ok(url);
        }
        let result = self.client.get_queue_url().queue_name(queue).send().await;
        let output = match result {
            Ok(output) => {
                self.calls.record(GET_QUEUE_URL, None);
                output
            }
            Err(error) => {
                let kind = classify_kind(&error);
                self.calls.record(GET_QUEUE_URL, Some(kind));
                return Err(queue_error(queue, GET_QUEUE_URL, error));
            }
        };
        let url = output.queue_url.ok_or_else(|| {
            PortError::new(
                ErrorKind::Other,
                GET_QUEUE_URL,
                format!("no URL returned for queue {queue}"),
            )
        })?;
        self.urls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(queue.to_owned(), url.clone());
        Ok(url)
    }

    async fn read(&self, queue: &str) -> Result<QueueDepth, PortError> {
        let url = self.queue_url(queue).await?;
        let result = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await;
        let output = match result {
            Ok(output) => {
                self.calls.record(GET_QUEUE_ATTRIBUTES, None);
                output
            }
            Err(error) => {
                let kind = classify_kind(&error);
                self.calls.record(GET_QUEUE_ATTRIBUTES, Some(kind));
                if kind == ErrorKind::QueueNotFound {
                    self.forget_url(queue);
                }
                return Err(queue_error(queue, GET_QUEUE_ATTRIBUTES, error));
            }
        };
        let attributes = output.attributes.unwrap_or_default();
        let count = |name: QueueAttributeName| -> Result<u64, PortError> {
            let value = attributes.get(&name).ok_or_else(|| {
                PortError::new(
                    ErrorKind::Other,
                    GET_QUEUE_ATTRIBUTES,
                    format!("queue {queue}: the answer lacks {}", name.as_str()),
                )
            })?;
            value.parse().map_err(|_| {
                PortError::new(
                    ErrorKind::Other,
                    GET_QUEUE_ATTRIBUTES,
                    format!("queue {queue}: {} is not a count: {value:?}", name.as_str()),
                )
            })
        };
        Ok(QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages)?,
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
            delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed)?,
        })
    }
}

impl QueueDepthReader for SqsQueues {
    fn queue_depth<'a>(&'a self, queue: &'a str) -> PortFuture<'a, QueueDepth> {
        Box::pin(self.read(queue))
    }
}

/// Whether a policy's queue entry is a URL rather than a name.
fn is_url(queue: &str) -> bool {
    queue.starts_with("https://") || queue.starts_with("http://")
}

fn queue_error<E>(
    queue: &str,
    operation: &'static str,
    error: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> PortError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    if error_code(&error).is_some_and(|code| QUEUE_MISSING_CODES.contains(&code)) {
        PortError::QueueNotFound {
            queue: queue.to_owned(),
            source: Some(error_source(error)),
        }
    } else {
        port_error(operation, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_names() {
        assert!(is_url(
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
        ));
        assert!(is_url("http://127.0.0.1:5000/123456789012/orders"));
        assert!(!is_url("orders"));
        assert!(!is_url("orders-https"));
    }
}
