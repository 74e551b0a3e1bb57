//! Policies: the YAML format, its validation, and the validated [`Policy`].
//!
//! - `model.rs`: the validated [`Policy`] the engine and controller consume.
//! - `load.rs`: [`load_path`] / [`load_str`], files and directories to policies.
//! - `diagnostic.rs`: every problem with file, line, column, policy and key.

mod diagnostic;
pub mod duration_serde;
mod load;
mod model;

pub use diagnostic::{Diagnostic, LoadedPolicies, PolicyErrors, Severity};
pub use load::{load_path, load_str};
pub use model::{Policy, QueueRef, ScaleIn, ScaleOut, SourceLocation, Step, Target};
