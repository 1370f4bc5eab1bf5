//! `patchwave plan`: what would change on every host, and why.
//! Exit 0: nothing to change; 2: changes; 1: error (Terraform's -detailed-exitcode).

use std::path::PathBuf;

use jiff::Timestamp;

use super::output::print;
use super::style::Style;
use super::{RepoArgs, SelectArgs, StateArgs};
use crate::exit::Exit;
use crate::facts::{FACTS_VERSION, RawHost, StreamError, for_each_host_raw};
use crate::plan::render::{self, Paint, Plain};
use crate::plan::{PlanContext, Planner};
use crate::scan::targets;
use crate::schedule::Calendar;

/// Where a plan comes from: the repository, the hosts (scanned, or saved
/// facts), run state, and the instant; shared by `plan` and `cves`.
#[derive(Debug, clap::Args)]
pub struct PlanSource {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// With a remote `--repo` URL: the branch to plan (its newest commit, as
    /// it is: plans are previews, not verified desired state).
    #[arg(long, default_value = "main")]
    pub branch: String,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Plan from saved `scan --format json` output instead of scanning hosts.
    #[arg(long, value_name = "FILE")]
    pub facts: Option<PathBuf>,
    /// Plan as of this time instead of now, for reproducible plans: a date
    /// or date-time in the Fleet's timezone (2026-12-08, 2026-12-08T22:00),
    /// or an instant (2026-12-08T21:00:00Z). `--now` is the old name.
    #[arg(long, alias = "now", value_name = "TIME", value_parser = super::at::parse)]
    pub at: Option<super::at::TimeArg>,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: PlanSource,
    /// text, json (stable, versioned) or markdown (a pull-request comment).
    #[arg(short = 'o', long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 4 when a targeted host could not be scanned (or is missing from
    /// --facts), after printing the plan: CI fails instead of approving a
    /// plan that left hosts out.
    #[arg(long)]
    pub fail_on_unknown: bool,
    /// Markdown only: the most bytes the plan may take (a pull-request
    /// comment's limit; GitHub's is 65,536 characters). A larger plan is cut
    /// by a fixed rule and says what it left out. 0: never cut.
    #[arg(long, value_name = "BYTES", default_value_t = render::MARKDOWN_BUDGET, value_parser = parse_max_bytes)]
    pub max_bytes: usize,
}

/// `0`, or at least [`render::MIN_MARKDOWN_BUDGET`].
fn parse_max_bytes(s: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of bytes"))?;
    if n != 0 && n < render::MIN_MARKDOWN_BUDGET {
        return Err(format!(
            "{n} is too small: the summary, header and legend alone may take about half of {}; give at least {} (or 0 for no limit)",
            render::MIN_MARKDOWN_BUDGET,
            render::MIN_MARKDOWN_BUDGET
        ));
    }
    Ok(n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

struct Tty(Style);

impl Paint for Tty {
    fn add(&self, s: &str) -> String {
        self.0.green(s)
    }
    fn warn(&self, s: &str) -> String {
        self.0.yellow(s)
    }
    fn bold(&self, s: &str) -> String {
        self.0.bold(s)
    }
    fn dim(&self, s: &str) -> String {
        self.0.dim(s)
    }
}

/// Hosts parsed and planned together, on every core.
const BATCH: usize = 256;

/// Streams a facts file into the planner. A reader thread cuts the file into
/// hosts while the batch before is parsed and planned in parallel, so the
/// serial scan overlaps the parallel work.
fn plan_from_file(path: &PathBuf, planner: &mut Planner<'_>) -> Result<(), String> {
    use rayon::prelude::*;
    let located = |e: StreamError| {
        format!(
            "{}:{}:{}: not a facts document: {}\n  hint: write it with `patchwave scan --format json`",
            path.display(),
            e.line,
            e.column,
            e.message
        )
    };
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read facts file {}: {e}", path.display()))?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<RawHost>>(2);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let version =
                for_each_host_raw(std::io::BufReader::with_capacity(1 << 20, file), |raw| {
                    batch.push(raw);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        // The planner stopped (on an error): stop reading too.
                        if tx.send(full).is_err() {
                            return Err(StreamError {
                                line: 0,
                                column: 0,
                                message: "stopped".into(),
                            });
                        }
                    }
                    Ok(())
                })?;
            let _ = tx.send(batch);
            Ok::<u32, StreamError>(version)
        });
        let mut parse_error = None;
        for batch in rx.iter() {
            let planned: Result<Vec<_>, StreamError> = batch
                .par_iter()
                .map(|raw| raw.parse().map(|h| planner.plan_host(&h)))
                .collect();
            match planned {
                Ok(hosts) => hosts.into_iter().flatten().for_each(|p| planner.insert(p)),
                Err(e) => {
                    parse_error = Some(e);
                    break;
                }
            }
        }
        drop(rx);
        let read = reader
            .join()
            .map_err(|_| "the facts reader thread failed".to_string())?;
        if let Some(e) = parse_error {
            return Err(located(e));
        }
        let version = read.map_err(located)?;
        if version != FACTS_VERSION {
            return Err(format!(
                "{}: facts version {version} is not {FACTS_VERSION}; scan again with this patchwave",
                path.display()
            ));
        }
        Ok(())
    })
}

/// A plan with what it was made from.
pub struct Planned {
    pub plan: crate::plan::Plan,
    pub history: crate::plan::History,
    pub calendar: Calendar,
    pub tz: jiff::tz::TimeZone,
    pub now: Timestamp,
}

/// Loads the repository, scans (or reads saved facts), and plans.
pub fn make_plan(args: &PlanSource) -> Result<Planned, Exit> {
    // The directory to read and the commit it holds: a local work tree's
    // HEAD, or a remote branch's newest commit (checked out under run state,
    // kept while the plan is made).
    let given = args.repo.repo.to_string_lossy();
    let (root, commit, _tip) = if crate::source::is_remote(&given) {
        match crate::reconcile::source::remote_source(
            &given,
            &args.branch,
            args.state.state_dir.as_deref(),
        )
        .and_then(|r| r.tip().map_err(|e| e.to_string()))
        {
            Ok(tip) => (tip.dir.clone(), Some(tip.commit.clone()), Some(tip)),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(Exit::Error);
            }
        }
    } else {
        (
            args.repo.repo.clone(),
            crate::source::head_commit(&args.repo.repo),
            None,
        )
    };
    let root = root.as_path();
    let checked = super::load_valid_repo(root)?;
    let repo = &checked.repo;
    super::check_selection(repo, &args.select)?;
    let calendar = Calendar::build(repo);
    let store = args.state.open(repo)?;
    // Without --facts, hosts are scanned first and the scan recorded, so the
    // history the plan reads includes today's sightings.
    let scanned = match &args.facts {
        Some(_) => None,
        None => match super::scan_hosts(
            repo,
            targets(
                repo,
                root,
                args.select.group.as_deref(),
                args.select.host.as_deref(),
            ),
        ) {
            Ok(f) => {
                if let Err(e) = super::wait(crate::state::RunState::record_scan(&store, &f.hosts)) {
                    eprintln!("error: the scan was not recorded: {e}");
                    return Err(Exit::Error);
                }
                Some(f)
            }
            Err(exit) => return Err(exit),
        },
    };
    let history = match super::history_with_status(&store, repo, root) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(Exit::Error);
        }
    };
    let tz = repo.approval_timezone();
    let now = match args.at.as_ref().map(|t| t.resolve(&tz)).transpose() {
        Ok(t) => t.unwrap_or_else(Timestamp::now),
        Err(e) => {
            eprintln!("error: --at {e}");
            return Err(Exit::Error);
        }
    };
    // Wall-clock time, not --at: it decides which downloads are due.
    let (vulns, vuln_warnings) = crate::vuln::load::load(root, repo, &store, Timestamp::now());
    let context = PlanContext {
        repo,
        history: &history,
        calendar: &calendar,
        now,
        tz: &tz,
        only_group: args.select.group.as_deref(),
        only_host: args.select.host.as_deref(),
        vulns: &vulns,
    };
    let mut planner = match Planner::new(context) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(Exit::Error);
        }
    };
    if let Some(facts) = scanned {
        for h in &facts.hosts {
            planner.add(h);
        }
    } else if let Some(path) = &args.facts
        && let Err(e) = plan_from_file(path, &mut planner)
    {
        eprintln!("error: {e}");
        return Err(Exit::Error);
    }
    let mut plan = planner.finish();
    plan.commit = commit;
    plan.warnings.extend(vuln_warnings);
    Ok(Planned {
        plan,
        history,
        calendar,
        tz,
        now,
    })
}

pub fn run(args: &Args) -> Exit {
    let Planned { plan, tz, .. } = match make_plan(&args.source) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let commit = plan.commit.clone();
    if args.format == PlanFormat::Json {
        // Streamed: a large fleet's plan is never held twice in memory.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // Indented for a person at a terminal; compact for machines (a large
        // fleet's plan is a third smaller and faster to write).
        let written = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            serde_json::to_writer_pretty(&mut out, &plan)
        } else {
            serde_json::to_writer(&mut out, &plan)
        }
        .map_err(std::io::Error::from)
        .and_then(|()| std::io::Write::write_all(&mut out, b"\n"))
        .and_then(|()| std::io::Write::flush(&mut out));
        if let Err(e) = written
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            eprintln!("error: cannot write output: {e}");
            return Exit::Error;
        }
        return outcome(args, &plan);
    }
    let ctx = render::RenderContext {
        commit: commit.as_deref(),
        tz: &tz,
    };
    let text = if args.format == PlanFormat::Markdown {
        render::markdown_within(&plan, &ctx, (args.max_bytes > 0).then_some(args.max_bytes))
    } else {
        let st = Style::for_stdout();
        if st.is_colour() {
            render::text(&plan, &ctx, &Tty(st))
        } else {
            render::text(&plan, &ctx, &Plain)
        }
    };
    if !print(&text) {
        return Exit::Error;
    }
    outcome(args, &plan)
}

/// 2 when hosts would change, 0 when none would; with `--fail-on-unknown`,
/// 4 when a targeted host is unknown (the plan says which and why).
fn outcome(args: &Args, plan: &crate::plan::Plan) -> Exit {
    let unknown = plan.summary.hosts_unknown;
    if unknown > 0 {
        eprintln!(
            "warning: {unknown} host{} could not be planned (unreachable, not scanned, or missing from the facts); the plan lists {}",
            if unknown == 1 { "" } else { "s" },
            if unknown == 1 { "it" } else { "them" },
        );
        if args.fail_on_unknown {
            return Exit::Incomplete;
        }
    }
    if plan.summary.hosts_to_change > 0 {
        Exit::Changes
    } else {
        Exit::Ok
    }
}
