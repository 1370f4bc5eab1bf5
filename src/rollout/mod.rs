//! Rollout: carries out a plan on hosts, in waves inside windows, with an
//! error budget, health checks and rollback. It makes no policy decisions of
//! its own: what to install comes from the plan, when from the calendar.

pub mod budget;
pub mod group;
pub mod health;
pub mod host;
pub mod journal;
pub mod record;
pub mod repair;
pub mod resolve;
pub mod safety;
pub mod template;
