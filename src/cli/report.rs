//! `patchwave report`: the compliance report, rendered from the status
//! branch (what `apply` committed), as Markdown, text, HTML, JSON or CSV.

use std::path::Path;

use jiff::Timestamp;

use super::output::print;
use super::{RepoArgs, StateArgs};
use crate::exit::Exit;
use crate::rollout::record::RunRecord;
use crate::source::{head_commit, read_status_files};
use crate::state::{RunState, load_history};
use crate::status::HostStatus;
use crate::status::report::{ReportFormat, render_as};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// The status branch (default: the Fleet's statusBranch, else patchwave/status).
    #[arg(long)]
    pub branch: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Report as of this time instead of now (which patches are overdue by
    /// then): a date or date-time in the Fleet's timezone, or an instant.
    #[arg(long, value_name = "TIME", value_parser = super::at::parse)]
    pub at: Option<super::at::TimeArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Html,
    /// The report's content as one JSON document (camelCase).
    Json,
    /// One row per host (RFC 4180), for spreadsheets.
    Csv,
}

fn parse<T: for<'de> serde::Deserialize<'de>>(path: &str, text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|e| format!("{path} on the status branch: {e}"))
}

pub fn run(args: &Args) -> Exit {
    match report(args) {
        Ok(text) => {
            if print(&text) {
                Exit::Ok
            } else {
                Exit::Error
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    }
}

fn report(args: &Args) -> Result<String, String> {
    let root: &Path = &args.repo.repo;
    let checked =
        super::load_valid_repo(root).map_err(|_| "the repository is invalid".to_string())?;
    let repo = &checked.repo;
    let branch = args.branch.clone().unwrap_or_else(|| repo.status_branch());
    let hosts: Vec<HostStatus> = read_status_files(root, &branch, "status/hosts")
        .map_err(|e| e.to_string())?
        .iter()
        .map(|(p, t)| parse(p, t))
        .collect::<Result<_, _>>()?;
    let runs: Vec<RunRecord> = read_status_files(root, &branch, "status/runs")
        .map_err(|e| e.to_string())?
        .iter()
        .map(|(p, t)| parse(p, t))
        .collect::<Result<_, _>>()?;
    // First sightings from local run state, where there is some.
    let history = args
        .state
        .open(repo)
        .ok()
        .and_then(|s| super::wait(load_history(&s as &dyn RunState, repo)).ok())
        .unwrap_or_default();
    let format = match args.format {
        Format::Text => ReportFormat::Text,
        Format::Markdown => ReportFormat::Markdown,
        Format::Html => ReportFormat::Html,
        Format::Json => ReportFormat::Json,
        Format::Csv => ReportFormat::Csv,
    };
    let now = match &args.at {
        Some(t) => t
            .resolve(&repo.approval_timezone())
            .map_err(|e| format!("--at {e}"))?,
        None => Timestamp::now(),
    };
    render_as(
        format,
        &hosts,
        &runs,
        now,
        head_commit(root).as_deref(),
        &|p, v| history.first_seen(p, v),
    )
}
