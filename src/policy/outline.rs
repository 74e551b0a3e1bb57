//! An outline of a YAML stream: where each document starts, and every key
//! and value in it with its key path and position.
//!
//! Serde stops a document at its first unknown key, and its type errors say
//! where but not which key. The outline lets the loader report every unknown
//! key of a document at once and name the key of any error. It is read from
//! the parser's events without expanding aliases, so an alias bomb costs no
//! more here than its own text.

use std::collections::HashMap;
use std::fmt;

use serde_saphyr::granit_parser::{ErrorKind, Event, Parser, ScalarStyle};

/// A 1-based line and column, the convention of every message we print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub line: u64,
    pub column: u64,
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Where a node sits in its document, e.g. `queues[1].weight`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    pub fn child(&self, segment: Segment) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(segment);
        KeyPath(segments)
    }

    /// The path with list indices written as `[]`, the form the key table in
    /// `raw.rs` uses (`queues[].weight`).
    pub fn pattern(&self) -> String {
        render(&self.0, |_| "[]".to_owned())
    }

    /// The path without its last step.
    pub fn parent(&self) -> KeyPath {
        KeyPath(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    /// The last key of the path, if it ends in a key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }
}

fn render(segments: &[Segment], index: impl Fn(usize) -> String) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                // Keys come from the file: keep a message on one line.
                out.extend(key.chars().take(40).flat_map(char::escape_debug));
            }
            Segment::Index(i) => out.push_str(&index(*i)),
        }
    }
    out
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(&self.0, |i| format!("[{i}]")))
    }
}

/// Text from a policy file as a message shows it: in backticks, control
/// characters escaped, cut short after 40 characters.
pub(crate) fn quoted(text: &str) -> String {
    format!("`{}`", shown(text, 40))
}

/// `text` on one line (control characters escaped), cut short with `…`
/// after `limit` characters, so a message stays one readable line whatever
/// the file holds.
pub(crate) fn shown(text: &str, limit: usize) -> String {
    let mut shown: String = text
        .chars()
        .take(limit)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(limit).is_some() {
        shown.push('…');
    }
    shown
}

/// What kind of node was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    Scalar { text: String, plain: bool },
    Mapping,
    Sequence,
    Alias,
}

impl Shape {
    /// How a message describes what was found, e.g. "`two`" or "a list".
    pub fn describe(&self) -> String {
        match self {
            Shape::Scalar { text, plain: true }
                if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") =>
            {
                "nothing".to_owned()
            }
            Shape::Scalar { text, .. } => quoted(text),
            Shape::Mapping => "a mapping".to_owned(),
            Shape::Sequence => "a list".to_owned(),
            Shape::Alias => "an alias".to_owned(),
        }
    }
}

/// One key or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// For a key, the path it names; for a value, the path of its key.
    pub path: KeyPath,
    pub is_key: bool,
    pub shape: Shape,
    pub at: Position,
}

/// More nodes than this repeated by aliases is an alias bomb: a real
/// policy has a few dozen.
pub(crate) const MAX_EXPANDED_NODES: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentOutline {
    pub start: Position,
    /// In the order they were written.
    pub nodes: Vec<Node>,
    /// The alias at which the nodes repeated by aliases passed
    /// [`MAX_EXPANDED_NODES`].
    pub alias_bomb_at: Option<Position>,
    /// Node count with every alias expanded.
    expanded: u64,
    /// Nodes that aliases repeat. Only these make a bomb: a long list
    /// written out is merely large, and the reader's node budget refuses it
    /// as that.
    replayed: u64,
    /// Expanded size of each anchored node, by the parser's anchor id.
    anchor_sizes: HashMap<usize, u64>,
}

impl DocumentOutline {
    /// The document's top-level `name`, when it is a plain string.
    pub fn name(&self) -> Option<&str> {
        self.nodes
            .iter()
            .find_map(|node| match (&node.shape, node.is_key) {
                (Shape::Scalar { text, .. }, false)
                    if node.path.0 == [Segment::Key("name".into())] =>
                {
                    Some(text.as_str())
                }
                _ => None,
            })
    }

    /// The node written at `at`, or else the last one before it.
    pub fn node_at(&self, at: Position) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|node| node.at == at)
            .or_else(|| self.nodes.iter().rev().find(|node| node.at <= at))
    }

    /// The values written at `at` (or else the last node before it), in
    /// the order they were written, each key replaced by its value.
    pub fn values_at(&self, at: Position) -> Vec<&Node> {
        let mut found: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].at == at)
            .collect();
        if found.is_empty() {
            found.extend(self.nodes.iter().rposition(|node| node.at <= at));
        }
        found
            .into_iter()
            .map(|i| {
                let node = &self.nodes[i];
                let value = node.is_key.then(|| {
                    self.nodes[i + 1..]
                        .iter()
                        .find(|next| !next.is_key && next.path == node.path)
                });
                value.flatten().unwrap_or(node)
            })
            .collect()
    }

    /// Every key, with its position.
    pub fn keys(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|node| node.is_key)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Outline {
    pub documents: Vec<DocumentOutline>,
    /// The first syntax error; the outline stops there, as the parser does.
    pub syntax_error: Option<(Position, String)>,
    /// The syntax error is the reader's nesting limit: the text is well
    /// formed as far as it was read, only too deep.
    pub too_deep: bool,
}

impl Outline {
    /// The document that holds `at`.
    pub fn document_at(&self, at: Position) -> Option<&DocumentOutline> {
        // Documents are in the order they start: a binary search keeps a
        // file of many broken documents linear rather than quadratic.
        let after = self.documents.partition_point(|doc| doc.start <= at);
        after.checked_sub(1).map(|i| &self.documents[i])
    }
}

enum Kind {
    Mapping {
        /// The key whose value comes next, or `None` when a key comes next.
        key: Option<String>,
    },
    Sequence {
        next: usize,
    },
}

/// An open mapping or sequence.
struct Frame {
    path: KeyPath,
    kind: Kind,
    /// Its anchor id (0 for none) and the document's expanded size when it
    /// opened, to learn its own expanded size when it closes.
    anchor: usize,
    expanded_before: u64,
}

impl DocumentOutline {
    fn count(&mut self, nodes: u64) {
        self.expanded = self.expanded.saturating_add(nodes);
    }

    fn count_alias(&mut self, nodes: u64, at: Position) {
        self.count(nodes);
        self.replayed = self.replayed.saturating_add(nodes);
        if self.replayed > MAX_EXPANDED_NODES && self.alias_bomb_at.is_none() {
            self.alias_bomb_at = Some(at);
        }
    }
}

/// Outline `text`; never fails, a syntax error ends the outline early.
pub(crate) fn outline(text: &str) -> Outline {
    let mut result = Outline::default();
    let mut stack: Vec<Frame> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(pair) => pair,
            Err(error) => {
                let at = Position {
                    line: error.marker().line() as u64,
                    column: error.marker().col() as u64 + 1,
                };
                result.syntax_error = Some((at, error.info()));
                result.too_deep = matches!(error.kind(), ErrorKind::RecursionLimitExceeded);
                break;
            }
        };
        let at = Position {
            line: span.start.line() as u64,
            column: span.start.col() as u64 + 1,
        };
        if let Event::DocumentStart(..) = event {
            stack.clear();
            result.documents.push(DocumentOutline {
                start: at,
                nodes: Vec::new(),
                alias_bomb_at: None,
                expanded: 0,
                replayed: 0,
                anchor_sizes: HashMap::new(),
            });
            continue;
        }
        let Some(document) = result.documents.last_mut() else {
            continue;
        };
        let (shape, anchor) = match event {
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(frame) = stack.pop() {
                    if frame.anchor != 0 {
                        let size = document.expanded - frame.expanded_before;
                        document.anchor_sizes.insert(frame.anchor, size);
                    }
                }
                continue;
            }
            Event::Scalar(value, style, anchor, _) => {
                let shape = Shape::Scalar {
                    text: value.into_owned(),
                    plain: style == ScalarStyle::Plain,
                };
                (shape, anchor)
            }
            Event::MappingStart(_, anchor, _) => (Shape::Mapping, anchor),
            Event::SequenceStart(_, anchor, _) => (Shape::Sequence, anchor),
            Event::Alias(id) => {
                let size = document.anchor_sizes.get(&id).copied().unwrap_or(1);
                document.count_alias(size, at);
                (Shape::Alias, 0)
            }
            _ => continue,
        };
        let (path, is_key) = place(stack.last_mut(), &shape);
        let expanded_before = document.expanded;
        match shape {
            Shape::Mapping | Shape::Sequence => {
                let kind = if shape == Shape::Mapping {
                    Kind::Mapping { key: None }
                } else {
                    Kind::Sequence { next: 0 }
                };
                stack.push(Frame {
                    path: path.clone(),
                    kind,
                    anchor,
                    expanded_before,
                });
                document.count(1);
            }
            Shape::Scalar { .. } => {
                if anchor != 0 {
                    document.anchor_sizes.insert(anchor, 1);
                }
                document.count(1);
            }
            Shape::Alias => {}
        }
        document.nodes.push(Node {
            path,
            is_key,
            shape,
            at,
        });
    }
    result
}

/// The path of a new node inside `parent`, and whether it is a key.
fn place(parent: Option<&mut Frame>, shape: &Shape) -> (KeyPath, bool) {
    let Some(frame) = parent else {
        return (KeyPath::default(), false);
    };
    match &mut frame.kind {
        Kind::Sequence { next } => {
            *next += 1;
            (frame.path.child(Segment::Index(*next - 1)), false)
        }
        Kind::Mapping { key } => match key.take() {
            Some(key) => (frame.path.child(Segment::Key(key)), false),
            None => {
                let name = match shape {
                    Shape::Scalar { text, .. } => text.clone(),
                    _ => "?".to_owned(),
                };
                *key = Some(name.clone());
                (frame.path.child(Segment::Key(name)), true)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(doc: &DocumentOutline) -> Vec<(String, bool, u64, u64)> {
        doc.nodes
            .iter()
            .map(|n| (n.path.to_string(), n.is_key, n.at.line, n.at.column))
            .collect()
    }

    #[test]
    fn paths_and_positions_of_keys_and_values() {
        let outline = outline("name: a\nqueues:\n  - q\n  - {queue: r, weight: 2}\n");
        assert_eq!(outline.documents.len(), 1);
        let doc = &outline.documents[0];
        assert_eq!(
            paths(doc),
            vec![
                ("".into(), false, 1, 1),
                ("name".into(), true, 1, 1),
                ("name".into(), false, 1, 7),
                ("queues".into(), true, 2, 1),
                ("queues".into(), false, 3, 3),
                ("queues[0]".into(), false, 3, 5),
                ("queues[1]".into(), false, 4, 5),
                ("queues[1].queue".into(), true, 4, 6),
                ("queues[1].queue".into(), false, 4, 13),
                ("queues[1].weight".into(), true, 4, 16),
                ("queues[1].weight".into(), false, 4, 24),
            ]
        );
        assert_eq!(doc.name(), Some("a"));
        assert_eq!(doc.nodes[9].path.pattern(), "queues[].weight");
    }

    #[test]
    fn documents_start_where_they_are_written() {
        let outline = outline("name: a\n---\nname: b\n...\n---\n# empty\n");
        let starts: Vec<_> = outline.documents.iter().map(|d| d.start.line).collect();
        assert_eq!(starts, vec![1, 2, 5]);
        assert_eq!(outline.documents[1].name(), Some("b"));
        assert_eq!(
            outline
                .document_at(Position { line: 3, column: 7 })
                .and_then(|d| d.name()),
            Some("b")
        );
    }

    #[test]
    fn a_syntax_error_ends_the_outline_with_its_position() {
        let outline = outline("name: a\nqueues: [q\n");
        let (at, message) = outline.syntax_error.expect("a syntax error");
        assert_eq!((at.line, at.column), (2, 9));
        assert!(!message.is_empty());
        assert_eq!(outline.documents.len(), 1);
    }

    #[test]
    fn aliases_are_not_expanded() {
        let outline = outline("a: &x [1, 2]\nb: *x\n");
        let doc = &outline.documents[0];
        let b = doc
            .nodes
            .iter()
            .find(|n| !n.is_key && n.path.to_string() == "b");
        assert_eq!(b.map(|n| &n.shape), Some(&Shape::Alias));
        assert_eq!(doc.nodes.len(), 7);
        assert_eq!(doc.alias_bomb_at, None);
    }

    #[test]
    fn an_alias_bomb_is_found_where_it_goes_off() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (name, previous) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d")] {
            let aliases = vec![format!("*{previous}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
        }
        let outline = outline(&text);
        // Before `d:` aliases have repeated 1220 nodes (`b`: 10 x 11, `c`:
        // 10 x 111); each `*c` repeats 1111, so the eighth passes 10000.
        let at = outline.documents[0].alias_bomb_at.expect("a bomb");
        assert_eq!((at.line, at.column), (4, 36));
    }

    #[test]
    fn a_long_list_without_aliases_is_no_alias_bomb() {
        let items = vec!["q"; 20_000].join(", ");
        let plain = outline(&format!("queues: [{items}]\n"));
        assert_eq!(plain.documents[0].alias_bomb_at, None);
        // The same list repeated by an alias: the alias is the bomb.
        let repeated = outline(&format!("queues: &q [{items}]\nagain: *q\n"));
        let at = repeated.documents[0].alias_bomb_at.expect("a bomb");
        assert_eq!((at.line, at.column), (2, 8));
    }
}
