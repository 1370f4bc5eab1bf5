//! `patchwave cves`: the plan seen by CVE (or by host): who is exposed to
//! what, since when, the fixing version, its decision, the next window.

use super::output::print;
use super::plan::{PlanSource, Planned, make_plan};
use crate::exit::Exit;
use crate::plan::exposure::{Ask, exposure};
use crate::plan::render::cves;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: PlanSource,
    /// Only this CVE (e.g. CVE-2021-3156).
    #[arg(long, value_name = "ID")]
    pub cve: Option<String>,
    /// Text output per host instead of per CVE (JSON always has both).
    #[arg(long)]
    pub by_host: bool,
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// One row per CVE, host and package (RFC 4180).
    Csv,
}

pub fn run(args: &Args) -> Exit {
    let Planned {
        plan,
        history,
        calendar,
        tz,
        now,
    } = match make_plan(&args.source) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let view = exposure(
        &plan,
        &Ask {
            history: &history,
            calendar: &calendar,
            tz: &tz,
            now,
            cve: args.cve.as_deref(),
        },
    );
    let text = match args.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&view).unwrap_or_default()
        ),
        Format::Text => cves::text(&view, &tz, args.by_host),
        Format::Markdown => cves::markdown(&view, &tz),
        Format::Csv => cves::csv(&view),
    };
    if print(&text) { Exit::Ok } else { Exit::Error }
}
