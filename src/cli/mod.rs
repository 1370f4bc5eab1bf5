//! Command-line interface: argument types and one function per command.
//! Each command returns an [`Exit`]; `main` only maps it to the process code.

mod apply;
mod at;
mod completions;
mod cves;
mod daemon;
mod init;
mod logging;
mod output;
mod plan;
mod propose;
mod report;
mod rollback;
mod scan;
mod schema;
mod style;
mod validate;
mod windows;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::exit::Exit;

/// The version `--version` prints: the package version and, built from a git
/// checkout, the commit and its date (`0.1.0 (44ec850 2026-12-02)`; see build.rs).
pub const VERSION: &str = env!("PATCHWAVE_VERSION");

/// patchwave: patch policy in git, applied in waves inside maintenance windows.
#[derive(Debug, Parser)]
#[command(name = "patchwave", version = VERSION, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log on stderr: -v info, -vv debug, -vvv trace (`PATCHWAVE_LOG`
    /// sets a filter exactly).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a first fleet repository (with --local: of this machine) and validate it.
    Init(init::Args),
    /// Check the fleet repository: schema, references, schedules; every error as file:line:col.
    Validate(validate::Args),
    /// Print the JSON Schema of the resource kinds (also committed under policy-schema/).
    Schema(schema::Args),
    /// List the next maintenance window openings per group, in local time and UTC.
    Windows(windows::Args),
    /// Scan hosts: installed packages, available updates, pending reboots.
    Scan(scan::Args),
    /// Show what would change on every host and why (exit 0 none, 2 changes, 1 error).
    Plan(plan::Args),
    /// Per CVE (or host): the hosts offered a fix they lack, since when, the
    /// decision on it and the next window that installs it.
    Cves(cves::Args),
    /// Write offered versions the rules do not approve into the baseline's
    /// approvals lockfile, committed on a branch for review (exit 2 when it proposed).
    Propose(propose::Args),
    /// Scan, plan, and apply the plan in waves inside maintenance windows
    /// (exit 0 done, 3 halted, 1 error).
    Apply(apply::Args),
    /// Put a run's hosts back on the versions they had before it (exit 0 all back, 1 not).
    Rollback(rollback::Args),
    /// The compliance report from the status branch (text, markdown or html).
    Report(report::Args),
    /// Reconcile by itself: poll and webhooks, /healthz, /readyz, /metrics.
    Daemon(daemon::Args),
    /// Print the shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff), or write one per command with --out-dir.
    Man(completions::ManArgs),
}

/// Options every command that reads the fleet repository takes.
#[derive(Debug, clap::Args)]
pub struct RepoArgs {
    /// Fleet repository: a working tree (default: the current directory).
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
}

/// Where run state (first sightings, installed-since dates, health) is kept.
#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// Run state directory (default: $PATCHWAVE_STATE_DIR, else
    /// $XDG_STATE_HOME/patchwave/<fleet>, else ~/.local/state/patchwave/<fleet>).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

impl StateArgs {
    /// The store for this fleet, or the reason (printed) as an exit code.
    fn open(&self, repo: &crate::spec::Repository) -> Result<crate::state::LocalState, Exit> {
        let dir = match &self.state_dir {
            Some(d) => d.clone(),
            None => {
                let fleet = repo.fleets.first().map_or("default", |f| f.name());
                crate::state::LocalState::default_dir(fleet).map_err(|e| {
                    eprintln!("error: {e}");
                    Exit::Error
                })?
            }
        };
        Ok(crate::state::LocalState::new(dir))
    }
}

/// Narrowing a command to one group or one host.
#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    /// Only this group.
    #[arg(long)]
    pub group: Option<String>,
    /// Only this host.
    #[arg(long)]
    pub host: Option<String>,
}

/// Output formats of commands that report findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people; colour only on a terminal.
    Text,
    /// Stable and versioned, for machines.
    Json,
    /// GitHub Actions workflow commands (annotations on the pull request).
    Github,
}

/// Refuses a `--group`/`--host` that names nothing in the repository (or a
/// host outside the named group), printed with the names there are: a typo
/// must never look like "nothing to do".
fn check_selection(repo: &crate::spec::Repository, select: &SelectArgs) -> Result<(), Exit> {
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        Err(Exit::Error)
    };
    let listed = |names: Vec<&str>| {
        let shown: Vec<&str> = names.iter().take(20).copied().collect();
        let more = names.len().saturating_sub(shown.len());
        format!(
            "{}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    };
    if let Some(g) = &select.group
        && repo.group(g).is_none()
    {
        return fail(format!(
            "no HostGroup named `{g}`\n  hint: groups are {}",
            listed(repo.groups.iter().map(|g| g.name()).collect())
        ));
    }
    if let Some(h) = &select.host {
        let Some((group, _)) = repo.hosts().find(|(_, x)| x.name.value == *h) else {
            return fail(format!(
                "no host named `{h}` in any HostGroup\n  hint: hosts are {}",
                listed(repo.hosts().map(|(_, x)| x.name.value.as_str()).collect())
            ));
        };
        if let Some(g) = &select.group
            && group.name() != g
        {
            return fail(format!(
                "host `{h}` is in group `{}`, not `{g}`",
                group.name()
            ));
        }
    }
    Ok(())
}

/// The repository, valid, or the reason (already printed) as an exit code:
/// every command that acts on the fleet refuses an invalid policy.
fn load_valid_repo(root: &std::path::Path) -> Result<crate::spec::Checked, Exit> {
    let checked = crate::spec::check(root).map_err(|e| {
        eprintln!(
            "error: cannot read fleet repository {}: {e}",
            root.display()
        );
        Exit::Error
    })?;
    if checked.has_errors() {
        for d in checked.errors() {
            eprintln!("{d}");
        }
        eprintln!(
            "error: the repository is invalid; fix the errors above (`patchwave validate`) first"
        );
        return Err(Exit::Error);
    }
    Ok(checked)
}

/// Scans hosts with the Fleet's scan settings (commands that scan before
/// they decide: plan and propose without --facts).
fn scan_hosts(
    repo: &crate::spec::Repository,
    targets: Vec<crate::scan::ScanTarget>,
) -> Result<crate::facts::FleetFacts, Exit> {
    let opts = crate::scan::FleetScanOptions::from_repo(repo);
    Ok(runtime()?.block_on(crate::scan::scan_fleet(targets, &opts, |_| {})))
}

/// The planner's history with what the status branch shares
/// ([`crate::reconcile::history_with_status`]); unreadable shared files are
/// printed as warnings.
fn history_with_status(
    store: &dyn crate::state::RunState,
    repo: &crate::spec::Repository,
    git_dir: &std::path::Path,
) -> Result<crate::plan::History, String> {
    let warn: crate::reconcile::event::Sink = std::sync::Arc::new(|e| {
        if let crate::reconcile::event::Event::Warning { message } = e {
            eprintln!("warning: {message}");
        }
    });
    wait(crate::reconcile::history_with_status(
        store, repo, git_dir, &warn,
    ))
}

/// Runs one async call (run state's) to its end from a command's plain
/// code, on a current-thread runtime made for it (the local store then does
/// its file work in place). Never from inside a runtime.
fn wait<T, E: std::fmt::Display>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(f).map_err(|e| e.to_string())
}

/// `--repo` as a directory to read: itself, or for a remote URL the
/// branch's newest commit checked out under run state, as it is (neither
/// validated nor verified first: `validate` and `plan` show what a merge
/// would bring, as a review does).
fn readable_repo(
    repo: &std::path::Path,
    branch: &str,
    state_dir: Option<&std::path::Path>,
) -> Result<std::path::PathBuf, Exit> {
    let given = repo.to_string_lossy();
    if !crate::source::is_remote(&given) {
        return Ok(repo.to_path_buf());
    }
    crate::reconcile::source::remote_source(&given, branch, state_dir)
        .and_then(|r| r.tip().map_err(|e| e.to_string()))
        .map(|tip| tip.dir)
        .map_err(|e| {
            eprintln!("error: {e}");
            Exit::Error
        })
}

/// The async runtime a command runs its I/O on, or the reason (printed).
fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            Exit::Error
        })
}

pub fn run(cli: Cli) -> Exit {
    match &cli.command {
        Command::Daemon(args) => logging::init(
            args.log_format == daemon::LogFormat::Json,
            true,
            cli.verbose,
        ),
        _ => logging::init(false, false, cli.verbose),
    }
    match cli.command {
        Command::Init(args) => init::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Windows(args) => windows::run(&args),
        Command::Scan(args) => scan::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Cves(args) => cves::run(&args),
        Command::Propose(args) => propose::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Rollback(args) => rollback::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Daemon(args) => daemon::run(&args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    }
}
