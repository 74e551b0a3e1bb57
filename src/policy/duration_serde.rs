//! Durations written as humantime strings (`30s`, `5m`, `300ms`) in JSON
//! output, the same form policy files use.

use std::time::Duration;

use serde::Serializer;

pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_duration(*value).to_string())
}
