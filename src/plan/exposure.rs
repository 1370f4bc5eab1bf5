//! The CVE view of a plan (`patchwave cves`): per CVE, the hosts exposed to
//! it (offered a fix they have not installed), since when, the fixing
//! version, the baseline's decision on it and the next window that will
//! install it; and per host, its CVEs.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::Serialize;

use super::baseline::{DecisionState, Withheld};
use super::deadline::Deadline;
use super::fleet::Plan;
use super::history::History;
use super::host::PatchDecision;
use crate::schedule::{Calendar, WindowStatus};
use crate::spec::baseline::Severity;

/// Version of the CVE JSON document.
pub const CVES_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CveView {
    pub version: u32,
    pub generated_at: Timestamp,
    /// Every CVE some host is exposed to, most severe first.
    pub cves: Vec<CveExposure>,
    /// Every exposed host with its CVEs, most exposed first.
    pub hosts: Vec<HostExposure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CveExposure {
    pub id: String,
    /// The highest severity of the updates that fix it.
    pub severity: Severity,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub known_exploited: bool,
    /// Where it is known from: `os` (an advisory) or vulnerability sources.
    pub sources: Vec<String>,
    pub exposed: Vec<Exposed>,
}

/// One host exposed to a CVE, through one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exposed {
    pub host: String,
    pub group: String,
    pub package: String,
    pub installed: String,
    /// The offered version that fixes it.
    pub fixed_by: String,
    /// The day the fixing version was first seen offered.
    pub first_seen: Date,
    pub decision: DecisionState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Withheld>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_on: Option<Date>,
    /// When a window next lets the group install it: now (if open), the next
    /// opening, or after `approvedOn`; absent when nothing will (rejected,
    /// no rule approves it, no window ahead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_window: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostExposure {
    pub host: String,
    pub group: String,
    /// Its CVEs, most severe first.
    pub cves: Vec<String>,
}

/// What `cves` asks of the plan.
pub struct Ask<'a> {
    pub history: &'a History,
    pub calendar: &'a Calendar,
    pub tz: &'a TimeZone,
    pub now: Timestamp,
    /// Only this CVE.
    pub cve: Option<&'a str>,
}

/// The CVE view of `plan`.
pub fn exposure(plan: &Plan, ask: &Ask<'_>) -> CveView {
    let today = ask.now.to_zoned(ask.tz.clone()).date();
    let scanned_day = plan
        .facts
        .newest_scan
        .map(|t| t.to_zoned(ask.tz.clone()).date());
    let mut by_cve: BTreeMap<String, CveExposure> = BTreeMap::new();
    let mut by_host: BTreeMap<(String, String), Vec<(Severity, String)>> = BTreeMap::new();
    for g in &plan.groups {
        let hosts = g.waves.iter().flat_map(|w| &w.hosts).chain(&g.unchanged);
        for h in hosts {
            for p in h.desired.install.iter().chain(&h.desired.withheld) {
                for id in &p.cves {
                    if ask.cve.is_some_and(|only| !only.eq_ignore_ascii_case(id)) {
                        continue;
                    }
                    let first_seen = ask
                        .history
                        .first_seen(&p.name, &p.to)
                        .map(|t| t.to_zoned(ask.tz.clone()).date())
                        .or(scanned_day)
                        .unwrap_or(today);
                    let entry = by_cve.entry(id.clone()).or_insert_with(|| CveExposure {
                        id: id.clone(),
                        severity: Severity::Unspecified,
                        known_exploited: false,
                        sources: Vec::new(),
                        exposed: Vec::new(),
                    });
                    entry.severity = entry.severity.min(p.severity);
                    let finding = p.vulnerabilities.iter().find(|v| &v.id == id);
                    entry.known_exploited |= finding.is_some_and(|f| f.known_exploited);
                    let source = finding.map_or("os".to_string(), |f| f.source.clone());
                    if !entry.sources.contains(&source) {
                        entry.sources.push(source);
                    }
                    entry.exposed.push(Exposed {
                        host: h.host.clone(),
                        group: g.group.clone(),
                        package: format!("{}:{}", p.name, p.arch),
                        installed: p.from.clone(),
                        fixed_by: p.to.clone(),
                        first_seen,
                        decision: p.decision.state,
                        withheld: p.decision.withheld,
                        approved_on: p.decision.approved_on,
                        next_window: next_window(p, &g.group, &g.window, ask),
                        deadline: p.deadline.clone(),
                    });
                    by_host
                        .entry((h.host.clone(), g.group.clone()))
                        .or_default()
                        .push((p.severity, id.clone()));
                }
            }
        }
    }
    let mut cves: Vec<CveExposure> = by_cve.into_values().collect();
    for c in &mut cves {
        c.exposed
            .sort_by(|a, b| (&a.host, &a.package).cmp(&(&b.host, &b.package)));
    }
    cves.sort_by(|a, b| {
        (a.severity, !a.known_exploited, &a.id).cmp(&(b.severity, !b.known_exploited, &b.id))
    });
    let mut hosts: Vec<HostExposure> = by_host
        .into_iter()
        .map(|((host, group), mut ids)| {
            ids.sort();
            let mut cves: Vec<String> = Vec::new();
            for (_, id) in ids {
                if !cves.contains(&id) {
                    cves.push(id);
                }
            }
            HostExposure { host, group, cves }
        })
        .collect();
    hosts.sort_by(|a, b| b.cves.len().cmp(&a.cves.len()).then(a.host.cmp(&b.host)));
    CveView {
        version: CVES_VERSION,
        generated_at: ask.now,
        cves,
        hosts,
    }
}

/// When the group's windows next let it install `p`.
fn next_window(
    p: &PatchDecision,
    group: &str,
    now_status: &WindowStatus,
    ask: &Ask<'_>,
) -> Option<Timestamp> {
    let from = if p.decision.state.installs() {
        ask.now
    } else if p.decision.state == DecisionState::PendingApproval {
        let day = p.decision.approved_on?;
        let start = day
            .to_zoned(ask.tz.clone())
            .ok()
            .map(|z: Zoned| z.timestamp())?;
        start.max(ask.now)
    } else {
        return None;
    };
    let status = if from == ask.now {
        now_status.clone()
    } else {
        ask.calendar.status(group, from)
    };
    match status {
        WindowStatus::Open { .. } => Some(from),
        WindowStatus::Denied { next_start, .. } | WindowStatus::Closed { next_start } => next_start,
    }
}
