//! Which windows apply to which group, and the one question the rollout asks:
//! may a host of group G be started at instant T, and until when?

use std::collections::BTreeMap;

use jiff::{Timestamp, Zoned};
use serde::Serialize;

use super::window::{Occurrence, WindowSchedule};
use crate::spec::Repository;
use crate::spec::window::WindowKind;

/// The windows of every group, compiled.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    groups: BTreeMap<String, GroupWindows>,
}

#[derive(Debug, Clone, Default)]
struct GroupWindows {
    allow: Vec<WindowSchedule>,
    deny: Vec<WindowSchedule>,
}

/// A deny occurrence that overlaps an allow occurrence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interruption {
    pub deny_window: String,
    #[serde(serialize_with = "ser_zoned")]
    pub from: Zoned,
    #[serde(serialize_with = "ser_zoned")]
    pub until: Zoned,
}

/// One opening of an allow window for a group, with the deny windows that cut into it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Opening {
    pub window: String,
    pub timezone: String,
    #[serde(serialize_with = "ser_zoned")]
    pub start: Zoned,
    #[serde(serialize_with = "ser_zoned")]
    pub end: Zoned,
    /// `end - cutoff`.
    #[serde(serialize_with = "ser_zoned")]
    pub last_start: Zoned,
    pub interruptions: Vec<Interruption>,
    /// Intervals `[from, until)` in which a host may be started: `[start, last_start)`
    /// minus every interruption. Empty means the opening is blocked.
    pub usable: Vec<(Timestamp, Timestamp)>,
}

impl Opening {
    pub fn is_blocked(&self) -> bool {
        self.usable.is_empty()
    }

    /// The deny window that blocks this opening entirely, if one does.
    pub fn blocked_by(&self) -> Option<&Interruption> {
        if self.is_blocked() {
            self.interruptions.first()
        } else {
            None
        }
    }
}

/// Where a group stands at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum WindowStatus {
    /// Hosts may be started until `start_until` (the cutoff, or a deny window's start).
    Open {
        window: String,
        start_until: Timestamp,
        closes_at: Timestamp,
    },
    /// Inside an allow window, but a deny window (change freeze) is in force.
    Denied {
        deny_window: String,
        until: Timestamp,
        next_start: Option<Timestamp>,
    },
    /// No allow window is usable now (outside windows, or past a cutoff).
    Closed { next_start: Option<Timestamp> },
}

impl WindowStatus {
    pub fn is_open(&self) -> bool {
        matches!(self, WindowStatus::Open { .. })
    }
}

impl Calendar {
    /// Compiles the windows of every group. Windows that do not compile are
    /// left out: `validate` reports them, and nothing should run on a guess.
    pub fn build(repo: &Repository) -> Calendar {
        let compiled: BTreeMap<&str, WindowSchedule> = repo
            .windows
            .iter()
            .filter_map(|w| WindowSchedule::from_spec(w).ok().map(|s| (w.name(), s)))
            .collect();
        let mut groups = BTreeMap::new();
        for g in &repo.groups {
            let allow = g
                .spec
                .windows
                .iter()
                .filter_map(|name| compiled.get(name.value.as_str()))
                .filter(|w| w.kind == WindowKind::Allow)
                .cloned()
                .collect();
            let deny = repo
                .windows
                .iter()
                .filter(|w| w.spec.kind == WindowKind::Deny)
                .filter(|w| {
                    w.spec
                        .selector
                        .as_ref()
                        .is_none_or(|sel| sel.matches(&g.metadata.labels))
                })
                .filter_map(|w| compiled.get(w.name()))
                .cloned()
                .collect();
            groups.insert(g.name().to_string(), GroupWindows { allow, deny });
        }
        Calendar { groups }
    }

    pub fn knows_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// Names of the deny windows that apply to a group.
    pub fn deny_windows(&self, group: &str) -> Vec<&str> {
        self.groups
            .get(group)
            .map(|g| g.deny.iter().map(|w| w.name.as_str()).collect())
            .unwrap_or_default()
    }

    /// The next `count` openings of the group's allow windows that end after
    /// `from` (one in progress included), blocked ones too, in order of start.
    pub fn openings(&self, group: &str, from: Timestamp, count: usize) -> Vec<Opening> {
        let Some(gw) = self.groups.get(group) else {
            return Vec::new();
        };
        // Each window's iterator is ordered, so its first `count` in-progress-or-later
        // occurrences contain every candidate for the merged first `count`.
        let mut occ: Vec<Occurrence> = gw
            .allow
            .iter()
            .flat_map(|w| {
                let mut v = w.occurrences_overlapping(from, from);
                v.extend(w.occurrences_from(from).take(count));
                v
            })
            .collect();
        occ.sort_by(|a, b| (a.start.timestamp(), &a.window).cmp(&(b.start.timestamp(), &b.window)));
        occ.dedup_by(|a, b| a.window == b.window && a.start == b.start);
        occ.truncate(count);
        occ.into_iter().map(|o| self.opening(gw, o)).collect()
    }

    /// May a host of `group` be started at `at`, and until when?
    pub fn status(&self, group: &str, at: Timestamp) -> WindowStatus {
        let Some(gw) = self.groups.get(group) else {
            return WindowStatus::Closed { next_start: None };
        };
        let current: Vec<Opening> = gw
            .allow
            .iter()
            .flat_map(|w| {
                w.occurrences_overlapping(
                    at,
                    at.checked_add(jiff::SignedDuration::from_secs(1))
                        .unwrap_or(at),
                )
            })
            .map(|o| self.opening(gw, o))
            .collect();
        let open = current
            .iter()
            .flat_map(|o| o.usable.iter().map(move |(a, b)| (o, *a, *b)))
            .filter(|(_, a, b)| *a <= at && at < *b)
            .max_by_key(|(_, _, b)| *b);
        if let Some((o, _, until)) = open {
            return WindowStatus::Open {
                window: o.window.clone(),
                start_until: until,
                closes_at: o.end.timestamp(),
            };
        }
        let next_start = self.next_start(gw, at);
        let deny = gw
            .deny
            .iter()
            .flat_map(|w| {
                w.occurrences_overlapping(
                    at,
                    at.checked_add(jiff::SignedDuration::from_secs(1))
                        .unwrap_or(at),
                )
            })
            .max_by_key(|o| o.end.timestamp());
        match deny {
            Some(d) if !current.is_empty() => WindowStatus::Denied {
                deny_window: d.window,
                until: d.end.timestamp(),
                next_start,
            },
            _ => WindowStatus::Closed { next_start },
        }
    }

    /// The first instant after `at` when a host may be started.
    fn next_start(&self, gw: &GroupWindows, at: Timestamp) -> Option<Timestamp> {
        // Bounded: a freeze can block many openings in a row, but not hundreds.
        const MAX_OPENINGS: usize = 512;
        gw.allow
            .iter()
            .filter_map(|w| {
                w.occurrences_from(
                    at.checked_sub(jiff::SignedDuration::from_secs(values_slack(w)))
                        .unwrap_or(at),
                )
                .take(MAX_OPENINGS)
                .map(|o| self.opening(gw, o))
                .flat_map(|o| o.usable)
                .map(|(a, b)| (a.max(at), b))
                .find(|(a, b)| a < b && *a >= at)
                .map(|(a, _)| a)
            })
            .min()
    }

    fn opening(&self, gw: &GroupWindows, o: Occurrence) -> Opening {
        let mut interruptions: Vec<Interruption> = gw
            .deny
            .iter()
            .flat_map(|d| d.occurrences_overlapping(o.start.timestamp(), o.end.timestamp()))
            .map(|d| Interruption {
                deny_window: d.window,
                from: d.start,
                until: d.end,
            })
            .collect();
        interruptions.sort_by(|a, b| {
            (a.from.timestamp(), &a.deny_window).cmp(&(b.from.timestamp(), &b.deny_window))
        });
        let mut usable = vec![(o.start.timestamp(), o.last_start.timestamp())];
        for i in &interruptions {
            let (df, du) = (i.from.timestamp(), i.until.timestamp());
            usable = usable
                .into_iter()
                .flat_map(|(a, b)| {
                    let mut out = Vec::with_capacity(2);
                    if a < df.min(b) {
                        out.push((a, df.min(b)));
                    }
                    if du.max(a) < b {
                        out.push((du.max(a), b));
                    }
                    out
                })
                .collect();
        }
        usable.retain(|(a, b)| a < b);
        Opening {
            window: o.window,
            timezone: o.start.time_zone().iana_name().unwrap_or("UTC").to_string(),
            start: o.start,
            end: o.end,
            last_start: o.last_start,
            interruptions,
            usable,
        }
    }
}

/// How far back an opening that is still open at `at` may have started.
fn values_slack(w: &WindowSchedule) -> i64 {
    crate::spec::values::span_seconds(w.duration).saturating_add(2 * 86_400)
}

fn ser_zoned<S: serde::Serializer>(z: &Zoned, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&z.to_string())
}
