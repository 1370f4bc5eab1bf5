//! One maintenance window compiled from its spec: the instants it opens and closes.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ToSpan, Zoned};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cron::CronSchedule;

/// How far ahead an occurrence is searched before giving up: long enough for
/// `0 0 29 2 MON`-style rarities, short enough to stay cheap.
const HORIZON_DAYS: u32 = 366 * 30;

/// Offsets beyond this are almost certainly a typo (and would overflow dates).
pub const MAX_OFFSET_DAYS: i64 = 366;

/// The longest window (a year-end freeze is a few weeks; a year is plenty).
pub const MAX_DURATION_SECONDS: i64 = 366 * 86_400;

/// Allow windows open patching; deny windows (change freezes) close it and win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    #[default]
    Allow,
    Deny,
}

/// A window ready to answer "when is it open?" (compiled from its spec by
/// `spec::window`: this module knows no spec type).
#[derive(Debug, Clone)]
pub struct WindowSchedule {
    pub name: String,
    pub kind: WindowKind,
    pub cron: CronSchedule,
    pub offset_days: i64,
    pub tz: TimeZone,
    /// Added to the local wall-clock start: `22:00` + `6h` closes at `04:00`
    /// local time even on the night clocks change, as people read a window.
    pub duration: Span,
    pub cutoff: Span,
    pub start_date: Option<Date>,
    pub end_date: Option<Date>,
}

/// One opening of a window, in the window's timezone.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub window: String,
    pub start: Zoned,
    pub end: Zoned,
    /// `end - cutoff`: no host may be started at or after this instant.
    pub last_start: Zoned,
}

impl WindowSchedule {
    /// Openings that start at or after `earliest`, in order.
    pub fn occurrences_from(&self, earliest: Timestamp) -> impl Iterator<Item = Occurrence> + '_ {
        let local = earliest.to_zoned(self.tz.clone()).date();
        // One day of slack for DST shifts around midnight.
        let first_trigger = local
            .checked_sub((self.offset_days + 1).days())
            .unwrap_or(local);
        let horizon = first_trigger
            .checked_add((HORIZON_DAYS as i64).days())
            .unwrap_or(Date::MAX);
        let mut next_from = Some(first_trigger);
        let mut pending: std::vec::IntoIter<Occurrence> = Vec::new().into_iter();
        std::iter::from_fn(move || {
            loop {
                if let Some(o) = pending.next() {
                    return Some(o);
                }
                let from = next_from?;
                let remaining = (horizon - from).get_days().max(0) as u32;
                let date = self.cron.next_matching_date(from, remaining)?;
                next_from = date.tomorrow().ok();
                let opening_date = date.checked_add(self.offset_days.days()).ok()?;
                if self.end_date.is_some_and(|end| opening_date > end) {
                    return None;
                }
                if self.start_date.is_some_and(|start| opening_date < start) {
                    continue;
                }
                pending = self
                    .cron
                    .times_of_day()
                    .filter_map(|time| self.occurrence_at(DateTime::from_parts(opening_date, time)))
                    .filter(|o| o.start.timestamp() >= earliest)
                    .collect::<Vec<_>>()
                    .into_iter();
            }
        })
    }

    /// Whether an opening starts before the previous one has closed: the
    /// duration is longer than the time between openings, almost surely a typo.
    /// Judged on the first openings after a fixed date, so `validate` is repeatable.
    pub fn overlaps_itself(&self) -> bool {
        let reference = Timestamp::from_second(1_767_225_600).unwrap_or(Timestamp::UNIX_EPOCH); // 2026-01-01
        let occ: Vec<Occurrence> = self.occurrences_from(reference).take(64).collect();
        occ.windows(2)
            .any(|p| p[1].start.timestamp() < p[0].end.timestamp())
    }

    /// The earliest start of an opening that may still be open at `at`.
    pub fn earliest_start_open_at(&self, at: Timestamp) -> Timestamp {
        // Wall-clock durations can grow by a DST hour; two days of slack covers it.
        let secs = self
            .duration
            .total((
                jiff::Unit::Second,
                jiff::SpanRelativeTo::days_are_24_hours(),
            ))
            .map_or(i64::MAX, |s| s as i64);
        let slack = secs.saturating_add(2 * 86_400);
        at.checked_sub(jiff::SignedDuration::from_secs(slack))
            .unwrap_or(Timestamp::MIN)
    }

    /// Openings that overlap `[from, to)`, in order of start.
    pub fn occurrences_overlapping(&self, from: Timestamp, to: Timestamp) -> Vec<Occurrence> {
        self.occurrences_from(self.earliest_start_open_at(from))
            .take_while(|o| o.start.timestamp() < to)
            .filter(|o| o.end.timestamp() > from)
            .collect()
    }

    /// The opening that starts at this local wall-clock time and ends at the
    /// local time `duration` later. A time inside a spring-forward gap is moved
    /// forward by the gap; in a fall-back fold the first instance is used
    /// (cron's usual behaviour, and jiff's "compatible" disambiguation).
    fn occurrence_at(&self, local: DateTime) -> Option<Occurrence> {
        let start = local.to_zoned(self.tz.clone()).ok()?;
        // From the resolved start: a start moved out of a DST gap keeps its full length.
        let end = start
            .datetime()
            .checked_add(self.duration)
            .ok()?
            .to_zoned(self.tz.clone())
            .ok()?;
        // The cutoff is elapsed time: it is about how long a host takes to patch.
        let last_start = end.checked_sub(self.cutoff).ok()?;
        Some(Occurrence {
            window: self.name.clone(),
            start,
            end,
            last_start,
        })
    }
}
