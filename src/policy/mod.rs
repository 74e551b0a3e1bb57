//! Policies: the YAML format, its validation, and the validated [`Policy`].
//!
//! - `model.rs`: the validated [`Policy`] the engine and controller consume;
//!   only the validator makes one (see [`Validated`]).
//! - `defaults.rs`: every default of the format, read by the validator and
//!   the schema.
//! - `setting.rs`: [`Policy::with_setting`] and [`Policy::with_defaults`],
//!   policies changed or built in code through the validator.
//! - `load.rs`: [`load_path`] / [`load_str`] (and the lenient [`check_path`] /
//!   [`check_str`]), files and directories to policies.
//! - `parse.rs`: YAML text to raw documents, with every structural problem.
//! - `outline.rs`: key paths and positions of a YAML text, for messages.
//! - `raw.rs`: the document as written; `keys.rs`: every key and its type.
//! - `validate/`: raw to [`Policy`]; `conflicts.rs`: checks across policies.
//! - `names.rs`: ECS names and ARNs, SQS names and URLs.
//! - `limits.rs`: the largest value of each duration key.
//! - `diagnostic.rs`: every problem with file, line, column, policy and key.
//! - `schema.rs`: the JSON Schema of a policy document.

mod conflicts;
mod defaults;
mod diagnostic;
pub mod duration_serde;
mod keys;
mod limits;
mod load;
mod model;
mod names;
mod outline;
mod parse;
mod raw;
mod schema;
mod setting;
mod validate;

pub use diagnostic::{Diagnostic, LoadedPolicies, PolicyErrors, PolicyReport, Severity};
pub use limits::{duration_maximum, maximum_text, DURATION_MAXIMA};
pub use load::{
    check_path, check_path_in, check_str, check_str_in, load_path, load_path_in, load_str,
    MAX_POLICY_FILE_BYTES,
};
pub use model::{
    AwsScope, BacklogTarget, Policy, QueueRef, ScaleIn, ScaleOut, SourceLocation, Step,
    TaskStartup, Validated,
};
pub use schema::policy_schema;

#[cfg(test)]
mod load_tests;
