//! Huge, deep and wide input, each up to the 1 MiB file limit: nesting a
//! hundred thousand levels deep in flow and block style, unclosed brackets,
//! a hundred thousand documents or keys, one enormous scalar, aliases by the
//! thousand. Each is refused with a located error, without a panic, a stack
//! overflow, or time that grows faster than the input.

use std::path::Path;

use backlog_scaler::policy::{check_str, PolicyReport, MAX_POLICY_FILE_BYTES};
use proptest::prelude::*;

use crate::{assert_sound, run};

const LIMIT: usize = MAX_POLICY_FILE_BYTES as usize;

/// Check `text`, assert the report is sound and has an error, and return it.
fn refused(text: &str) -> PolicyReport {
    let origin = Path::new("deep.yaml");
    let report = check_str(origin, text);
    if let Err(error) = assert_sound(&report, origin, text) {
        panic!("{error}");
    }
    assert!(!report.is_valid(), "accepted: {:?}", report.policies);
    report
}

fn messages(report: &PolicyReport) -> Vec<String> {
    report.errors().map(ToString::to_string).collect()
}

/// `open` `depth` times, then `close` as many times, within the file limit.
fn nested(open: &str, close: &str, depth: usize) -> String {
    let mut text = open.repeat(depth);
    text.push_str(&close.repeat(depth));
    assert!(text.len() <= LIMIT, "{} bytes", text.len());
    text
}

#[test]
fn deep_flow_sequences_are_too_deep() {
    let report = refused(&nested("[", "]", 400_000));
    assert_eq!(
        messages(&report),
        vec![
            "deep.yaml:1:256: error: too deep for a policy: recursion limit exceeded \
             (hint: a policy needs a few dozen keys and no aliases; check this is the right file)"
        ]
    );
}

#[test]
fn deep_flow_mappings_are_too_deep() {
    refused(&nested("{a: ", "}", 200_000));
}

#[test]
fn deep_nesting_under_a_real_key_is_too_deep() {
    let mut text = String::from("name: deep\nscale_in:\n  max_step: ");
    text.push_str(&nested("[", "]", 200_000));
    text.push('\n');
    let report = refused(&text);
    assert!(
        report.errors().all(|e| e.line >= 1),
        "{:?}",
        messages(&report)
    );
}

#[test]
fn deep_block_mappings_are_too_deep() {
    // Block style pays its depth in indentation: 1,000 levels is 1 MB.
    let mut text = String::new();
    for level in 0..1_000 {
        text.push_str(&" ".repeat(level));
        text.push_str("a:\n");
    }
    assert!(text.len() <= LIMIT);
    refused(&text);
}

#[test]
fn deep_block_sequences_on_one_line_are_too_deep() {
    let mut text = "- ".repeat(300_000);
    text.push_str("x\n");
    refused(&text);
}

#[test]
fn unclosed_brackets_are_a_located_syntax_error() {
    let report = refused(&"[".repeat(LIMIT));
    assert!(
        report.errors().all(|e| e.line == 1),
        "{:?}",
        messages(&report)
    );
    refused(&"{".repeat(LIMIT));
}

#[test]
fn a_hundred_thousand_empty_documents_hold_no_policy() {
    let text = "---\n".repeat(200_000);
    let report = refused(&text);
    assert!(report.errors().count() >= 1);
}

#[test]
fn a_hundred_thousand_documents_each_a_bad_policy() {
    let text = "---\nx: 1\n".repeat(100_000);
    assert!(text.len() <= LIMIT);
    refused(&text);
}

#[test]
fn fifty_thousand_unknown_keys_are_each_reported() {
    let mut text = String::from("name: wide\n");
    let mut i = 0;
    while text.len() < LIMIT - 32 {
        text.push_str(&format!("k{i}: {i}\n"));
        i += 1;
    }
    let report = refused(&text);
    assert!(
        report.errors().count() >= 50_000,
        "{}",
        report.errors().count()
    );
}

/// A queue list of `bytes` bytes.
fn queue_list(bytes: usize) -> String {
    let mut text = String::from(
        "name: many\ncluster: prod\nservice: many\ntarget_backlog_per_task: 10\nmax_tasks: 4\nqueues:\n",
    );
    let mut i = 0;
    while text.len() < bytes {
        text.push_str(&format!("  - q{i}\n"));
        i += 1;
    }
    text
}

/// A hundred thousand queues fill the 1 MiB limit: refused as too large for
/// a policy, and in time that grows no faster than the input: the whole
/// list may take at most 30 times as long as a tenth of it (10 times is
/// linear, 100 quadratic; the best of three runs each, so a busy machine
/// does not decide it).
#[test]
fn a_list_of_a_hundred_thousand_queues_is_refused_in_linear_time() {
    let text = queue_list(LIMIT - 32);
    // More nodes than the reader's budget: refused as too large.
    let report = refused(&text);
    assert!(
        messages(&report)
            .iter()
            .any(|m| m.contains("too large or too deep for a policy")),
        "{:?}",
        messages(&report)
    );
    let tenth = queue_list((LIMIT - 32) / 10);
    let best_of_three = |text: &str| {
        (0..3)
            .map(|_| {
                let started = std::time::Instant::now();
                check_str(Path::new("many.yaml"), text);
                started.elapsed()
            })
            .min()
            .unwrap()
    };
    let (whole, part) = (best_of_three(&text), best_of_three(&tenth));
    assert!(
        whole < part * 30,
        "the whole list took {whole:?}, a tenth of it {part:?}"
    );
}

#[test]
fn a_megabyte_scalar_is_not_a_name() {
    let mut text = String::from("name: ");
    text.push_str(&"n".repeat(LIMIT - 100));
    text.push_str("\ncluster: prod\n");
    let report = refused(&text);
    // The message quotes the value cut short, not a megabyte of it.
    assert!(report.errors().all(|e| e.to_string().len() < 1_000));
}

#[test]
fn a_megabyte_key_is_an_unknown_key_shown_short() {
    let mut text = "k".repeat(LIMIT - 10);
    text.push_str(": 1\n");
    let report = refused(&text);
    assert!(report.errors().all(|e| e.to_string().len() < 1_000));
}

#[test]
fn thousands_of_aliases_to_one_anchor_are_refused() {
    let mut text = String::from("name: &n aliased\nqueues: &q [q]\ncluster: prod\n");
    let mut i = 0;
    while text.len() < LIMIT - 32 {
        text.push_str(&format!("k{i}: *q\n"));
        i += 1;
    }
    refused(&text);
}

#[test]
fn a_file_one_byte_over_the_limit_is_refused_unread() {
    let text = "#".repeat(LIMIT + 1);
    let report = refused(&text);
    assert_eq!(
        messages(&report),
        vec![format!(
            "deep.yaml: error: is {} bytes, over the {LIMIT}-byte limit for a policy file \
             (hint: policy files are a few kilobytes; check this is the right file)",
            LIMIT + 1
        )]
    );
}

#[test]
fn nesting_of_any_shape_and_depth_is_checked_without_panic() {
    // Mixed brackets and block indicators, balanced or not, to a random
    // depth under a random key.
    let shape = prop::collection::vec(
        prop::sample::select(&["[", "{a: ", "- ", "? ", "&x [", "*x"][..]),
        1..64,
    );
    run(
        16,
        (shape, 1usize..20_000, prop::bool::ANY),
        |(shape, depth, close)| {
            let mut text = String::from("scale_out:\n  max_step: ");
            let mut closers = Vec::new();
            while text.len() < depth.min(LIMIT / 2) {
                for piece in &shape {
                    text.push_str(piece);
                    match *piece {
                        "[" | "&x [" => closers.push("]"),
                        "{a: " => closers.push("}"),
                        _ => {}
                    }
                }
            }
            if close {
                closers.reverse();
                text.extend(closers);
            }
            let origin = Path::new("deep.yaml");
            assert_sound(&check_str(origin, &text), origin, &text)
        },
    );
}
