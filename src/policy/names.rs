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

/// An AWS region code such as `eu-west-1`, `us-gov-west-1` or `cn-north-1`:
/// a two-letter area, one or more lowercase words, and a number.
pub(crate) fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [area, words @ .., number] = parts.as_slice() else {
        return false;
    };
    let lowercase = |word: &&str| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase());
    area.len() == 2
        && lowercase(area)
        && !words.is_empty()
        && words.iter().all(lowercase)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The account of an IAM role ARN
/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`, or `None` when `text` is not
/// one. Path segments and the name use letters, digits and `+=,.@_-`.
pub(crate) fn role_arn_account(text: &str) -> Option<&str> {
    let mut parts = text.splitn(6, ':');
    let (arn, partition, service) = (parts.next()?, parts.next()?, parts.next()?);
    let (region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    let partition_ok = partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        });
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let name_ok = resource.strip_prefix("role/").is_some_and(|path| {
        (1..=512).contains(&path.len())
            && path.split('/').all(|segment| {
                !segment.is_empty()
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
            })
            && path.rsplit('/').next().is_some_and(|name| name.len() <= 64)
    });
    (arn == "arn" && partition_ok && service == "iam" && region.is_empty() && account_ok && name_ok)
        .then_some(account)
}

/// The region an ECS ARN or an AWS SQS queue URL names, if it names one:
/// `arn:aws:ecs:REGION:...`, `https://sqs.REGION.amazonaws.com/...` or the
/// legacy `https://REGION.queue.amazonaws.com/...`. Names and other hosts
/// (an emulator's) name none.
pub(crate) fn region_named_by(text: &str) -> Option<&str> {
    if text.starts_with("arn:") {
        return text.split(':').nth(3).filter(|region| is_region(region));
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))?;
    let host = rest.split('/').next()?;
    let region = host
        .strip_prefix("sqs.")
        .and_then(|h| h.split_once(".amazonaws.com"))
        .or_else(|| host.split_once(".queue.amazonaws.com"))
        .map(|(region, _)| region)?;
    is_region(region).then_some(region)
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

    #[test]
    fn regions_of_every_partition() {
        for region in [
            "eu-west-1",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-2",
            "us-iso-east-1",
        ] {
            assert!(is_region(region), "{region}");
        }
        for bad in [
            "",
            "eu",
            "eu-west",
            "EU-WEST-1",
            "eu-west-x",
            "eu--1",
            "europe-west-1",
            "eu-west-100",
            "eu_west_1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn role_arns_name_their_account() {
        assert_eq!(
            role_arn_account("arn:aws:iam::123456789012:role/scaler"),
            Some("123456789012")
        );
        assert_eq!(
            role_arn_account("arn:aws-us-gov:iam::123456789012:role/ops/backlog-scaler"),
            Some("123456789012")
        );
        assert_eq!(
            role_arn_account("arn:aws-cn:iam::123456789012:role/a+b=c,d.e@f_g-h"),
            Some("123456789012")
        );
        for bad in [
            "scaler",
            "arn:aws:iam::123456789012:user/scaler",
            "arn:aws:iam::12345:role/scaler",
            "arn:aws:iam:eu-west-1:123456789012:role/scaler",
            "arn:aws:sts::123456789012:role/scaler",
            "arn:azure:iam::123456789012:role/scaler",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/ops//scaler",
            "arn:aws:iam::123456789012:role/with space",
        ] {
            assert_eq!(role_arn_account(bad), None, "{bad}");
        }
        let long = format!("arn:aws:iam::123456789012:role/{}", "n".repeat(65));
        assert_eq!(role_arn_account(&long), None);
    }

    #[test]
    fn arns_and_aws_queue_urls_name_their_region() {
        assert_eq!(
            region_named_by("arn:aws:ecs:eu-west-1:123456789012:cluster/prod"),
            Some("eu-west-1")
        );
        assert_eq!(
            region_named_by("https://sqs.us-gov-west-1.amazonaws.com/123456789012/q"),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region_named_by("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"),
            Some("cn-north-1")
        );
        assert_eq!(
            region_named_by("https://eu-west-1.queue.amazonaws.com/123456789012/q"),
            Some("eu-west-1")
        );
        assert_eq!(
            region_named_by("http://127.0.0.1:4566/000000000000/q"),
            None
        );
        assert_eq!(region_named_by("orders"), None);
    }
}
