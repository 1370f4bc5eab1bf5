//! The planner: pure functions from (desired spec, host facts, recorded
//! history, now) to decisions. No I/O and no clock reads happen here, so `plan`
//! in CI and `apply` in the daemon reach the same answer from the same inputs.

pub mod baseline;
pub mod deadline;
pub mod decision_cache;
pub mod emergency;
pub mod exposure;
pub mod fleet;
pub mod history;
pub mod host;
pub mod offer;
pub mod render;

pub use baseline::{CompiledBaseline, Decision, DecisionState};
pub use fleet::{Plan, PlanContext, PlanInput, Planner, plan_fleet};
pub use history::History;
pub use host::{Compliance, HostDesired, PatchDecision, desired};
