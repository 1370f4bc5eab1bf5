//! One group's pass, as the daemon's controller makes it: first, from the
//! calendar alone, whether any host may start now (if not, no host is
//! contacted and the answer says when to look again); then the group's
//! reconcile; then when to look again, from the calendar at its end.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use jiff::{SignedDuration, Timestamp};

use super::event::{Event, Sink};
use super::{Options, Source, reconcile_fleet};
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
        let exit = if w.why.is_error() {
            Exit::Error
        } else {
            Exit::Ok
        };
        events(&w.why);
        return GroupPass {
            exit,
            requeue_at: w.until,
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
