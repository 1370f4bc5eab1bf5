//! Which windows apply to which group, and the one question the rollout asks:
//! may a host of group G be started at instant T, and until when?

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp, Zoned};
use serde::Serialize;

use super::window::{Occurrence, WindowSchedule};

/// How far ahead `next_start` looks before answering "none scheduled".
const NEXT_START_HORIZON: SignedDuration = SignedDuration::from_hours(24 * 366 * 3);
/// The stride of that search: openings are examined a month at a time.
const SEARCH_CHUNK: SignedDuration = SignedDuration::from_hours(24 * 31);

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

/// A deny occurrence that takes time away from an allow occurrence.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Interruption {
    pub deny_window: String,
    #[serde(serialize_with = "ser_zoned")]
    pub from: Zoned,
    #[serde(serialize_with = "ser_zoned")]
    pub until: Zoned,
}

/// One opening of an allow window for a group, with the deny windows that cut into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    pub window: String,
    pub start: Zoned,
    pub end: Zoned,
    /// `end - cutoff`.
    pub last_start: Zoned,
    /// Deny occurrences overlapping `[start, last_start)`, in order.
    pub interruptions: Vec<Interruption>,
    /// Intervals `[from, until)` in which a host may be started: `[start, last_start)`
    /// minus every interruption. Empty means no host can start in this opening.
    pub usable: Vec<(Timestamp, Timestamp)>,
}

impl Opening {
    pub fn is_blocked(&self) -> bool {
        self.usable.is_empty()
    }

    /// The deny windows that leave no usable time, when they do.
    pub fn blocked_by(&self) -> Vec<&str> {
        if !self.is_blocked() {
            return Vec::new();
        }
        let mut names: Vec<&str> = self
            .interruptions
            .iter()
            .map(|i| i.deny_window.as_str())
            .collect();
        names.dedup();
        names
    }
}

/// Where a group stands at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum WindowStatus {
    /// Hosts may be started until `start_until` (the cutoff, or a deny window's start).
    Open {
        window: String,
        start_until: Timestamp,
        closes_at: Timestamp,
    },
    /// Before an allow window's cutoff, but a deny window (change freeze) is in force.
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
    /// The calendar of groups given as (name, allow windows, deny windows
    /// that apply to it).
    pub fn from_groups(
        groups: impl IntoIterator<Item = (String, Vec<WindowSchedule>, Vec<WindowSchedule>)>,
    ) -> Calendar {
        Calendar {
            groups: groups
                .into_iter()
                .map(|(name, allow, deny)| (name, GroupWindows { allow, deny }))
                .collect(),
        }
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
        // Each window's occurrences come in order, so its first `count` that are
        // still open at `from` or later hold every candidate for the merged first `count`.
        let mut occ: Vec<Occurrence> = gw
            .allow
            .iter()
            .flat_map(|w| {
                w.occurrences_from(w.earliest_start_open_at(from))
                    .filter(|o| o.end.timestamp() > from)
                    .take(count)
            })
            .collect();
        sort_occurrences(&mut occ);
        occ.truncate(count);
        gw.openings(occ)
    }

    /// The change freeze (deny window) in force for `group` at `at`, with its
    /// end, whether or not an allow window is open.
    pub fn freeze_at(&self, group: &str, at: Timestamp) -> Option<(String, Timestamp)> {
        let gw = self.groups.get(group)?;
        let just_after = at.checked_add(SignedDuration::from_secs(1)).unwrap_or(at);
        gw.deny
            .iter()
            .flat_map(|w| w.occurrences_overlapping(at, just_after))
            .filter(|o| o.start.timestamp() <= at && at < o.end.timestamp())
            .max_by_key(|o| o.end.timestamp())
            .map(|o| (o.window.clone(), o.end.timestamp()))
    }

    /// May a host of `group` be started at `at`, and until when?
    pub fn status(&self, group: &str, at: Timestamp) -> WindowStatus {
        let Some(gw) = self.groups.get(group) else {
            return WindowStatus::Closed { next_start: None };
        };
        let just_after = at.checked_add(SignedDuration::from_secs(1)).unwrap_or(at);
        let mut current: Vec<Occurrence> = gw
            .allow
            .iter()
            .flat_map(|w| w.occurrences_overlapping(at, just_after))
            .collect();
        sort_occurrences(&mut current);
        let denies = gw.deny_index(&current);
        let open = current
            .iter()
            .flat_map(|o| denies.usable(o).into_iter().map(move |(a, b)| (o, a, b)))
            .filter(|(_, a, b)| *a <= at && at < *b)
            .max_by_key(|(_, _, b)| *b);
        if let Some((o, _, until)) = open {
            return WindowStatus::Open {
                window: o.window.clone(),
                start_until: until,
                closes_at: o.end.timestamp(),
            };
        }
        let next_start = gw.next_start(at);
        // Denied only when the freeze, not the clock, is what keeps hosts from starting.
        let before_cutoff = current
            .iter()
            .any(|o| o.start.timestamp() <= at && at < o.last_start.timestamp());
        let frozen = denies
            .containing(at)
            .max_by_key(|d| d.end.timestamp())
            .filter(|_| before_cutoff);
        match frozen {
            Some(d) => WindowStatus::Denied {
                deny_window: d.window.clone(),
                until: d.end.timestamp(),
                next_start,
            },
            None => WindowStatus::Closed { next_start },
        }
    }
}

impl GroupWindows {
    /// The deny occurrences that can touch any of `occ`.
    fn deny_index(&self, occ: &[Occurrence]) -> DenyIndex {
        match (
            occ.iter().map(|o| o.start.timestamp()).min(),
            occ.iter().map(|o| o.end.timestamp()).max(),
        ) {
            (Some(lo), Some(hi)) => DenyIndex::new(&self.deny, lo, hi),
            _ => DenyIndex::default(),
        }
    }

    /// Occurrences (sorted by start) turned into openings, with the deny
    /// occurrences computed once for the whole span they cover.
    fn openings(&self, occ: Vec<Occurrence>) -> Vec<Opening> {
        let denies = self.deny_index(&occ);
        occ.into_iter().map(|o| denies.opening(o)).collect()
    }

    /// The first instant at or after `at` when a host may be started, searched
    /// a month at a time so long freezes are skipped, up to a horizon.
    fn next_start(&self, at: Timestamp) -> Option<Timestamp> {
        let horizon = at.checked_add(NEXT_START_HORIZON).ok()?;
        let mut chunk_start = at;
        while chunk_start < horizon {
            let chunk_end = chunk_start.checked_add(SEARCH_CHUNK).ok()?;
            let mut occ: Vec<Occurrence> = self
                .allow
                .iter()
                .flat_map(|w| {
                    w.occurrences_from(w.earliest_start_open_at(chunk_start))
                        .take_while(move |o| o.start.timestamp() < chunk_end)
                        .filter(move |o| o.end.timestamp() > chunk_start)
                })
                .collect();
            if occ.is_empty() {
                // Nothing this month: jump straight to the next opening of any window.
                chunk_start = self
                    .allow
                    .iter()
                    .filter_map(|w| w.occurrences_from(chunk_end).next())
                    .map(|o| o.start.timestamp())
                    .min()?;
                continue;
            }
            sort_occurrences(&mut occ);
            let denies = self.deny_index(&occ);
            let mut best: Option<Timestamp> = None;
            for o in &occ {
                // Sorted by start: a later opening cannot offer an earlier start.
                if best.is_some_and(|b| o.start.timestamp() >= b) {
                    break;
                }
                let candidate = denies
                    .usable(o)
                    .into_iter()
                    .map(|(a, b)| (a.max(at), b))
                    .find(|(a, b)| a < b)
                    .map(|(a, _)| a);
                best = match (best, candidate) {
                    (Some(b), Some(c)) => Some(b.min(c)),
                    (b, c) => b.or(c),
                };
            }
            if best.is_some() {
                return best;
            }
            chunk_start = chunk_end;
        }
        None
    }
}

/// Deny occurrences over a span, sorted by start, for fast overlap queries.
#[derive(Default)]
struct DenyIndex {
    occ: Vec<Occurrence>,
    /// The longest deny occurrence: no deny starting earlier than
    /// `start - longest` can reach `start`.
    longest: SignedDuration,
}

impl DenyIndex {
    fn new(deny: &[WindowSchedule], lo: Timestamp, hi: Timestamp) -> DenyIndex {
        let mut occ: Vec<Occurrence> = deny
            .iter()
            .flat_map(|d| d.occurrences_overlapping(lo, hi))
            .collect();
        sort_occurrences(&mut occ);
        let longest = occ
            .iter()
            .map(|o| o.end.timestamp().duration_since(o.start.timestamp()))
            .max()
            .unwrap_or(SignedDuration::ZERO);
        DenyIndex { occ, longest }
    }

    /// Deny occurrences overlapping `[from, until)`, in order of start.
    fn overlapping(&self, from: Timestamp, until: Timestamp) -> impl Iterator<Item = &Occurrence> {
        let first = from.checked_sub(self.longest).unwrap_or(Timestamp::MIN);
        let idx = self.occ.partition_point(|d| d.start.timestamp() < first);
        self.occ[idx..]
            .iter()
            .take_while(move |d| d.start.timestamp() < until)
            .filter(move |d| d.end.timestamp() > from)
    }

    /// Deny occurrences in force at `at`.
    fn containing(&self, at: Timestamp) -> impl Iterator<Item = &Occurrence> {
        let next = at.checked_add(SignedDuration::from_secs(1)).unwrap_or(at);
        self.overlapping(at, next)
            .filter(move |d| d.start.timestamp() <= at)
    }

    /// `[start, last_start)` of `o` minus every deny occurrence.
    fn usable(&self, o: &Occurrence) -> Vec<(Timestamp, Timestamp)> {
        let (s, ls) = (o.start.timestamp(), o.last_start.timestamp());
        let mut usable = if s < ls { vec![(s, ls)] } else { Vec::new() };
        for d in self.overlapping(s, ls) {
            let (df, du) = (d.start.timestamp(), d.end.timestamp());
            usable = usable
                .into_iter()
                .flat_map(|(a, b)| [(a, df.min(b)), (du.max(a), b)])
                .filter(|(a, b)| a < b)
                .collect();
        }
        usable
    }

    /// The full opening of `o`: its usable time and the deny occurrences that cut into it.
    fn opening(&self, o: Occurrence) -> Opening {
        let usable = self.usable(&o);
        let interruptions = self
            .overlapping(o.start.timestamp(), o.last_start.timestamp())
            .map(|d| Interruption {
                deny_window: d.window.clone(),
                from: d.start.clone(),
                until: d.end.clone(),
            })
            .collect();
        Opening {
            window: o.window,
            start: o.start,
            end: o.end,
            last_start: o.last_start,
            interruptions,
            usable,
        }
    }
}

fn sort_occurrences(occ: &mut Vec<Occurrence>) {
    occ.sort_by(|a, b| (a.start.timestamp(), &a.window).cmp(&(b.start.timestamp(), &b.window)));
    occ.dedup_by(|a, b| a.window == b.window && a.start == b.start);
}

fn ser_zoned<S: serde::Serializer>(z: &Zoned, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&z.to_string())
}
