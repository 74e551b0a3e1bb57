//! Checks of what a policy drives: its name, cluster, service and queues.

use serde_saphyr::Spanned;

use super::{at, must_be, Checker};
use crate::policy::defaults;
use crate::policy::model::QueueRef;
use crate::policy::names::{self, ClusterRef, ServiceRef};
use crate::policy::outline::quoted;
use crate::policy::raw::RawQueue;

impl Checker<'_> {
    pub(super) fn name<'v>(
        &mut self,
        name: Option<&'v Spanned<String>>,
    ) -> Option<&'v Spanned<String>> {
        let hint = "give the policy a name no other policy uses, e.g. `orders-worker`";
        let name = self.required(name, "name", hint)?;
        let text = name.value.as_str();
        let valid = (1..=64).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            self.error(
                at(name),
                "name",
                format!("{} is not a valid policy name", quoted(text)),
                "use up to 64 ASCII letters, digits, `.`, `_` and `-`, starting with a letter or digit",
            );
            return None;
        }
        Some(name)
    }

    /// The cluster as written, with the name it stands for.
    pub(super) fn cluster<'v>(
        &mut self,
        cluster: Option<&'v Spanned<String>>,
    ) -> Option<(&'v Spanned<String>, &'v str)> {
        let hint = "add `cluster:` with the ECS cluster's name or ARN";
        let cluster = self.required(cluster, "cluster", hint)?;
        match names::cluster_ref(&cluster.value) {
            ClusterRef::Name(name) => Some((cluster, name)),
            ClusterRef::BadArn => {
                self.error(
                    at(cluster),
                    "cluster",
                    format!("{} is not an ECS cluster ARN", quoted(&cluster.value)),
                    "a cluster ARN looks like `arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`",
                );
                None
            }
            ClusterRef::BadName => {
                self.error(
                    at(cluster),
                    "cluster",
                    format!("{} is not a valid ECS cluster name", quoted(&cluster.value)),
                    "ECS names use up to 255 ASCII letters, digits, `-` and `_`; or give the ARN",
                );
                None
            }
        }
    }

    /// The service as written (the daemon passes it to ECS as is), once it is
    /// known to be a valid name or ARN of a service in `cluster`.
    pub(super) fn service<'v>(
        &mut self,
        service: Option<&'v Spanned<String>>,
        cluster: Option<&str>,
    ) -> Option<&'v Spanned<String>> {
        let hint = "add `service:` with the ECS service's name or ARN";
        let service = self.required(service, "service", hint)?;
        match names::service_ref(&service.value) {
            ServiceRef::Name {
                cluster: Some(arn_cluster),
                ..
            } if cluster.is_some_and(|c| c != arn_cluster) => {
                self.error(
                    at(service),
                    "service",
                    format!(
                        "the service ARN is in cluster `{arn_cluster}`, not `{}`",
                        cluster.unwrap_or_default()
                    ),
                    "make `cluster` and the service ARN name the same cluster",
                );
                None
            }
            ServiceRef::Name { .. } => Some(service),
            ServiceRef::BadArn => {
                self.error(
                    at(service),
                    "service",
                    format!("{} is not an ECS service ARN", quoted(&service.value)),
                    "a service ARN looks like `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME`",
                );
                None
            }
            ServiceRef::BadName => {
                self.error(
                    at(service),
                    "service",
                    format!("{} is not a valid ECS service name", quoted(&service.value)),
                    "ECS names use up to 255 ASCII letters, digits, `-` and `_`; or give the ARN",
                );
                None
            }
        }
    }

    pub(super) fn queues(
        &mut self,
        queues: Option<&Spanned<Vec<Spanned<RawQueue>>>>,
    ) -> Option<Vec<QueueRef>> {
        let hint = "add `queues:` with the SQS queue names or URLs the service consumes";
        let queues = self.required(queues, "queues", hint)?;
        if queues.value.is_empty() {
            self.error(at(queues), "queues", "lists no queue", hint);
            return None;
        }
        let mut refs = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let mut valid = true;
        for (i, entry) in queues.value.iter().enumerate() {
            let name = match &entry.value {
                RawQueue::Name(name) => Some(name.as_str()),
                RawQueue::Weighted(weighted) => weighted.queue.as_ref().map(|q| q.value.as_str()),
            };
            if let Some(name) = name {
                if seen.contains(&name) {
                    self.error(
                        at(entry),
                        &format!("queues[{i}]"),
                        format!("{} is listed twice", quoted(name)),
                        "its backlog would count twice; list it once, with a `weight` if needed",
                    );
                    valid = false;
                }
                seen.push(name);
            }
            match self.queue(entry, i) {
                Some(queue) => refs.push(queue),
                None => valid = false,
            }
        }
        valid.then_some(refs)
    }

    pub(super) fn queue(&mut self, entry: &Spanned<RawQueue>, i: usize) -> Option<QueueRef> {
        let (queue, queue_at, weight) = match &entry.value {
            RawQueue::Name(name) => (name, at(entry), None),
            RawQueue::Weighted(weighted) => {
                let key = format!("queues[{i}].queue");
                let hint = "add `queue:` with the SQS queue name or URL";
                let queue = self.required_in(at(entry), weighted.queue.as_ref(), &key, hint)?;
                (&queue.value, at(queue), weighted.weight.as_ref())
            }
        };
        let mut valid = true;
        if !names::is_queue(queue) {
            let key = match entry.value {
                RawQueue::Name(_) => format!("queues[{i}]"),
                RawQueue::Weighted(_) => format!("queues[{i}].queue"),
            };
            self.error(
                queue_at,
                &key,
                format!("{} is not an SQS queue name or URL", quoted(queue)),
                "queue names use up to 80 ASCII letters, digits, `-` and `_` (plus `.fifo`); URLs start with https://",
            );
            valid = false;
        }
        let weight = match weight {
            None => defaults::QUEUE_WEIGHT,
            Some(weight) if weight.value > 0.0 && weight.value.is_finite() => weight.value,
            Some(weight) => {
                self.error(
                    at(weight),
                    &format!("queues[{i}].weight"),
                    must_be("greater than 0", weight.value),
                    "a weight says how much one message counts, e.g. `0.5`; remove the queue to ignore it",
                );
                valid = false;
                1.0
            }
        };
        valid.then(|| QueueRef {
            queue: queue.clone(),
            weight,
        })
    }
}
