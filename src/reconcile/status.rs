//! Status written back to the status branch: host documents, the run,
//! REPORT.md, first sightings, stage histories, group conditions. Every
//! write is one commit; a write that changes nothing commits nothing.

use std::collections::HashMap;

use jiff::Timestamp;

use super::event::{Event, Sink};
use super::source::Source;
use crate::blocking::blocking;
use crate::plan::fleet::HostPlan;
use crate::rollout::record::RunRecord;
use crate::spec::Repository;
use crate::state::RunState;

/// The status documents on the branch of the repository's hosts that
/// this pass did not scan (a daemon pass covers one group): the report is
/// always of the whole fleet.
fn others(
    source: &Source,
    repo: &Repository,
    scans: &[crate::facts::HostScan],
) -> Vec<crate::status::HostStatus> {
    let scanned: std::collections::HashSet<&str> = scans.iter().map(|s| s.host.as_str()).collect();
    let known: std::collections::HashSet<&str> =
        repo.hosts().map(|(_, h)| h.name.value.as_str()).collect();
    crate::source::read_status_files(&source.git_dir, &repo.status_branch(), "status/hosts")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, text)| serde_saphyr::from_str::<crate::status::HostStatus>(&text).ok())
        .filter(|h| known.contains(h.host.as_str()) && !scanned.contains(h.host.as_str()))
        .collect()
}

/// The hosts' plans by name.
pub fn plans_by_host(plan: &crate::plan::Plan) -> HashMap<&str, &HostPlan> {
    plan.groups
        .iter()
        .flat_map(|g| g.waves.iter().flat_map(|w| &w.hosts).chain(&g.unchanged))
        .map(|h| (h.host.as_str(), h))
        .collect()
}

/// A host document without its scan time: two scans that found the same
/// thing compare equal.
fn without_scan_time(doc: &str) -> String {
    doc.lines()
        .filter(|l| !l.starts_with("lastScan:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Host documents of groups that had no run, committed (with REPORT.md)
/// only when something besides the scan time changed: an update newly
/// offered, a version changed by hand, a host gone unreachable. Each host
/// keeps the `lastRun` its last run wrote.
pub async fn write_scan_status(
    i: &StatusInputs<'_>,
    groups_with_runs: &std::collections::HashSet<String>,
) -> Result<(), String> {
    let StatusInputs {
        events,
        source,
        repo,
        plan,
        scans,
        history,
        store,
    } = *i;
    if !source.has_git() {
        return Ok(());
    }
    let branch = repo.status_branch();
    let previous: HashMap<String, String> = blocking(|| {
        crate::source::read_status_files(&source.git_dir, &branch, "status/hosts")
            .unwrap_or_default()
            .into_iter()
            .collect()
    });
    let plans = plans_by_host(plan);
    let mut statuses = Vec::new();
    let mut files = std::collections::BTreeMap::new();
    for scan in scans {
        let path = format!("status/hosts/{}.yaml", scan.host);
        let before = previous.get(&path);
        let last_run = before
            .and_then(|t| serde_saphyr::from_str::<crate::status::HostStatus>(t).ok())
            .and_then(|h| h.last_run);
        let status =
            crate::status::host_status(scan, plans.get(scan.host.as_str()).copied(), last_run);
        if !groups_with_runs.contains(&scan.group) {
            let text =
                serde_saphyr::to_string(&status).map_err(|e| format!("host {}: {e}", scan.host))?;
            if before.is_none_or(|b| without_scan_time(b) != without_scan_time(&text)) {
                files.insert(path, text);
            }
        }
        statuses.push(status);
    }
    if files.is_empty() {
        return Ok(());
    }
    let changed = files.len();
    let runs = store.recent_runs(10).await.map_err(|e| e.to_string())?;
    let desired = source.commit.as_deref();
    statuses.extend(blocking(|| others(source, repo, scans)));
    files.insert(
        "status/REPORT.md".into(),
        crate::status::report::render(&statuses, &runs, Timestamp::now(), desired, &|p, v| {
            history.first_seen(p, v)
        })?,
    );
    files.insert(
        crate::status::first_seen::PATH.to_string(),
        crate::status::first_seen::render(&history.first_seen)?,
    );
    let message = format!(
        "status: scan: {changed} host(s) changed\n\nDesired state: {}\n",
        desired.unwrap_or("(not a git checkout)")
    );
    if let crate::source::StatusOutcome::Committed { commit, pushed, .. } =
        source.commit_status(repo, &files, message)?
    {
        events(&Event::StatusCommitted {
            commit,
            branch,
            pushed,
            changed: Some(changed),
        });
    }
    Ok(())
}

/// `status/groups/<group>.yaml`: each group's condition (Flux-style). No
/// timestamps, so an apply that changes nothing commits nothing.
pub async fn write_conditions(
    source: &Source,
    repo: &Repository,
    conditions: &[crate::status::condition::GroupCondition],
) -> Result<(), String> {
    let mut files = std::collections::BTreeMap::new();
    for c in conditions {
        files.insert(
            format!("status/groups/{}.yaml", c.group),
            serde_saphyr::to_string(c).map_err(|e| e.to_string())?,
        );
    }
    if files.is_empty() || !source.has_git() {
        return Ok(());
    }
    let summary: Vec<String> = conditions
        .iter()
        .map(|c| format!("{}: {} ({})", c.group, c.state, c.reason))
        .collect();
    let message = format!("status: group conditions\n\n{}\n", summary.join("\n"));
    source.commit_status(repo, &files, message).map(|_| ())
}

/// What writing status needs from one `apply`: the hosts as scanned and
/// planned, the history the report cites, and where it all goes.
#[derive(Clone, Copy)]
pub struct StatusInputs<'a> {
    pub events: &'a Sink,
    pub source: &'a Source,
    pub repo: &'a Repository,
    pub plan: &'a crate::plan::Plan,
    pub scans: &'a [crate::facts::HostScan],
    pub history: &'a crate::plan::History,
    pub store: &'a dyn RunState,
}

/// Commits the group's host documents, the run and REPORT.md to the status
/// branch, and pushes them to `origin` when there is one.
pub async fn write_status(i: &StatusInputs<'_>, run: &RunRecord) -> Result<(), String> {
    let StatusInputs {
        events,
        source,
        repo,
        plan,
        scans,
        history,
        store,
    } = *i;
    use crate::source::StatusOutcome;
    let plans = plans_by_host(plan);
    let statuses: Vec<crate::status::HostStatus> = scans
        .iter()
        .map(|s| {
            let last = run.host(&s.host).map(|h| crate::status::LastRun {
                id: run.id.clone(),
                outcome: serde_json::to_value(&h.outcome)
                    .ok()
                    .and_then(|v| v["state"].as_str().map(String::from))
                    .unwrap_or_default(),
                changed: h
                    .after
                    .iter()
                    .filter_map(|(k, after)| {
                        let before = h.before.get(k)?;
                        (before != after).then(|| (k.clone(), format!("{before} → {after}")))
                    })
                    .collect(),
            });
            crate::status::host_status(s, plans.get(s.host.as_str()).copied(), last)
        })
        .collect();
    let runs = store.recent_runs(10).await.map_err(|e| e.to_string())?;
    let mut statuses = statuses;
    statuses.extend(blocking(|| others(source, repo, scans)));
    let report = crate::status::report::render(
        &statuses,
        &runs,
        Timestamp::now(),
        run.desired_commit.as_deref(),
        &|p, v| history.first_seen(p, v),
    )?;
    let group_hosts: Vec<crate::status::HostStatus> = statuses
        .into_iter()
        .filter(|h| h.group == run.group)
        .collect();
    let mut files = crate::status::files(&group_hosts, &[run], &report)?;
    files.insert(
        crate::status::first_seen::PATH.to_string(),
        crate::status::first_seen::render(&history.first_seen)?,
    );
    files.extend(stage_history_files(repo, &run.group, store).await?);
    let branch = repo.status_branch();
    let message = format!(
        "status: {} run {}: {}\n\nDesired state: {}\nTriggered by: {}{}\n",
        run.group,
        run.id,
        crate::status::report::outcome_word(&run.outcome),
        run.desired_commit
            .as_deref()
            .unwrap_or("(not a git checkout)"),
        run.trigger.by,
        run.trigger
            .emergency_reason
            .as_ref()
            .map(|r| format!("\nEmergency: {r}"))
            .unwrap_or_default(),
    );
    let out = source.commit_status(repo, &files, message)?;
    if let StatusOutcome::Committed { commit, pushed, .. } = out {
        events(&Event::StatusCommitted {
            commit,
            branch,
            pushed,
            changed: None,
        });
    }
    Ok(())
}

/// `status/history/<host>.yaml` for the group's hosts when the group is a
/// stage some baseline promotes from (other machines read them back).
async fn stage_history_files(
    repo: &Repository,
    group: &str,
    store: &dyn RunState,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let stage_hosts = crate::state::promotion_stage_hosts(repo);
    let mut files = std::collections::BTreeMap::new();
    let Some(g) = repo.group(group) else {
        return Ok(files);
    };
    for h in &g.spec.hosts {
        let name = h.name.value.as_str();
        if !stage_hosts.contains(&name) {
            continue;
        }
        if let Some(record) = store.host(name).await.map_err(|e| e.to_string())? {
            files.insert(
                crate::status::host_history::path(name),
                crate::status::host_history::render(&record)?,
            );
        }
    }
    Ok(files)
}
