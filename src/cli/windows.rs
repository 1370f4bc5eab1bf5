//! `patchwave windows`: when each group may next be patched, and what blocks it.

use std::fmt::Write as _;

use jiff::{Timestamp, Zoned};
use serde_json::{Value, json};

use super::RepoArgs;
use super::output::print;
use super::style::Style;
use crate::exit::Exit;
use crate::schedule::{Calendar, Opening, WindowStatus};
use crate::spec;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Only this group.
    #[arg(long)]
    pub group: Option<String>,
    /// Openings to list per group.
    #[arg(long, default_value_t = 5)]
    pub count: usize,
    /// Start from this time instead of now: a date or date-time in the
    /// Fleet's timezone (2026-12-01, 2026-12-01T08:00), or an instant
    /// (2026-12-01T08:00:00+01:00). `--from` is the old name.
    #[arg(long, alias = "from", value_name = "TIME", value_parser = super::at::parse)]
    pub at: Option<super::at::TimeArg>,
    /// text or json.
    #[arg(short = 'o', long, value_enum, default_value_t = WindowsFormat::Text)]
    pub format: WindowsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WindowsFormat {
    Text,
    Json,
}

pub fn run(args: &Args) -> Exit {
    let checked = match super::load_valid_repo(&args.repo.repo) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let repo = &checked.repo;
    let calendar = Calendar::build(repo);
    let groups: Vec<&str> = match &args.group {
        Some(g) if repo.group(g).is_none() => {
            let names: Vec<&str> = repo.groups.iter().map(|g| g.name()).collect();
            eprintln!(
                "error: no HostGroup named `{g}`\n  hint: groups are {}",
                names.join(", ")
            );
            return Exit::Error;
        }
        Some(g) => vec![g.as_str()],
        None => repo.groups.iter().map(|g| g.name()).collect(),
    };
    let from = match args
        .at
        .as_ref()
        .map(|t| t.resolve(&repo.approval_timezone()))
    {
        None => Timestamp::now(),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            eprintln!("error: --at {e}");
            return Exit::Error;
        }
    };
    let text = match args.format {
        WindowsFormat::Json => {
            let out: Vec<Value> = groups
                .iter()
                .map(|g| {
                    json!({
                        "group": g,
                        "denyWindows": calendar.deny_windows(g),
                        "status": calendar.status(g, from),
                        "openings": calendar.openings(g, from, args.count).iter().map(opening_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let doc = json!({"version": 1, "from": from.to_string(), "groups": out});
            format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )
        }
        WindowsFormat::Text => {
            let st = Style::for_stdout();
            let mut text = format!("{}\n", st.dim(&format!("from {}", fmt_utc(from))));
            for g in groups {
                group_text(&mut text, &st, repo, &calendar, g, from, args.count);
            }
            text
        }
    };
    if print(&text) { Exit::Ok } else { Exit::Error }
}

fn opening_json(o: &Opening) -> Value {
    json!({
        "window": o.window,
        "timezone": timezone_name(&o.start),
        "start": o.start.to_string(),
        "startUtc": o.start.timestamp().to_string(),
        "end": o.end.to_string(),
        "endUtc": o.end.timestamp().to_string(),
        "lastStartUtc": o.last_start.timestamp().to_string(),
        "blocked": o.is_blocked(),
        "blockedBy": o.blocked_by(),
        "interruptions": o.interruptions,
        "usable": o.usable.iter().map(|(a, b)| json!({"from": a.to_string(), "until": b.to_string()})).collect::<Vec<_>>(),
    })
}

fn timezone_name(z: &Zoned) -> String {
    z.time_zone().iana_name().unwrap_or("UTC").to_string()
}

fn group_text(
    out: &mut String,
    st: &Style,
    repo: &spec::Repository,
    cal: &Calendar,
    group: &str,
    from: Timestamp,
    count: usize,
) {
    let allow: Vec<&str> = repo
        .group(group)
        .map(|g| g.spec.windows.iter().map(|w| w.value.as_str()).collect())
        .unwrap_or_default();
    let deny = cal.deny_windows(group);
    let list = |v: &[&str]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}  {}",
        st.bold(group),
        st.dim(&format!("windows: {}; deny: {}", list(&allow), list(&deny)))
    );
    let status = match cal.status(group, from) {
        WindowStatus::Open {
            window,
            start_until,
            ..
        } => st.green(&format!(
            "open now ({window}); hosts may start until {}",
            fmt_utc(start_until)
        )),
        WindowStatus::Denied {
            deny_window,
            until,
            next_start,
        } => st.yellow(&format!(
            "frozen by {deny_window} until {}; next start {}",
            fmt_utc(until),
            next_start
                .map(fmt_utc)
                .unwrap_or_else(|| "none scheduled".into())
        )),
        WindowStatus::Closed { next_start } => format!(
            "closed; next start {}",
            next_start
                .map(fmt_utc)
                .unwrap_or_else(|| "none scheduled".into())
        ),
    };
    let _ = writeln!(out, "  {status}");
    let openings = cal.openings(group, from, count);
    if openings.is_empty() {
        let _ = writeln!(out, "  {}", st.dim("no openings scheduled"));
    }
    for o in openings {
        let line = format!(
            "  {} → {}  ({} → {})  {}",
            fmt_local(&o.start),
            fmt_local_short(&o.start, &o.end),
            fmt_utc(o.start.timestamp()),
            fmt_utc(o.end.timestamp()),
            o.window,
        );
        let _ = match note(&o) {
            Some(n) if o.is_blocked() => writeln!(out, "{}  {}", st.dim(&line), st.yellow(&n)),
            Some(n) => writeln!(out, "{line}  {}", st.yellow(&n)),
            None if o.last_start != o.end => writeln!(
                out,
                "{line}  {}",
                st.dim(&format!(
                    "last start {}",
                    fmt_local_short(&o.end, &o.last_start)
                ))
            ),
            None => writeln!(out, "{line}"),
        };
    }
}

/// What deny windows (or a DST-shortened night) do to an opening, in words.
fn note(o: &Opening) -> Option<String> {
    if o.is_blocked() {
        let Some(first) = o.interruptions.first() else {
            return Some(format!(
                "no start possible: {} of window, shorter than its cutoff (a DST change?)",
                fmt_duration(o.end.timestamp().duration_since(o.start.timestamp()))
            ));
        };
        let last = o.interruptions.last().unwrap_or(first);
        return Some(format!(
            "blocked by {} ({} → {})",
            o.blocked_by().join(", "),
            fmt_local(&first.from),
            fmt_local(&last.until)
        ));
    }
    let i = o.interruptions.first()?;
    let names = {
        let mut v: Vec<&str> = o
            .interruptions
            .iter()
            .map(|i| i.deny_window.as_str())
            .collect();
        v.dedup();
        v.join(", ")
    };
    let first = o.usable.first()?;
    if first.0 > o.start.timestamp() {
        return Some(format!("delayed by {names} until {}", fmt_utc(first.0)));
    }
    let last = o.usable.last()?;
    if last.1 < o.last_start.timestamp() {
        return Some(format!("cut short by {names} at {}", fmt_utc(last.1)));
    }
    Some(format!(
        "interrupted by {names} ({} → {})",
        fmt_local(&i.from),
        fmt_local(&i.until)
    ))
}

fn fmt_duration(d: jiff::SignedDuration) -> String {
    let mins = d.as_secs() / 60;
    if mins % 60 == 0 {
        format!("{}h", mins / 60)
    } else {
        format!("{}h{:02}m", mins / 60, mins % 60)
    }
}

fn fmt_local(z: &Zoned) -> String {
    z.strftime("%a %Y-%m-%d %H:%M %Z").to_string()
}

/// `t`, without repeating the date when it is the same day as `reference`.
fn fmt_local_short(reference: &Zoned, t: &Zoned) -> String {
    if reference.date() == t.date() {
        t.strftime("%H:%M %Z").to_string()
    } else {
        fmt_local(t)
    }
}

fn fmt_utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%MZ").to_string()
}
