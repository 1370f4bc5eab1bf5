//! A group looked at without being changed. While its hosts may not start
//! (windows closed, a freeze, suspended), the daemon still keeps what the
//! status branch says true: it plans the group again from the facts run
//! state holds when the desired commit changed (no host is contacted), and
//! rescans the group's hosts when `scan.interval` says they are due.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::event::{Event, Sink};
use super::status::{StatusInputs, write_conditions, write_scan_status};
use super::{Options, Source, history_with_status};
use crate::exit::Exit;
use crate::facts::HostScan;
use crate::plan::{PlanContext, Planner};
use crate::scan::{FleetScanOptions, targets};
use crate::schedule::Calendar;
use crate::spec::Repository;
use crate::state::{LocalState, RunState};

/// Where the facts of an observation come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facts {
    /// Scan the group's hosts now.
    Scan,
    /// The latest scans run state holds.
    Stored,
}

/// The Fleet's `scan.interval`, if it sets one.
pub fn scan_interval(repo: &Repository) -> Option<SignedDuration> {
    repo.fleets
        .first()
        .and_then(|f| f.spec.scan.as_ref())
        .and_then(|s| s.interval.as_ref())
        .and_then(|d| d.signed())
}

/// When the group's hosts are next due a scan under `scan.interval`: the
/// oldest latest scan (reached or not) plus the interval; now, for a host
/// never scanned. `None` without an interval or hosts.
pub async fn next_scan_at(
    repo: &Repository,
    store: &dyn RunState,
    group: &str,
    now: Timestamp,
) -> Option<Timestamp> {
    let interval = scan_interval(repo)?;
    let hosts: Vec<&str> = repo
        .group(group)?
        .spec
        .hosts
        .iter()
        .map(|h| h.name.value.as_str())
        .collect();
    if hosts.is_empty() {
        return None;
    }
    let scans = store.last_scans(&hosts).await.ok()?;
    if scans.len() < hosts.len() {
        return Some(now);
    }
    let oldest = scans.iter().map(|s| s.scanned_at).min()?;
    Some(oldest.checked_add(interval).unwrap_or(Timestamp::MAX))
}

/// The desired commit the group's condition on the status branch was
/// computed from (`None`: no condition, or no git).
pub fn observed_commit(source: &Source, repo: &Repository, group: &str) -> Option<String> {
    let path = format!("status/groups/{group}.yaml");
    crate::source::read_status_file(&source.git_dir, &repo.status_branch(), &path)
        .ok()
        .flatten()
        .and_then(|text| {
            serde_saphyr::from_str::<crate::status::condition::GroupCondition>(&text).ok()
        })
        .and_then(|c| c.observed_commit)
}

/// Plans `group` from `facts` and writes its host documents, REPORT.md and
/// condition (when `options.write_status`). Starts nothing on any host.
pub async fn observe_group(
    source: &Source,
    repo: &Repository,
    store: Arc<LocalState>,
    group: &str,
    facts: Facts,
    options: &Options,
    events: &Sink,
) -> Exit {
    let error = |message: String| {
        events(&Event::Error { message });
        Exit::Error
    };
    let scans: Vec<HostScan> = match facts {
        Facts::Scan => {
            let group_targets = targets(repo, &source.policy_dir, Some(group), None);
            let scanned =
                crate::scan::scan_fleet(group_targets, &FleetScanOptions::from_repo(repo), |_| {})
                    .await;
            if let Err(e) = store.record_scan(&scanned.hosts).await {
                return error(format!("the scan was not recorded: {e}"));
            }
            scanned.hosts
        }
        Facts::Stored => {
            let hosts: Vec<&str> = repo
                .group(group)
                .map(|g| g.spec.hosts.iter().map(|h| h.name.value.as_str()).collect())
                .unwrap_or_default();
            match store.last_scans(&hosts).await {
                Ok(s) => s,
                Err(e) => return error(e.to_string()),
            }
        }
    };
    if scans.is_empty() {
        return Exit::Ok;
    }
    let history = match history_with_status(store.as_ref(), repo, &source.git_dir, events).await {
        Ok(h) => h,
        Err(e) => return error(e),
    };
    let calendar = Calendar::build(repo);
    // Files and downloads: off the async threads.
    let (vulns, vuln_warnings) = crate::blocking::blocking(|| {
        crate::vuln::load::load(&source.policy_dir, repo, store.as_ref(), Timestamp::now())
    });
    for message in vuln_warnings {
        events(&Event::Warning { message });
    }
    let tz = repo.approval_timezone();
    let context = PlanContext {
        repo,
        history: &history,
        calendar: &calendar,
        now: Timestamp::now(),
        tz: &tz,
        only_group: Some(group),
        only_host: None,
        vulns: &vulns,
    };
    let mut planner = match Planner::new(context) {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    for s in &scans {
        planner.add(s);
    }
    let plan = planner.finish();
    let Some(g) = plan.groups.first() else {
        return Exit::Ok;
    };
    events(&Event::Observed {
        group: group.to_string(),
        facts: match facts {
            Facts::Scan => "scan",
            Facts::Stored => "stored",
        },
        hosts: scans.len(),
        to_change: g.waves.iter().map(|w| w.hosts.len()).sum(),
        commit: source.commit.clone(),
    });
    if !options.write_status {
        return Exit::Ok;
    }
    let inputs = StatusInputs {
        events,
        source,
        repo,
        plan: &plan,
        scans: &scans,
        history: &history,
        store: store.as_ref(),
    };
    let written = async {
        write_scan_status(&inputs, &HashSet::new()).await?;
        let open = store.open_run(group).await.map_err(|e| e.to_string())?;
        let halted = open.as_ref().is_some_and(|r| {
            matches!(r.outcome, crate::rollout::record::RunOutcome::Halted { .. })
        });
        let mut condition = crate::status::condition::of_group(g, false, halted, None);
        condition.observed_commit = source.commit.clone();
        write_conditions(source, repo, &[condition]).await
    }
    .await;
    if let Err(e) = written {
        events(&Event::Warning {
            message: format!("status of group {group} was not written to git: {e}"),
        });
    }
    Exit::Ok
}
