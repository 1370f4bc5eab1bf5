//! The fleet plan: every group's hosts, their changes, in rollout waves.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::baseline::{CompiledBaseline, Context};
use super::deadline::Deadlines;
use super::decision_cache::DecisionCache;
use super::emergency::{self, Emergency, EmergencyAllowance};
use super::history::History;
use super::host::{Compliance, HostDesired, Judging, PatchState, desired, priority};
use crate::facts::HostScan;
use crate::facts::{FleetFacts, ScanState};
use crate::schedule::{Calendar, WindowStatus};
use crate::spec::Repository;
use crate::spec::Resource;
use crate::spec::baseline::RebootPolicy;
use crate::spec::baseline::Severity;
use crate::spec::common::{CountOrPercent, Criticality};
use crate::spec::host_group::{HostGroupSpec, HostSpec};
use crate::spec::parsed::DurationText;
use crate::spec::rollout::RolloutPolicySpec;
pub(crate) use crate::spec::values::human_age;

/// Version of the plan JSON document.
pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub version: u32,
    pub generated_at: Timestamp,
    /// The desired-state commit planned from, when the repository is a git
    /// checkout (set by whoever read the repository; added within version 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub summary: Summary,
    /// When the planned hosts' facts were scanned (oldest, newest).
    pub facts: FactsAge,
    /// The vulnerability data the plan was made with, one entry per source
    /// the Fleet declares: where it came from and how old it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vulnerability_data: Vec<crate::vuln::VulnerabilityData>,
    /// What a reader must know before trusting the plan (stale facts,
    /// broken or stale vulnerability data).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub groups: Vec<GroupPlan>,
}

/// The age of the facts a plan was made from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FactsAge {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_scan: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_scan: Option<Timestamp>,
}

/// How old facts may be before a plan warns, unless the Fleet's
/// `scan.refreshAfter` says otherwise.
const FACTS_FRESH_FOR: jiff::SignedDuration = jiff::SignedDuration::from_hours(6);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub hosts_to_change: usize,
    pub packages_to_install: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    pub reboots: usize,
    pub hosts_unknown: usize,
    pub hosts_compliant: usize,
    /// Packages failed, rejected-but-installed or pending a reboot, fleet-wide.
    pub attention: BTreeMap<PatchState, usize>,
    /// Patches past their deadline (the Fleet's `deadlines`), by severity.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub overdue: BTreeMap<Severity, usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
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
    /// EmergencyChanges in force that let (some of) its hosts start outside
    /// the windows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub emergency: Vec<EmergencyAllowance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Wave {
    /// 1-based; wave 1 is the canary.
    pub number: usize,
    pub hosts: Vec<HostPlan>,
    /// Wait (and keep health-checking) this long after the wave, e.g. `30m`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak: Option<DurationText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostPlan {
    pub host: String,
    pub criticality: Criticality,
    /// Highest severity × criticality among its changes.
    pub priority: u32,
    #[serde(flatten)]
    pub desired: HostDesired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnknownHost {
    pub host: String,
    pub reason: String,
}

/// Everything a plan is computed from, besides the facts.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    pub repo: &'a Repository,
    pub history: &'a History,
    pub calendar: &'a Calendar,
    pub now: Timestamp,
    /// The zone in which approval days are counted.
    pub tz: &'a TimeZone,
    pub only_group: Option<&'a str>,
    pub only_host: Option<&'a str>,
    /// The Fleet's vulnerability data (empty when it declares none).
    pub vulns: &'a crate::vuln::VulnIndex,
}

/// Everything a plan is computed from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub context: PlanContext<'a>,
    pub facts: &'a FleetFacts,
}

/// Plans the whole fleet. Pure: the same inputs give the same plan.
pub fn plan_fleet(input: &PlanInput<'_>) -> Result<Plan, String> {
    let mut planner = Planner::new(input.context)?;
    for h in &input.facts.hosts {
        planner.add(h);
    }
    Ok(planner.finish())
}

/// What became of one host of the repository.
#[derive(Debug, Clone)]
enum Slot {
    Planned(HostPlan),
    Unknown(UnknownHost),
}

/// One host's plan, ready to be recorded with [`Planner::insert`].
#[derive(Debug, Clone)]
pub struct PlannedHost {
    group: usize,
    host: usize,
    slot: Slot,
    scanned_at: Timestamp,
}

/// One group while hosts are being planned.
struct GroupState<'a> {
    group: &'a Resource<HostGroupSpec>,
    baseline: CompiledBaseline,
    reboot: RebootPolicy,
    rollout: &'a Resource<RolloutPolicySpec>,
    decisions: DecisionCache,
    /// The baseline as EmergencyChange approvals extend it for the hosts
    /// they cover, one per distinct set of covering changes.
    variants: Vec<(CompiledBaseline, DecisionCache)>,
    /// The group's selected hosts, in repository order, and what became of each.
    hosts: Vec<(&'a HostSpec, Option<Slot>)>,
    /// Per host (same order): its variant in `variants`, if any.
    host_variant: Vec<Option<usize>>,
}

/// Plans hosts one at a time — so a large facts file can be streamed, each
/// host's facts dropped once planned — then assembles the fleet plan. The
/// result does not depend on the order hosts arrive in.
pub struct Planner<'a> {
    ctx: PlanContext<'a>,
    groups: Vec<GroupState<'a>>,
    /// Host name → (group, position in the group).
    index: HashMap<&'a str, (usize, usize)>,
    /// The oldest scan planned so far and whose it was.
    oldest: Option<(Timestamp, String)>,
    newest: Option<Timestamp>,
    /// EmergencyChanges in force at the plan's instant.
    emergencies: Vec<Emergency<'a>>,
    /// The Fleet's patch deadlines (empty: none).
    deadlines: Deadlines,
}

impl<'a> Planner<'a> {
    pub fn new(ctx: PlanContext<'a>) -> Result<Planner<'a>, String> {
        let repo = ctx.repo;
        let mut groups = Vec::new();
        let mut index = HashMap::new();
        let emergencies = emergency::in_force(repo, ctx.now);
        for g in repo
            .groups
            .iter()
            .filter(|g| ctx.only_group.is_none_or(|x| g.name() == x))
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
            let hosts: Vec<(&HostSpec, Option<Slot>)> = g
                .spec
                .hosts
                .iter()
                .filter(|h| ctx.only_host.is_none_or(|x| h.name.value == x))
                .map(|h| (h, None))
                .collect();
            for (i, (h, _)) in hosts.iter().enumerate() {
                index.insert(h.name.value.as_str(), (groups.len(), i));
            }
            let baseline = CompiledBaseline::compile(b, &approvals)?;
            let mut variants = Vec::new();
            let mut by_cover: HashMap<Vec<&str>, usize> = HashMap::new();
            let host_variant = hosts
                .iter()
                .map(|(h, _)| {
                    let cover: Vec<&Emergency<'_>> = emergencies
                        .iter()
                        .filter(|e| !e.approvals.is_empty() && e.covers(g.name(), &h.name.value))
                        .collect();
                    if cover.is_empty() {
                        return None;
                    }
                    let key: Vec<&str> = cover.iter().map(|e| e.name).collect();
                    Some(*by_cover.entry(key).or_insert_with(|| {
                        variants.push((
                            baseline.with_emergency_approvals(&cover),
                            DecisionCache::default(),
                        ));
                        variants.len() - 1
                    }))
                })
                .collect();
            groups.push(GroupState {
                group: g,
                baseline,
                reboot: b.spec.reboot,
                rollout,
                decisions: DecisionCache::default(),
                variants,
                hosts,
                host_variant,
            });
        }
        Ok(Planner {
            ctx,
            groups,
            index,
            oldest: None,
            newest: None,
            emergencies,
            deadlines: repo
                .fleets
                .first()
                .and_then(|f| f.spec.deadlines.as_ref())
                .map(Deadlines::from_spec)
                .unwrap_or_default(),
        })
    }

    /// Plans one scanned host; hosts outside the selection are ignored.
    pub fn add(&mut self, scan: &HostScan) {
        if let Some(p) = self.plan_host(scan) {
            self.insert(p);
        }
    }

    /// Records a host planned by [`Planner::plan_host`].
    pub fn insert(&mut self, p: PlannedHost) {
        let name = &self.groups[p.group].hosts[p.host].0.name.value;
        // Ties go to the smaller name, so the result does not depend on
        // the order hosts arrive in.
        if self
            .oldest
            .as_ref()
            .is_none_or(|(t, h)| (p.scanned_at, name) < (*t, h))
        {
            self.oldest = Some((p.scanned_at, name.clone()));
        }
        self.newest = self.newest.max(Some(p.scanned_at));
        self.groups[p.group].hosts[p.host].1 = Some(p.slot);
    }

    /// Plans one scanned host without changing the planner, so many hosts can
    /// be planned in parallel; `None` for a host outside the selection.
    pub fn plan_host(&self, scan: &HostScan) -> Option<PlannedHost> {
        let &(gi, hi) = self.index.get(scan.host.as_str())?;
        let g = &self.groups[gi];
        let spec = g.hosts[hi].0;
        let name = spec.name.value.clone();
        let slot = match &scan.state {
            ScanState::Scanned { facts } => {
                let crit = spec
                    .criticality
                    .or(g.group.spec.criticality)
                    .unwrap_or(Criticality::Medium);
                let ctx = Context {
                    package_manager: facts.package_manager,
                    now: self.ctx.now,
                    tz: self.ctx.tz,
                    history: self.ctx.history,
                    seen_at: Some(scan.scanned_at),
                };
                let (baseline, decisions) = match g.host_variant[hi] {
                    Some(v) => (&g.variants[v].0, &g.variants[v].1),
                    None => (&g.baseline, &g.decisions),
                };
                let d = desired(
                    &name,
                    facts,
                    baseline,
                    g.reboot,
                    &ctx,
                    decisions,
                    Judging {
                        vulns: self.ctx.vulns,
                        deadlines: &self.deadlines,
                    },
                );
                let prio = d
                    .install
                    .iter()
                    .map(|p| priority(p.decision.compliance_level, crit))
                    .max()
                    .unwrap_or(0);
                Slot::Planned(HostPlan {
                    host: name,
                    criticality: crit,
                    priority: prio,
                    desired: d,
                })
            }
            ScanState::Unreachable { error } => Slot::Unknown(UnknownHost {
                host: name,
                reason: format!("unreachable: {error}"),
            }),
            ScanState::Failed { error } => Slot::Unknown(UnknownHost {
                host: name,
                reason: format!("scan failed: {error}"),
            }),
        };
        Some(PlannedHost {
            group: gi,
            host: hi,
            slot,
            scanned_at: scan.scanned_at,
        })
    }

    /// The fleet plan: waves per group, window status, summary.
    pub fn finish(self) -> Plan {
        let mut summary = Summary::default();
        let mut groups = Vec::new();
        for g in self.groups {
            let (mut changing, mut unchanged, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
            let mut labels = BTreeMap::new();
            for (spec, slot) in g.hosts {
                labels.insert(spec.name.value.clone(), spec.labels.clone());
                match slot {
                    None => unknown.push(UnknownHost {
                        host: spec.name.value.clone(),
                        reason: "not in the facts".into(),
                    }),
                    Some(Slot::Unknown(u)) => unknown.push(u),
                    Some(Slot::Planned(hp)) => {
                        if matches!(hp.desired.compliance, Compliance::Compliant) {
                            summary.hosts_compliant += 1;
                        }
                        for a in &hp.desired.attention {
                            *summary.attention.entry(a.state).or_default() += 1;
                        }
                        for p in hp.desired.install.iter().chain(&hp.desired.withheld) {
                            if p.overdue() {
                                *summary.overdue.entry(p.severity).or_default() += 1;
                            }
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
                }
            }
            summary.hosts_unknown += unknown.len();
            let names: Vec<&str> = labels.keys().map(String::as_str).collect();
            let allowed = emergency::allowances(&self.emergencies, g.group.name(), &names);
            groups.push(GroupPlan {
                group: g.group.name().to_string(),
                baseline: g.baseline.name.clone(),
                rollout: g.rollout.name().to_string(),
                suspended: g.group.spec.suspend,
                window: self.ctx.calendar.status(g.group.name(), self.ctx.now),
                waves: waves(&g.rollout.spec, changing, &labels),
                unchanged,
                unknown,
                emergency: allowed,
            });
        }
        let fresh_for = self
            .ctx
            .repo
            .fleets
            .first()
            .and_then(|f| f.spec.scan.as_ref())
            .and_then(|s| s.refresh_after.as_ref())
            .and_then(|t| t.signed())
            .unwrap_or(FACTS_FRESH_FOR);
        let mut warnings = Vec::new();
        if let Some((oldest, host)) = &self.oldest {
            let age = self.ctx.now.duration_since(*oldest);
            if age > fresh_for {
                warnings.push(format!(
                    "stale facts: {host} was scanned at {oldest}, {} before this plan's time {}, longer ago than scan.refreshAfter ({}); plan without --facts (or rescan) before trusting it",
                    human_age(age),
                    self.ctx.now,
                    human_age(fresh_for),
                ));
            }
        }
        Plan {
            commit: None,
            version: PLAN_VERSION,
            generated_at: self.ctx.now,
            summary,
            facts: FactsAge {
                oldest_scan: self.oldest.map(|(t, _)| t),
                newest_scan: self.newest,
            },
            vulnerability_data: self.ctx.vulns.data().to_vec(),
            warnings,
            groups,
        }
    }
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
                soak: w
                    .value
                    .soak
                    .as_ref()
                    .or(policy.soak.as_ref())
                    .map(|s| s.value.clone()),
            });
        }
    }
    // Hosts no wave took (a selector-only policy): a final wave, never dropped.
    if !remaining.is_empty() {
        out.push(Wave {
            number: out.len() + 1,
            hosts: remaining,
            soak: None,
        });
    }
    out
}
