//! backlog-scaler: sets an ECS service's desired count from its SQS backlog.
//!
//! One queue, many identical consumer tasks, and a controller that sizes the
//! service to the backlog. The layout follows the architecture:
//!
//! - [`policy`]: the policy file format, its defaults, strict validation
//!   with file:line errors, and the validated [`policy::Policy`] everything
//!   else consumes, which only validation makes (policies built or changed
//!   in code, such as the sweep's, go through the validator too).
//! - [`engine`]: the pure decision engine, `(policy, observation, state, now)
//!   -> (decision, state)`. No I/O, no clock.
//! - [`ports`]: the small traits the controller sees the world through.
//! - [`aws`]: every AWS adapter, each built from one SDK configuration (its
//!   timeouts and retries): the ports on SQS, ECS and CloudWatch, the lease
//!   store on DynamoDB, and the trace export's CloudWatch reads.
//! - [`controller`]: the daemon's loop: a task per evaluation group (the
//!   policies of one poll interval and AWS scope), whose every tick is a
//!   cycle of evaluations sharing their reads; reloads, sharding.
//! - [`telemetry`]: Prometheus metrics, readiness, the loop's heartbeat and
//!   each policy's last decision with its engine state (for `explain`), fed
//!   by the controller; [`http`] serves them.
//! - [`sim`]: the simulator that replays a traffic trace through the engine.
//! - [`trace_export`]: a queue's arrivals from CloudWatch (read through
//!   [`aws`]) as a trace.
//! - [`lease`]: leader election between replicas through a lease, behind
//!   the store port [`lease::LeaseStore`] that [`aws`] implements on
//!   DynamoDB, and the lease keeper's lifecycle beside the controller.
//! - [`plural`]: counts in messages ("1 policy", "2 policies").
pub mod aws;
pub mod controller;
pub mod engine;
pub mod http;
pub mod lease;
pub mod plural;
pub mod policy;
pub mod ports;
pub mod sim;
pub mod telemetry;
pub mod trace_export;
