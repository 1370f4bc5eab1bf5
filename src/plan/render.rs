//! The plan for people: text for a terminal, Markdown for a pull-request
//! comment ([`markdown`]). Both are built from the same `Plan` the JSON output
//! serialises, so they never disagree. Times are shown in the Fleet's zone,
//! named (`2026-12-05 22:00 CET`).

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::baseline::DecisionState;
use super::fleet::{HostPlan, Plan, human_age};
use super::host::{PatchDecision, PatchState, PatchStatus};
use crate::schedule::WindowStatus;
use crate::spec::baseline::Severity;

pub mod cves;
mod markdown;

pub use markdown::{MARKDOWN_BUDGET, MIN_MARKDOWN_BUDGET, markdown, markdown_within};

/// What a rendering needs besides the plan: the commit it was planned from
/// and the zone to show times in.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The desired-state commit planned (the fleet repository's HEAD, or the
    /// remote branch's newest commit), when known.
    pub commit: Option<&'a str>,
    /// The Fleet's zone (`spec.timezone`, UTC by default).
    pub tz: &'a TimeZone,
}

/// `2026-12-05 22:00 CET`: an instant in the Fleet's zone, named; in UTC
/// `2026-12-05 21:00Z`, as `patchwave windows` writes it.
pub fn at(t: &Timestamp, tz: &TimeZone) -> String {
    if matches!(tz.iana_name(), Some("UTC" | "Etc/UTC")) {
        return t.strftime("%Y-%m-%d %H:%MZ").to_string();
    }
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The zone's name for a reader: `Europe/Berlin`, `UTC`.
fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().map_or_else(
        || {
            at(&Timestamp::UNIX_EPOCH, tz)
                .rsplit(' ')
                .next()
                .unwrap_or("")
                .to_string()
        },
        str::to_string,
    )
}

/// The commit (abbreviated, formatted by `code`), or that it is unknown.
fn commit_words(ctx: &RenderContext<'_>, code: &dyn Fn(&str) -> String) -> String {
    ctx.commit.map_or_else(
        || "commit unknown (not a git checkout)".to_string(),
        |c| format!("commit {}", code(&c.chars().take(12).collect::<String>())),
    )
}

/// The plan's instant and the facts' age: what a reader needs to judge
/// whether the plan is current.
fn as_of(plan: &Plan, ctx: &RenderContext<'_>) -> String {
    let now = plan.generated_at;
    let facts = match (plan.facts.oldest_scan, plan.facts.newest_scan) {
        (Some(old), Some(new)) if old != new => format!(
            "facts {} to {} old (scanned {} to {})",
            human_age(now.duration_since(new)),
            human_age(now.duration_since(old)),
            at(&old, ctx.tz),
            at(&new, ctx.tz)
        ),
        (Some(old), _) => format!(
            "facts {} old (scanned {})",
            human_age(now.duration_since(old)),
            at(&old, ctx.tz)
        ),
        _ => "no facts (no host was scanned)".to_string(),
    };
    format!("as of {} · {facts}", at(&now, ctx.tz))
}

/// One line per vulnerability source, in parts: where its data came from,
/// how old it is (as of the plan), and whether a last good copy stood in
/// or it was left out.
struct SourceLine {
    /// `vulnerability data debian (debianTracker, url`
    head: String,
    /// The file or URL, for the renderer to set apart.
    location: String,
    /// `): 2h 5m old (downloaded 2026-12-02 10:00Z)`, …
    tail: String,
    /// A fallback, left out or stale.
    attention: bool,
}

fn vulnerability_lines(plan: &Plan, ctx: &RenderContext<'_>) -> Vec<SourceLine> {
    use crate::vuln::{DataOrigin, DataState};
    plan.vulnerability_data
        .iter()
        .map(|d| {
            let format = d.format.as_str();
            let origin = match d.origin {
                DataOrigin::File => "file",
                DataOrigin::Url => "url",
            };
            let head = format!("vulnerability data {} ({format}, {origin} ", d.name);
            let location = d.location.clone();
            let Some(checked) = d.checked_at else {
                return SourceLine {
                    head,
                    location,
                    tail: "): LEFT OUT (it failed and no good copy is kept; see the warnings)"
                        .into(),
                    attention: true,
                };
            };
            let age = human_age(plan.generated_at.duration_since(checked));
            let when = match (d.origin, d.fetched_at) {
                (DataOrigin::Url, Some(fetched)) if fetched != checked => format!(
                    "downloaded {}, confirmed unchanged {}",
                    at(&fetched, ctx.tz),
                    at(&checked, ctx.tz)
                ),
                (DataOrigin::Url, _) => format!("downloaded {}", at(&checked, ctx.tz)),
                (DataOrigin::File, _) => format!("read {}", at(&checked, ctx.tz)),
            };
            let how = match d.state {
                DataState::Fresh => "",
                DataState::Cached => ", the copy in run state (not due for download)",
                DataState::LastGood => {
                    ", LAST GOOD COPY from run state: the source failed (see the warnings)"
                }
                DataState::LeftOut => ", left out",
            };
            let stale = if d.stale {
                ", older than its maxAge"
            } else {
                ""
            };
            SourceLine {
                head,
                location,
                tail: format!("): {age} old ({when}){how}{stale}"),
                attention: d.stale || matches!(d.state, DataState::LastGood | DataState::LeftOut),
            }
        })
        .collect()
}

/// Colour decisions, made once by the caller (terminal or not).
pub trait Paint {
    fn add(&self, s: &str) -> String;
    fn warn(&self, s: &str) -> String;
    fn bold(&self, s: &str) -> String;
    fn dim(&self, s: &str) -> String;
}

/// No colour (files, CI logs, tests).
pub struct Plain;

impl Paint for Plain {
    fn add(&self, s: &str) -> String {
        s.to_string()
    }
    fn warn(&self, s: &str) -> String {
        s.to_string()
    }
    fn bold(&self, s: &str) -> String {
        s.to_string()
    }
    fn dim(&self, s: &str) -> String {
        s.to_string()
    }
}

pub(crate) fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Important => "important",
        Severity::Moderate => "moderate",
        Severity::Low => "low",
        Severity::Unspecified => "unspecified",
    }
}

pub(crate) fn state_word(s: DecisionState) -> &'static str {
    match s {
        DecisionState::Approved => "APPROVED",
        DecisionState::PendingApproval => "PENDING_APPROVAL",
        DecisionState::ExplicitApproved => "EXPLICIT_APPROVED",
        DecisionState::ExplicitRejected => "EXPLICIT_REJECTED",
        DecisionState::NotApplicable => "NOT_APPLICABLE",
    }
}

fn window_line(w: &WindowStatus, tz: &TimeZone) -> String {
    let t = |t: &Timestamp| at(t, tz);
    match w {
        WindowStatus::Open {
            window,
            start_until,
            ..
        } => {
            format!("window open ({window}) until {}", t(start_until))
        }
        WindowStatus::Denied {
            deny_window,
            until,
            next_start,
        } => format!(
            "frozen by {deny_window} until {}; next start {}",
            t(until),
            next_start.as_ref().map_or("none scheduled".into(), t)
        ),
        WindowStatus::Closed { next_start } => format!(
            "outside windows; next start {}",
            next_start.as_ref().map_or("none scheduled".into(), t)
        ),
    }
}

/// The window line, and the EmergencyChanges that let hosts start outside
/// it ("allowed by EmergencyChange NAME until …").
fn group_window(g: &super::fleet::GroupPlan, tz: &TimeZone) -> String {
    let mut line = window_line(&g.window, tz);
    if matches!(g.window, WindowStatus::Open { .. }) {
        return line;
    }
    let frozen = matches!(g.window, WindowStatus::Denied { .. });
    for e in &g.emergency {
        let _ = write!(
            line,
            "; allowed by EmergencyChange {} until {}{}{} ({})",
            e.name,
            at(&e.until, tz),
            e.hosts
                .as_ref()
                .map(|h| format!(" for {}", h.join(", ")))
                .unwrap_or_default(),
            match (frozen, e.break_freeze) {
                (true, true) => ", through the freeze",
                (true, false) => ", but not through the freeze",
                _ => "",
            },
            e.reason
        );
    }
    line
}

/// The new version with the characters that changed emphasised (a character
/// diff: `3.0.15-1~deb12u1 → 3.0.17-1~deb12u2` stresses the `7` and the `2`).
fn version_diff(from: &str, to: &str, p: &dyn Paint) -> String {
    let diff = similar::TextDiff::from_chars(from, to);
    let mut out = String::new();
    let mut run = String::new();
    let mut changed = false;
    let flush = |run: &mut String, changed: bool, out: &mut String| {
        if !run.is_empty() {
            out.push_str(&if changed { p.bold(run) } else { p.add(run) });
            run.clear();
        }
    };
    for c in diff.iter_all_changes() {
        let insert = match c.tag() {
            similar::ChangeTag::Delete => continue,
            similar::ChangeTag::Insert => true,
            similar::ChangeTag::Equal => false,
        };
        if insert != changed {
            flush(&mut run, changed, &mut out);
            changed = insert;
        }
        run.push_str(c.value());
    }
    flush(&mut run, changed, &mut out);
    out
}

/// A change line, coloured: the new version's changed characters stand out.
fn painted_change_line(c: &PatchDecision, p: &dyn Paint) -> String {
    let plain = change_line(c);
    let head = format!("~ {} {} → ", c.name, from_word(c));
    let tail = plain
        .strip_prefix(&format!("{} {} → {}", c.name, from_word(c), c.to))
        .unwrap_or("");
    format!(
        "{}{}{}",
        p.add(&head),
        version_diff(&c.from, &c.to, p),
        p.add(tail)
    )
}

/// The version a change starts from; a Windows update starts from nothing.
fn from_word(p: &PatchDecision) -> &str {
    if p.from.is_empty() {
        "(not installed)"
    } else {
        &p.from
    }
}

/// What a reader must know beside the reason: known exploitation and the
/// deadline (`known exploited; OVERDUE: due by 2026-11-30`).
pub(crate) fn urgency(p: &PatchDecision) -> Option<String> {
    let mut parts = Vec::new();
    if p.known_exploited {
        parts.push("known exploited".to_string());
    }
    if let Some(d) = &p.deadline {
        parts.push(if d.overdue {
            format!("OVERDUE: due by {}", d.due_by)
        } else {
            format!("due by {}", d.due_by)
        });
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `; <urgency>` after a reason, or nothing.
fn urgency_note(p: &PatchDecision) -> String {
    urgency(p).map(|u| format!("; {u}")).unwrap_or_default()
}

/// One line per change: `~ name from → to  class severity  reason`.
fn change_line(p: &PatchDecision) -> String {
    let advisory = p
        .advisory
        .as_ref()
        .map(|a| format!(" {a}"))
        .unwrap_or_default();
    format!(
        "{} {} → {}  {} {}{advisory}  ({}{})",
        p.name,
        from_word(p),
        p.to,
        format!("{:?}", p.classification).to_lowercase(),
        severity_word(p.decision.compliance_level),
        p.decision.reason,
        urgency_note(p)
    )
}

fn withheld_line(p: &PatchDecision) -> String {
    let when = p
        .decision
        .approved_on
        .map(|d| format!(" until {d}"))
        .unwrap_or_default();
    format!(
        "{} {} → {}  {}{when}: {}{}",
        p.name,
        from_word(p),
        p.to,
        state_word(p.decision.state),
        p.decision.reason,
        urgency_note(p)
    )
}

/// Counts by severity, most severe first: "2 critical, 1 important".
fn severity_counts(by: &std::collections::BTreeMap<Severity, usize>) -> String {
    let parts: Vec<String> = by
        .iter()
        .map(|(s, n)| format!("{n} {}", severity_word(*s)))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut line = format!(
        "{} host{} to change, {} package{} ({}), {} reboot{}",
        s.hosts_to_change,
        if s.hosts_to_change == 1 { "" } else { "s" },
        s.packages_to_install,
        if s.packages_to_install == 1 { "" } else { "s" },
        severity_counts(&s.by_severity),
        s.reboots,
        if s.reboots == 1 { "" } else { "s" },
    );
    let attention: Vec<String> = s
        .attention
        .iter()
        .map(|(state, n)| format!("{n} {}", attention_word(*state)))
        .collect();
    if !attention.is_empty() {
        let _ = write!(line, "; {}", attention.join(", "));
    }
    if s.hosts_unknown > 0 {
        let _ = write!(
            line,
            "; {} host{} unknown",
            s.hosts_unknown,
            if s.hosts_unknown == 1 { "" } else { "s" }
        );
    }
    line
}

fn attention_word(s: PatchState) -> &'static str {
    match s {
        PatchState::Failed => "failed",
        PatchState::InstalledRejected => "rejected installed",
        PatchState::InstalledPendingReboot => "pending reboot",
        PatchState::Missing => "missing",
        PatchState::Installed => "installed",
    }
}

fn state_name(s: PatchState) -> &'static str {
    match s {
        PatchState::Installed => "INSTALLED",
        PatchState::InstalledPendingReboot => "INSTALLED_PENDING_REBOOT",
        PatchState::InstalledRejected => "INSTALLED_REJECTED",
        PatchState::Missing => "MISSING",
        PatchState::Failed => "FAILED",
    }
}

fn attention_line(a: &PatchStatus) -> String {
    format!(
        "{} {}  {}: {}",
        a.name,
        a.version,
        state_name(a.state),
        a.reason
    )
}

/// Worth showing even with nothing to install: patches held back, or in a state that needs attention.
fn noteworthy(h: &HostPlan) -> bool {
    !h.desired.withheld.is_empty() || !h.desired.attention.is_empty()
}

fn host_block(out: &mut String, h: &HostPlan, p: &dyn Paint, indent: &str) {
    let crit = format!("{:?}", h.criticality).to_lowercase();
    let reboot = if h.desired.reboot_expected {
        ", reboot expected"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{indent}{}  {}",
        p.bold(&h.host),
        p.dim(&format!("{crit}, priority {}{reboot}", h.priority))
    );
    for c in &h.desired.install {
        let _ = writeln!(out, "{indent}  {}", painted_change_line(c, p));
    }
    for w in &h.desired.withheld {
        let _ = writeln!(
            out,
            "{indent}  {}",
            p.dim(&format!("= {}", withheld_line(w)))
        );
    }
    for a in &h.desired.attention {
        let _ = writeln!(
            out,
            "{indent}  {}",
            p.warn(&format!("! {}", attention_line(a)))
        );
    }
}

/// What the text plan's markers mean.
const TEXT_LEGEND: &str = "~ installs now, = withheld (available, not now), ! needs attention";

/// The plan as text, grouped by group and wave: the plan's instant and the
/// facts' age first, the summary last. No commit: a person at a terminal
/// knows what they planned, and a branch planned remotely reads the same
/// as its local checkout.
pub fn text(plan: &Plan, ctx: &RenderContext<'_>, p: &dyn Paint) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", p.dim(&as_of(plan, ctx)));
    for l in vulnerability_lines(plan, ctx) {
        let line = format!("{}{}{}", l.head, l.location, l.tail);
        let _ = writeln!(
            out,
            "{}",
            if l.attention {
                p.warn(&line)
            } else {
                p.dim(&line)
            }
        );
    }
    out.push('\n');
    for w in &plan.warnings {
        let _ = writeln!(out, "{}\n", p.warn(&format!("warning: {w}")));
    }
    for g in &plan.groups {
        let suspended = if g.suspended {
            ", SUSPENDED (detect only)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{}  {}",
            p.bold(&format!("group {}", g.group)),
            p.dim(&format!(
                "baseline {}, rollout {}{suspended}; {}",
                g.baseline,
                g.rollout,
                group_window(g, ctx.tz)
            ))
        );
        for w in &g.waves {
            let label = if w.number == 1 && g.waves.len() > 1 {
                " (canary)"
            } else {
                ""
            };
            let _ = writeln!(out, "  wave {}{label}", w.number);
            for h in &w.hosts {
                host_block(&mut out, h, p, "    ");
            }
        }
        let waiting: Vec<&HostPlan> = g.unchanged.iter().filter(|h| noteworthy(h)).collect();
        if !waiting.is_empty() {
            let _ = writeln!(out, "  no changes now:");
        }
        for h in waiting {
            host_block(&mut out, h, p, "    ");
        }
        let quiet: Vec<&str> = g
            .unchanged
            .iter()
            .filter(|h| !noteworthy(h))
            .map(|h| h.host.as_str())
            .collect();
        if !quiet.is_empty() {
            let _ = writeln!(
                out,
                "  {}",
                p.dim(&format!("up to date: {}", quiet.join(", ")))
            );
        }
        for u in &g.unknown {
            let _ = writeln!(
                out,
                "  {}",
                p.warn(&format!("unknown: {} ({})", u.host, u.reason))
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{}",
        p.dim(&format!("{TEXT_LEGEND}; times in {}", zone_name(ctx.tz)))
    );
    let _ = writeln!(out, "{}", p.bold(&format!("Plan: {}.", summary_line(plan))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marks painted spans so a test can see them.
    struct Marks;

    impl Paint for Marks {
        fn add(&self, s: &str) -> String {
            s.to_string()
        }
        fn warn(&self, s: &str) -> String {
            s.to_string()
        }
        fn bold(&self, s: &str) -> String {
            format!("[{s}]")
        }
        fn dim(&self, s: &str) -> String {
            s.to_string()
        }
    }

    #[test]
    fn times_are_shown_in_the_zone_named() {
        let t: Timestamp = "2026-07-01T20:00:00Z".parse().unwrap();
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(at(&t, &berlin), "2026-07-01 22:00 CEST");
        assert_eq!(at(&t, &TimeZone::UTC), "2026-07-01 20:00Z");
        assert_eq!(zone_name(&berlin), "Europe/Berlin");
        assert_eq!(zone_name(&TimeZone::UTC), "UTC");
        let fixed = TimeZone::fixed(jiff::tz::offset(5));
        assert_eq!(at(&t, &fixed), "2026-07-02 01:00 +05");
        assert_eq!(zone_name(&fixed), "+05");
    }

    #[test]
    fn ages_read_at_a_glance() {
        let age = |s: i64| human_age(jiff::SignedDuration::from_secs(s));
        assert_eq!(age(-60), "0m");
        assert_eq!(age(59), "0m");
        assert_eq!(age(30 * 60), "30m");
        assert_eq!(age(5 * 3600 + 12 * 60), "5h 12m");
        assert_eq!(age(3 * 86400 + 3 * 3600 + 59), "3d 3h");
    }

    #[test]
    fn version_diff_stresses_what_changed() {
        assert_eq!(
            version_diff("3.0.15-1~deb12u1", "3.0.17-1~deb12u2", &Marks),
            "3.0.1[7]-1~deb12u[2]"
        );
        assert_eq!(version_diff("1.0", "2:1.0", &Marks), "[2:]1.0");
        assert_eq!(version_diff("", "1", &Marks), "[1]");
    }
}
