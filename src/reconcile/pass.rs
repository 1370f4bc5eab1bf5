//! One group's pass, as the daemon's controller makes it: first, from the
//! calendar alone, whether any host may start now. If not, no host is
//! contacted — unless `scan.interval` says the group's hosts are due a
//! scan — and a desired commit newer than the group's condition is planned
//! from stored facts (see [`super::observe`]); the answer says when to look
//! again. If so, the group's reconcile; then when to look again, from the
//! calendar at its end.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use jiff::{SignedDuration, Timestamp};

use super::event::{Event, Sink};
use super::{Options, Source, observe, reconcile_fleet};
use crate::exit::Exit;
use crate::plan::emergency;
use crate::schedule::{Calendar, WindowStatus};
use crate::spec::Repository;
use crate::state::LocalState;

/// How a pass ended, and when the group is next worth a look (`None`:
/// only when something changes — a new commit, a webhook, the next poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupPass {
    pub exit: Exit,
    pub requeue_at: Option<Timestamp>,
}

/// After an error, the group is tried again this much later.
pub const ERROR_BACKOFF: SignedDuration = SignedDuration::from_secs(60);

/// Why no host of a group may start now, and when to look again.
#[derive(Debug, Clone)]
pub struct Wait {
    pub why: Box<Event>,
    pub until: Option<Timestamp>,
}

fn wait(why: Event, until: Option<Timestamp>) -> Wait {
    Wait {
        why: Box::new(why),
        until,
    }
}

/// Whether hosts of `group` may start at `now`; if not, the event that
/// says why and when to look again. Pure: the calendar and the desired
/// state's EmergencyChanges decide.
pub fn may_start(
    repo: &Repository,
    calendar: &Calendar,
    group: &str,
    now: Timestamp,
) -> Result<(), Wait> {
    let Some(g) = repo.group(group) else {
        return Err(wait(
            Event::Error {
                message: format!("no HostGroup named `{group}`"),
            },
            None,
        ));
    };
    if g.spec.suspend {
        return Err(wait(
            Event::Suspended {
                group: group.to_string(),
            },
            None,
        ));
    }
    // A group without hosts (validate warns about it) has nothing to do,
    // and is no error to retry every minute.
    if g.spec.hosts.is_empty() {
        return Err(wait(
            Event::NothingToDo {
                group: group.to_string(),
            },
            None,
        ));
    }
    let status = calendar.status(group, now);
    if status.is_open() {
        return Ok(());
    }
    let frozen = matches!(status, WindowStatus::Denied { .. });
    let in_force = emergency::in_force(repo, now);
    let hosts: Vec<&str> = g.spec.hosts.iter().map(|h| h.name.value.as_str()).collect();
    let allowances = emergency::allowances(&in_force, group, &hosts);
    if !emergency::usable(&allowances, now, frozen).is_empty() {
        return Ok(());
    }
    Err(match status {
        WindowStatus::Denied {
            deny_window,
            until,
            next_start,
        } => wait(
            Event::Frozen {
                group: group.to_string(),
                deny_window,
                until,
                next_start,
                emergency_without_break: !allowances.is_empty(),
            },
            next_start,
        ),
        WindowStatus::Closed { next_start } => wait(
            Event::OutsideWindows {
                group: group.to_string(),
                next_start,
            },
            next_start,
        ),
        WindowStatus::Open { .. } => unreachable!("an open window returned above"),
    })
}

/// When to look at `group` again once a pass ended at `now`: the end of
/// the current window's start time (to find the next opening then), the
/// next opening, or after an error, a back-off.
pub fn requeue_after(
    calendar: &Calendar,
    group: &str,
    exit: Exit,
    now: Timestamp,
) -> Option<Timestamp> {
    if exit == Exit::Error {
        return now.checked_add(ERROR_BACKOFF).ok();
    }
    match calendar.status(group, now) {
        WindowStatus::Open { start_until, .. } => Some(start_until),
        WindowStatus::Denied { next_start, .. } | WindowStatus::Closed { next_start } => next_start,
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A group whose hosts may not start: scanned when `scan.interval` says
/// its hosts are due, else planned from stored facts when the desired
/// commit is newer than the one its condition was computed from. Returns
/// when the next scan is due.
async fn observe_waiting(
    source: &Source,
    repo: &Repository,
    store: Arc<LocalState>,
    group: &str,
    options: &Options,
    events: &Sink,
) -> Option<Timestamp> {
    let now = Timestamp::now();
    let due = |at: Timestamp| observe::next_scan_at(repo, store.as_ref(), group, at);
    let next_scan = due(now).await;
    let facts = if next_scan.is_some_and(|t| t <= now) {
        Some(observe::Facts::Scan)
    } else if source.commit.is_some()
        && crate::blocking::blocking(|| observe::observed_commit(source, repo, group))
            != source.commit
    {
        Some(observe::Facts::Stored)
    } else {
        None
    };
    let Some(facts) = facts else {
        return next_scan;
    };
    let exit =
        observe::observe_group(source, repo, store.clone(), group, facts, options, events).await;
    let after = Timestamp::now();
    // A scan that could not be recorded leaves the hosts due: back off
    // rather than scan again at once.
    let floor = after.checked_add(ERROR_BACKOFF).ok();
    match (exit, due(after).await) {
        (Exit::Error, _) => floor,
        (_, Some(t)) if t <= after => floor,
        (_, next) => next,
    }
}

/// One pass over `group` (see the module docs).
pub async fn reconcile_group_pass(
    source: &Source,
    repo: &Repository,
    store: Arc<LocalState>,
    group: &str,
    options: &Options,
    events: &Sink,
    shutdown: Arc<AtomicBool>,
) -> GroupPass {
    let calendar = Calendar::build(repo);
    if let Err(w) = may_start(repo, &calendar, group, Timestamp::now()) {
        events(&w.why);
        if w.why.is_error() {
            return GroupPass {
                exit: Exit::Error,
                requeue_at: w.until,
            };
        }
        if matches!(*w.why, Event::NothingToDo { .. }) {
            return GroupPass {
                exit: Exit::Ok,
                requeue_at: w.until,
            };
        }
        let observed = observe_waiting(source, repo, store.clone(), group, options, events).await;
        return GroupPass {
            exit: Exit::Ok,
            requeue_at: earliest(w.until, observed),
        };
    }
    let options = Options {
        group: Some(group.to_string()),
        host: None,
        ..options.clone()
    };
    let exit = reconcile_fleet(source, repo, store, &options, events, shutdown).await;
    GroupPass {
        exit,
        requeue_at: requeue_after(&calendar, group, exit, Timestamp::now()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(extra: &str) -> crate::spec::Checked {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("fleet.yaml"),
            format!(
                "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: g}}
spec: {{baseline: b, rollout: r, windows: [sat], hosts: [{{name: h1, address: 127.0.0.1}}]}}
---
apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {{name: b}}
spec: {{}}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {{name: r}}
spec: {{waves: [\"100%\"]}}
---
apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata: {{name: sat}}
spec: {{schedule: \"0 22 * * SAT\", duration: 2h}}
{extra}"
            ),
        )
        .unwrap();
        let checked = crate::spec::check(dir.path()).unwrap();
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        checked
    }

    #[test]
    fn a_closed_window_waits_for_its_opening_and_an_emergency_goes_now() {
        let at = |t: &str| -> Timestamp { t.parse().unwrap() };
        // Wednesday 2026-12-02: the window opens Saturday 22:00 UTC.
        let checked = repo("");
        let cal = Calendar::build(&checked.repo);
        let w = may_start(&checked.repo, &cal, "g", at("2026-12-02T10:00:00Z")).unwrap_err();
        assert!(matches!(*w.why, Event::OutsideWindows { .. }), "{w:?}");
        assert_eq!(w.until, Some(at("2026-12-05T22:00:00Z")));
        assert!(may_start(&checked.repo, &cal, "g", at("2026-12-05T22:00:00Z")).is_ok());
        // In the window: look again when it stops admitting hosts.
        assert_eq!(
            requeue_after(&cal, "g", Exit::Ok, at("2026-12-05T23:00:00Z")),
            Some(at("2026-12-06T00:00:00Z"))
        );
        assert_eq!(
            requeue_after(&cal, "g", Exit::Error, at("2026-12-05T23:00:00Z")),
            Some(at("2026-12-05T23:01:00Z"))
        );
        // An EmergencyChange in force: hosts may start now.
        let checked = repo(
            "---
apiVersion: patchwave.dev/v1
kind: EmergencyChange
metadata: {name: e}
spec: {reason: r, expires: \"2099-01-01T00:00:00Z\", groups: [g], allowOutsideWindow: true}
",
        );
        let cal = Calendar::build(&checked.repo);
        assert!(may_start(&checked.repo, &cal, "g", at("2026-12-02T10:00:00Z")).is_ok());
        // A group without hosts waits for nothing and is no error.
        let checked = repo(
            "---
apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {name: empty}
spec: {baseline: b, rollout: r, windows: [sat], hosts: []}
",
        );
        let cal = Calendar::build(&checked.repo);
        let w = may_start(&checked.repo, &cal, "empty", at("2026-12-05T23:00:00Z")).unwrap_err();
        assert!(matches!(*w.why, Event::NothingToDo { .. }), "{w:?}");
        assert_eq!(w.until, None);
    }
}
