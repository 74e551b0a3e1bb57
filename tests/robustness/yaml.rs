//! Strategies for YAML-shaped policy text: documents made of the format's
//! real keys (plus misspellings and strangers) whose values are mostly of
//! the right type but extreme (`1e309`, `-1`, `18446744073709551616s`,
//! `.nan`), sometimes any YAML value at all, in block and flow style, several
//! documents to a file. Mostly-right documents get past the YAML reader to
//! validation, the cross-policy checks and, when valid, the engine.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// A YAML node, rendered by [`render_stream`].
#[derive(Debug, Clone)]
pub enum Node {
    /// A scalar token exactly as written (plain, quoted, tagged or aliased).
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
    /// The node written in flow style (`[a, b]`, `{k: v}`) where it stands.
    Flow(Box<Node>),
}

/// What a key's value must be; drives the "mostly right" values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Name,
    Cluster,
    Service,
    Queues,
    Queue,
    Number,
    Count,
    Duration,
    Flag,
    Step,
    ScaleOut,
    ScaleIn,
    Region,
    RoleArn,
}

/// The keys of a policy document; `the_key_tables_are_the_schemas` keeps
/// them equal to the JSON Schema, which is derived from the loader's types.
pub const TOP_KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Name),
    ("cluster", Kind::Cluster),
    ("service", Kind::Service),
    ("queues", Kind::Queues),
    ("target_backlog_per_task", Kind::Number),
    ("target_wait", Kind::Duration),
    ("task_startup", Kind::Duration),
    ("message_cost", Kind::Duration),
    ("min_tasks", Kind::Count),
    ("max_tasks", Kind::Count),
    ("poll_interval", Kind::Duration),
    ("count_in_flight", Kind::Flag),
    ("count_delayed", Kind::Flag),
    ("tolerance", Kind::Number),
    ("scale_out", Kind::ScaleOut),
    ("scale_in", Kind::ScaleIn),
    ("activation_backlog", Kind::Number),
    ("scale_to_zero_after", Kind::Duration),
    ("dry_run", Kind::Flag),
    ("in_flight_per_task", Kind::Number),
    ("region", Kind::Region),
    ("role_arn", Kind::RoleArn),
];
pub const SCALE_OUT_KEYS: &[(&str, Kind)] = &[
    ("max_step", Kind::Step),
    ("cooldown", Kind::Duration),
    ("lookahead", Kind::Duration),
];
pub const SCALE_IN_KEYS: &[(&str, Kind)] = &[
    ("stabilization_window", Kind::Duration),
    ("max_step", Kind::Step),
    ("cooldown", Kind::Duration),
];
pub const QUEUE_KEYS: &[(&str, Kind)] = &[("queue", Kind::Queue), ("weight", Kind::Number)];

fn tokens(list: &'static [&'static str]) -> BoxedStrategy<String> {
    select(list).prop_map(str::to_owned).boxed()
}

/// Numbers at and past every edge: signs, zero, subnormals, `f64::MAX`,
/// overflow to infinity, NaN, integer limits, YAML's other bases.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "0.5",
    "100",
    "-0",
    "+1",
    "1_000",
    "0x1F",
    "0o17",
    "1e-300",
    "5e-324",
    "2.2250738585072014e-308",
    "1e308",
    "1.7976931348623157e308",
    "1e309",
    "-1e309",
    ".inf",
    "-.inf",
    ".nan",
    ".NaN",
    "NaN",
    "inf",
    "0.9999999999999999",
    "1.0",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1e19",
    "99999999999999999999999999999999999999",
    "'5'",
    "\"1e3\"",
];

fn number() -> BoxedStrategy<String> {
    prop_oneof![
        4 => tokens(NUMBERS),
        1 => any::<f64>().prop_map(|x| format!("{x:?}")),
        1 => any::<i64>().prop_map(|x| x.to_string()),
        1 => (0.0f64..2.0).prop_map(|x| x.to_string()),
    ]
    .boxed()
}

fn count() -> BoxedStrategy<String> {
    prop_oneof![
        3 => tokens(NUMBERS),
        3 => (0u32..100).prop_map(|n| n.to_string()),
        2 => any::<u32>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
    ]
    .boxed()
}

const DURATIONS: &[&str] = &[
    "0s",
    "1ns",
    "15s",
    "5m",
    "1h 30m",
    "300ms",
    "-5s",
    "5",
    "5 fortnights",
    "",
    "5 m",
    "  5m  ",
    "1s 1s",
    "18446744073709551615s",
    "18446744073709551616s",
    "584942417355y",
    "584942417356y",
    "1000000000000000000000d",
    "18446744073709551615s 999999999ns",
    "1.5s",
    "'30s'",
    "\"5m\"",
    "µs",
    "1µs",
    "9999999999999999999h",
    "0ns",
];
const UNITS: &[&str] = &[
    "ns", "us", "µs", "ms", "s", "sec", "m", "min", "h", "hours", "d", "w", "M", "y", "years",
];

fn duration() -> BoxedStrategy<String> {
    prop_oneof![
        3 => tokens(DURATIONS),
        2 => ((0u64..1_000), select(UNITS)).prop_map(|(n, unit)| format!("{n}{unit}")),
        1 => (any::<u64>(), select(UNITS)).prop_map(|(n, unit)| format!("{n}{unit}")),
    ]
    .boxed()
}

const STEPS: &[&str] = &[
    "1",
    "4",
    "0",
    "-1",
    "2.5",
    "4294967295",
    "4294967296",
    "9223372036854775808",
    "50%",
    "100%",
    "0%",
    "-5%",
    "200%",
    "1e308%",
    "1e309%",
    "nan%",
    "inf%",
    "0.0000001%",
    "50 %",
    "%",
    "'4'",
    "' 4 '",
    "'0'",
    "'-4'",
    "4%%",
    "1e-320%",
];

fn step() -> BoxedStrategy<String> {
    prop_oneof![
        3 => tokens(STEPS),
        1 => any::<f64>().prop_map(|p| format!("{p}%")),
        1 => any::<u32>().prop_map(|n| n.to_string()),
    ]
    .boxed()
}

const FLAGS: &[&str] = &[
    "true", "false", "yes", "no", "on", "True", "TRUE", "1", "0", "~", "'true'",
];

/// Names from a small set, so that policies of one file clash.
const NAMES: &[&str] = &["a", "b", "orders-worker", "A.b_c-1"];
const SERVICES: &[&str] = &[
    "a",
    "b",
    "svc",
    "arn:aws:ecs:eu-west-1:123456789012:service/prod/a",
    "arn:aws:ecs:eu-west-1:123456789012:service/other/a",
    "arn:aws:ecs:eu-west-1:123456789012:service/b",
    "arn:aws:ecs:eu-west-1:123456789012:service/a/b/c",
    "arn:aws:sqs:eu-west-1:1:q",
];
/// Regions of every partition, the region of the ARNs above, and near misses.
const REGIONS: &[&str] = &[
    "eu-west-1",
    "us-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "Europe",
    "eu-west",
    "eu-west-100",
];
const ROLE_ARNS: &[&str] = &[
    "arn:aws:iam::123456789012:role/scaler",
    "arn:aws-cn:iam::210987654321:role/ops/scaler",
    "arn:aws:iam::1234:role/scaler",
    "arn:aws:iam::123456789012:user/scaler",
    "arn:aws:iam::123456789012:role/",
];
const CLUSTERS: &[&str] = &[
    "prod",
    "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
    "arn:aws:ecs:eu-west-1:123456789012:service/prod",
    "my cluster",
];
const QUEUES: &[&str] = &[
    "q",
    "orders",
    "orders.fifo",
    ".fifo",
    "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
    "http://127.0.0.1:4566/000000000000/orders",
    "https://",
    "https:///q",
    "my queue",
];

/// Text as a YAML scalar: plain when it is plain-safe, else double-quoted
/// (JSON's escapes are YAML's).
fn scalar_text(text: String) -> String {
    let plain_safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !text.starts_with(['-', '.']);
    if plain_safe {
        text
    } else {
        serde_json::to_string(&text).expect("a string serialises")
    }
}

fn name() -> BoxedStrategy<String> {
    prop_oneof![
        6 => tokens(NAMES),
        1 => "[A-Za-z0-9][A-Za-z0-9._-]{0,70}",
        1 => "\\PC{0,80}".prop_map(scalar_text),
    ]
    .boxed()
}

/// Tokens with a YAML meaning of their own: nulls, tags, anchors, aliases
/// (defined or not), flow indicators, comments, quotes.
const SPECIAL: &[&str] = &[
    "~",
    "null",
    "''",
    "\"\"",
    "&a x",
    "&a [1, 2]",
    "*a",
    "*nope",
    "!!str 5",
    "!!int x",
    "!!float .5",
    "!!binary aGk=",
    "!custom x",
    "!!map {}",
    "!!seq []",
    "[",
    "{",
    "]",
    "}",
    "'unterminated",
    "\"\\u0000\"",
    "\"\\uD800\"",
    "\"\\x\"",
    "# only a comment",
    "-",
    "? k",
    "a: b",
    "|",
    ">-",
    "@",
    "`",
    "%",
    "!",
    "&",
    "*",
    "&a",
    "&a *a",
    "\t",
    "\"\\t\\n\"",
];

fn any_scalar() -> BoxedStrategy<String> {
    prop_oneof![
        2 => number(),
        1 => duration(),
        1 => step(),
        1 => tokens(FLAGS),
        2 => tokens(SPECIAL),
        1 => "[a-zA-Z0-9_.-]{0,20}",
        1 => any::<String>().prop_map(scalar_text),
    ]
    .boxed()
}

/// A key: mostly the format's own, else a slip of one, `<<`, or a stranger.
fn any_key() -> BoxedStrategy<String> {
    let real: Vec<&str> = TOP_KEYS
        .iter()
        .chain(SCALE_OUT_KEYS)
        .chain(SCALE_IN_KEYS)
        .chain(QUEUE_KEYS)
        .map(|(key, _)| *key)
        .collect();
    prop_oneof![
        6 => select(real.clone()).prop_map(str::to_owned),
        2 => (select(real), any::<prop::sample::Index>(), any::<char>())
            .prop_map(|(key, at, c)| misspell(key, at, c)),
        1 => Just("<<".to_owned()),
        1 => "[a-zA-Z_]{1,12}",
        1 => any::<String>().prop_map(scalar_text),
    ]
    .boxed()
}

/// `key` with one character replaced (kept a plain-safe key when it can be).
fn misspell(key: &str, at: prop::sample::Index, replacement: char) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    let i = at.index(chars.len());
    chars[i] = if replacement.is_ascii_alphanumeric() {
        replacement
    } else {
        (b'a' + (replacement as u32 % 26) as u8) as char
    };
    scalar_text(chars.into_iter().collect())
}

/// Any YAML value at all, nested a few levels.
pub fn any_value() -> BoxedStrategy<Node> {
    any_scalar()
        .prop_map(Node::Scalar)
        .prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Node::Seq),
                vec((any_key(), inner.clone()), 0..6).prop_map(Node::Map),
                inner.prop_map(|node| Node::Flow(Box::new(node))),
            ]
        })
        .boxed()
}

fn section(keys: &'static [(&'static str, Kind)]) -> BoxedStrategy<Node> {
    vec((select(keys), any::<bool>()), 0..=keys.len() + 1)
        .prop_flat_map(|picked| {
            let entries: Vec<_> = picked
                .into_iter()
                .map(|((key, kind), flow)| {
                    typed(kind).prop_map(move |value| {
                        let value = if flow { flow_wrap(value) } else { value };
                        (key.to_owned(), value)
                    })
                })
                .collect();
            entries
        })
        .prop_map(Node::Map)
        .boxed()
}

fn flow_wrap(node: Node) -> Node {
    match node {
        Node::Scalar(_) => node,
        other => Node::Flow(Box::new(other)),
    }
}

fn queue_entry() -> BoxedStrategy<Node> {
    prop_oneof![
        3 => typed(Kind::Queue),
        1 => section(QUEUE_KEYS).prop_map(|node| Node::Flow(Box::new(node))),
        1 => section(QUEUE_KEYS),
    ]
    .boxed()
}

/// A value for a key of `kind`: mostly of the right type, edges included;
/// sometimes anything.
pub fn typed(kind: Kind) -> BoxedStrategy<Node> {
    let right: BoxedStrategy<Node> = match kind {
        Kind::Name => name().prop_map(Node::Scalar).boxed(),
        Kind::Cluster => prop_oneof![4 => tokens(CLUSTERS), 1 => name()]
            .prop_map(Node::Scalar)
            .boxed(),
        Kind::Service => prop_oneof![4 => tokens(SERVICES), 1 => name()]
            .prop_map(Node::Scalar)
            .boxed(),
        Kind::Queue => prop_oneof![4 => tokens(QUEUES), 1 => name()]
            .prop_map(Node::Scalar)
            .boxed(),
        Kind::Region => prop_oneof![4 => tokens(REGIONS), 1 => name()]
            .prop_map(Node::Scalar)
            .boxed(),
        Kind::RoleArn => prop_oneof![4 => tokens(ROLE_ARNS), 1 => name()]
            .prop_map(Node::Scalar)
            .boxed(),
        Kind::Queues => prop_oneof![
            6 => vec(queue_entry(), 1..4).prop_map(Node::Seq),
            1 => vec(queue_entry(), 0..1000).prop_map(|q| Node::Flow(Box::new(Node::Seq(q)))),
        ]
        .boxed(),
        Kind::Number => number().prop_map(Node::Scalar).boxed(),
        Kind::Count => count().prop_map(Node::Scalar).boxed(),
        Kind::Duration => duration().prop_map(Node::Scalar).boxed(),
        Kind::Flag => tokens(FLAGS).prop_map(Node::Scalar).boxed(),
        Kind::Step => step().prop_map(Node::Scalar).boxed(),
        Kind::ScaleOut => section(SCALE_OUT_KEYS),
        Kind::ScaleIn => section(SCALE_IN_KEYS),
    };
    prop_oneof![9 => right, 1 => any_value()].boxed()
}

fn entry(keys: &'static [(&'static str, Kind)]) -> BoxedStrategy<(String, Node)> {
    select(keys)
        .prop_flat_map(|(key, kind)| typed(kind).prop_map(move |value| (key.to_owned(), value)))
        .boxed()
}

/// A valid policy's keys, each value from the valid lists.
fn valid_base() -> BoxedStrategy<Vec<(String, Node)>> {
    let scalar = |list: &'static [&'static str]| tokens(list).prop_map(Node::Scalar);
    let target = prop_oneof![
        Just(vec![(
            "target_backlog_per_task".to_owned(),
            Node::Scalar("100".to_owned())
        )]),
        Just(vec![
            ("target_wait".to_owned(), Node::Scalar("30s".to_owned())),
            ("message_cost".to_owned(), Node::Scalar("300ms".to_owned())),
        ]),
    ];
    (scalar(NAMES), scalar(&SERVICES[..4]), target, (1u32..50))
        .prop_map(|(name, service, target, max)| {
            let mut entries = vec![
                ("name".to_owned(), name),
                ("cluster".to_owned(), Node::Scalar("prod".to_owned())),
                ("service".to_owned(), service),
                (
                    "queues".to_owned(),
                    Node::Seq(vec![Node::Scalar("q".to_owned())]),
                ),
                ("max_tasks".to_owned(), Node::Scalar(max.to_string())),
            ];
            entries.extend(target);
            entries
        })
        .boxed()
}

/// One policy document: a valid base with a few keys given extreme values,
/// now and then a stranger; a key given twice usually keeps only the last.
pub fn policy_document() -> BoxedStrategy<Vec<(String, Node)>> {
    (
        valid_base(),
        vec(entry(TOP_KEYS), 0..6),
        vec((any_key(), any_value()), 0..2),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(base, overrides, strangers, keep_twice)| {
            let mut entries = base;
            for (key, value) in overrides.into_iter().chain(strangers) {
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) if !keep_twice => slot.1 = value,
                    _ => entries.push((key, value)),
                }
            }
            entries
        })
        .boxed()
}

/// How a stream is written out, beyond its documents.
#[derive(Debug, Clone)]
pub struct Dressing {
    pub crlf: bool,
    pub bom: bool,
    pub directive: bool,
    pub end_markers: bool,
    pub comments: bool,
}

pub fn dressing() -> impl Strategy<Value = Dressing> {
    (
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(crlf, bom, directive, end_markers, comments)| Dressing {
            crlf,
            bom,
            directive,
            end_markers,
            comments,
        })
}

/// A policy file: one to four documents.
pub fn policy_stream() -> impl Strategy<Value = String> {
    (vec(policy_document(), 1..4), dressing())
        .prop_map(|(documents, dressing)| render_stream(&documents, &dressing))
}

/// The text of `documents` as one YAML stream.
pub fn render_stream(documents: &[Vec<(String, Node)>], dressing: &Dressing) -> String {
    let mut out = String::new();
    if dressing.bom {
        out.push('\u{feff}');
    }
    if dressing.directive {
        out.push_str("%YAML 1.2\n");
    }
    for (i, document) in documents.iter().enumerate() {
        if i > 0 || dressing.directive {
            out.push_str("---\n");
        }
        if dressing.comments {
            out.push_str("# a policy\n");
        }
        render_entries(document, 0, &mut out);
        if dressing.end_markers {
            out.push_str("...\n");
        }
    }
    if dressing.crlf {
        out = out.replace('\n', "\r\n");
    }
    out
}

fn indent(out: &mut String, by: usize) {
    out.extend(std::iter::repeat_n(' ', by));
}

fn render_entries(entries: &[(String, Node)], at: usize, out: &mut String) {
    if entries.is_empty() {
        indent(out, at);
        out.push_str("{}\n");
    }
    for (key, value) in entries {
        indent(out, at);
        out.push_str(key);
        out.push(':');
        render_block_value(value, at, out);
    }
}

/// A value after `key:` (or `-`), on the same line or indented below.
fn render_block_value(value: &Node, at: usize, out: &mut String) {
    match value {
        Node::Scalar(text) => {
            out.push(' ');
            out.push_str(text);
            out.push('\n');
        }
        Node::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            render_entries(entries, at + 2, out);
        }
        Node::Seq(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                indent(out, at + 2);
                out.push('-');
                match item {
                    // A block collection inside a block list: flow keeps the
                    // indentation simple and is just as valid.
                    Node::Map(_) | Node::Seq(_) => {
                        out.push(' ');
                        render_flow(item, out);
                        out.push('\n');
                    }
                    _ => render_block_value(item, at + 2, out),
                }
            }
        }
        other => {
            out.push(' ');
            render_flow(other, out);
            out.push('\n');
        }
    }
}

fn render_flow(node: &Node, out: &mut String) {
    match node {
        Node::Scalar(text) => out.push_str(text),
        Node::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_flow(item, out);
            }
            out.push(']');
        }
        Node::Map(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push_str(": ");
                render_flow(value, out);
            }
            out.push('}');
        }
        Node::Flow(inner) => render_flow(inner, out),
    }
}
