//! One maintenance window compiled from its spec: the instants it opens and closes.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ToSpan, Zoned};

use super::cron::CronSchedule;
use crate::spec::window::{MaintenanceWindowSpec, WindowKind};
use crate::spec::{Diagnostic, Resource, values};

/// How far ahead an occurrence is searched before giving up: long enough for
/// `0 0 29 2 MON`-style rarities, short enough to stay cheap.
const HORIZON_DAYS: u32 = 366 * 30;

/// Offsets beyond this are almost certainly a typo (and would overflow dates).
pub const MAX_OFFSET_DAYS: i64 = 366;

/// The longest window (a year-end freeze is a few weeks; a year is plenty).
pub const MAX_DURATION_SECONDS: i64 = 366 * 86_400;

/// A window ready to answer "when is it open?".
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
    /// Compiles and validates a window; every problem becomes a diagnostic.
    pub fn from_spec(
        res: &Resource<MaintenanceWindowSpec>,
    ) -> Result<WindowSchedule, Vec<Diagnostic>> {
        let spec = &res.spec;
        let o = &res.origin;
        let mut errs = Vec::new();

        let cron = match CronSchedule::parse(&spec.schedule) {
            Ok(c) => {
                if !c.can_ever_match() {
                    errs.push(
                        o.error(
                            spec.schedule.pos,
                            format!(
                                "schedule `{}` never fires: no month has that day",
                                spec.schedule.value
                            ),
                        )
                        .with_hint("check the day-of-month and month fields"),
                    );
                }
                Some(c)
            }
            Err(e) => {
                errs.push(
                    o.error(spec.schedule.pos, format!("schedule `{}`: {}", spec.schedule.value, e.message))
                        .with_hint("five fields: minute hour day-of-month month day-of-week, e.g. `0 22 * * TUE#2`"),
                );
                None
            }
        };

        let offset_days = match &spec.offset_days {
            Some(off) if !(-MAX_OFFSET_DAYS..=MAX_OFFSET_DAYS).contains(&off.value) => {
                errs.push(
                    o.error(off.pos, format!("offsetDays {} is out of range", off.value))
                        .with_hint(format!("use -{MAX_OFFSET_DAYS} to {MAX_OFFSET_DAYS} days")),
                );
                0
            }
            Some(off) => off.value,
            None => 0,
        };

        let tz = match &spec.timezone {
            None => Some(TimeZone::UTC),
            Some(name) => match resolve_timezone(&name.value) {
                Ok(tz) => Some(tz),
                Err(hint) => {
                    errs.push(
                        o.error(name.pos, format!("unknown timezone `{}`", name.value))
                            .with_hint(hint),
                    );
                    None
                }
            },
        };

        let duration = match values::parse_span(&spec.duration) {
            Ok(span) => {
                let secs = values::span_seconds(span);
                if secs <= 0 || secs > MAX_DURATION_SECONDS {
                    errs.push(
                        o.error(
                            spec.duration.pos,
                            format!("duration `{}` is out of range", spec.duration.value),
                        )
                        .with_hint("a window lasts more than 0 and at most 366 days"),
                    );
                    None
                } else {
                    Some(span)
                }
            }
            Err(e) => {
                errs.push(o.error_hinted(spec.duration.pos, &format!("duration {e}")));
                None
            }
        };

        let cutoff = match &spec.cutoff {
            None => Some(Span::new()),
            Some(c) => match values::parse_span(c) {
                Ok(span) => {
                    if let Some(d) = duration
                        && values::span_seconds(span) >= values::span_seconds(d)
                    {
                        errs.push(
                            o.error(c.pos, format!("cutoff `{}` is not shorter than the duration `{}`", c.value, spec.duration.value))
                                .with_hint("the cutoff is the time before the end when no new host starts; make it shorter than the window"),
                        );
                    }
                    Some(span)
                }
                Err(e) => {
                    errs.push(o.error_hinted(c.pos, &format!("cutoff {e}")));
                    None
                }
            },
        };

        let mut parse_date = |d: &Option<crate::spec::Spanned<String>>, what: &str| match d {
            None => None,
            Some(text) => match values::parse_date(text) {
                Ok(date) => Some(date),
                Err(e) => {
                    errs.push(o.error_hinted(text.pos, &format!("{what} {e}")));
                    None
                }
            },
        };
        let start_date = parse_date(&spec.start_date, "startDate");
        let end_date = parse_date(&spec.end_date, "endDate");
        if let (Some(s), Some(e), Some(e_text)) = (start_date, end_date, &spec.end_date)
            && e < s
        {
            errs.push(
                o.error(e_text.pos, format!("endDate {e} is before startDate {s}"))
                    .with_hint("swap them or fix the dates"),
            );
        }

        if spec.kind == WindowKind::Allow
            && let Some(sel) = &spec.selector
        {
            errs.push(
                o.error(sel.pos, "`selector` only applies to deny windows")
                    .with_hint("groups choose their allow windows in HostGroup `spec.windows`"),
            );
        }

        match (cron, tz, duration, cutoff) {
            (Some(cron), Some(tz), Some(duration), Some(cutoff)) if errs.is_empty() => {
                Ok(WindowSchedule {
                    name: res.name().to_string(),
                    kind: spec.kind,
                    cron,
                    offset_days,
                    tz,
                    duration,
                    cutoff,
                    start_date,
                    end_date,
                })
            }
            _ => Err(errs),
        }
    }

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
        let slack = values::span_seconds(self.duration).saturating_add(2 * 86_400);
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

/// Names that resolve in the tz database but do not name a place: `localtime`
/// would read as "the machine's time" yet is fixed at build time.
const NOT_A_ZONE: &[&str] = &["localtime", "posixrules", "factory"];

/// An IANA time zone by name, or a hint naming the closest real one.
pub fn resolve_timezone(name: &str) -> Result<TimeZone, String> {
    if !NOT_A_ZONE.contains(&name.to_ascii_lowercase().as_str())
        && let Ok(tz) = jiff::tz::db().get(name)
    {
        return Ok(tz);
    }
    let names: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .filter(|n| !NOT_A_ZONE.contains(&n.to_ascii_lowercase().as_str()))
        .collect();
    Err(
        match values::closest(name, names.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`".into(),
        },
    )
}
