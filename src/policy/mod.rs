//! Policies: the YAML format, its validation, and the validated [`Policy`].

pub mod duration_serde;
mod model;

pub use model::{Policy, QueueRef, ScaleIn, ScaleOut, SourceLocation, Step, Target};
