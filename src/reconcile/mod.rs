//! The reconcile engine: given the desired state (a verified source
//! revision and its validated policy), run state and an event sink, it
//! reconciles the fleet one group at a time and returns a typed outcome.
//! `patchwave apply` and the daemon both call it; nothing here knows clap,
//! and nothing prints: what happens goes to the [`event::Sink`].

pub mod event;
pub mod group;
pub mod jobs;
pub mod observe;
pub mod pass;
pub mod source;
pub mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use jiff::Timestamp;

use crate::exit::Exit;
use crate::facts::{HostFacts, ScanState};
use crate::plan::{PlanContext, Planner};
use crate::scan::{FleetScanOptions, ScanTarget, targets};
use crate::schedule::Calendar;
use crate::spec::Repository;
use crate::state::{LocalState, RunState};
use event::{Event, Sink};
use group::{GroupInputs, reconcile_group};
use jobs::emergency_records;
pub use source::Source;
use status::{StatusInputs, write_conditions, write_scan_status, write_status};
use tracing::Instrument;

/// This process's instance id (six hex digits, random per start): run ids
/// carry it, so two replicas (or a CLI and a daemon) starting a run of the
/// same group in the same millisecond never pick the same id.
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let mut b = [0u8; 3];
        // Without randomness the pid still tells processes apart on one machine.
        if getrandom::fill(&mut b).is_err() {
            b = (std::process::id() & 0xff_ffff).to_be_bytes()[1..]
                .try_into()
                .unwrap_or([0; 3]);
        }
        hex::encode(b)
    })
}

/// Hosts patched at once across groups when the Fleet sets no
/// `apply.concurrency` (as its schema documents).
pub const DEFAULT_HOST_CONCURRENCY: usize = 16;

/// How a reconcile may act, beyond what the desired state says.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only this group / this host.
    pub group: Option<String>,
    pub host: Option<String>,
    /// A person's emergency run (`apply --emergency --reason`): start outside
    /// the windows.
    pub emergency: Option<ManualEmergency>,
    /// Start hosts again in a rollout that halted (a fresh error budget).
    pub resume: bool,
    /// Commit status to the status branch.
    pub write_status: bool,
    /// Who triggered it, for the run record (`user@machine`, `daemon`).
    pub by: String,
    /// Shared fleet-wide host permits (the daemon's, across passes); else
    /// each pass makes its own from the Fleet's `apply.concurrency`.
    pub host_permits: Option<Arc<tokio::sync::Semaphore>>,
}

/// `apply --emergency --reason "…" [--break-freeze]`.
#[derive(Debug, Clone)]
pub struct ManualEmergency {
    pub reason: String,
    pub break_freeze: bool,
}

/// The planner's history: run state, plus what the status branch shares
/// (when the fleet repository is a git checkout that has one): first
/// sightings (the earlier date wins) and the records of promotion-stage
/// hosts (the later scan wins). A CI runner or a second replica then counts
/// `approveAfterDays` and judges `promotion` like the machine that scanned
/// and patched. Unreadable shared files are warnings.
pub async fn history_with_status(
    store: &dyn RunState,
    repo: &Repository,
    git_dir: &std::path::Path,
    events: &Sink,
) -> Result<crate::plan::History, String> {
    use crate::status::{first_seen, host_history};
    let branch = repo.status_branch();
    let read = |dir: &str| {
        crate::blocking::blocking(|| crate::source::read_status_files(git_dir, &branch, dir).ok())
    };
    let warn = |message: String| events(&Event::Warning { message });
    let stage_hosts = crate::state::promotion_stage_hosts(repo);
    let mut shared = HashMap::new();
    if !stage_hosts.is_empty() {
        for (path, text) in read(host_history::DIR).unwrap_or_default() {
            if !stage_hosts.iter().any(|h| path == host_history::path(h)) {
                continue;
            }
            match host_history::parse(&path, &text) {
                Ok(r) => {
                    shared.insert(r.host.clone(), r);
                }
                Err(e) => warn(e.to_string()),
            }
        }
    }
    let mut history = crate::state::load_history_with(store, repo, &shared)
        .await
        .map_err(|e| e.to_string())?;
    for (path, text) in read("status").unwrap_or_default() {
        if path == first_seen::PATH
            && let Err(e) = first_seen::merge(&text, &mut history.first_seen)
        {
            warn(e.to_string());
        }
    }
    Ok(history)
}

/// Where signed commits are required, and the ways forward: sign with an
/// allowed key, or (to try patchwave) switch the requirement off there.
fn signing_hint(
    repo: &Repository,
    root: &std::path::Path,
    required: &crate::source::RequiredSignature,
) -> String {
    let at = repo
        .fleets
        .first()
        .and_then(|f| {
            let v = f.spec.verification.as_ref()?;
            let file = f.origin.file.strip_prefix(root).unwrap_or(&f.origin.file);
            Some(format!("{}:{}", file.display(), v.allowed_signers.pos))
        })
        .unwrap_or_else(|| "the Fleet of the parent commit".into());
    format!(
        "signed commits are required by {at} (`verification`); sign the commit (`git commit -S`) with a key listed in `{}`, or set `requireSignedCommits: false` there (in a commit of its own) to apply unsigned commits",
        required.allowed_signers
    )
}

/// One pass over the fleet, as `apply` makes it: verify the desired state,
/// scan the targeted hosts, plan, reconcile every group, commit status.
/// `repo` is the validated desired state of `source`; the selection in
/// `options` names groups and hosts that exist.
pub async fn reconcile_fleet(
    source: &Source,
    repo: &Repository,
    store: Arc<LocalState>,
    options: &Options,
    events: &Sink,
    shutdown: Arc<AtomicBool>,
) -> Exit {
    let root = source.policy_dir.as_path();
    let error = |message: String| {
        events(&Event::Error { message });
        Exit::Error
    };
    if let Some(why) = &source.refused {
        events(&Event::SourceRefused {
            reason: why.clone(),
            working_from: source.commit.clone(),
        });
    }
    if source.remote && options.write_status {
        source.write_condition(repo, events);
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
            Ok(ok) => events(&Event::Verified {
                commit: ok.commit,
                signer: ok.signer,
            }),
            Err(e) => {
                return error(format!(
                    "refusing to apply: {e}\n  hint: {}",
                    signing_hint(repo, root, &required)
                ));
            }
        }
    }
    if let (true, Some(signer)) = (source.remote, &source.signer) {
        events(&Event::Verified {
            commit: source.commit.clone().unwrap_or_default(),
            signer: signer.clone(),
        });
    }
    let all_targets = targets(
        repo,
        root,
        options.group.as_deref(),
        options.host.as_deref(),
    );
    if all_targets.is_empty() {
        return error("no host matches (--group/--host)".into());
    }
    let scan_opts = FleetScanOptions::from_repo(repo);
    let facts = crate::scan::scan_fleet(all_targets.clone(), &scan_opts, |_| {}).await;
    if let Err(e) = store.record_scan(&facts.hosts).await {
        return error(format!("the scan was not recorded: {e}"));
    }
    // Hosts that could not be scanned cannot be patched: say so before any
    // group reports "nothing to do" (their group's status says
    // HostsUnreachable).
    for h in &facts.hosts {
        let (state, error) = match &h.state {
            ScanState::Unreachable { error } => ("unreachable", error),
            ScanState::Failed { error } => ("failed", error),
            ScanState::Scanned { .. } => continue,
        };
        events(&Event::HostNotScanned {
            group: h.group.clone(),
            host: h.host.clone(),
            state,
            error: error.clone(),
        });
    }
    let history = match history_with_status(store.as_ref(), repo, &source.git_dir, events).await {
        Ok(h) => h,
        Err(e) => return error(e),
    };
    let calendar = Calendar::build(repo);
    let tz = repo.approval_timezone();
    // Files and downloads: off the async threads.
    let (vulns, vuln_warnings) = crate::blocking::blocking(|| {
        crate::vuln::load::load(&source.policy_dir, repo, store.as_ref(), Timestamp::now())
    });
    for message in vuln_warnings {
        events(&Event::Warning { message });
    }
    let now = Timestamp::now();
    let context = PlanContext {
        repo,
        history: &history,
        calendar: &calendar,
        now,
        tz: &tz,
        only_group: options.group.as_deref(),
        only_host: options.host.as_deref(),
        vulns: &vulns,
    };
    let mut planner = match Planner::new(context) {
        Ok(p) => p,
        Err(e) => return error(e),
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

    let emergencies = crate::blocking::blocking(|| emergency_records(repo, source, now));
    let mut exit = Exit::Ok;
    let mut conditions = Vec::new();
    let mut groups_with_runs = std::collections::HashSet::new();
    // Hosts patched at once, fleet-wide (the Fleet's `apply.concurrency`).
    let host_permits = options.host_permits.clone().unwrap_or_else(|| {
        let n = repo
            .fleets
            .first()
            .and_then(|f| f.spec.apply.as_ref())
            .and_then(|a| a.concurrency.as_ref())
            .map_or(DEFAULT_HOST_CONCURRENCY, |c| c.value as usize);
        Arc::new(tokio::sync::Semaphore::new(n.max(1)))
    });
    let inputs = GroupInputs {
        repo,
        calendar: &calendar,
        facts: &host_facts,
        targets: &by_name,
        scan_opts: &scan_opts,
        store: &store,
        desired_commit: source.commit.as_deref(),
        emergencies: &emergencies,
        shutdown: &shutdown,
        host_permits: &host_permits,
        options,
        events,
    };
    // Groups roll out together (bounded by the fleet-wide host permits);
    // each one's status is written when it ends.
    let passes = plan.groups.iter().map(|g| {
        let span = tracing::info_span!(
            "group",
            group = %g.group,
            run = tracing::field::Empty,
            commit = source.commit.as_deref().map_or("", |c| &c[..c.len().min(12)])
        );
        let inputs = &inputs;
        let all_targets = &all_targets;
        let scan_opts = &scan_opts;
        let facts = &facts;
        let history = &history;
        let store = &store;
        async move {
            let (code, finished) = reconcile_group(inputs, g).await;
            if let Some(run) = &finished
                && options.write_status
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
                let after = crate::scan::scan_fleet(group_targets, &quick, |_| {}).await;
                if let Err(e) = store.record_scan(&after.hosts).await {
                    events(&Event::Warning {
                        message: format!("the rescan was not recorded: {e}"),
                    });
                }
                let mut scans: Vec<crate::facts::HostScan> = facts
                    .hosts
                    .iter()
                    .filter(|h| h.group != run.group)
                    .cloned()
                    .collect();
                scans.extend(after.hosts);
                let written = match Planner::new(context) {
                    Ok(mut p) => {
                        for h in &scans {
                            p.add(h);
                        }
                        let now_plan = p.finish();
                        let inputs = StatusInputs {
                            events,
                            source,
                            repo,
                            plan: &now_plan,
                            scans: &scans,
                            history,
                            store: store.as_ref(),
                        };
                        write_status(&inputs, run).await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    events(&Event::Warning {
                        message: format!("status was not written to git: {e}"),
                    });
                }
            }
            (code, finished)
        }
        .instrument(span)
    });
    let ended = futures_util::future::join_all(passes).await;
    for (g, (code, finished)) in plan.groups.iter().zip(ended) {
        exit = exit.worst(code);
        let mut condition = crate::status::condition::of_group(
            g,
            code == Exit::Error,
            code == Exit::Halted,
            finished.as_ref(),
        );
        condition.observed_commit = source.commit.clone();
        conditions.push(condition);
        if let Some(run) = &finished {
            groups_with_runs.insert(run.group.clone());
        }
    }
    if options.write_status
        && let Err(e) = write_scan_status(
            &StatusInputs {
                events,
                source,
                repo,
                plan: &plan,
                scans: &facts.hosts,
                history: &history,
                store: store.as_ref(),
            },
            &groups_with_runs,
        )
        .await
    {
        events(&Event::Warning {
            message: format!("scan status was not written to git: {e}"),
        });
    }
    if options.write_status
        && let Err(e) = write_conditions(source, repo, &conditions).await
    {
        events(&Event::Warning {
            message: format!("group conditions were not written to git: {e}"),
        });
    }
    // A host that was never reached was never patched: the run is not a
    // success, whatever the other hosts did.
    let unreached: Vec<String> = facts
        .hosts
        .iter()
        .filter(|h| !matches!(h.state, ScanState::Scanned { .. }))
        .map(|h| h.host.clone())
        .collect();
    if !unreached.is_empty() {
        events(&Event::Unreached { hosts: unreached });
        exit = exit.worst(Exit::Incomplete);
    }
    exit
}
