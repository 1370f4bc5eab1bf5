//! `patchwave propose`: writes the versions hosts are offered that the rules
//! do not approve now into each baseline's PatchApprovals lockfile, and
//! commits that on a branch for a pull request. Merging it approves them.
//! Exit 0: nothing new to propose; 2: proposed; 1: error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use super::output::print;
use super::{RepoArgs, StateArgs};
use crate::exit::Exit;
use crate::facts::{FACTS_VERSION, for_each_host};
use crate::propose::lockfile::{self, Entry};
use crate::propose::{Candidate, Collector};
use crate::scan::targets;
use crate::source::{BranchCommit, CommitOutcome, commit_on_branch};
use crate::spec::Repository;
use crate::spec::resource::Metadata;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Only this baseline (default: every baseline a group uses).
    #[arg(long)]
    pub baseline: Option<String>,
    /// Branch to commit on (default: patchwave/propose/<baseline>, or
    /// patchwave/propose for all baselines). Only a branch whose last commit
    /// propose made is ever replaced.
    #[arg(long)]
    pub branch: Option<String>,
    /// Propose from saved `scan --format json` output instead of scanning hosts.
    #[arg(long, value_name = "FILE")]
    pub facts: Option<PathBuf>,
    /// Decide as of this time instead of now (as `plan --at`; `--now` is
    /// the old name).
    #[arg(long, alias = "now", value_name = "TIME", value_parser = super::at::parse)]
    pub at: Option<super::at::TimeArg>,
    /// Also propose versions a rule will approve later (pending for their
    /// age), so merging approves them now.
    #[arg(long)]
    pub include_pending: bool,
    /// Write the lockfiles in the working tree instead of committing on a branch.
    #[arg(long)]
    pub no_commit: bool,
    /// text, or json (for CI).
    #[arg(short = 'o', long, value_enum, default_value_t = ProposeFormat::Text)]
    pub format: ProposeFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProposeFormat {
    Text,
    Json,
}

/// One lockfile and what propose adds to it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LockfileChange {
    baseline: String,
    file: PathBuf,
    created: bool,
    proposed: Vec<Candidate>,
    #[serde(skip)]
    text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    version: u32,
    lockfiles: Vec<LockfileChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    /// The branch already held exactly this proposal.
    unchanged: bool,
}

pub fn run(args: &Args) -> Exit {
    match propose(args) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    }
}

fn propose(args: &Args) -> Result<Exit, String> {
    let root = &args.repo.repo;
    let checked =
        super::load_valid_repo(root).map_err(|_| "the repository is invalid".to_string())?;
    let repo = &checked.repo;
    if let Some(b) = &args.baseline {
        if repo.baselines.iter().all(|x| x.name() != b) {
            return Err(format!(
                "no PatchBaseline named `{b}`; baselines: {}",
                repo.baselines
                    .iter()
                    .map(|x| x.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if repo.groups.iter().all(|g| g.spec.baseline.value != *b) {
            return Err(format!(
                "no HostGroup uses baseline `{b}`, so no host offers it anything to propose"
            ));
        }
    }
    let store = args
        .state
        .open(repo)
        .map_err(|_| "cannot open run state".to_string())?;
    let tz = repo.approval_timezone();
    let now = match &args.at {
        Some(t) => t.resolve(&tz).map_err(|e| format!("--at {e}"))?,
        None => Timestamp::now(),
    };
    let scanned = match &args.facts {
        Some(_) => None,
        None => {
            let in_scope = |group: &str| {
                args.baseline.as_ref().is_none_or(|b| {
                    repo.group(group)
                        .is_some_and(|g| g.spec.baseline.value == *b)
                })
            };
            let t: Vec<_> = targets(repo, root, None, None)
                .into_iter()
                .filter(|t| in_scope(&t.group))
                .collect();
            let facts = super::scan_hosts(repo, t).map_err(|_| "the scan failed".to_string())?;
            super::wait(crate::state::RunState::record_scan(&store, &facts.hosts))
                .map_err(|e| format!("the scan was not recorded: {e}"))?;
            Some(facts)
        }
    };
    let history = super::history_with_status(&store, repo, root)?;
    let (vulns, warnings) = crate::vuln::load::load(root, repo, &store, Timestamp::now());
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let mut collector = Collector::new(
        repo,
        &history,
        now,
        &tz,
        args.baseline.as_deref(),
        args.include_pending,
    )?
    .with_vulnerabilities(&vulns);
    match (&scanned, &args.facts) {
        (Some(facts), _) => facts.hosts.iter().for_each(|h| collector.add(h)),
        (None, Some(path)) => read_facts(path, &mut collector)?,
        (None, None) => {}
    }
    let today = now.to_zoned(tz.clone()).date();
    let mut changes = Vec::new();
    for (baseline, candidates) in collector.finish() {
        if let Some(change) = lockfile_change(repo, &baseline, candidates, today)? {
            changes.push(change);
        }
    }
    if changes.is_empty() {
        let report = Report {
            version: 1,
            lockfiles: vec![],
            branch: None,
            commit: None,
            unchanged: false,
        };
        emit(
            args,
            &report,
            "nothing to propose: the rules or existing approvals cover every offered version\n",
        )?;
        return Ok(Exit::Ok);
    }
    let mut report = Report {
        version: 1,
        lockfiles: changes,
        branch: None,
        commit: None,
        unchanged: false,
    };
    if args.no_commit {
        for c in &report.lockfiles {
            write_atomically(&c.file, &c.text)?;
        }
    } else {
        let branch = args.branch.clone().unwrap_or_else(|| match &args.baseline {
            Some(b) => format!("patchwave/propose/{b}"),
            None => "patchwave/propose".to_string(),
        });
        let outcome = commit_on_branch(&BranchCommit {
            repo_dir: root,
            branch: &branch,
            files: report
                .lockfiles
                .iter()
                .map(|c| (c.file.clone(), c.text.clone()))
                .collect(),
            message: commit_message(&report.lockfiles),
        })
        .map_err(|e| e.to_string())?;
        let (commit, unchanged) = match outcome {
            CommitOutcome::Created { commit } => (commit, false),
            CommitOutcome::Unchanged { commit } => (commit, true),
        };
        report.branch = Some(branch);
        report.commit = Some(commit);
        report.unchanged = unchanged;
    }
    emit(args, &report, &render_text(&report))?;
    Ok(Exit::Changes)
}

/// Streams hosts from a facts file into the collector.
fn read_facts(path: &Path, collector: &mut Collector<'_>) -> Result<(), String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read facts file {}: {e}", path.display()))?;
    let version = for_each_host(std::io::BufReader::with_capacity(1 << 20, file), |h| {
        collector.add(&h)
    })
    .map_err(|e| {
        format!(
            "{}:{}:{}: not a facts document: {}\n  hint: write it with `patchwave scan --format json`",
            path.display(),
            e.line,
            e.column,
            e.message
        )
    })?;
    if version != FACTS_VERSION {
        return Err(format!(
            "{}: facts version {version} is not {FACTS_VERSION}; scan again with this patchwave",
            path.display()
        ));
    }
    Ok(())
}

/// The baseline's lockfile with the candidates added, or `None` when every
/// candidate is already in it.
fn lockfile_change(
    repo: &Repository,
    baseline: &str,
    candidates: Vec<Candidate>,
    today: jiff::civil::Date,
) -> Result<Option<LockfileChange>, String> {
    let mine: Vec<_> = repo
        .approvals
        .iter()
        .filter(|a| a.spec.baseline.value == baseline)
        .collect();
    let (file, header, metadata, existing, created) = match mine.as_slice() {
        [] => {
            let b = repo
                .baselines
                .iter()
                .find(|b| b.name() == baseline)
                .ok_or_else(|| format!("baseline `{baseline}` not found"))?;
            let name = format!("{baseline}-approvals");
            if repo.approvals.iter().any(|a| a.name() == name) {
                return Err(format!(
                    "a PatchApprovals named `{name}` exists for another baseline; \
                     add `baseline: {baseline}` approvals to a file of your own first"
                ));
            }
            let dir = b.origin.file.parent().unwrap_or(Path::new("."));
            let file = dir.join(format!("{name}.yaml"));
            if file.exists() {
                return Err(format!(
                    "{} exists but holds no PatchApprovals for `{baseline}`; move it aside",
                    file.display()
                ));
            }
            let metadata: Metadata = Metadata {
                name: crate::spec::Spanned::new(name, Default::default()),
                labels: Default::default(),
                annotations: Default::default(),
            };
            (
                file,
                vec![lockfile::NEW_FILE_HEADER.to_string()],
                metadata,
                vec![],
                true,
            )
        }
        [a] => {
            let file = a.origin.file.to_path_buf();
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            if holds_other_documents(&text) {
                return Err(format!(
                    "{}: PatchApprovals `{}` shares its file with other documents; \
                     move it into a file of its own (propose rewrites the whole file)",
                    file.display(),
                    a.name()
                ));
            }
            (
                file,
                lockfile::header_comments(&text),
                a.metadata.clone(),
                lockfile::existing_entries(&text, &a.spec),
                false,
            )
        }
        many => {
            return Err(format!(
                "baseline `{baseline}` has {} PatchApprovals ({}); propose needs one lockfile per baseline: merge them",
                many.len(),
                many.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
            ));
        }
    };
    let known: std::collections::HashSet<(String, String)> = existing
        .iter()
        .map(|e| (e.package.clone(), e.version.clone()))
        .collect();
    let proposed: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| !known.contains(&(c.package.clone(), c.version.clone())))
        .collect();
    if proposed.is_empty() {
        return Ok(None);
    }
    let new: Vec<Entry> = proposed
        .iter()
        .map(|c| Entry {
            package: c.package.clone(),
            version: c.version.clone(),
            arch: None,
            comments: lockfile::comments_for(c, today),
        })
        .collect();
    let entries = lockfile::merge(existing, new);
    let text = lockfile::render(&header, &metadata, baseline, &entries);
    lockfile::check_round_trip(&text, &entries).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(Some(LockfileChange {
        baseline: baseline.to_string(),
        file,
        created,
        proposed,
        text,
    }))
}

/// Whether a YAML file holds more than one document (propose would lose the others).
fn holds_other_documents(text: &str) -> bool {
    let mut seen_content = false;
    for line in text.lines() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") || t == "..." {
            if seen_content {
                return true;
            }
        } else if !t.is_empty() && !t.trim_start().starts_with('#') && !t.starts_with('%') {
            seen_content = true;
        }
    }
    false
}

fn commit_message(changes: &[LockfileChange]) -> String {
    let total: usize = changes.iter().map(|c| c.proposed.len()).sum();
    let names: Vec<&str> = changes.iter().map(|c| c.baseline.as_str()).collect();
    let mut m = format!(
        "propose: approve {total} version{} for {} {}\n\n",
        if total == 1 { "" } else { "s" },
        if names.len() == 1 {
            "baseline"
        } else {
            "baselines"
        },
        names.join(", ")
    );
    const LISTED: usize = 60;
    for c in changes {
        for p in c.proposed.iter().take(LISTED) {
            let _ = writeln!(
                m,
                "- {}: {} {} ({}, {}; {} host{})",
                c.baseline,
                oneline(&p.package),
                oneline(&p.version),
                format!("{:?}", p.classification).to_lowercase(),
                format!("{:?}", p.severity).to_lowercase(),
                p.hosts,
                if p.hosts == 1 { "" } else { "s" }
            );
        }
        if c.proposed.len() > LISTED {
            let _ = writeln!(
                m,
                "- {}: and {} more",
                c.baseline,
                c.proposed.len() - LISTED
            );
        }
    }
    m
}

fn oneline(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn render_text(r: &Report) -> String {
    let mut out = String::new();
    for c in &r.lockfiles {
        let _ = writeln!(
            out,
            "{} {} ({} new for baseline `{}`):",
            if c.created { "create" } else { "update" },
            c.file.display(),
            c.proposed.len(),
            c.baseline
        );
        for p in &c.proposed {
            let refs: Vec<&str> = p.advisories.iter().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "  + {} {}  {}, {}{}  ({} host{})",
                super::style::printable(&p.package),
                super::style::printable(&p.version),
                format!("{:?}", p.classification).to_lowercase(),
                format!("{:?}", p.severity).to_lowercase(),
                if refs.is_empty() {
                    String::new()
                } else {
                    format!("  {}", super::style::printable(&refs.join(", ")))
                },
                p.hosts,
                if p.hosts == 1 { "" } else { "s" }
            );
        }
    }
    match (&r.branch, &r.commit) {
        (Some(b), Some(commit)) if r.unchanged => {
            let _ = writeln!(
                out,
                "branch {b} already holds this proposal ({}); push it and open a pull request if you have not:\n  git push origin {b}",
                &commit[..commit.len().min(12)]
            );
        }
        (Some(b), Some(commit)) => {
            let _ = writeln!(
                out,
                "committed on branch {b} ({}); push it and open a pull request — merging approves these versions:\n  git push origin {b}",
                &commit[..commit.len().min(12)]
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "written in the working tree (--no-commit); review and commit them"
            );
        }
    }
    out
}

fn emit(args: &Args, report: &Report, text: &str) -> Result<(), String> {
    let out = match args.format {
        ProposeFormat::Text => text.to_string(),
        ProposeFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(report).map_err(|e| e.to_string())?
        ),
    };
    if print(&out) {
        Ok(())
    } else {
        Err("cannot write output".into())
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|e| fail(&e))?;
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}
