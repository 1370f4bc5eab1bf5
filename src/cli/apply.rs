//! `patchwave apply`: scan, plan, then carry the plan out group by group, in
//! waves, inside maintenance windows. Exit 0: done (or nothing to do, or
//! outside windows); 3: a rollout halted; 1: error.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::{RepoArgs, SelectArgs, StateArgs};
use crate::exit::Exit;
use crate::facts::{HostFacts, ScanState};
use crate::plan::emergency::EmergencyAllowance;
use crate::plan::fleet::{GroupPlan, HostPlan};
use crate::plan::{PlanContext, Planner};
use crate::rollout::budget::ErrorBudget;
use crate::rollout::group::{self, Event, GroupRollout, WaveJobs};
use crate::rollout::host::{HostJob, HostSettings};
use crate::rollout::record::{
    EmergencyRecord, HostOutcome, HostRun, RUN_VERSION, RunKind, RunOutcome, RunRecord, Trigger,
    WaveRun,
};
use crate::rollout::template::{GroupScope, HostScope, PlanScope, RunScope, Scope};
use crate::scan::{FleetScanOptions, ScanTarget, targets};
use crate::schedule::{Calendar, WindowStatus};
use crate::spec::Repository;
use crate::spec::baseline::RebootPolicy;
use crate::spec::values;
use crate::state::{InstallAttempt, LocalState, RunState};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Emergency: start now, outside maintenance windows (needs --reason).
    #[arg(long, requires = "reason")]
    pub now: bool,
    /// Why this emergency run cannot wait; recorded with the run.
    #[arg(long, value_name = "TEXT", requires = "now")]
    pub reason: Option<String>,
    /// With --now: run even during a change freeze (deny window).
    #[arg(long, requires = "now")]
    pub break_freeze: bool,
    /// Start hosts again in a rollout that halted.
    #[arg(long)]
    pub resume: bool,
    /// With a remote `--repo` URL: the branch holding the desired state.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Do not commit status (hosts, run, REPORT.md) to the status branch.
    #[arg(long)]
    pub no_status: bool,
    /// text (progress lines), or json (one event per line, then the run records).
    #[arg(long, value_enum, default_value_t = ApplyFormat::Text)]
    pub format: ApplyFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyFormat {
    Text,
    Json,
}

/// Who is running this, for the record.
fn who() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{user}@{host}")
}

/// A line for people; in JSON mode the same text as a `note` event, so CI
/// sees why a group was not applied.
fn say(args: &Args, text: &str) {
    match args.format {
        ApplyFormat::Text => println!("{text}"),
        ApplyFormat::Json => println!("{}", serde_json::json!({"event": "note", "text": text})),
    }
}

/// Where the desired state comes from for this run.
pub(super) struct Source {
    /// The fleet repository's files.
    pub(super) policy_dir: std::path::PathBuf,
    /// The git repository status is committed to (and pushed from).
    pub(super) git_dir: std::path::PathBuf,
    /// The desired-state commit, where there is one.
    pub(super) commit: Option<String>,
    pub(super) remote: bool,
    /// A remote source's URL as given (it may carry credentials; it stays
    /// in memory, never in the mirror's config).
    pub(super) url: Option<String>,
    pub(super) signer: Option<String>,
    /// The desired-state branch (status never goes there).
    pub(super) desired_branch: Option<String>,
    /// Why the remote's newest commit was refused (the last good one is used).
    pub(super) refused: Option<String>,
}

impl Source {
    /// Commits `files` to the status branch of this source's git repository
    /// and pushes them to its `origin` (when it has one), with retries.
    fn commit_status(
        &self,
        repo: &Repository,
        files: &std::collections::BTreeMap<String, String>,
        message: String,
    ) -> Result<crate::source::StatusOutcome, String> {
        let remote = crate::source::default_remote(&self.git_dir);
        crate::source::write_status(&crate::source::StatusWrite {
            repo_dir: &self.git_dir,
            branch: &repo.status_branch(),
            files,
            message,
            remote: remote.as_deref(),
            remote_url: self.url.as_deref(),
            attempts: 5,
            before_push: None,
            desired_branch: self.desired_branch.as_deref(),
        })
        .map_err(|e| e.to_string())
    }
}

/// A local work tree as it is, or a remote branch synced into run state.
fn resolve_source(args: &Args) -> Result<Source, String> {
    let given = args.repo.repo.to_string_lossy().to_string();
    if !crate::source::is_remote(&given) {
        return Ok(Source {
            policy_dir: args.repo.repo.clone(),
            git_dir: args.repo.repo.clone(),
            commit: crate::source::head_commit(&args.repo.repo),
            desired_branch: crate::source::head_branch(&args.repo.repo),
            remote: false,
            url: None,
            signer: None,
            refused: None,
        });
    }
    let remote = super::remote_source(&given, &args.branch, args.state.state_dir.as_deref())?;
    let synced = remote.sync().map_err(|e| e.to_string())?;
    Ok(Source {
        policy_dir: synced.dir,
        git_dir: synced.git_dir,
        commit: Some(synced.commit),
        desired_branch: Some(args.branch.clone()),
        remote: true,
        url: Some(given.clone()),
        signer: synced.signer,
        refused: synced.refused,
    })
}

pub fn run(args: &Args) -> Exit {
    run_with(args, Arc::new(std::sync::atomic::AtomicBool::new(false))).0
}

/// `apply`, with a flag that stops new hosts from starting (the daemon sets
/// it on SIGTERM; hosts already running finish their steps).
/// Also returns the desired state it worked from (the daemon's metrics
/// report exactly that, without syncing again).
pub fn run_with(
    args: &Args,
    shutdown: Arc<std::sync::atomic::AtomicBool>,
) -> (Exit, Option<Source>) {
    if args.reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
        eprintln!("error: --reason must say why this cannot wait for a window");
        return (Exit::Error, None);
    }
    let source = match resolve_source(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return (Exit::Error, None);
        }
    };
    let exit = apply_source(args, shutdown, &source);
    (exit, Some(source))
}

fn apply_source(
    args: &Args,
    shutdown: Arc<std::sync::atomic::AtomicBool>,
    source: &Source,
) -> Exit {
    let root = source.policy_dir.as_path();
    let checked = match super::load_valid_repo(root) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let repo = &checked.repo;
    if let Err(exit) = super::check_selection(repo, &args.select) {
        return exit;
    }
    let store = match args.state.open(repo) {
        Ok(s) => Arc::new(s),
        Err(exit) => return exit,
    };
    if let Some(why) = &source.refused {
        eprintln!(
            "warning: {why}; working from the last good commit {}",
            source.commit.as_deref().map_or("", |c| &c[..12])
        );
    }
    if source.remote && !args.no_status {
        write_source_condition(source, repo);
    }
    // Signed desired state, when the Fleet asks for it: nothing is applied
    // from a commit that is unsigned, signed by an unknown key, or not what
    // the work tree holds. (A remote source was verified when it was synced.)
    // When the parent required signatures, its settings decide (format and
    // keys file alike): a commit cannot switch verification off, nor point
    // it at another key that happens to be in the repository. Otherwise the
    // commit's own settings (turning verification on).
    let required = match source.remote {
        true => None,
        false => crate::source::required_by_parent(root)
            .ok()
            .flatten()
            .or_else(|| crate::source::RequiredSignature::of(repo)),
    };
    if let Some(required) = required {
        match crate::source::verify_head(root, required.format, &required.allowed_signers) {
            Ok(ok) => say(
                args,
                &format!(
                    "desired state {} verified: signed by {}",
                    &ok.commit[..12],
                    ok.signer
                ),
            ),
            Err(e) => {
                eprintln!("error: refusing to apply: {e}");
                return Exit::Error;
            }
        }
    }
    if let (true, Some(signer)) = (source.remote, &source.signer) {
        say(
            args,
            &format!(
                "desired state {} verified: signed by {signer}",
                source.commit.as_deref().map_or("", |c| &c[..12])
            ),
        );
    }
    let all_targets = targets(
        repo,
        root,
        args.select.group.as_deref(),
        args.select.host.as_deref(),
    );
    if all_targets.is_empty() {
        eprintln!("error: no host matches (--group/--host)");
        return Exit::Error;
    }
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let scan_opts = FleetScanOptions::from_repo(repo);
    let facts = runtime.block_on(crate::scan::scan_fleet(
        all_targets.clone(),
        &scan_opts,
        |_| {},
    ));
    if let Err(e) = store.record_scan(&facts.hosts) {
        eprintln!("error: the scan was not recorded: {e}");
        return Exit::Error;
    }
    // Hosts that could not be scanned cannot be patched: say so before any
    // group reports "nothing to do" (their group's status says
    // HostsUnreachable).
    for h in &facts.hosts {
        match &h.state {
            ScanState::Unreachable { error } => say(
                args,
                &format!("host {}: unreachable, not patched: {error}", h.host),
            ),
            ScanState::Failed { error } => say(
                args,
                &format!("host {}: scan failed, not patched: {error}", h.host),
            ),
            ScanState::Scanned { .. } => {}
        }
    }
    let history = match super::history_with_status(store.as_ref(), repo, &source.git_dir) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Error;
        }
    };
    let calendar = Calendar::build(repo);
    let tz = repo.approval_timezone();
    let now = Timestamp::now();
    let context = PlanContext {
        repo,
        history: &history,
        calendar: &calendar,
        now,
        tz: &tz,
        only_group: args.select.group.as_deref(),
        only_host: args.select.host.as_deref(),
    };
    let mut planner = match Planner::new(context) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Error;
        }
    };
    for h in &facts.hosts {
        planner.add(h);
    }
    let plan = planner.finish();
    let host_facts: HashMap<&str, &HostFacts> = facts
        .hosts
        .iter()
        .filter_map(|h| match &h.state {
            ScanState::Scanned { facts } => Some((h.host.as_str(), facts.as_ref())),
            _ => None,
        })
        .collect();
    let by_name: HashMap<&str, &ScanTarget> =
        all_targets.iter().map(|t| (t.host.as_str(), t)).collect();

    let emergencies = emergency_records(repo, source, now);
    let mut exit = Exit::Ok;
    let mut conditions = Vec::new();
    let mut groups_with_runs = std::collections::HashSet::new();
    for g in &plan.groups {
        let (code, finished) = runtime.block_on(apply_group(
            args,
            repo,
            g,
            &calendar,
            &host_facts,
            &by_name,
            &scan_opts,
            store.clone(),
            source.commit.as_deref(),
            &emergencies,
            shutdown.clone(),
        ));
        exit = exit.worst(code);
        conditions.push(crate::status::condition::of_group(
            g,
            code == Exit::Error,
            code == Exit::Halted,
            finished.as_ref(),
        ));
        if let Some(run) = &finished {
            groups_with_runs.insert(run.group.clone());
        }
        if let Some(run) = finished
            && !args.no_status
        {
            // Status shows the hosts as they are now: rescan the group's
            // hosts (package database only) and plan them again.
            let group_targets: Vec<ScanTarget> = all_targets
                .iter()
                .filter(|t| t.group == run.group)
                .cloned()
                .collect();
            let mut quick = scan_opts.clone();
            quick.os.refresh = crate::os::Refresh::Never;
            let after = runtime.block_on(crate::scan::scan_fleet(group_targets, &quick, |_| {}));
            if let Err(e) = store.record_scan(&after.hosts) {
                eprintln!("warning: the rescan was not recorded: {e}");
            }
            let mut scans: Vec<crate::facts::HostScan> = facts
                .hosts
                .iter()
                .filter(|h| h.group != run.group)
                .cloned()
                .collect();
            scans.extend(after.hosts);
            let written = Planner::new(context)
                .map_err(|e| e.to_string())
                .and_then(|mut p| {
                    for h in &scans {
                        p.add(h);
                    }
                    let now_plan = p.finish();
                    write_status(
                        &StatusInputs {
                            args,
                            source,
                            repo,
                            plan: &now_plan,
                            scans: &scans,
                            history: &history,
                            store: store.as_ref(),
                        },
                        &run,
                    )
                });
            if let Err(e) = written {
                eprintln!("warning: status was not written to git: {e}");
            }
        }
    }
    if !args.no_status
        && let Err(e) = write_scan_status(
            &StatusInputs {
                args,
                source,
                repo,
                plan: &plan,
                scans: &facts.hosts,
                history: &history,
                store: store.as_ref(),
            },
            &groups_with_runs,
        )
    {
        eprintln!("warning: scan status was not written to git: {e}");
    }
    if !args.no_status
        && let Err(e) = write_conditions(source, repo, &conditions)
    {
        eprintln!("warning: group conditions were not written to git: {e}");
    }
    // A host that was never reached was never patched: the run is not a
    // success, whatever the other hosts did.
    let unreached: Vec<&str> = facts
        .hosts
        .iter()
        .filter(|h| !matches!(h.state, ScanState::Scanned { .. }))
        .map(|h| h.host.as_str())
        .collect();
    if !unreached.is_empty() {
        eprintln!(
            "error: {} targeted host{} could not be reached or scanned and {} not patched: {}",
            unreached.len(),
            if unreached.len() == 1 { "" } else { "s" },
            if unreached.len() == 1 { "was" } else { "were" },
            unreached.join(", ")
        );
        exit = exit.worst(Exit::Incomplete);
    }
    exit
}

/// The EmergencyChanges in force, as runs record them (with the commit
/// that added each, where the source is a git repository).
fn emergency_records(
    repo: &Repository,
    source: &Source,
    now: Timestamp,
) -> BTreeMap<String, EmergencyRecord> {
    crate::plan::emergency::in_force(repo, now)
        .into_iter()
        .map(|e| {
            // The commit that added this EmergencyChange (by kind and
            // name, in its file), not merely its file.
            let present = |text: &str| {
                crate::spec::load::load_text(e.file, text)
                    .emergencies
                    .iter()
                    .any(|x| x.name() == e.name)
            };
            // Origin paths start with the repository path as given.
            let file = e.file.strip_prefix(&source.policy_dir).unwrap_or(e.file);
            let added_in = source
                .commit
                .as_deref()
                .and_then(|c| crate::source::commit_adding(&source.git_dir, c, file, &present));
            (
                e.name.to_string(),
                EmergencyRecord {
                    name: e.name.to_string(),
                    reason: e.reason.to_string(),
                    expires: e.expires,
                    added_in,
                },
            )
        })
        .collect()
}

/// The hosts' plans by name.
fn plans_by_host(plan: &crate::plan::Plan) -> HashMap<&str, &HostPlan> {
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
fn write_scan_status(
    i: &StatusInputs<'_>,
    groups_with_runs: &std::collections::HashSet<String>,
) -> Result<(), String> {
    let StatusInputs {
        args,
        source,
        repo,
        plan,
        scans,
        history,
        store,
    } = *i;
    if crate::source::head_commit(&source.git_dir).is_none() && !source.remote {
        return Ok(());
    }
    let branch = repo.status_branch();
    let previous: HashMap<String, String> =
        crate::source::read_status_files(&source.git_dir, &branch, "status/hosts")
            .unwrap_or_default()
            .into_iter()
            .collect();
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
    let runs = store.recent_runs(10).map_err(|e| e.to_string())?;
    let desired = source.commit.as_deref();
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
    if let crate::source::StatusOutcome::Committed { commit, .. } =
        source.commit_status(repo, &files, message)?
    {
        say(
            args,
            &format!(
                "status: {changed} host(s) changed since the last status; committed {} on {branch}",
                &commit[..commit.len().min(12)]
            ),
        );
    }
    Ok(())
}

/// `status/groups/<group>.yaml`: each group's condition (Flux-style). No
/// timestamps, so an apply that changes nothing commits nothing.
fn write_conditions(
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
    if files.is_empty() || crate::source::head_commit(&source.git_dir).is_none() && !source.remote {
        return Ok(());
    }
    let summary: Vec<String> = conditions
        .iter()
        .map(|c| format!("{}: {} ({})", c.group, c.state, c.reason))
        .collect();
    source
        .commit_status(
            repo,
            &files,
            format!("status: group conditions\n\n{}\n", summary.join("\n")),
        )
        .map(|_| ())
}

/// What writing status needs from one `apply`: the hosts as scanned and
/// planned, the history the report cites, and where it all goes.
#[derive(Clone, Copy)]
struct StatusInputs<'a> {
    args: &'a Args,
    source: &'a Source,
    repo: &'a Repository,
    plan: &'a crate::plan::Plan,
    scans: &'a [crate::facts::HostScan],
    history: &'a crate::plan::History,
    store: &'a LocalState,
}

/// Commits the group's host documents, the run and REPORT.md to the status
/// branch, and pushes them to `origin` when there is one.
fn write_status(i: &StatusInputs<'_>, run: &RunRecord) -> Result<(), String> {
    let StatusInputs {
        args,
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
    let runs = store.recent_runs(10).map_err(|e| e.to_string())?;
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
    files.extend(stage_history_files(repo, &run.group, store)?);
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
        say(
            args,
            &format!(
                "status: committed {} on {branch}{}",
                &commit[..commit.len().min(12)],
                if pushed {
                    " and pushed"
                } else {
                    " (no remote to push to)"
                }
            ),
        );
    }
    Ok(())
}

/// `status/history/<host>.yaml` for the group's hosts when the group is a
/// stage some baseline promotes from (other machines read them back).
fn stage_history_files(
    repo: &Repository,
    group: &str,
    store: &LocalState,
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
        if let Some(record) = store.host(name).map_err(|e| e.to_string())? {
            files.insert(
                crate::status::host_history::path(name),
                crate::status::host_history::render(&record)?,
            );
        }
    }
    Ok(files)
}

#[allow(clippy::too_many_arguments)]
async fn apply_group(
    args: &Args,
    repo: &Repository,
    g: &GroupPlan,
    calendar: &Calendar,
    facts: &HashMap<&str, &HostFacts>,
    targets: &HashMap<&str, &ScanTarget>,
    scan_opts: &FleetScanOptions,
    store: Arc<LocalState>,
    desired_commit: Option<&str>,
    emergencies: &BTreeMap<String, EmergencyRecord>,
    shutdown: Arc<std::sync::atomic::AtomicBool>,
) -> (Exit, Option<RunRecord>) {
    let exit = |e: Exit| (e, None);
    let name = g.group.as_str();
    let Some(group) = repo.group(name) else {
        return exit(Exit::Error);
    };
    if g.suspended {
        say(
            args,
            &format!("group {name}: suspended (detect only); nothing applied"),
        );
        return exit(Exit::Ok);
    }
    let _lock = match store.lock_group(name) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(Exit::Error);
        }
    };
    let open = match store.open_run(name) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(Exit::Error);
        }
    };
    if let Some(r) = &open
        && let RunOutcome::Halted { reason } = &r.outcome
        && !args.resume
    {
        say(
            args,
            &format!(
                "group {name}: run {} halted ({reason}); no host starts until `apply --resume` (or a new desired state)",
                r.id
            ),
        );
        return exit(Exit::Halted);
    }
    let changes: usize = g.waves.iter().map(|w| w.hosts.len()).sum();
    if changes == 0 {
        if let Some(mut r) = open {
            settle_resumed_hosts(&mut r, g, facts, &settings_for(repo, group, g, scan_opts));
            let errors = r
                .waves
                .iter()
                .flat_map(|w| &w.hosts)
                .filter(|h| h.outcome.is_failure())
                .count();
            r.errors = errors;
            r.outcome = if errors == 0 {
                RunOutcome::Succeeded
            } else {
                RunOutcome::FinishedWithErrors { errors }
            };
            r.finished_at = Some(Timestamp::now());
            if let Err(e) = store.save_run(&r) {
                eprintln!("error: {e}");
                return exit(Exit::Error);
            }
        }
        say(args, &format!("group {name}: nothing to do"));
        return exit(Exit::Ok);
    }
    // The window decides, unless this is an emergency run: a person's
    // (`--now --reason`) or a committed EmergencyChange's.
    let now = Timestamp::now();
    let freeze = calendar.freeze_at(name, now);
    let frozen = freeze.is_some();
    let by_change: Vec<&EmergencyAllowance> = g
        .emergency
        .iter()
        .filter(|e| now < e.until && (!frozen || e.break_freeze))
        .collect();
    let (start_until, emergency) = match (&g.window, args.now) {
        (WindowStatus::Open { start_until, .. }, false) => (Some(*start_until), false),
        (_, true) => {
            if let Some((deny, until)) = &freeze
                && !args.break_freeze
            {
                say(
                    args,
                    &format!(
                        "group {name}: change freeze `{deny}` until {until}; an emergency run needs --break-freeze as well"
                    ),
                );
                return exit(Exit::Ok);
            }
            (None, true)
        }
        (_, false) if !by_change.is_empty() => {
            let until = by_change.iter().map(|e| e.until).max();
            let names: Vec<&str> = by_change.iter().map(|e| e.name.as_str()).collect();
            say(
                args,
                &format!(
                    "group {name}: outside its windows, allowed by EmergencyChange {} until {}",
                    names.join(", "),
                    until.map_or(String::new(), |t| t.to_string())
                ),
            );
            (until, false)
        }
        (
            WindowStatus::Denied {
                deny_window,
                until,
                next_start,
            },
            false,
        ) => {
            say(
                args,
                &format!(
                    "group {name}: frozen by `{deny_window}` until {until}; nothing applied; next start {}{}",
                    next_start.map_or("none scheduled".into(), |t| t.to_string()),
                    if g.emergency.is_empty() {
                        ""
                    } else {
                        " (an EmergencyChange covers it, but without `breakFreeze: true`)"
                    }
                ),
            );
            return exit(Exit::Ok);
        }
        (WindowStatus::Closed { next_start }, false) => {
            say(
                args,
                &format!(
                    "group {name}: outside maintenance windows; nothing applied; next window opens {}",
                    next_start.map_or("never (none scheduled)".into(), |t| t.to_string())
                ),
            );
            return exit(Exit::Ok);
        }
    };
    // Outside the windows by an EmergencyChange, only the hosts it covers start.
    let outside_windows = !matches!(g.window, WindowStatus::Open { .. }) && !emergency;
    let may_start =
        |host: &str| !outside_windows || by_change.iter().any(|e| e.lets_start(host, frozen));
    if outside_windows
        && !g
            .waves
            .iter()
            .flat_map(|w| &w.hosts)
            .any(|h| may_start(&h.host))
    {
        say(
            args,
            &format!(
                "group {name}: no host with changes is covered by the EmergencyChange; nothing applied outside the windows"
            ),
        );
        return exit(Exit::Ok);
    }
    let used: Vec<EmergencyRecord> = emergencies
        .iter()
        .filter(|(n, _)| {
            (outside_windows && by_change.iter().any(|e| e.name == **n))
                || g.waves.iter().flat_map(|w| &w.hosts).any(|h| {
                    may_start(&h.host)
                        && h.desired.install.iter().any(|p| {
                            p.decision.reason == format!("approved by EmergencyChange `{n}`")
                        })
                })
        })
        .map(|(_, r)| r.clone())
        .collect();
    let Some(rollout) = repo.rollouts.iter().find(|r| r.name() == g.rollout) else {
        return exit(Exit::Error);
    };
    let settings = settings_for(repo, group, g, scan_opts);
    let settings = settings.with_journal(store.as_ref());

    let mut record = match open {
        Some(r) => {
            say(args, &format!("group {name}: resuming run {}", r.id));
            r
        }
        None => RunRecord {
            version: RUN_VERSION,
            kind: RunKind::Apply,
            id: new_run_id(store.as_ref(), now, name),
            group: name.to_string(),
            started_at: now,
            finished_at: None,
            trigger: Trigger {
                by: who(),
                emergency_reason: None,
                freeze_overridden: None,
                emergency_changes: Vec::new(),
            },
            desired_commit: desired_commit.map(String::from),
            outcome: RunOutcome::Running,
            max_errors: 0,
            errors: 0,
            waves: Vec::new(),
        },
    };
    if emergency {
        record.trigger.emergency_reason = args.reason.clone();
        record.trigger.freeze_overridden = freeze.map(|(d, _)| d);
    } else if outside_windows {
        record.trigger.freeze_overridden = freeze.map(|(d, _)| d);
    }
    for e in used {
        if !record.trigger.emergency_changes.contains(&e) {
            record.trigger.emergency_changes.push(e);
        }
    }
    let hosts_in_plan: usize = changes
        + record
            .waves
            .iter()
            .flat_map(|w| &w.hosts)
            .filter(|h| {
                !g.waves
                    .iter()
                    .flat_map(|w| &w.hosts)
                    .any(|p| p.host == h.host)
            })
            .count();
    let mut budget = ErrorBudget::new(
        rollout.spec.max_errors.as_ref().map(|m| &m.value),
        hosts_in_plan,
    );
    // A killed run resumes with its errors; `--resume` starts a fresh budget
    // (the operator looked at the errors and chose to go on).
    if !args.resume {
        for h in record.waves.iter().flat_map(|w| &w.hosts) {
            if h.outcome.is_failure() {
                budget.fail(&h.host);
            }
        }
    }
    record.max_errors = budget.max();
    record.errors = budget.errors();
    if args.resume {
        record.outcome = RunOutcome::Running;
    }

    let labels: HashMap<String, BTreeMap<String, String>> = group
        .spec
        .hosts
        .iter()
        .map(|h| (h.name.value.clone(), h.labels.clone()))
        .collect();
    let mut waves = Vec::new();
    for w in &g.waves {
        let mut jobs = Vec::new();
        for hp in w.hosts.iter().filter(|h| may_start(&h.host)) {
            let (Some(t), Some(f)) = (targets.get(hp.host.as_str()), facts.get(hp.host.as_str()))
            else {
                continue;
            };
            let job = host_job(hp, t, f, group, &record.id, w.number);
            // The record: the host's entry (kept if a resumed run has it), now pending again.
            match record.host_mut(&hp.host) {
                Some(h) => {
                    // A resumed run: hosts that failed stay failed (and are
                    // not started again) unless the operator said --resume.
                    let retry = match &h.outcome {
                        HostOutcome::Failed { .. } | HostOutcome::RolledBack { .. } => args.resume,
                        HostOutcome::Patched => false,
                        _ => true,
                    };
                    if retry {
                        h.outcome = HostOutcome::Pending;
                    }
                    // The first recorded version stays the rollback target.
                    for (k, v) in &job.before {
                        h.before.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    h.planned.extend(job.planned.clone());
                }
                None => {
                    let run = HostRun {
                        host: hp.host.clone(),
                        outcome: HostOutcome::Pending,
                        before: job.before.clone(),
                        planned: job.planned.clone(),
                        after: BTreeMap::new(),
                        steps: Vec::new(),
                    };
                    match record.waves.iter_mut().find(|x| x.number == w.number) {
                        Some(x) => x.hosts.push(run),
                        None => record.waves.push(WaveRun {
                            number: w.number,
                            hosts: vec![run],
                        }),
                    }
                }
            }
            jobs.push(job);
        }
        waves.push(WaveJobs {
            number: w.number,
            soak: w.soak.as_ref().and_then(|s| values::parse_duration(s).ok()),
            hosts: jobs,
        });
    }
    record.waves.sort_by_key(|w| w.number);
    settle_resumed_hosts(&mut record, g, facts, &settings);
    let plan_hosts = changes;
    let max_concurrency = rollout
        .spec
        .max_concurrency
        .as_ref()
        .map_or(plan_hosts, |m| m.value.of(plan_hosts))
        .max(1);
    let rollout_job = GroupRollout {
        group: name.to_string(),
        waves,
        settings,
        max_concurrency,
        on_failure: rollout.spec.on_failure,
        rollback_whole_wave: rollout.spec.rollback_whole_wave,
        one_at_a_time: rollout
            .spec
            .one_at_a_time
            .iter()
            .map(|k| k.value.clone())
            .collect(),
        labels,
        start_until,
        budget,
        shutdown,
    };
    say(
        args,
        &format!(
            "group {name}: run {} — {changes} host(s) in {} wave(s){}",
            record.id,
            g.waves.len(),
            if emergency {
                format!(
                    " (emergency, outside windows: {})",
                    args.reason.as_deref().unwrap_or("")
                )
            } else {
                String::new()
            }
        ),
    );
    let json = args.format == ApplyFormat::Json;
    let events: Arc<dyn Fn(&Event) + Send + Sync> = Arc::new(move |e: &Event| {
        if json {
            if let Ok(line) = serde_json::to_string(e) {
                println!("{line}");
            }
        } else {
            println!("{}", event_line(e));
        }
    });
    let state: Arc<dyn RunState> = store.clone();
    let finished = group::run(rollout_job, record, state, events).await;
    let done = finished.record;
    for h in done.waves.iter().flat_map(|w| &w.hosts) {
        let outcome = match &h.outcome {
            HostOutcome::Patched => Ok(()),
            HostOutcome::Failed {
                step: crate::rollout::record::Step::Install,
                error,
            }
            | HostOutcome::RolledBack {
                step: crate::rollout::record::Step::Install,
                error,
            } => Err(error.as_str()),
            _ => continue,
        };
        for (key, version) in &h.planned {
            let (package, arch) = key.rsplit_once(':').unwrap_or((key.as_str(), ""));
            let attempt = InstallAttempt {
                host: &h.host,
                package,
                arch,
                version,
                at: done.finished_at.unwrap_or(now),
                outcome,
            };
            if let Err(e) = store.record_install(&attempt) {
                eprintln!("error: {e}");
            }
        }
    }
    if json {
        if let Ok(line) =
            serde_json::to_string(&serde_json::json!({"event": "runFinished", "run": done}))
        {
            println!("{line}");
        }
    } else {
        println!("{}", summary_line(&done));
    }
    if let Some(e) = finished.save_error {
        eprintln!("error: the run record could not be saved ({e}); no further host was started");
        return exit(Exit::Error);
    }
    let code = match done.outcome {
        RunOutcome::Halted { .. } => Exit::Halted,
        _ => Exit::Ok,
    };
    (code, Some(done))
}

/// `status/SOURCE.yaml`: which commit patchwave works from and, when the
/// newest was refused, why (Flux's `SourceUnverified` / `InvalidSpec`). It
/// changes only when that changes, so polling adds no commits.
fn write_source_condition(source: &Source, repo: &Repository) {
    let doc = match &source.refused {
        Some(why) => serde_json::json!({
            "condition": if why.contains("not a valid fleet repository") { "InvalidSpec" } else { "SourceUnverified" },
            "workingFrom": source.commit,
            "reason": why,
        }),
        None => serde_json::json!({"condition": "Ready", "workingFrom": source.commit}),
    };
    let Ok(text) = serde_saphyr::to_string(&doc) else {
        return;
    };
    let files = [("status/SOURCE.yaml".to_string(), text)]
        .into_iter()
        .collect();
    let message = match &source.refused {
        Some(why) => format!("status: desired state refused\n\n{why}\n"),
        None => format!(
            "status: desired state {}\n",
            source.commit.as_deref().unwrap_or("")
        ),
    };
    if let Err(e) = source.commit_status(repo, &files, message) {
        eprintln!("warning: the source condition was not written to git: {e}");
    }
}

/// How the group's hosts are changed: hooks, health checks, reboot policy, bounds.
fn settings_for(
    repo: &Repository,
    group: &crate::spec::Resource<crate::spec::host_group::HostGroupSpec>,
    g: &GroupPlan,
    scan_opts: &FleetScanOptions,
) -> HostSettings {
    let reboot = repo
        .baselines
        .iter()
        .find(|b| b.name() == g.baseline)
        .map(|b| b.spec.reboot)
        .unwrap_or_default();
    let reboot_timeout = repo
        .fleets
        .first()
        .and_then(|f| f.spec.apply.as_ref())
        .and_then(|a| a.reboot_timeout.as_ref())
        .and_then(|t| values::parse_duration(t).ok())
        .unwrap_or(Duration::from_secs(600));
    HostSettings {
        scan: scan_opts.clone(),
        install_timeout: Duration::from_secs(1800),
        reboot_timeout,
        reboot,
        hooks: group.spec.hooks.clone(),
        health: group.spec.health_checks.clone(),
        safety: crate::rollout::safety::InstallSafety::for_baseline(repo, &g.baseline),
    }
}

/// A resumed run's hosts that the new plan no longer lists (the run was
/// killed after their install, before the record said how they ended). The
/// rescan shows their versions, the journal their steps: at the planned
/// versions with every later step done they are patched (never installed
/// twice); a failed step, or steps that never ran (reboot, health, post
/// hook), make them failed, counted against the budget.
fn settle_resumed_hosts(
    record: &mut RunRecord,
    g: &GroupPlan,
    facts: &HashMap<&str, &HostFacts>,
    settings: &HostSettings,
) {
    use crate::rollout::record::Step;
    let in_plan: std::collections::HashSet<&str> = g
        .waves
        .iter()
        .flat_map(|w| &w.hosts)
        .map(|h| h.host.as_str())
        .collect();
    for h in record.waves.iter_mut().flat_map(|w| w.hosts.iter_mut()) {
        if in_plan.contains(h.host.as_str())
            || !matches!(h.outcome, HostOutcome::InProgress | HostOutcome::Pending)
        {
            continue;
        }
        let Some(f) = facts.get(h.host.as_str()) else {
            h.outcome = HostOutcome::Skipped {
                reason: "could not be rescanned when the run resumed".into(),
            };
            continue;
        };
        let now: BTreeMap<String, String> = f
            .installed
            .iter()
            .map(|p| (format!("{}:{}", p.name, p.arch), p.version.clone()))
            .filter(|(k, _)| h.planned.contains_key(k))
            .collect();
        h.after = now.clone();
        if now != h.planned {
            h.outcome = HostOutcome::Skipped {
                reason: "no longer in the plan when the run resumed".into(),
            };
            continue;
        }
        if let Some(failed) = h.steps.iter().rev().find(|s| !s.ok) {
            h.outcome = HostOutcome::Failed {
                step: failed.step,
                error: failed.output.clone(),
            };
            continue;
        }
        let done = |step: Step| h.steps.iter().any(|s| s.step == step && s.ok);
        let reboot_due = match settings.reboot {
            RebootPolicy::Never => false,
            RebootPolicy::Always => true,
            RebootPolicy::IfRequired => f.reboot_required,
        };
        let missing = [
            (Step::Reboot, reboot_due),
            (Step::Health, !settings.health.is_empty()),
            (Step::Post, !settings.hooks.post.is_empty()),
        ]
        .into_iter()
        .find(|(step, needed)| *needed && !done(*step));
        h.outcome = match missing {
            None => HostOutcome::Patched,
            Some((step, _)) => HostOutcome::Failed {
                step,
                error: format!(
                    "the run was stopped after the install; the {} step never ran: check the host",
                    step.as_str()
                ),
            },
        };
    }
}

/// A run id that no record has yet: time to the millisecond, then the group.
fn new_run_id(store: &LocalState, now: Timestamp, group: &str) -> String {
    let base = format!("{}-{group}", now.strftime("%Y%m%dT%H%M%S%.3fZ"));
    let mut id = base.clone();
    let mut n = 2;
    while matches!(store.load_run(&id), Ok(Some(_))) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

fn host_job(
    hp: &HostPlan,
    target: &ScanTarget,
    facts: &HostFacts,
    group: &crate::spec::Resource<crate::spec::host_group::HostGroupSpec>,
    run_id: &str,
    wave: usize,
) -> HostJob {
    let key = |n: &str, a: &str| format!("{n}:{a}");
    let before: BTreeMap<String, String> = hp
        .desired
        .install
        .iter()
        .map(|p| (key(&p.name, &p.arch), p.from.clone()))
        .collect();
    let planned: BTreeMap<String, String> = hp
        .desired
        .install
        .iter()
        .map(|p| (key(&p.name, &p.arch), p.to.clone()))
        .collect();
    let labels = group
        .spec
        .hosts
        .iter()
        .find(|h| h.name.value == hp.host)
        .map(|h| h.labels.clone())
        .unwrap_or_default();
    HostJob {
        target: target.clone(),
        package_manager: facts.package_manager,
        scope: Scope {
            host: HostScope {
                name: hp.host.clone(),
                address: target.address.clone(),
                labels,
            },
            group: GroupScope {
                name: group.name().to_string(),
                labels: group.metadata.labels.clone(),
            },
            run: RunScope {
                id: run_id.to_string(),
                wave,
            },
            plan: PlanScope {
                packages: hp
                    .desired
                    .install
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.to))
                    .collect(),
                reboot: hp.desired.reboot_expected,
            },
        },
        before,
        planned,
    }
}

fn event_line(e: &Event) -> String {
    match e {
        Event::WaveStarted { group, wave, hosts } => {
            format!(
                "{group}: wave {wave} ({hosts} host{})",
                if *hosts == 1 { "" } else { "s" }
            )
        }
        Event::HostStarted { group, host, .. } => format!("{group}/{host}: started"),
        Event::Step {
            group,
            host,
            record,
        } => format!(
            "{group}/{host}: {} {} ({} ms){}",
            record.step.as_str(),
            if record.ok { "ok" } else { "FAILED" },
            record.duration_ms,
            if record.output.is_empty() || record.ok {
                String::new()
            } else {
                format!(": {}", super::style::printable(&record.output))
            }
        ),
        Event::HostFinished {
            group,
            host,
            outcome,
        } => format!(
            "{group}/{host}: {}",
            match outcome {
                HostOutcome::Patched => "patched".to_string(),
                HostOutcome::Failed { step, .. } => format!("failed at {}", step.as_str()),
                HostOutcome::RolledBack { .. } => "rolled back".into(),
                other => format!("{other:?}"),
            }
        ),
        Event::Soak {
            group,
            wave,
            seconds,
        } => {
            format!("{group}: soaking {seconds}s after wave {wave}")
        }
        Event::Halted { group, reason } => format!("{group}: HALTED: {reason}"),
    }
}

fn summary_line(r: &RunRecord) -> String {
    let hosts: Vec<&HostRun> = r.waves.iter().flat_map(|w| &w.hosts).collect();
    let count = |f: &dyn Fn(&HostOutcome) -> bool| hosts.iter().filter(|h| f(&h.outcome)).count();
    let outcome = match &r.outcome {
        RunOutcome::Succeeded => "succeeded".to_string(),
        RunOutcome::FinishedWithErrors { errors } => {
            format!("finished with {errors} error(s) within the budget")
        }
        RunOutcome::Halted { reason } => format!("HALTED ({reason})"),
        RunOutcome::Stopped { reason } => format!("stopped ({reason})"),
        RunOutcome::Running => "running".into(),
    };
    format!(
        "{}: run {} {outcome}: {} patched, {} failed, {} rolled back, {} not started; errors {}/{} allowed",
        r.group,
        r.id,
        count(&|o| matches!(o, HostOutcome::Patched)),
        count(&|o| matches!(o, HostOutcome::Failed { .. })),
        count(&|o| matches!(o, HostOutcome::RolledBack { .. })),
        count(&|o| matches!(o, HostOutcome::Skipped { .. } | HostOutcome::Pending)),
        r.errors,
        r.max_errors
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{InstalledPackage, OsInfo, PackageManager};
    use crate::rollout::record::{Step, StepRecord};
    use crate::spec::host_group::HealthCheckSpec;

    fn step(step: Step, ok: bool) -> StepRecord {
        StepRecord {
            step,
            started_at: "2026-11-23T06:00:00Z".parse().unwrap(),
            duration_ms: 1,
            ok,
            output: if ok { String::new() } else { "boom".into() },
        }
    }

    /// One host, killed mid-run with `steps` journaled, now at `version`.
    fn settle(steps: Vec<StepRecord>, version: &str, health: bool) -> HostOutcome {
        let mut record = RunRecord {
            version: RUN_VERSION,
            id: "r".into(),
            kind: RunKind::Apply,
            group: "g".into(),
            started_at: "2026-11-23T06:00:00Z".parse().unwrap(),
            finished_at: None,
            trigger: Trigger {
                by: "t".into(),
                emergency_reason: None,
                freeze_overridden: None,
                emergency_changes: Vec::new(),
            },
            desired_commit: None,
            outcome: RunOutcome::Running,
            max_errors: 0,
            errors: 0,
            waves: vec![WaveRun {
                number: 1,
                hosts: vec![HostRun {
                    host: "h1".into(),
                    outcome: HostOutcome::InProgress,
                    before: [("vim:amd64".to_string(), "1".to_string())].into(),
                    planned: [("vim:amd64".to_string(), "2".to_string())].into(),
                    after: BTreeMap::new(),
                    steps,
                }],
            }],
        };
        let plan = GroupPlan {
            group: "g".into(),
            baseline: "b".into(),
            rollout: "r".into(),
            suspended: false,
            window: WindowStatus::Closed { next_start: None },
            waves: vec![],
            unchanged: vec![],
            unknown: vec![],
            emergency: vec![],
        };
        let facts = HostFacts {
            os: OsInfo::default(),
            package_manager: PackageManager::Apt,
            kernel: String::new(),
            boot_id: String::new(),
            installed: vec![InstalledPackage {
                name: "vim".into(),
                arch: "amd64".into(),
                version: version.into(),
                held: false,
            }],
            updates: vec![],
            reboot_required: false,
            reboot_required_by: vec![],
            rejected_lines: vec![],
        };
        let check: HealthCheckSpec = serde_saphyr::from_str("{name: up, command: [true]}").unwrap();
        let settings = HostSettings {
            scan: FleetScanOptions::default(),
            install_timeout: Duration::from_secs(1),
            reboot_timeout: Duration::from_secs(1),
            reboot: RebootPolicy::IfRequired,
            hooks: Default::default(),
            health: if health { vec![check] } else { vec![] },
            safety: Default::default(),
        };
        settle_resumed_hosts(&mut record, &plan, &[("h1", &facts)].into(), &settings);
        record.waves[0].hosts[0].outcome.clone()
    }

    #[test]
    fn a_killed_hosts_outcome_comes_from_its_versions_and_its_journaled_steps() {
        let installed = vec![step(Step::Connect, true), step(Step::Install, true)];
        // At the planned version, nothing left to run: patched, not installed again.
        assert_eq!(settle(installed.clone(), "2", false), HostOutcome::Patched);
        // Health checks never ran: failed at health, counted.
        assert!(matches!(
            settle(installed.clone(), "2", true),
            HostOutcome::Failed {
                step: Step::Health,
                ..
            }
        ));
        // A journaled failure stays a failure.
        assert!(matches!(
            settle(
                vec![
                    step(Step::Connect, true),
                    step(Step::Install, true),
                    step(Step::Verify, false)
                ],
                "2",
                false
            ),
            HostOutcome::Failed {
                step: Step::Verify,
                ..
            }
        ));
        // Not at the planned version: not counted as patched.
        assert!(matches!(
            settle(installed, "1", false),
            HostOutcome::Skipped { .. }
        ));
    }
}
