//! The policy loader on arbitrary input: any text, any bytes through a
//! file, YAML-punctuation soup, mutations of the example policies, and the
//! random policy documents of `yaml.rs`. Nothing panics, every error points
//! at a line and column that exist (or is about the whole file), and every
//! policy it accepts holds what validation promises.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use backlog_scaler::policy::{check_path, check_str, load_str, policy_schema};
use proptest::collection::vec;
use proptest::prelude::*;

use super::yaml::{policy_stream, QUEUE_KEYS, SCALE_IN_KEYS, SCALE_OUT_KEYS, TOP_KEYS};
use crate::{assert_sound, cases, run, run_cases};

const ORIGIN: &str = "policies/fuzzed.yaml";

/// `check_str` and `load_str` agree, and the report is sound.
fn check(text: &str) -> Result<backlog_scaler::policy::PolicyReport, TestCaseError> {
    let origin = Path::new(ORIGIN);
    let report = check_str(origin, text);
    assert_sound(&report, origin, text)?;
    let loaded = load_str(origin, text);
    prop_assert_eq!(loaded.is_ok(), report.is_valid());
    if let Ok(loaded) = loaded {
        prop_assert_eq!(&loaded.policies, &report.policies);
    }
    Ok(report)
}

#[test]
fn any_text_is_checked_without_panic() {
    run(1, any::<String>(), |text| check(&text).map(drop));
}

#[test]
fn yaml_punctuation_soup_is_checked_without_panic() {
    // Dense in the characters YAML gives meaning to, so the reader's error
    // paths (and the positions they report) are hit often.
    let soup = "[-:{}\\[\\],&*!|>'\"%@`#? \n\t\r\u{feff}a-z0-9_.]{0,300}";
    run(1, soup, |text| check(&text).map(drop));
}

#[test]
fn mutated_example_policies_are_checked_without_panic() {
    const EXAMPLES: &[&str] = &[
        include_str!("../../policies/orders-worker.yaml"),
        include_str!("../../policies/notifications.yaml"),
        include_str!("../../policies/thumbnailer.yaml"),
    ];
    let edits = vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..8);
    run(
        1,
        (prop::sample::select(EXAMPLES), edits),
        |(example, edits)| {
            let mut chars: Vec<char> = example.chars().collect();
            for (at, op, c) in edits {
                let i = at.index(chars.len());
                match op {
                    0 => chars[i] = c,
                    1 => chars.insert(i, c),
                    _ => {
                        chars.remove(i);
                    }
                }
            }
            let text: String = chars.into_iter().collect();
            check(&text).map(drop)
        },
    );
}

/// How many random streams held at least one valid policy: a property over
/// documents that never get past the YAML reader would test little.
static STREAMS: AtomicUsize = AtomicUsize::new(0);
static WITH_VALID_POLICY: AtomicUsize = AtomicUsize::new(0);

#[test]
fn random_policy_documents_are_checked_without_panic() {
    // At least 100 streams whatever PROPTEST_CASES says: the mix below is
    // judged on every run, never skipped for want of cases.
    run_cases(cases(1).max(100), policy_stream(), |text| {
        let report = check(&text)?;
        STREAMS.fetch_add(1, Ordering::Relaxed);
        if !report.policies.is_empty() {
            WITH_VALID_POLICY.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    let (streams, valid) = (
        STREAMS.load(Ordering::Relaxed),
        WITH_VALID_POLICY.load(Ordering::Relaxed),
    );
    // About a quarter hold one (57 to 69 of 258 in five runs); a tenth is
    // far enough below that chance alone does not fail it, as a fifth did.
    assert!(
        valid * 10 >= streams,
        "only {valid} of {streams} random streams held a valid policy"
    );
    assert!(
        valid < streams,
        "every one of {streams} random streams was valid: the values are too tame"
    );
}

#[test]
fn any_bytes_in_a_file_are_checked_without_panic() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("policy.yaml");
    run(8, vec(any::<u8>(), 0..600), |bytes| {
        std::fs::write(&file, &bytes).expect("written");
        let report = check_path(&file);
        // The located text is what was read, invalid bytes shown replaced.
        assert_sound(&report, &file, &String::from_utf8_lossy(&bytes))?;
        if std::str::from_utf8(&bytes).is_err() {
            prop_assert!(
                report
                    .diagnostics
                    .iter()
                    .any(|d| d.message.starts_with("is not UTF-8 text: byte 0x") && d.line >= 1),
                "no located UTF-8 error for {:?}",
                report.diagnostics
            );
        }
        Ok(())
    });
}

/// The keys of the object schema at `pointer`.
fn schema_keys(schema: &serde_json::Value, pointer: &str) -> Vec<String> {
    let mut keys: Vec<String> = schema
        .pointer(pointer)
        .and_then(|p| p.as_object())
        .unwrap_or_else(|| panic!("no properties at {pointer}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn table_keys(table: &[(&str, super::yaml::Kind)]) -> Vec<String> {
    let mut keys: Vec<String> = table.iter().map(|(key, _)| (*key).to_owned()).collect();
    keys.sort();
    keys
}

#[test]
fn the_key_tables_are_the_schemas() {
    let schema = policy_schema();
    assert_eq!(table_keys(TOP_KEYS), schema_keys(&schema, "/properties"));
    assert_eq!(
        table_keys(SCALE_OUT_KEYS),
        schema_keys(&schema, "/definitions/ScaleOut/properties")
    );
    assert_eq!(
        table_keys(SCALE_IN_KEYS),
        schema_keys(&schema, "/definitions/ScaleIn/properties")
    );
    assert_eq!(
        table_keys(QUEUE_KEYS),
        schema_keys(&schema, "/definitions/WeightedQueue/properties")
    );
}
