//! The JSON Schema of one policy document, derived from the raw types so it
//! cannot drift from what the loader accepts. Draft 7, the draft editors'
//! YAML plugins support best.

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::Schema;

use super::limits::{maximum_text, DURATION_MAXIMA};
use super::raw::RawPolicy;

/// The JSON Schema of a policy document (each YAML document of a file).
pub fn policy_schema() -> serde_json::Value {
    // An optional key without a default of its own would show `default:
    // null`, which editors offer as a value the loader rejects.
    let drop_null_defaults = RecursiveTransform(|schema: &mut Schema| {
        if schema
            .get("default")
            .is_some_and(serde_json::Value::is_null)
        {
            schema.remove("default");
        }
    });
    let generator = SchemaSettings::draft07()
        .with_transform(drop_null_defaults)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<RawPolicy>().to_value();
    add_duration_maxima(&mut schema);
    schema
}

/// Each duration key's maximum ([`DURATION_MAXIMA`]) as `x-maximum` and in
/// its description: JSON Schema cannot compare durations written as text.
fn add_duration_maxima(root: &mut serde_json::Value) {
    for (key, maximum, _) in DURATION_MAXIMA {
        let maximum = maximum_text(*maximum);
        let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
        let owner = if section.is_empty() {
            "/properties".to_owned()
        } else {
            let reference = root
                .pointer(&format!("/properties/{section}"))
                .and_then(|s| s.pointer("/allOf/0/$ref").or_else(|| s.get("$ref")))
                .and_then(|r| r.as_str())
                .unwrap_or_default();
            format!(
                "/definitions/{}/properties",
                reference.trim_start_matches("#/definitions/")
            )
        };
        let Some(property) = root
            .pointer_mut(&format!("{owner}/{name}"))
            .and_then(|p| p.as_object_mut())
        else {
            continue;
        };
        property.insert("x-maximum".into(), maximum.clone().into());
        let description = property
            .get("description")
            .and_then(|d| d.as_str())
            .map(|d| format!("{d} At most `{maximum}`."))
            .unwrap_or_else(|| format!("At most `{maximum}`."));
        property.insert("description".into(), description.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::keys::{keys_under, KEY_TABLE};

    /// The property names of the object schema at `schema`, following `$ref`s.
    fn properties(root: &serde_json::Value, schema: &serde_json::Value) -> Vec<String> {
        let schema = match schema
            .pointer("/allOf/0/$ref")
            .or_else(|| schema.get("$ref"))
            .and_then(|r| r.as_str())
        {
            Some(reference) => {
                let name = reference.trim_start_matches("#/definitions/");
                &root["definitions"][name]
            }
            None => schema,
        };
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    fn sorted(keys: Option<Vec<&str>>) -> Vec<String> {
        let mut keys: Vec<String> = keys
            .unwrap_or_default()
            .iter()
            .map(|k| k.to_string())
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_key_table_and_the_schema_know_the_same_keys() {
        let schema = policy_schema();
        assert_eq!(properties(&schema, &schema), sorted(keys_under("")));
        for section in ["scale_out", "scale_in"] {
            let at = &schema["properties"][section];
            assert_eq!(
                properties(&schema, at),
                sorted(keys_under(section)),
                "{section}"
            );
        }
        let weighted = &schema["definitions"]["WeightedQueue"];
        assert_eq!(
            properties(&schema, weighted),
            sorted(keys_under("queues[]"))
        );
        // And every table entry is one of those keys, or a list or the root.
        let covered = 1 + 22 + 1 + 2 + 3 + 3;
        assert_eq!(KEY_TABLE.len(), covered);
    }

    #[test]
    fn no_key_offers_null_as_its_default() {
        let text = policy_schema().to_string();
        assert!(!text.contains("\"default\":null"), "{text}");
    }

    #[test]
    fn one_target_form_is_required() {
        let schema = policy_schema();
        assert_eq!(
            schema["oneOf"],
            serde_json::json!([
                {"required": ["target_backlog_per_task"]},
                {"required": ["target_wait", "message_cost"]}
            ])
        );
    }
}
