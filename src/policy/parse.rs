//! YAML text to raw policy documents. Everything that keeps a document from
//! being read (bad YAML, unknown keys, wrong types, duplicate keys, alias
//! bombs) becomes a located [`Diagnostic`]; one bad document does not stop
//! the next.

use std::io::Cursor;
use std::path::Path;

use serde_saphyr::{Error, MessageFormatter, Spanned, UserMessageFormatter};

use super::diagnostic::Diagnostic;
use super::keys;
use super::limits::MAX_POLICY_FILE_BYTES;
use super::outline::{
    outline, quoted, DocumentOutline, Node, Outline, Position, Segment, Shape, MAX_EXPANDED_NODES,
};
use super::raw::RawPolicy;

/// The documents of one text that could be read, and every problem found.
pub(crate) struct Parsed {
    pub documents: Vec<Spanned<RawPolicy>>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Limits far above any real policy, far below harm: a policy has a few
/// dozen nodes, a handful of levels and no need for aliases.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_POLICY_FILE_BYTES as usize),
            max_depth: 32,
            max_nodes: 50_000,
            max_aliases: 1_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_EXPANDED_NODES as usize,
        },
    }
}

const TOO_LARGE_HINT: &str =
    "a policy needs a few dozen keys and no aliases; check this is the right file";

/// Read every policy document of `text`, which came from `file`.
pub(crate) fn parse(file: &Path, text: &str) -> Parsed {
    let outline = outline(text);
    let mut diagnostics = outline_problems(file, &outline);
    let mut documents = Vec::new();
    let mut reader = Cursor::new(text.as_bytes());
    for result in serde_saphyr::read_with_options::<_, Spanned<RawPolicy>>(&mut reader, options()) {
        match result {
            Ok(document) => documents.push(document),
            Err(error) => diagnostics.extend(serde_problem(file, &outline, &error)),
        }
    }
    if documents.is_empty() && diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::error(file, 0, 0, "holds no policy")
                .with_hint("write a policy here, or remove the file"),
        );
    }
    diagnostics.sort_by_key(|d| (d.line, d.column));
    Parsed {
        documents,
        diagnostics,
    }
}

fn error_at(
    file: &Path,
    at: Position,
    doc: Option<&DocumentOutline>,
    message: String,
) -> Diagnostic {
    Diagnostic::error(file, at.line, at.column, message)
        .with_policy(doc.and_then(DocumentOutline::name))
}

/// What the outline sees on its own: bad YAML, unknown keys, alias bombs.
fn outline_problems(file: &Path, outline: &Outline) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    if let Some((at, message)) = &outline.syntax_error {
        let doc = outline.document_at(*at);
        found.push(if outline.too_deep {
            error_at(file, *at, doc, format!("too deep for a policy: {message}"))
                .with_hint(TOO_LARGE_HINT)
        } else {
            error_at(file, *at, doc, format!("not valid YAML: {message}"))
                .with_hint("check the indentation, quotes and brackets here")
        });
    }
    for doc in &outline.documents {
        for key in doc.keys().filter(|node| is_unknown(node)) {
            let parent = key.path.parent().pattern();
            let name = key.path.last_key().unwrap_or_default();
            found.push(
                error_at(file, key.at, Some(doc), "unknown key".to_owned())
                    .with_key(&key.path)
                    .with_hint(keys::unknown_key_hint(name, &parent)),
            );
        }
        if let Some(at) = doc.alias_bomb_at {
            found.push(alias_bomb(file, at, Some(doc)));
        }
    }
    found
}

fn is_unknown(key: &Node) -> bool {
    let Some(name) = key.path.last_key() else {
        return false;
    };
    // `<<` merges another mapping in; its keys are checked where written.
    name != "<<"
        && keys::keys_under(&key.path.parent().pattern())
            .is_some_and(|known| !known.contains(&name))
}

fn alias_bomb(file: &Path, at: Position, doc: Option<&DocumentOutline>) -> Diagnostic {
    error_at(
        file,
        at,
        doc,
        format!("aliases expand this document past {MAX_EXPANDED_NODES} nodes"),
    )
    .with_hint("this looks like an alias bomb; write the policy out without anchors and aliases")
}

/// The error serde-saphyr met, unless the outline has reported it already.
fn serde_problem(file: &Path, outline: &Outline, error: &Error) -> Option<Diagnostic> {
    let mut inner = error;
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = inner {
        inner = error;
    }
    let at = error.location().filter(|l| l.line() > 0).map(|l| Position {
        line: l.line(),
        column: l.column(),
    });
    let doc = at.and_then(|at| outline.document_at(at));
    let node = at.zip(doc).and_then(|(at, doc)| doc.node_at(at));
    let reported_by_outline = match inner {
        // The outline lists every unknown key of the document, not just one.
        Error::SerdeUnknownField { .. } => doc.is_some_and(|d| d.keys().any(is_unknown)),
        _ => false,
    };
    if reported_by_outline
        || doc.is_some_and(|d| d.alias_bomb_at.is_some())
        || outline
            .syntax_error
            .as_ref()
            .is_some_and(|(p, _)| Some(*p) == at)
    {
        return None;
    }
    let at = at.unwrap_or(Position { line: 0, column: 0 });
    Some(match inner {
        Error::SerdeUnknownField { field, .. } => {
            // Reached through an alias: the node is the alias's value.
            let parent = node.map(|n| {
                if n.is_key {
                    n.path.parent()
                } else {
                    n.path.clone()
                }
            });
            let parent = parent.unwrap_or_default();
            let key = parent.child(Segment::Key(field.clone()));
            error_at(file, at, doc, "unknown key".to_owned())
                .with_key(key)
                .with_hint(keys::unknown_key_hint(field, &parent.pattern()))
        }
        Error::DuplicateMappingKey { key, .. } => {
            let name = key.as_deref().map_or_else(|| "this key".to_owned(), quoted);
            error_at(file, at, doc, format!("{name} is given twice"))
                .with_key(node.map(|n| n.path.to_string()).unwrap_or_default())
                .with_hint("keep one of them")
        }
        Error::Budget { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. } => {
            let message = UserMessageFormatter.format_message(inner);
            error_at(
                file,
                at,
                doc,
                format!("too large or too deep for a policy: {message}"),
            )
            .with_hint(TOO_LARGE_HINT)
        }
        _ => match at_fault(doc, at)
            .and_then(|n| keys::expected_value(&n.path.pattern()).map(|e| (n, e)))
        {
            Some((node, (expected, hint))) => {
                error_at(file, at, doc, wrong_value(&node.shape, expected))
                    .with_key(&node.path)
                    .with_hint(hint)
            }
            None => {
                let message = UserMessageFormatter.format_message(inner);
                error_at(file, at, doc, message.into_owned())
                    .with_hint("see docs/policies.md for the policy format")
            }
        },
    })
}

/// The value a type error at `at` is about. Several nodes can start at one
/// place (a block mapping and its first key), and the reader points at a
/// key when its value is a collection of the wrong kind: of the values
/// written there (a key standing for its value), the first of a shape its
/// key cannot take, else the innermost.
fn at_fault(doc: Option<&DocumentOutline>, at: Position) -> Option<&Node> {
    let candidates = doc?.values_at(at);
    candidates
        .iter()
        .find(|node| !takes_shape(&node.path.pattern(), &node.shape))
        .or(candidates.last())
        .copied()
}

/// Whether the value at key path `pattern` may have this shape at all.
fn takes_shape(pattern: &str, shape: &Shape) -> bool {
    let holds_mapping = matches!(pattern, "" | "scale_out" | "scale_in" | "queues[]");
    match shape {
        Shape::Mapping => holds_mapping,
        Shape::Sequence => pattern == "queues",
        Shape::Scalar { .. } | Shape::Alias => {
            pattern == "queues[]" || !(holds_mapping || pattern == "queues")
        }
    }
}

/// The message for a value of the wrong type or out of range.
fn wrong_value(found: &Shape, expected: &str) -> String {
    if let Shape::Scalar { text, plain: true } = found {
        let digits = text.trim_start_matches(['+', '-']);
        let integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        let too_big = match expected {
            "a whole number" => integer,
            "a number" => text.parse::<f64>().is_ok_and(f64::is_infinite) && !text.contains("inf"),
            _ => false,
        };
        if too_big {
            return format!("{} is out of range for {expected}", quoted(text));
        }
    }
    format!("expected {expected}, found {}", found.describe())
}
