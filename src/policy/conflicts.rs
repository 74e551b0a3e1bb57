//! Checks across policies: every name is unique, and no two policies drive
//! the same ECS service (they would fight over its desired count). Names and
//! ARNs of one cluster or service compare equal.
//!
//! Services of one name in different regions or accounts are different
//! services, but a policy without `region` (or `role_arn`) uses the
//! controller's own, which is not known here: it may be any. So two policies
//! of one cluster and service clash unless both name their region and the
//! regions differ, or both name a role and the roles' accounts differ.

use std::collections::HashMap;
use std::path::Path;

use super::diagnostic::Diagnostic;
use super::model::AwsScope;
use super::names::{self, ClusterRef, ServiceRef};
use super::outline::Position;
use super::validate::CheckedPolicy;

/// The clashes among `policies` (in the order they were read), each
/// reported on the later policy, and which policies to keep: all but those.
pub(crate) fn conflicts(policies: &[CheckedPolicy]) -> (Vec<Diagnostic>, Vec<bool>) {
    let mut diagnostics = Vec::new();
    let mut keep = vec![true; policies.len()];
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut services: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, checked) in policies.iter().enumerate() {
        let policy = &checked.policy;
        let file = file_of(checked);
        if let Some(&first) = names.get(policy.name.as_str()) {
            let at = checked.name_at;
            diagnostics.push(
                Diagnostic::error(
                    file,
                    at.line,
                    at.column,
                    format!(
                        "`{}` is already the name of the policy at {}",
                        policy.name,
                        place(&policies[first], policies[first].name_at)
                    ),
                )
                .with_policy(Some(&policy.name))
                .with_key("name")
                .with_hint("give each policy its own name"),
            );
            keep[i] = false;
        } else {
            names.insert(&policy.name, i);
        }
        let service = service_key(&policy.cluster, &policy.service);
        let earlier = services.get(&service).and_then(|earlier| {
            earlier
                .iter()
                .copied()
                .find(|&j| may_be_the_same_place(&policies[j].policy.aws, &policy.aws))
        });
        if let Some(first) = earlier {
            let at = checked.service_at;
            let other = &policies[first];
            diagnostics.push(
                Diagnostic::error(
                    file,
                    at.line,
                    at.column,
                    format!(
                        "service `{}` in cluster `{}` is already driven by policy `{}` at {}",
                        service.1,
                        service.0,
                        other.policy.name,
                        place(other, other.service_at)
                    ),
                )
                .with_policy(Some(&policy.name))
                .with_key("service")
                .with_hint(if policy.aws.is_home() && other.policy.aws.is_home() {
                    "two policies would fight over one service; give one policy several queues instead"
                } else {
                    "two policies may fight over one service; if they are in different regions or accounts, give both `region` (or `role_arn`)"
                }),
            );
            keep[i] = false;
        } else {
            services.entry(service).or_default().push(i);
        }
    }
    (diagnostics, keep)
}

/// False only when the two targets are known to be different regions or
/// different accounts; an unset region or role may be anything.
fn may_be_the_same_place(a: &AwsScope, b: &AwsScope) -> bool {
    let differ = |x: Option<&str>, y: Option<&str>| matches!((x, y), (Some(x), Some(y)) if x != y);
    !differ(a.region.as_deref(), b.region.as_deref()) && !differ(a.role_account(), b.role_account())
}

fn file_of(checked: &CheckedPolicy) -> &Path {
    checked
        .policy
        .source
        .as_ref()
        .map_or(Path::new(""), |source| source.file.as_path())
}

fn place(checked: &CheckedPolicy, at: Position) -> String {
    format!("{}:{}:{}", file_of(checked).display(), at.line, at.column)
}

/// (cluster name, service name) with ARNs reduced to names. Validation has
/// accepted both, so the fallbacks to the text as written never apply.
fn service_key<'a>(cluster: &'a str, service: &'a str) -> (&'a str, &'a str) {
    let cluster = match names::cluster_ref(cluster) {
        ClusterRef::Name(name) => name,
        _ => cluster,
    };
    let service = match names::service_ref(service) {
        ServiceRef::Name { name, .. } => name,
        _ => service,
    };
    (cluster, service)
}
