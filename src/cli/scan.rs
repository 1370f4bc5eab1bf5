//! `patchwave scan`: what every host has and is missing.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::output::print;
use super::style::{Style, printable};
use super::{RepoArgs, SelectArgs, StateArgs};
use crate::exit::Exit;
use crate::facts::{FleetFacts, ScanState};
use crate::os::Refresh;
use crate::scan::{FleetScanOptions, scan_fleet, targets};
use crate::spec::{baseline::Classification, values};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// text, or json (the facts document `plan --facts` reads).
    #[arg(short = 'o', long, value_enum, default_value_t = ScanFormat::Text)]
    pub format: ScanFormat,
    /// Refresh package metadata: never, auto (when older than the Fleet's
    /// scan.refreshAfter, default 6h) or always.
    #[arg(long, value_enum, default_value_t = RefreshArg::Auto)]
    pub refresh: RefreshArg,
    /// Hosts scanned at once (default: Fleet scan.concurrency, else 64).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Bound on each host's scan, e.g. 2m (default: Fleet scan.timeout, else 2m).
    #[arg(long, value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Bound on connecting to one host (TCP and ssh handshake), e.g. 10s.
    #[arg(long, value_parser = parse_timeout, default_value = "10s")]
    pub connect_timeout: Duration,
    /// Use this ssh_config for every connection instead of the user's.
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RefreshArg {
    Never,
    Auto,
    Always,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    values::parse_duration(s)
}

pub fn run(args: &Args) -> Exit {
    let root = &args.repo.repo;
    let checked = match super::load_valid_repo(root) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let repo = &checked.repo;
    if let Err(exit) = super::check_selection(repo, &args.select) {
        return exit;
    }
    let targets = targets(
        repo,
        root,
        args.select.group.as_deref(),
        args.select.host.as_deref(),
    );
    if targets.is_empty() {
        eprintln!("error: no host matches (--group/--host); `patchwave validate` lists the groups");
        return Exit::Error;
    }
    let store = match args.state.open(repo) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let mut opts = FleetScanOptions::from_repo(repo);
    if let Some(c) = args.concurrency {
        opts.concurrency = c.max(1);
    }
    if let Some(t) = args.timeout {
        opts.host_timeout = t;
    }
    opts.os.refresh = match args.refresh {
        RefreshArg::Never => Refresh::Never,
        RefreshArg::Always => Refresh::Always,
        RefreshArg::Auto => opts.os.refresh,
    };
    opts.ssh_config = args.ssh_config.clone();
    opts.connect_timeout = args.connect_timeout;

    let total = targets.len();
    let done = Arc::new(AtomicUsize::new(0));
    let tty = std::io::stderr().is_terminal();
    let progress = {
        let done = done.clone();
        move |h: &crate::facts::HostScan| {
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if tty {
                eprint!("\r\x1b[2Kscanned {n}/{total} hosts (last: {})", h.host);
            }
        }
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let facts = runtime.block_on(scan_fleet(targets, &opts, progress));
    if tty {
        eprint!("\r\x1b[2K");
    }
    // First sightings and installed-since dates: what approveAfterDays and
    // promotion count from.
    let recorded = runtime.block_on(crate::state::RunState::record_scan(&store, &facts.hosts));
    let text = match args.format {
        ScanFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&facts).unwrap_or_default()
        ),
        ScanFormat::Text => render_text(&facts, &Style::for_stdout()),
    };
    let all_scanned = facts
        .hosts
        .iter()
        .all(|h| matches!(h.state, ScanState::Scanned { .. }));
    let printed = print(&text);
    if let Err(e) = &recorded {
        eprintln!("error: the scan was not recorded: {e}");
    }
    if printed && all_scanned && recorded.is_ok() {
        Exit::Ok
    } else {
        Exit::Error
    }
}

fn render_text(facts: &FleetFacts, st: &Style) -> String {
    let mut out = String::new();
    let (mut scanned, mut unreachable, mut failed, mut updates, mut security) = (0, 0, 0, 0, 0);
    for h in &facts.hosts {
        let who = format!("{}/{}", h.group, h.host);
        match &h.state {
            ScanState::Scanned { facts: f } => {
                scanned += 1;
                let sec = f
                    .updates
                    .iter()
                    .filter(|u| u.classification == Classification::Security)
                    .count();
                updates += f.updates.len();
                security += sec;
                let _ = writeln!(
                    out,
                    "{}  {}  {}  {}: {} installed, {} update{} ({sec} security){}",
                    st.bold(&who),
                    h.address,
                    printable(if f.os.pretty_name.is_empty() {
                        &f.os.id
                    } else {
                        &f.os.pretty_name
                    }),
                    f.package_manager.as_str(),
                    f.installed.len(),
                    f.updates.len(),
                    if f.updates.len() == 1 { "" } else { "s" },
                    if f.reboot_required {
                        st.yellow(", reboot required")
                    } else {
                        String::new()
                    },
                );
                for u in &f.updates {
                    let class = match u.classification {
                        Classification::Security => st.red("security"),
                        other => format!("{other:?}").to_lowercase(),
                    };
                    let _ = writeln!(
                        out,
                        "    {} {} → {}  {class}  {:?}{}{}",
                        u.name,
                        u.installed_version,
                        u.candidate_version,
                        u.severity,
                        if u.repository.is_empty() {
                            String::new()
                        } else {
                            format!("  {}", printable(&u.repository))
                        },
                        if u.held_back { "  (held back)" } else { "" },
                    );
                }
            }
            ScanState::Unreachable { error } => {
                unreachable += 1;
                let _ = writeln!(
                    out,
                    "{}  {}  {}",
                    st.bold(&who),
                    h.address,
                    st.red(&format!("unreachable: {}", printable(error)))
                );
            }
            ScanState::Failed { error } => {
                failed += 1;
                let _ = writeln!(
                    out,
                    "{}  {}  {}",
                    st.bold(&who),
                    h.address,
                    st.red(&format!("scan failed: {}", printable(error)))
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "{} hosts: {scanned} scanned, {unreachable} unreachable, {failed} failed; {updates} updates available ({security} security)",
        facts.hosts.len()
    );
    out
}
