//! Checks of where a policy's calls go: its `region` and `role_arn`, and
//! that no queue URL or ECS ARN names another region than `region` (or,
//! without `region`, than the controller's own region when it is known).
//!
//! The SQS and ECS clients send every call to their region's endpoint; a
//! queue URL or ARN is only a parameter, so a queue or service of another
//! region would simply not be found. Catching that here turns a runtime
//! "does not exist" into a located error.

use serde_saphyr::Spanned;

use super::{at, Checker};
use crate::policy::model::AwsScope;
use crate::policy::names;
use crate::policy::outline::quoted;
use crate::policy::raw::{RawPolicy, RawQueue};

impl Checker<'_> {
    /// The policy's target, `None` when `region` or `role_arn` is invalid.
    pub(super) fn aws_scope(&mut self, raw: &RawPolicy) -> Option<AwsScope> {
        let region = self.region(raw.region.as_ref());
        let role_arn = self.role_arn(raw.role_arn.as_ref());
        let (region, role_arn) = (region?, role_arn?);
        match (&region, self.home_region) {
            (Some(region), _) => self.same_region(raw, &WhoseRegion::Policy(region)),
            (None, Some(home)) => self.same_region(raw, &WhoseRegion::Controller(home)),
            (None, None) => {}
        }
        Some(AwsScope { region, role_arn })
    }

    /// `Some(None)` when left out, `None` when invalid.
    fn region(&mut self, region: Option<&Spanned<String>>) -> Option<Option<String>> {
        let Some(region) = region else {
            return Some(None);
        };
        if names::is_region(&region.value) {
            return Some(Some(region.value.clone()));
        }
        self.error(
            at(region),
            "region",
            format!("{} is not an AWS region", quoted(&region.value)),
            "write a region code such as `eu-west-1`, `us-gov-west-1` or `cn-north-1`; leave it out for the controller's own region",
        );
        None
    }

    fn role_arn(&mut self, role_arn: Option<&Spanned<String>>) -> Option<Option<String>> {
        let Some(role_arn) = role_arn else {
            return Some(None);
        };
        if names::role_arn_account(&role_arn.value).is_some() {
            return Some(Some(role_arn.value.clone()));
        }
        self.error(
            at(role_arn),
            "role_arn",
            format!("{} is not an IAM role ARN", quoted(&role_arn.value)),
            "a role ARN looks like `arn:aws:iam::123456789012:role/backlog-scaler` (12-digit account, `role/` then the path and name)",
        );
        None
    }

    /// An error for each queue URL, cluster ARN or service ARN that names
    /// another region than `region`.
    fn same_region(&mut self, raw: &RawPolicy, region: &WhoseRegion) {
        let mut named: Vec<(String, &Spanned<String>)> = Vec::new();
        if let Some(cluster) = &raw.cluster {
            named.push(("cluster".into(), cluster));
        }
        if let Some(service) = &raw.service {
            named.push(("service".into(), service));
        }
        for (i, entry) in raw.queues.iter().flat_map(|q| q.value.iter()).enumerate() {
            if let RawQueue::Weighted(weighted) = &entry.value {
                if let Some(queue) = &weighted.queue {
                    named.push((format!("queues[{i}].queue"), queue));
                }
            }
        }
        for (key, value) in named {
            self.region_of(&key, &value.value, at(value), region);
        }
        // A plain queue entry is a string without a span of its own: the
        // entry's span is the string's.
        for (i, entry) in raw.queues.iter().flat_map(|q| q.value.iter()).enumerate() {
            if let RawQueue::Name(queue) = &entry.value {
                self.region_of(&format!("queues[{i}]"), queue, at(entry), region);
            }
        }
    }

    fn region_of(
        &mut self,
        key: &str,
        value: &str,
        value_at: super::Position,
        region: &WhoseRegion,
    ) {
        let Some(named) = names::region_named_by(value) else {
            return;
        };
        match region {
            WhoseRegion::Policy(region) if named != *region => self.error(
                value_at,
                key,
                format!(
                    "{} is in region `{named}`, but the policy's `region` is `{region}`",
                    quoted(value)
                ),
                "SQS and ECS are called in the policy's region: make `region` and the URL or ARN agree",
            ),
            WhoseRegion::Controller(home) if named != *home => self.error(
                value_at,
                key,
                format!(
                    "{} is in region `{named}`, but the policy sets no `region` and the controller's region is `{home}`",
                    quoted(value)
                ),
                &format!("SQS and ECS would be called in `{home}`, where this name means another queue or service: add `region: {named}` to the policy"),
            ),
            _ => {}
        }
    }
}

/// The region a policy's calls go to, and who chose it (for the message).
enum WhoseRegion<'a> {
    /// The policy's `region` key.
    Policy(&'a str),
    /// The controller's own region: the policy has no `region`.
    Controller(&'a str),
}
