//! `patchwave cves` as text, Markdown and CSV (JSON is the view itself).

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use super::{at, severity_word, state_word};
use crate::plan::exposure::{CveExposure, CveView, Exposed};

/// Per CVE, or per host (`by_host`).
pub fn text(view: &CveView, tz: &TimeZone, by_host: bool) -> String {
    let mut out = String::new();
    if by_host {
        for h in &view.hosts {
            let _ = writeln!(
                out,
                "{} ({}): {} CVE{}: {}",
                h.host,
                h.group,
                h.cves.len(),
                plural(h.cves.len()),
                h.cves.join(", ")
            );
        }
    } else {
        for c in &view.cves {
            let _ = writeln!(out, "{}", headline(c));
            for e in &c.exposed {
                let _ = writeln!(out, "  {}", exposed_line(e, tz));
            }
        }
    }
    if out.is_empty() {
        out.push_str("No host is offered a fix it lacks for a known CVE.\n");
    }
    out
}

/// `CVE-… critical, known exploited (debian): 2 hosts`.
fn headline(c: &CveExposure) -> String {
    let hosts: std::collections::BTreeSet<&str> =
        c.exposed.iter().map(|e| e.host.as_str()).collect();
    format!(
        "{} {}{} ({}): {} host{}",
        c.id,
        severity_word(c.severity),
        if c.known_exploited {
            ", known exploited"
        } else {
            ""
        },
        c.sources.join(", "),
        hosts.len(),
        plural(hosts.len())
    )
}

fn exposed_line(e: &Exposed, tz: &TimeZone) -> String {
    format!(
        "{} ({}): {} {} → {}, first seen {}, {}{}, {}{}",
        e.host,
        e.group,
        e.package,
        e.installed,
        e.fixed_by,
        e.first_seen,
        state_word(e.decision),
        e.approved_on
            .map(|d| format!(" until {d}"))
            .unwrap_or_default(),
        match e.next_window {
            Some(t) => format!("next window {}", at(&t, tz)),
            None => "no window will install it".into(),
        },
        match &e.deadline {
            Some(d) if d.overdue => format!(", OVERDUE: due by {}", d.due_by),
            Some(d) => format!(", due by {}", d.due_by),
            None => String::new(),
        }
    )
}

pub fn markdown(view: &CveView, tz: &TimeZone) -> String {
    let mut out = String::from("### CVEs with a fix not installed\n\n");
    if view.cves.is_empty() {
        out.push_str("None.\n");
        return out;
    }
    for c in &view.cves {
        let _ = writeln!(out, "**{}**\n", md(&headline(c)));
        out.push_str(
            "| host | group | package | installed | fixed by | first seen | decision | next window | due by |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for e in &c.exposed {
            let _ = writeln!(
                out,
                "| {} | {} | {} | `{}` | `{}` | {} | {} | {} | {} |",
                md(&e.host),
                md(&e.group),
                md(&e.package),
                e.installed.replace('`', "'"),
                e.fixed_by.replace('`', "'"),
                e.first_seen,
                state_word(e.decision),
                e.next_window.map_or("—".into(), |t| at(&t, tz)),
                e.deadline.as_ref().map_or("—".into(), |d| {
                    format!("{}{}", d.due_by, if d.overdue { " (overdue)" } else { "" })
                })
            );
        }
        out.push('\n');
    }
    out
}

/// One row per CVE, host and package.
pub fn csv(view: &CveView) -> String {
    let mut out = crate::csv::row(&[
        "cve",
        "severity",
        "knownExploited",
        "host",
        "group",
        "package",
        "installed",
        "fixedBy",
        "firstSeen",
        "decision",
        "nextWindow",
        "dueBy",
        "overdue",
    ]);
    for c in &view.cves {
        for e in &c.exposed {
            out.push_str(&crate::csv::row(&[
                c.id.clone(),
                severity_word(c.severity).to_string(),
                c.known_exploited.to_string(),
                e.host.clone(),
                e.group.clone(),
                e.package.clone(),
                e.installed.clone(),
                e.fixed_by.clone(),
                e.first_seen.to_string(),
                state_word(e.decision).to_string(),
                e.next_window.map(|t| t.to_string()).unwrap_or_default(),
                e.deadline
                    .as_ref()
                    .map(|d| d.due_by.to_string())
                    .unwrap_or_default(),
                e.deadline.as_ref().is_some_and(|d| d.overdue).to_string(),
            ]));
        }
    }
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
