//! Every key of the policy format with what its value must be: the source
//! of unknown-key errors, "did you mean" hints and type-error wording.
//!
//! Paths use `.` between keys and `[]` for list entries, the form of
//! [`super::outline::KeyPath::pattern`]. A unit test keeps this table in
//! step with the raw types (and so with the JSON Schema).

use std::collections::HashMap;
use std::sync::OnceLock;

const DURATION: (&str, &str) = (
    "a duration such as `30s`, `5m` or `300ms`",
    "write a duration such as `30s`, `5m` or `300ms`",
);
const STEP: (&str, &str) = (
    "a number of tasks such as `4`, or a percent such as `50%`",
    "write a number of tasks such as `4`, or a percent such as `50%`",
);
const COUNT: (&str, &str) = ("a whole number", "write a number of tasks, e.g. `4`");
const NUMBER: (&str, &str) = ("a number", "write a number, e.g. `0.5`");
const FLAG: (&str, &str) = ("true or false", "write `true` or `false`");
const TEXT_HINT: &str = "write it as plain text, e.g. `orders`";
const MAPPING_HINT: &str = "write its keys on the lines below it, indented";

/// Every key: (path, what its value must be, how to write it).
pub(crate) const KEY_TABLE: &[(&str, (&str, &str))] = &[
    (
        "",
        (
            "a mapping of policy keys such as `name:` and `queues:`",
            "each YAML document in a policy file is one policy: a mapping of keys",
        ),
    ),
    ("name", ("a policy name", TEXT_HINT)),
    ("cluster", ("an ECS cluster name or ARN", TEXT_HINT)),
    ("service", ("an ECS service name or ARN", TEXT_HINT)),
    (
        "queues",
        (
            "a list of SQS queue names or URLs",
            "write one `- queue` per line below `queues:`, or `[a, b]`",
        ),
    ),
    (
        "queues[]",
        (
            "a queue name or URL, or a mapping with `queue` and `weight`",
            "write `- orders`, or `- {queue: orders, weight: 0.5}`",
        ),
    ),
    ("queues[].queue", ("an SQS queue name or URL", TEXT_HINT)),
    ("queues[].weight", NUMBER),
    ("target_backlog_per_task", NUMBER),
    ("target_wait", DURATION),
    ("message_cost", DURATION),
    (
        "task_startup",
        (
            "a duration such as `60s`, or `measured`",
            "write the time a new task takes to start, such as `60s`, or `measured`",
        ),
    ),
    ("min_tasks", COUNT),
    ("max_tasks", COUNT),
    ("poll_interval", DURATION),
    ("count_in_flight", FLAG),
    ("count_delayed", FLAG),
    ("tolerance", NUMBER),
    (
        "scale_out",
        (
            "a mapping with `max_step`, `cooldown` and `lookahead`",
            MAPPING_HINT,
        ),
    ),
    ("scale_out.max_step", STEP),
    ("scale_out.cooldown", DURATION),
    ("scale_out.lookahead", DURATION),
    (
        "scale_in",
        (
            "a mapping with `stabilization_window`, `max_step` and `cooldown`",
            MAPPING_HINT,
        ),
    ),
    ("scale_in.stabilization_window", DURATION),
    ("scale_in.max_step", STEP),
    ("scale_in.cooldown", DURATION),
    ("activation_backlog", NUMBER),
    ("scale_to_zero_after", DURATION),
    ("dry_run", FLAG),
    ("in_flight_per_task", NUMBER),
    (
        "region",
        (
            "an AWS region such as `eu-west-1`",
            "write a region code, e.g. `eu-west-1`",
        ),
    ),
    (
        "role_arn",
        (
            "an IAM role ARN",
            "write a role ARN, e.g. `arn:aws:iam::123456789012:role/backlog-scaler`",
        ),
    ),
];

/// What the value at `pattern` must be and how to write it, if the format
/// has that key.
pub(crate) fn expected_value(pattern: &str) -> Option<(&'static str, &'static str)> {
    KEY_TABLE
        .iter()
        .find(|(path, _)| *path == pattern)
        .map(|(_, expected)| *expected)
}

/// The keys a mapping at `parent` may hold; `None` when the format has no
/// mapping there (so its keys are not ours to judge).
pub(crate) fn keys_under(parent: &str) -> Option<Vec<&'static str>> {
    // Asked once per key of every document read: built once, not per call.
    static CHILDREN: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    let children = CHILDREN.get_or_init(|| {
        let mut children: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for (path, _) in KEY_TABLE {
            let (owner, key) = path.rsplit_once('.').unwrap_or(("", path));
            // `queues[]` is a list entry, not a key.
            if !key.is_empty() && !key.contains('[') {
                children.entry(owner).or_default().push(key);
            }
        }
        children
    });
    children.get(parent).cloned()
}

/// A one-line hint for an unknown `key` in the mapping at `parent`.
pub(crate) fn unknown_key_hint(key: &str, parent: &str) -> String {
    let candidates = keys_under(parent).unwrap_or_default();
    if let Some(close) = closest(key, &candidates) {
        return format!("did you mean `{close}`?");
    }
    let elsewhere: Vec<String> = KEY_TABLE
        .iter()
        .filter_map(|(path, _)| {
            let (owner, last) = path.rsplit_once('.')?;
            (last == key && owner != parent).then(|| format!("`{owner}`"))
        })
        .collect();
    if !elsewhere.is_empty() {
        return format!("`{key}` belongs under {}", elsewhere.join(" or "));
    }
    let list: Vec<String> = candidates.iter().map(|k| format!("`{k}`")).collect();
    format!("the keys here are {}", list.join(", "))
}

/// The candidate closest to `key`, if it is close enough to be a slip.
fn closest<'a>(key: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase().replace('-', "_");
    candidates
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(&key, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slip_gets_the_closest_key() {
        assert_eq!(
            unknown_key_hint("max_taks", ""),
            "did you mean `max_tasks`?"
        );
        assert_eq!(
            unknown_key_hint("wieght", "queues[]"),
            "did you mean `weight`?"
        );
        assert_eq!(
            unknown_key_hint("stabilisation_window", "scale_in"),
            "did you mean `stabilization_window`?"
        );
        assert_eq!(unknown_key_hint("Dry-Run", ""), "did you mean `dry_run`?");
    }

    #[test]
    fn a_key_of_another_section_says_where_it_belongs() {
        assert_eq!(
            unknown_key_hint("cooldown", ""),
            "`cooldown` belongs under `scale_out` or `scale_in`"
        );
        assert_eq!(
            unknown_key_hint("stabilization_window", "scale_out"),
            "`stabilization_window` belongs under `scale_in`"
        );
    }

    #[test]
    fn a_stranger_gets_the_list_of_keys() {
        assert_eq!(
            unknown_key_hint("colour", "scale_out"),
            "the keys here are `max_step`, `cooldown`, `lookahead`"
        );
    }

    #[test]
    fn mappings_know_their_keys() {
        assert_eq!(
            keys_under("scale_in"),
            Some(vec!["stabilization_window", "max_step", "cooldown"])
        );
        assert_eq!(keys_under("queues[]"), Some(vec!["queue", "weight"]));
        assert_eq!(keys_under("name"), None);
        assert_eq!(keys_under("").map(|k| k.len()), Some(22));
    }
}
