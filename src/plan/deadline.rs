//! Patch deadlines (the Fleet's `deadlines`): by when a missing patch must
//! be installed, from its severity, known exploitation, and its release or
//! first detection.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use crate::spec::baseline::Severity;
use crate::spec::fleet::{CountFrom, DeadlineSpec};

/// The compiled policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deadlines {
    count_from: CountFrom,
    days: BTreeMap<Severity, u32>,
    known_exploited: Option<u32>,
}

/// One patch's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deadline {
    /// The last day to install it (in the Fleet's timezone).
    pub due_by: Date,
    /// The day counted from: the release, or the first detection.
    pub since: Date,
    pub counted_from: CountFrom,
    /// The instant it becomes overdue: the start of the day after `dueBy`
    /// in the Fleet's timezone (what the report and metrics compare with).
    pub passes_at: Timestamp,
    /// The deadline passed before the plan's day.
    pub overdue: bool,
}

impl Deadlines {
    pub fn from_spec(spec: &DeadlineSpec) -> Deadlines {
        let days = [
            (Severity::Critical, &spec.critical),
            (Severity::Important, &spec.important),
            (Severity::Moderate, &spec.moderate),
            (Severity::Low, &spec.low),
        ]
        .into_iter()
        .filter_map(|(s, d)| d.as_ref().map(|d| (s, d.value)))
        .collect();
        Deadlines {
            count_from: spec.count_from,
            days,
            known_exploited: spec.known_exploited.as_ref().map(|d| d.value),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty() && self.known_exploited.is_none()
    }

    /// The deadline of a patch of `severity`, released on `released` (if the
    /// OS says) and first seen on `first_seen`, judged on `today`; `None`
    /// when the policy sets no days for it.
    pub fn due(
        &self,
        severity: Severity,
        known_exploited: bool,
        released: Option<Date>,
        first_seen: Date,
        today: Date,
        tz: &TimeZone,
    ) -> Option<Deadline> {
        let by_severity = self.days.get(&severity).copied();
        let by_kev = self.known_exploited.filter(|_| known_exploited);
        let days = match (by_severity, by_kev) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        let (since, counted_from) = match (self.count_from, released) {
            (CountFrom::Release, Some(r)) => (r, CountFrom::Release),
            _ => (first_seen, CountFrom::Detection),
        };
        let due_by = since
            .checked_add(i64::from(days).days())
            .unwrap_or(Date::MAX);
        let passes_at = due_by
            .checked_add(1.day())
            .ok()
            .and_then(|d| d.to_zoned(tz.clone()).ok())
            .map_or(Timestamp::MAX, |z| z.timestamp());
        Some(Deadline {
            due_by,
            since,
            counted_from,
            passes_at,
            overdue: today > due_by,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn policy(yaml_days: &[(Severity, u32)], kev: Option<u32>, from: CountFrom) -> Deadlines {
        Deadlines {
            count_from: from,
            days: yaml_days.iter().copied().collect(),
            known_exploited: kev,
        }
    }

    #[test]
    fn thirty_days_for_critical_counted_from_detection() {
        let p = policy(&[(Severity::Critical, 30)], None, CountFrom::Detection);
        let seen = date(2026, 11, 1);
        let d = p
            .due(
                Severity::Critical,
                false,
                Some(date(2026, 10, 1)),
                seen,
                date(2026, 12, 1),
                &TimeZone::UTC,
            )
            .unwrap();
        // Detection, not the release: due on the 30th day after first seen.
        assert_eq!((d.since, d.due_by), (seen, date(2026, 12, 1)));
        assert!(!d.overdue, "the due day itself is not overdue");
        let late = p
            .due(
                Severity::Critical,
                false,
                None,
                seen,
                date(2026, 12, 2),
                &TimeZone::UTC,
            )
            .unwrap();
        assert!(late.overdue);
        assert_eq!(
            p.due(Severity::Important, false, None, seen, seen, &TimeZone::UTC),
            None
        );
    }

    #[test]
    fn release_counting_falls_back_to_detection_and_kev_shortens() {
        let p = policy(&[(Severity::Low, 180)], Some(14), CountFrom::Release);
        let released = date(2026, 1, 10);
        let d = p
            .due(
                Severity::Low,
                false,
                Some(released),
                date(2026, 2, 1),
                date(2026, 3, 1),
                &TimeZone::UTC,
            )
            .unwrap();
        assert_eq!(
            (d.counted_from, d.due_by),
            (CountFrom::Release, date(2026, 7, 9))
        );
        let undated = p
            .due(
                Severity::Low,
                true,
                None,
                date(2026, 2, 1),
                date(2026, 3, 1),
                &TimeZone::UTC,
            )
            .unwrap();
        assert_eq!(
            (undated.counted_from, undated.due_by, undated.overdue),
            (CountFrom::Detection, date(2026, 2, 15), true)
        );
        // A KEV fix has a deadline even where its severity has none.
        assert!(
            p.due(
                Severity::Unspecified,
                true,
                None,
                released,
                released,
                &TimeZone::UTC
            )
            .is_some()
        );
        assert!(
            p.due(
                Severity::Unspecified,
                false,
                None,
                released,
                released,
                &TimeZone::UTC
            )
            .is_none()
        );
    }
}
