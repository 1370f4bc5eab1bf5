//! `MaintenanceWindow`: when patches may (allow) or must not (deny) be applied.

use jiff::Span;
use jiff::tz::TimeZone;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::LabelSelector;
use super::spanned::Spanned;

use super::{Diagnostic, Resource, values};
use crate::schedule::WindowSchedule;
use crate::schedule::cron::CronSchedule;
pub use crate::schedule::window::WindowKind;
use crate::schedule::window::{MAX_DURATION_SECONDS, MAX_OFFSET_DAYS};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MaintenanceWindowSpec {
    /// `allow` (default) or `deny`.
    #[serde(default)]
    pub kind: WindowKind,
    /// Five-field cron in the window's timezone: `0 22 * * TUE#2` (second Tuesday), `0 3 L * *`.
    pub schedule: Spanned<String>,
    /// Days added to each cron date, keeping the wall-clock time: Patch Tuesday + 2 is `TUE#2` with 2.
    #[serde(default)]
    pub offset_days: Option<Spanned<i64>>,
    /// IANA timezone, e.g. `Europe/Berlin`. Default `UTC`.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// How long the window stays open: `4h`, `90m`, `15d`, counted on the local wall clock
    /// (22:00 + `6h` closes at 04:00 local time, also on the night clocks change).
    pub duration: Spanned<String>,
    /// No host is started this close to the end (elapsed time), e.g. `1h`. Default 0.
    #[serde(default)]
    pub cutoff: Option<Spanned<String>>,
    /// First date (inclusive, `YYYY-MM-DD`) on which the window may open.
    #[serde(default)]
    pub start_date: Option<Spanned<String>>,
    /// Last date (inclusive) on which the window may open.
    #[serde(default)]
    pub end_date: Option<Spanned<String>>,
    /// Deny windows only: groups whose labels match; omitted means every group.
    #[serde(default)]
    pub selector: Option<Spanned<LabelSelector>>,
}

/// Compiling a window lives with its spec: the schedule module takes plain
/// values and knows no spec type.
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

        let mut parse_date = |d: &Option<Spanned<String>>, what: &str| match d {
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
