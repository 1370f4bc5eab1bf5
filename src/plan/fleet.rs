//! The fleet plan: every group's hosts, their changes, in rollout waves.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::baseline::{CompiledBaseline, Context};
use super::history::History;
use super::host::{Compliance, HostDesired, desired, priority};
use crate::facts::{FleetFacts, ScanState};
use crate::schedule::{Calendar, WindowStatus};
use crate::spec::Repository;
use crate::spec::baseline::Severity;
use crate::spec::common::{CountOrPercent, Criticality};
use crate::spec::rollout::RolloutPolicySpec;

/// Version of the plan JSON document.
pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub version: u32,
    pub generated_at: Timestamp,
    pub summary: Summary,
    pub groups: Vec<GroupPlan>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub hosts_to_change: usize,
    pub packages_to_install: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    pub reboots: usize,
    pub hosts_unknown: usize,
    pub hosts_compliant: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupPlan {
    pub group: String,
    pub baseline: String,
    pub rollout: String,
    pub suspended: bool,
    pub window: WindowStatus,
    pub waves: Vec<Wave>,
    /// Scanned hosts with nothing to install now (they may have withheld patches).
    pub unchanged: Vec<HostPlan>,
    /// Hosts without facts: not scanned, unreachable, or failed.
    pub unknown: Vec<UnknownHost>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Wave {
    /// 1-based; wave 1 is the canary.
    pub number: usize,
    pub hosts: Vec<HostPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPlan {
    pub host: String,
    pub criticality: Criticality,
    /// Highest severity × criticality among its changes.
    pub priority: u32,
    #[serde(flatten)]
    pub desired: HostDesired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnknownHost {
    pub host: String,
    pub reason: String,
}

/// Everything a plan is computed from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub repo: &'a Repository,
    pub facts: &'a FleetFacts,
    pub history: &'a History,
    pub calendar: &'a Calendar,
    pub now: Timestamp,
    /// The zone in which approval days are counted.
    pub tz: &'a TimeZone,
    pub only_group: Option<&'a str>,
    pub only_host: Option<&'a str>,
}

/// Plans the whole fleet. Pure: the same inputs give the same plan.
pub fn plan_fleet(input: &PlanInput<'_>) -> Result<Plan, String> {
    let PlanInput {
        repo,
        facts,
        history,
        calendar,
        now,
        tz,
        only_group,
        only_host,
    } = *input;
    let by_host: BTreeMap<&str, &crate::facts::HostScan> =
        facts.hosts.iter().map(|h| (h.host.as_str(), h)).collect();
    let mut groups = Vec::new();
    let mut summary = Summary::default();
    for g in repo
        .groups
        .iter()
        .filter(|g| only_group.is_none_or(|x| g.name() == x))
    {
        let b = repo
            .baselines
            .iter()
            .find(|b| b.name() == g.spec.baseline.value)
            .ok_or_else(|| {
                format!(
                    "group `{}`: baseline `{}` not found",
                    g.name(),
                    g.spec.baseline.value
                )
            })?;
        let approvals: Vec<_> = repo
            .approvals
            .iter()
            .filter(|a| a.spec.baseline.value == b.name())
            .collect();
        let compiled = CompiledBaseline::compile(b, &approvals)?;
        let rollout = repo
            .rollouts
            .iter()
            .find(|r| r.name() == g.spec.rollout.value)
            .ok_or_else(|| {
                format!(
                    "group `{}`: rollout `{}` not found",
                    g.name(),
                    g.spec.rollout.value
                )
            })?;
        let group_crit = g.spec.criticality.unwrap_or(Criticality::Medium);
        let mut changing = Vec::new();
        let mut unchanged = Vec::new();
        let mut unknown = Vec::new();
        let mut labels = BTreeMap::new();
        for h in g
            .spec
            .hosts
            .iter()
            .filter(|h| only_host.is_none_or(|x| h.name.value == x))
        {
            labels.insert(h.name.value.clone(), h.labels.clone());
            let crit = h.criticality.unwrap_or(group_crit);
            let Some(scan) = by_host.get(h.name.value.as_str()) else {
                unknown.push(UnknownHost {
                    host: h.name.value.clone(),
                    reason: "not in the facts".into(),
                });
                continue;
            };
            let f = match &scan.state {
                ScanState::Scanned { facts } => facts,
                ScanState::Unreachable { error } => {
                    unknown.push(UnknownHost {
                        host: h.name.value.clone(),
                        reason: format!("unreachable: {error}"),
                    });
                    continue;
                }
                ScanState::Failed { error } => {
                    unknown.push(UnknownHost {
                        host: h.name.value.clone(),
                        reason: format!("scan failed: {error}"),
                    });
                    continue;
                }
            };
            let ctx = Context {
                package_manager: f.package_manager,
                now,
                tz,
                history,
            };
            let d = desired(f, &compiled, b.spec.reboot, &ctx);
            let prio = d
                .install
                .iter()
                .map(|p| priority(p.decision.compliance_level, crit))
                .max()
                .unwrap_or(0);
            let hp = HostPlan {
                host: h.name.value.clone(),
                criticality: crit,
                priority: prio,
                desired: d,
            };
            if matches!(hp.desired.compliance, Compliance::Compliant) {
                summary.hosts_compliant += 1;
            }
            if hp.desired.install.is_empty() {
                unchanged.push(hp);
            } else {
                summary.hosts_to_change += 1;
                summary.packages_to_install += hp.desired.install.len();
                for p in &hp.desired.install {
                    *summary
                        .by_severity
                        .entry(p.decision.compliance_level)
                        .or_default() += 1;
                }
                if hp.desired.reboot_expected {
                    summary.reboots += 1;
                }
                changing.push(hp);
            }
        }
        summary.hosts_unknown += unknown.len();
        let waves = waves(&rollout.spec, changing, &labels);
        groups.push(GroupPlan {
            group: g.name().to_string(),
            baseline: b.name().to_string(),
            rollout: rollout.name().to_string(),
            suspended: g.spec.suspend,
            window: calendar.status(g.name(), now),
            waves,
            unchanged,
            unknown,
        });
    }
    Ok(Plan {
        version: PLAN_VERSION,
        generated_at: now,
        summary,
        groups,
    })
}

/// Splits the hosts to change into waves. Order: least critical first, then
/// highest priority, then name. Sizes are cumulative; a selector wave takes
/// the matching hosts not yet placed; empty waves are dropped.
pub fn waves(
    policy: &RolloutPolicySpec,
    mut hosts: Vec<HostPlan>,
    labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<Wave> {
    hosts.sort_by(|a, b| {
        a.criticality
            .cmp(&b.criticality)
            .then(b.priority.cmp(&a.priority))
            .then(a.host.cmp(&b.host))
    });
    let total = hosts.len();
    let mut placed = 0usize;
    let mut remaining = hosts;
    let mut out = Vec::new();
    for (i, w) in policy.waves.iter().enumerate() {
        let is_last = i + 1 == policy.waves.len();
        let take: Vec<HostPlan> = match (&w.value.selector, w.value.size) {
            (Some(sel), _) => {
                let (matching, rest): (Vec<_>, Vec<_>) = remaining
                    .into_iter()
                    .partition(|h| labels.get(&h.host).is_some_and(|l| sel.matches(l)));
                remaining = rest;
                matching
            }
            (None, Some(size)) => {
                let target = if is_last {
                    total
                } else {
                    size.of(total).min(total)
                };
                let target = match size {
                    // A percentage that rounds to 0 still starts with one host.
                    CountOrPercent::Percent(p) if p > 0 && target == 0 && total > 0 => 1,
                    _ => target,
                };
                let n = target.saturating_sub(placed).min(remaining.len());
                remaining.drain(..n).collect()
            }
            (None, None) => Vec::new(),
        };
        placed += take.len();
        if !take.is_empty() {
            out.push(Wave {
                number: out.len() + 1,
                hosts: take,
            });
        }
    }
    // Hosts no wave took (a selector-only policy): a final wave, never dropped.
    if !remaining.is_empty() {
        out.push(Wave {
            number: out.len() + 1,
            hosts: remaining,
        });
    }
    out
}
