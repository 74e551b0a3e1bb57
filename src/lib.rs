//! backlog-scaler: sets an ECS service's desired count from its SQS backlog.
//!
//! One queue, many identical consumer tasks, and a controller that sizes the
//! service to the backlog. The layout follows the architecture:
//!
//! - [`policy`]: the policy file format, strict validation with file:line
//!   errors, and the validated [`policy::Policy`] everything else consumes.
//! - [`engine`]: the pure decision engine, `(policy, observation, state, now)
//!   -> (decision, state)`. No I/O, no clock.
pub mod engine;
pub mod http;
pub mod policy;
pub mod telemetry;
