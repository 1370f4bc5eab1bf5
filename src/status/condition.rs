//! A group's condition, as Flux reports a resource's: `Ready`, `Reconciling`
//! or `Stalled`, with a reason a dashboard can group by and a message a
//! person reads.

use serde::{Deserialize, Serialize};

use crate::plan::fleet::GroupPlan;
use crate::rollout::record::{RunOutcome, RunRecord};
use crate::schedule::WindowStatus;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCondition {
    pub group: String,
    /// `Ready`, `Reconciling` or `Stalled`.
    pub state: String,
    /// `UpToDate`, `Applied`, `FinishedWithErrors`, `OutsideWindow`,
    /// `Frozen`, `Suspended`, `Halted`, `HostsUnreachable`, `Error`.
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    /// The desired-state commit this condition was computed from (Flux's
    /// observed revision): a daemon that sees a newer one plans the group again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_commit: Option<String>,
}

fn cond(
    g: &GroupPlan,
    state: &str,
    reason: &str,
    message: String,
    run: Option<&RunRecord>,
) -> GroupCondition {
    GroupCondition {
        group: g.group.clone(),
        state: state.into(),
        reason: reason.into(),
        message,
        last_run: run.map(|r| r.id.clone()),
        observed_commit: None,
    }
}

/// The condition of a group after `apply` looked at it.
pub fn of_group(
    g: &GroupPlan,
    errored: bool,
    halted: bool,
    run: Option<&RunRecord>,
) -> GroupCondition {
    let pending: usize = g.waves.iter().map(|w| w.hosts.len()).sum();
    let unknown = g.unknown.len();
    if g.suspended {
        return cond(
            g,
            "Stalled",
            "Suspended",
            "suspended: scanned and reported, never applied".into(),
            run,
        );
    }
    if errored {
        return cond(
            g,
            "Stalled",
            "Error",
            "the last apply of this group failed; see its log".into(),
            run,
        );
    }
    if let Some(r) = run {
        return match &r.outcome {
            RunOutcome::Halted { reason } => cond(
                g,
                "Stalled",
                "Halted",
                format!("run {} halted: {reason}", r.id),
                run,
            ),
            RunOutcome::Stopped { reason } => cond(
                g,
                "Reconciling",
                "OutsideWindow",
                format!("run {} stopped: {reason}", r.id),
                run,
            ),
            RunOutcome::FinishedWithErrors { errors } => cond(
                g,
                "Ready",
                "FinishedWithErrors",
                format!(
                    "run {} finished with {errors} error(s) within the budget",
                    r.id
                ),
                run,
            ),
            RunOutcome::Succeeded if unknown > 0 => cond(
                g,
                "Reconciling",
                "HostsUnreachable",
                format!(
                    "run {} succeeded; {unknown} host(s) could not be scanned",
                    r.id
                ),
                run,
            ),
            RunOutcome::Succeeded => cond(
                g,
                "Ready",
                "Applied",
                format!("run {} succeeded", r.id),
                run,
            ),
            RunOutcome::Running => cond(
                g,
                "Reconciling",
                "Running",
                format!("run {} is running", r.id),
                run,
            ),
        };
    }
    if halted {
        return cond(
            g,
            "Stalled",
            "Halted",
            "a halted rollout waits for `apply --resume`".into(),
            None,
        );
    }
    if pending > 0 {
        return match &g.window {
            WindowStatus::Denied {
                deny_window, until, ..
            } => cond(
                g,
                "Reconciling",
                "Frozen",
                format!("{pending} host(s) to patch; change freeze `{deny_window}` until {until}"),
                None,
            ),
            WindowStatus::Closed { next_start } => cond(
                g,
                "Reconciling",
                "OutsideWindow",
                format!(
                    "{pending} host(s) to patch; next window {}",
                    next_start.map_or("not scheduled".into(), |t| t.to_string())
                ),
                None,
            ),
            WindowStatus::Open { .. } => cond(
                g,
                "Reconciling",
                "Pending",
                format!("{pending} host(s) to patch"),
                None,
            ),
        };
    }
    if unknown > 0 {
        return cond(
            g,
            "Reconciling",
            "HostsUnreachable",
            format!("{unknown} host(s) could not be scanned"),
            None,
        );
    }
    cond(
        g,
        "Ready",
        "UpToDate",
        "every scanned host has what its baseline approves".into(),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fleet::UnknownHost;

    fn group(suspended: bool, window: WindowStatus, unknown: usize) -> GroupPlan {
        GroupPlan {
            group: "web".into(),
            baseline: "b".into(),
            rollout: "r".into(),
            suspended,
            window,
            waves: vec![],
            unchanged: vec![],
            unknown: (0..unknown)
                .map(|i| UnknownHost {
                    host: format!("h{i}"),
                    reason: "down".into(),
                })
                .collect(),
            emergency: vec![],
        }
    }

    #[test]
    fn conditions_name_the_reason() {
        let closed = || WindowStatus::Closed { next_start: None };
        let c = of_group(&group(true, closed(), 0), false, false, None);
        assert_eq!(
            (c.state.as_str(), c.reason.as_str()),
            ("Stalled", "Suspended")
        );
        let c = of_group(&group(false, closed(), 0), false, true, None);
        assert_eq!((c.state.as_str(), c.reason.as_str()), ("Stalled", "Halted"));
        let c = of_group(&group(false, closed(), 2), false, false, None);
        assert_eq!(
            (c.state.as_str(), c.reason.as_str()),
            ("Reconciling", "HostsUnreachable")
        );
        let c = of_group(&group(false, closed(), 0), false, false, None);
        assert_eq!((c.state.as_str(), c.reason.as_str()), ("Ready", "UpToDate"));
        let c = of_group(&group(false, closed(), 0), true, false, None);
        assert_eq!((c.state.as_str(), c.reason.as_str()), ("Stalled", "Error"));
    }
}
