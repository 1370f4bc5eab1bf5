//! `status/REPORT.md`: the compliance report, readable on any git forge —
//! compliance by group and severity, the oldest missing critical patch,
//! hosts pending a reboot, what needs attention, the last runs. A minijinja
//! template, so teams can read (and later replace) exactly what is shown.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use super::host::HostStatus;
use crate::rollout::record::{HostOutcome, RunOutcome, RunRecord};
use crate::spec::baseline::Severity;

/// The report formats, each its own template over the same data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Markdown,
    Text,
    Html,
    /// The [`Report`] itself.
    Json,
    /// One row per host.
    Csv,
}

impl ReportFormat {
    fn template(self) -> Option<(&'static str, &'static str)> {
        match self {
            ReportFormat::Markdown => Some(("report.md", include_str!("report.md.j2"))),
            ReportFormat::Text => Some(("report.txt", include_str!("report.txt.j2"))),
            // The `.html` name turns on minijinja's HTML escaping.
            ReportFormat::Html => Some(("report.html", include_str!("report.html.j2"))),
            ReportFormat::Json | ReportFormat::Csv => None,
        }
    }
}

/// How many runs the report lists.
const LAST_RUNS: usize = 10;

#[derive(Debug, Serialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Missing {
    pub critical: usize,
    pub important: usize,
    pub moderate: usize,
    pub low: usize,
    pub unspecified: usize,
}

#[derive(Debug, Serialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GroupRow {
    pub name: String,
    pub hosts: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub unknown: usize,
    pub missing: Missing,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Oldest {
    pub host: String,
    pub package: String,
    pub available: String,
    pub advisory: Option<String>,
    pub since: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttentionRow {
    pub host: String,
    pub package: String,
    pub version: String,
    pub state: String,
    pub reason: String,
}

/// A patch past its deadline on a host.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverdueRow {
    pub host: String,
    pub group: String,
    pub package: String,
    pub available: String,
    pub severity: Severity,
    pub known_exploited: bool,
    pub due_by: String,
    /// Whole days since the deadline passed (1 on the first day after it).
    pub days_overdue: i64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRow {
    pub id: String,
    pub group: String,
    pub outcome: String,
    pub patched: usize,
    pub failed: usize,
    pub skipped: usize,
    pub finished: String,
}

/// One word for a run's outcome.
pub fn outcome_word(o: &RunOutcome) -> String {
    match o {
        RunOutcome::Running => "running (or interrupted)".into(),
        RunOutcome::Succeeded => "succeeded".into(),
        RunOutcome::FinishedWithErrors { errors } => format!("finished with {errors} error(s)"),
        RunOutcome::Halted { reason } => format!("halted: {reason}"),
        RunOutcome::Stopped { reason } => format!("stopped: {reason}"),
    }
}

/// Renders REPORT.md (see [`render_as`]).
pub fn render(
    hosts: &[HostStatus],
    runs: &[RunRecord],
    generated_at: Timestamp,
    desired_commit: Option<&str>,
    first_seen: &dyn Fn(&str, &str) -> Option<Timestamp>,
) -> Result<String, String> {
    render_as(
        ReportFormat::Markdown,
        hosts,
        runs,
        generated_at,
        desired_commit,
        first_seen,
    )
}

/// Hosts by compliance state.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub hosts: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub unknown: usize,
}

/// The report's content, computed once: what the templates show, and what
/// `report --format json` prints.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub version: u32,
    pub generated_at: String,
    pub desired_commit: Option<String>,
    pub totals: Totals,
    pub groups: Vec<GroupRow>,
    /// The missing critical patch offered longest.
    pub oldest: Option<Oldest>,
    pub pending_reboot: Vec<String>,
    pub attention: Vec<AttentionRow>,
    /// Whether any host has a patch with a deadline (the Fleet sets `deadlines`).
    pub deadlines: bool,
    /// Patches past their deadline at `generatedAt`, most overdue first.
    pub overdue: Vec<OverdueRow>,
    /// The last runs, newest first.
    pub runs: Vec<RunRow>,
}

/// Renders the report in a format. `first_seen` says since when a version
/// has been offered (the oldest missing critical patch is the longest offered).
pub fn render_as(
    format: ReportFormat,
    hosts: &[HostStatus],
    runs: &[RunRecord],
    generated_at: Timestamp,
    desired_commit: Option<&str>,
    first_seen: &dyn Fn(&str, &str) -> Option<Timestamp>,
) -> Result<String, String> {
    let report = build(hosts, runs, generated_at, desired_commit, first_seen);
    match format.template() {
        Some((name, source)) => render_template(name, source, &report),
        None if format == ReportFormat::Json => serde_json::to_string_pretty(&report)
            .map(|t| t + "\n")
            .map_err(|e| e.to_string()),
        None => Ok(csv(hosts, generated_at)),
    }
}

/// The report's content (see [`render_as`]).
pub fn build(
    hosts: &[HostStatus],
    runs: &[RunRecord],
    generated_at: Timestamp,
    desired_commit: Option<&str>,
    first_seen: &dyn Fn(&str, &str) -> Option<Timestamp>,
) -> Report {
    let mut groups: BTreeMap<&str, GroupRow> = BTreeMap::new();
    let mut oldest: Option<(Timestamp, Oldest)> = None;
    let mut attention = Vec::new();
    for h in hosts {
        let g = groups.entry(h.group.as_str()).or_insert_with(|| GroupRow {
            name: h.group.clone(),
            ..Default::default()
        });
        g.hosts += 1;
        match h.compliance.as_str() {
            "compliant" => g.compliant += 1,
            "nonCompliant" => g.non_compliant += 1,
            _ => g.unknown += 1,
        }
        for m in &h.missing {
            let slot = match m.severity {
                Severity::Critical => &mut g.missing.critical,
                Severity::Important => &mut g.missing.important,
                Severity::Moderate => &mut g.missing.moderate,
                Severity::Low => &mut g.missing.low,
                Severity::Unspecified => &mut g.missing.unspecified,
            };
            *slot += 1;
            if m.severity == Severity::Critical {
                let name = m.package.name.as_str();
                let since = first_seen(name, &m.available).unwrap_or(h.last_scan);
                if oldest.as_ref().is_none_or(|(t, _)| since < *t) {
                    oldest = Some((
                        since,
                        Oldest {
                            host: h.host.clone(),
                            package: m.package.to_string(),
                            available: m.available.clone(),
                            advisory: m.advisory.clone(),
                            since: since.strftime("%Y-%m-%d").to_string(),
                        },
                    ));
                }
            }
        }
        for a in &h.attention {
            attention.push(AttentionRow {
                host: h.host.clone(),
                package: a.package.to_string(),
                version: a.version.clone(),
                state: serde_json::to_value(a.state)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                reason: a.reason.clone(),
            });
        }
        if h.scan != "scanned" {
            attention.push(AttentionRow {
                host: h.host.clone(),
                package: "—".into(),
                version: "—".into(),
                state: h.scan.to_uppercase(),
                reason: h.error.clone().unwrap_or_default(),
            });
        }
    }
    let mut overdue: Vec<OverdueRow> = hosts
        .iter()
        .flat_map(|h| h.deadlines.iter().map(move |d| (h, d)))
        .filter(|(_, d)| d.passes_at <= generated_at)
        .map(|(h, d)| OverdueRow {
            host: h.host.clone(),
            group: h.group.clone(),
            package: d.package.to_string(),
            available: d.available.clone(),
            severity: d.severity,
            known_exploited: d.known_exploited,
            due_by: d.due_by.to_string(),
            days_overdue: generated_at.duration_since(d.passes_at).as_secs() / 86_400 + 1,
        })
        .collect();
    overdue.sort_by(|a, b| {
        b.days_overdue
            .cmp(&a.days_overdue)
            .then_with(|| (&a.host, &a.package).cmp(&(&b.host, &b.package)))
    });
    let mut sorted: Vec<&RunRecord> = runs.iter().collect();
    sorted.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.id.cmp(&b.id)));
    let runs: Vec<RunRow> = sorted
        .into_iter()
        .take(LAST_RUNS)
        .map(|r| {
            let hs: Vec<&HostOutcome> = r
                .waves
                .iter()
                .flat_map(|w| &w.hosts)
                .map(|h| &h.outcome)
                .collect();
            RunRow {
                id: r.id.clone(),
                group: r.group.clone(),
                outcome: outcome_word(&r.outcome),
                patched: hs
                    .iter()
                    .filter(|o| matches!(o, HostOutcome::Patched))
                    .count(),
                failed: hs.iter().filter(|o| o.is_failure()).count(),
                skipped: hs
                    .iter()
                    .filter(|o| matches!(o, HostOutcome::Skipped { .. } | HostOutcome::Pending))
                    .count(),
                finished: r
                    .finished_at
                    .map_or("—".into(), |t| t.strftime("%Y-%m-%d %H:%MZ").to_string()),
            }
        })
        .collect();
    let pending_reboot: Vec<String> = hosts
        .iter()
        .filter(|h| h.reboot_required)
        .map(|h| h.host.clone())
        .collect();
    let compliant = hosts.iter().filter(|h| h.compliance == "compliant").count();
    let non_compliant = hosts
        .iter()
        .filter(|h| h.compliance == "nonCompliant")
        .count();
    Report {
        version: REPORT_VERSION,
        generated_at: generated_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        desired_commit: desired_commit.map(String::from),
        totals: Totals {
            hosts: hosts.len(),
            compliant,
            non_compliant,
            unknown: hosts.len() - compliant - non_compliant,
        },
        groups: groups.into_values().collect(),
        oldest: oldest.map(|(_, o)| o),
        pending_reboot,
        attention,
        deadlines: hosts.iter().any(|h| !h.deadlines.is_empty()),
        overdue,
        runs,
    }
}

/// The version of the JSON report's shape.
pub const REPORT_VERSION: u32 = 1;

fn render_template(name: &str, source: &str, report: &Report) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Text from hosts and the status branch: no Markdown may come through
    // (tables, code spans, links, images, HTML), no control characters.
    env.add_filter("md", |s: String| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '|' | '`' | '[' | ']' | '!' | '*' | '_' | '\\' | '#' => {
                    out.push('\\');
                    out.push(c);
                }
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c if c.is_control() => out.push(' '),
                c => out.push(c),
            }
        }
        out
    });
    env.add_template(name, source).map_err(|e| e.to_string())?;
    env.get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(report)))
        .map_err(|e| format!("the report template: {e}"))
}

/// One row per host: where it stands and what it misses, by severity.
/// Fields are quoted where they must be (RFC 4180), and a field a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is
/// prefixed with `'`.
fn csv(hosts: &[HostStatus], generated_at: Timestamp) -> String {
    let mut out = String::from(
        "host,group,compliance,scan,lastScan,missingCritical,missingImportant,missingModerate,missingLow,missingUnspecified,rebootRequired,lastRun,lastRunOutcome,overdue\n",
    );
    let mut sorted: Vec<&HostStatus> = hosts.iter().collect();
    sorted.sort_by(|a, b| (&a.group, &a.host).cmp(&(&b.group, &b.host)));
    for h in sorted {
        let count = |s: Severity| {
            h.missing
                .iter()
                .filter(|m| m.severity == s)
                .count()
                .to_string()
        };
        let row = [
            h.host.clone(),
            h.group.clone(),
            h.compliance.clone(),
            h.scan.clone(),
            h.last_scan.to_string(),
            count(Severity::Critical),
            count(Severity::Important),
            count(Severity::Moderate),
            count(Severity::Low),
            count(Severity::Unspecified),
            h.reboot_required.to_string(),
            h.last_run
                .as_ref()
                .map(|r| r.id.clone())
                .unwrap_or_default(),
            h.last_run
                .as_ref()
                .map(|r| r.outcome.clone())
                .unwrap_or_default(),
            h.deadlines
                .iter()
                .filter(|d| d.passes_at <= generated_at)
                .count()
                .to_string(),
        ];
        let fields: Vec<String> = row.iter().map(|f| crate::csv::field(f)).collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::PackageKey;
    use crate::spec::baseline::Classification;
    use crate::status::host::{MissingPatch, STATUS_VERSION};

    fn host(name: &str, group: &str, compliance: &str, missing: Vec<MissingPatch>) -> HostStatus {
        HostStatus {
            version: STATUS_VERSION,
            host: name.into(),
            group: group.into(),
            transport: "ssh".into(),
            last_scan: "2026-11-23T06:00:00Z".parse().unwrap(),
            scan: if compliance == "unknown" {
                "unreachable".into()
            } else {
                "scanned".into()
            },
            error: (compliance == "unknown").then(|| "db-3: cannot connect".to_string()),
            os: None,
            kernel: None,
            reboot_required: name == "web-2",
            compliance: compliance.into(),
            missing,
            patch_states: Default::default(),
            attention: vec![],
            installed: Default::default(),
            last_run: None,
            deadlines: vec![],
        }
    }

    fn critical(package: &str, available: &str, advisory: &str) -> MissingPatch {
        MissingPatch {
            package: PackageKey::parse(package),
            installed: "1".into(),
            available: available.into(),
            classification: Classification::Security,
            severity: Severity::Critical,
            advisory: Some(advisory.into()),
            cves: vec![],
            severity_source: None,
            known_exploited: false,
        }
    }

    #[test]
    fn csv_quotes_what_it_must_and_never_starts_a_formula() {
        assert_eq!(crate::csv::field("plain"), "plain");
        assert_eq!(crate::csv::field("a,b"), "\"a,b\"");
        assert_eq!(crate::csv::field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(crate::csv::field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(crate::csv::field("@x,y"), "\"'@x,y\"");
        let hosts = vec![
            host("web-2", "web", "compliant", vec![]),
            host(
                "web-1",
                "web",
                "nonCompliant",
                vec![critical("openssl:amd64", "3.0.17", "DSA-1")],
            ),
        ];
        let out = csv(&hosts, Timestamp::UNIX_EPOCH);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[1].starts_with("web-1,web,nonCompliant,"), "{out}");
        assert_eq!(lines[1].split(',').nth(5), Some("1"), "one critical: {out}");
        assert!(lines[2].starts_with("web-2,web,compliant,"), "{out}");
    }

    #[test]
    fn the_report_counts_by_group_and_finds_the_oldest_critical_patch() {
        let hosts = vec![
            host(
                "web-1",
                "web",
                "nonCompliant",
                vec![critical("openssl:amd64", "3.0.17", "DSA-1|x")],
            ),
            host("web-2", "web", "compliant", vec![]),
            host(
                "db-1",
                "db",
                "nonCompliant",
                vec![critical("postgresql-15:amd64", "15.14", "DSA-2")],
            ),
            host("db-3", "db", "unknown", vec![]),
        ];
        let seen = |p: &str, _v: &str| -> Option<Timestamp> {
            match p {
                "openssl" => "2026-11-10T00:00:00Z".parse().ok(),
                "postgresql-15" => "2026-11-01T00:00:00Z".parse().ok(),
                _ => None,
            }
        };
        let md = render(
            &hosts,
            &[],
            "2026-11-23T07:00:00Z".parse().unwrap(),
            Some("abc123"),
            &seen,
        )
        .unwrap();
        assert!(
            md.contains("**1 of 4 hosts compliant**; 2 non-compliant, 1 unknown"),
            "{md}"
        );
        assert!(
            md.contains("| db | 2 | 0 | 1 | 1 | 1 | 0 | 0 | 0 | 0 |"),
            "{md}"
        );
        assert!(
            md.contains("| web | 2 | 1 | 1 | 0 | 1 | 0 | 0 | 0 | 0 |"),
            "{md}"
        );
        assert!(
            md.contains("postgresql-15:amd64 15.14 on **db-1**, offered since 2026-11-01 (DSA-2)."),
            "the longest-offered critical patch: {md}"
        );
        assert!(md.contains("- web-2\n"), "{md}");
        assert!(
            md.contains("| db-3 | — | — | UNREACHABLE | db-3: cannot connect |"),
            "{md}"
        );
        let html = render_as(
            ReportFormat::Html,
            &hosts,
            &[],
            "2026-11-23T07:00:00Z".parse().unwrap(),
            None,
            &seen,
        )
        .unwrap();
        assert!(html.contains("<td class=\"n bad\">1</td>"), "{html}");
    }
}
