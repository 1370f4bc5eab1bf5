//! `patchwave windows`: when each group may next be patched, and what blocks it.

use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, Zoned};
use serde_json::{Value, json};

use super::RepoArgs;
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
    /// Start from this instant instead of now: RFC 3339 (2026-12-01T08:00:00+01:00),
    /// or a date or date-time without offset, read as UTC (2026-12-01, 2026-12-01T08:00).
    #[arg(long, value_name = "TIME", value_parser = parse_from)]
    pub from: Option<Timestamp>,
    /// text or json.
    #[arg(long, value_enum, default_value_t = WindowsFormat::Text)]
    pub format: WindowsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WindowsFormat {
    Text,
    Json,
}

fn parse_from(s: &str) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(dt) = s.parse::<DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    if let Ok(d) = s.parse::<Date>() {
        return d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "`{s}` is not a time; use RFC 3339 (2026-12-01T08:00:00Z) or a UTC date (2026-12-01)"
    ))
}

pub fn run(args: &Args) -> Exit {
    let checked = match spec::check(&args.repo.repo) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: cannot read fleet repository {}: {e}",
                args.repo.repo.display()
            );
            return Exit::Error;
        }
    };
    if checked.has_errors() {
        for d in checked.errors() {
            eprintln!("{d}");
        }
        eprintln!(
            "error: the repository is invalid; fix the errors above (`patchwave validate`) first"
        );
        return Exit::Error;
    }
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
    let from = args.from.unwrap_or_else(Timestamp::now);
    match args.format {
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
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        WindowsFormat::Text => {
            let st = Style::for_stdout();
            println!("{}", st.dim(&format!("from {}", fmt_utc(from))));
            for g in groups {
                print_group(&st, repo, &calendar, g, from, args.count);
            }
        }
    }
    Exit::Ok
}

fn opening_json(o: &Opening) -> Value {
    json!({
        "window": o.window,
        "timezone": o.timezone,
        "start": o.start.to_string(),
        "startUtc": o.start.timestamp().to_string(),
        "end": o.end.to_string(),
        "endUtc": o.end.timestamp().to_string(),
        "lastStartUtc": o.last_start.timestamp().to_string(),
        "blocked": o.is_blocked(),
        "interruptions": o.interruptions,
        "usable": o.usable.iter().map(|(a, b)| json!({"from": a.to_string(), "until": b.to_string()})).collect::<Vec<_>>(),
    })
}

fn print_group(
    st: &Style,
    repo: &spec::Repository,
    cal: &Calendar,
    group: &str,
    from: Timestamp,
    count: usize,
) {
    let g = repo.group(group);
    let allow: Vec<&str> = g
        .map(|g| g.spec.windows.iter().map(|w| w.value.as_str()).collect())
        .unwrap_or_default();
    let deny = cal.deny_windows(group);
    println!();
    println!(
        "{}  {}",
        st.bold(group),
        st.dim(&format!(
            "windows: {}; deny: {}",
            if allow.is_empty() {
                "none".into()
            } else {
                allow.join(", ")
            },
            if deny.is_empty() {
                "none".into()
            } else {
                deny.join(", ")
            }
        ))
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
    println!("  {status}");
    let openings = cal.openings(group, from, count);
    if openings.is_empty() {
        println!("  {}", st.dim("no openings scheduled"));
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
        match note(&o) {
            Some(n) if o.is_blocked() => println!("{}  {}", st.dim(&line), st.yellow(&n)),
            Some(n) => println!("{line}  {}", st.yellow(&n)),
            None if o.last_start != o.end => {
                println!(
                    "{line}  {}",
                    st.dim(&format!("last start {}", o.last_start.strftime("%H:%M")))
                )
            }
            None => println!("{line}"),
        }
    }
}

/// What deny windows do to an opening, in words.
fn note(o: &Opening) -> Option<String> {
    let i = o.interruptions.first()?;
    let span = format!("{} → {}", fmt_local(&i.from), fmt_local(&i.until));
    if o.is_blocked() {
        return Some(format!("blocked by {} ({span})", i.deny_window));
    }
    let first = o.usable.first()?;
    if first.0 > o.start.timestamp() {
        return Some(format!(
            "delayed by {} until {}",
            i.deny_window,
            fmt_utc(first.0)
        ));
    }
    let last = o.usable.last()?;
    if last.1 < o.last_start.timestamp() {
        return Some(format!(
            "cut short by {} at {}",
            i.deny_window,
            fmt_utc(last.1)
        ));
    }
    Some(format!("interrupted by {} ({span})", i.deny_window))
}

fn fmt_local(z: &Zoned) -> String {
    z.strftime("%a %Y-%m-%d %H:%M %Z").to_string()
}

/// The end, without repeating the date when it is the same day.
fn fmt_local_short(start: &Zoned, end: &Zoned) -> String {
    if start.date() == end.date() {
        end.strftime("%H:%M %Z").to_string()
    } else {
        fmt_local(end)
    }
}

fn fmt_utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%MZ").to_string()
}
