//! The AWS names a policy refers to: which spellings are valid, and the plain
//! name an ECS ARN stands for, so `orders` and
//! `arn:aws:ecs:eu-west-1:123456789012:cluster/orders` compare equal.

/// An ECS cluster or service name: letters, digits, `-` and `_`, up to 255.
pub(crate) fn is_ecs_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The resource part of an ECS ARN (`cluster/NAME`, `service/...`), or `None`
/// when `text` is not an ECS ARN.
fn ecs_arn_resource(text: &str) -> Option<&str> {
    let mut parts = text.splitn(6, ':');
    let (arn, partition, service) = (parts.next()?, parts.next()?, parts.next()?);
    let (_region, _account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    (arn == "arn" && !partition.is_empty() && service == "ecs").then_some(resource)
}

/// What a `cluster` value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClusterRef<'a> {
    Name(&'a str),
    /// An ARN that is not a valid ECS cluster ARN.
    BadArn,
    /// Not an ARN and not a valid name.
    BadName,
}

/// Read a `cluster` value: a name, or an ARN
/// `arn:PARTITION:ecs:REGION:ACCOUNT:cluster/NAME`.
pub(crate) fn cluster_ref(text: &str) -> ClusterRef<'_> {
    if text.starts_with("arn:") {
        return match ecs_arn_resource(text).and_then(|r| r.strip_prefix("cluster/")) {
            Some(name) if is_ecs_name(name) => ClusterRef::Name(name),
            _ => ClusterRef::BadArn,
        };
    }
    if is_ecs_name(text) {
        ClusterRef::Name(text)
    } else {
        ClusterRef::BadName
    }
}

/// What a `service` value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceRef<'a> {
    /// The service name, and the cluster when the ARN names one.
    Name {
        cluster: Option<&'a str>,
        name: &'a str,
    },
    BadArn,
    BadName,
}

/// Read a `service` value: a name, or an ARN in the long form
/// `...:service/CLUSTER/NAME` or the old short form `...:service/NAME`.
pub(crate) fn service_ref(text: &str) -> ServiceRef<'_> {
    if text.starts_with("arn:") {
        let resource = ecs_arn_resource(text).and_then(|r| r.strip_prefix("service/"));
        let (cluster, name) = match resource.map(|r| r.split_once('/').ok_or(r)) {
            Some(Ok((cluster, name))) => (Some(cluster), name),
            Some(Err(name)) => (None, name),
            None => return ServiceRef::BadArn,
        };
        return if is_ecs_name(name) && cluster.is_none_or(is_ecs_name) {
            ServiceRef::Name { cluster, name }
        } else {
            ServiceRef::BadArn
        };
    }
    if is_ecs_name(text) {
        ServiceRef::Name {
            cluster: None,
            name: text,
        }
    } else {
        ServiceRef::BadName
    }
}

/// An SQS queue name (letters, digits, `-`, `_`, up to 80 with an optional
/// `.fifo`), or an `http(s)://` queue URL ending in one.
pub(crate) fn is_queue(text: &str) -> bool {
    let name = match text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    {
        Some(rest) => match rest.split_once('/') {
            Some((host, path)) if !host.is_empty() => path.rsplit('/').next().unwrap_or(""),
            _ => return false,
        },
        None => text,
    };
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    (1..=80).contains(&name.len())
        && !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_and_arns() {
        assert_eq!(cluster_ref("orders"), ClusterRef::Name("orders"));
        assert_eq!(
            cluster_ref("arn:aws:ecs:eu-west-1:123456789012:cluster/orders"),
            ClusterRef::Name("orders")
        );
        assert_eq!(
            cluster_ref("arn:aws:ecs:eu-west-1:123456789012:service/orders"),
            ClusterRef::BadArn
        );
        assert_eq!(cluster_ref("arn:aws:sqs:eu-west-1:1:q"), ClusterRef::BadArn);
        assert_eq!(cluster_ref("my cluster"), ClusterRef::BadName);
        assert_eq!(cluster_ref(""), ClusterRef::BadName);
    }

    #[test]
    fn service_names_and_both_arn_forms() {
        assert_eq!(
            service_ref("worker"),
            ServiceRef::Name {
                cluster: None,
                name: "worker"
            }
        );
        assert_eq!(
            service_ref("arn:aws:ecs:eu-west-1:123456789012:service/orders/worker"),
            ServiceRef::Name {
                cluster: Some("orders"),
                name: "worker"
            }
        );
        assert_eq!(
            service_ref("arn:aws-cn:ecs:cn-north-1:123456789012:service/worker"),
            ServiceRef::Name {
                cluster: None,
                name: "worker"
            }
        );
        assert_eq!(
            service_ref("arn:aws:ecs:eu-west-1:1:service/a/b/c"),
            ServiceRef::BadArn
        );
        assert_eq!(service_ref("worker/1"), ServiceRef::BadName);
    }

    #[test]
    fn queue_names_and_urls() {
        assert!(is_queue("orders"));
        assert!(is_queue("orders.fifo"));
        assert!(is_queue(
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
        ));
        assert!(is_queue("http://127.0.0.1:4566/000000000000/orders"));
        assert!(!is_queue(
            "https://sqs.eu-west-1.amazonaws.com/123456789012/"
        ));
        assert!(!is_queue("my queue"));
        assert!(!is_queue(".fifo"));
        assert!(!is_queue(&"q".repeat(81)));
    }
}
