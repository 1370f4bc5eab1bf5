//! Maintenance windows in time: cron dates in a timezone, shifted by
//! `offsetDays`, open for a duration, minus a cutoff, with deny windows
//! (change freezes) winning over allow windows.
//!
//! Everything here is pure: the caller passes the instant to ask about.

pub mod calendar;
pub mod cron;
pub mod window;

pub use calendar::{Calendar, Interruption, Opening, WindowStatus};
pub use window::{Occurrence, WindowKind, WindowSchedule};
