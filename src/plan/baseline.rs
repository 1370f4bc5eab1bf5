//! Baseline evaluation: for one available update on one host, is it
//! approved, and why? States and precedence follow AWS Patch Manager:
//!
//! 1. an explicit rejection wins over everything;
//! 2. an explicit approval (`approved[]`, or an exact version in the
//!    baseline's PatchApprovals) wins over the rules;
//! 3. otherwise the earliest-approving matching rule decides
//!    (`approveAfterDays` from the release date, or the first sighting where
//!    the OS publishes no date; or `approveUntilDate`);
//! 4. promotion then gates every approval — even a critical security patch —
//!    until the version has run (healthy) on every host of the earlier stage
//!    for long enough.

use std::cmp::Ordering;

use globset::GlobMatcher;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use schemars::JsonSchema;
use serde::Serialize;

use super::emergency::Emergency;
use super::history::History;
use super::offer::Offer;
use crate::facts::{AvailableUpdate, PackageManager};
use crate::spec::Resource;
use crate::spec::baseline::{
    Classification, PatchApprovalsSpec, PatchBaselineSpec, RejectedAction, Severity,
};
use crate::spec::parsed::{DateText, Grammar, PackageGlob, Parsed};
use crate::spec::values::{VersionConstraint, VersionOp};
use crate::version;

/// What the baseline says about one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DecisionState {
    Approved,
    PendingApproval,
    ExplicitApproved,
    ExplicitRejected,
    NotApplicable,
}

impl DecisionState {
    /// Will the planner install it now?
    pub fn installs(self) -> bool {
        matches!(
            self,
            DecisionState::Approved | DecisionState::ExplicitApproved
        )
    }
}

/// A decision with its reason, as a reviewer reads it in a plan; what the
/// reason says in words is also given as fields for machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub state: DecisionState,
    pub reason: String,
    /// What decided it: an approval rule, a list entry, a review, an emergency.
    pub basis: Basis,
    /// Why it is not installed now (absent when it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Withheld>,
    /// The baseline's promotion gate, when it has one and the rest approves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<PromotionWait>,
    /// For PENDING_APPROVAL: the day it becomes approved, when that is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_on: Option<Date>,
    /// Severity reported for a host missing it (the rule's complianceLevel, or the patch's).
    pub compliance_level: Severity,
}

/// What a decision rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Basis {
    /// An approval rule of the baseline (`approvalRules[].name`).
    Rule { rule: String },
    /// An entry of the baseline's `approved` list.
    ApprovedList,
    /// A merged PatchApprovals (a reviewer approved this exact version).
    PatchApprovals,
    /// An EmergencyChange in force.
    EmergencyChange { name: String },
    /// An entry of the baseline's `rejected` list.
    RejectedList,
    /// No approval rule matches the update.
    NoRule,
}

/// Why an update is not installed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Withheld {
    /// The baseline rejects this version.
    Rejected,
    /// No approval rule matches it.
    NoMatchingRule,
    /// The only matching rules approve patches up to a date before this one.
    OutsideRuleDates,
    /// A rule approves it once it is old enough (`approveAfterDays`; see `approvedOn`).
    TooNew,
    /// The earlier stage has not yet run it (healthy) for long enough.
    WaitingForPromotion,
}

/// Where an approved update stands at the baseline's promotion gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionWait {
    /// The stage (HostGroup) that must run it first.
    pub from: String,
    /// Installed (and healthy, when required) on every host of that stage since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// When the gate opens; absent while `since` is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Whether the gate is open now.
    pub promoted: bool,
    /// The failed health check that keeps it shut, when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy: Option<String>,
}

/// The inputs of a decision besides the update itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub package_manager: PackageManager,
    pub now: Timestamp,
    /// The zone in which "days" are counted (the Fleet's; UTC by default).
    pub tz: &'a TimeZone,
    pub history: &'a History,
    /// When the host's facts were scanned: every update they offer was
    /// offered by then, so a first sighting is never later than this (a
    /// plan from an old facts file must not make its patches younger).
    pub seen_at: Option<Timestamp>,
}

impl Context<'_> {
    pub fn today(&self) -> Date {
        self.now.to_zoned(self.tz.clone()).date()
    }

    /// The day this version was first seen offered: the recorded sighting,
    /// or this scan's day, never later than today.
    pub fn first_seen_day(&self, u: &AvailableUpdate) -> Date {
        let today = self.today();
        let recorded = self
            .history
            .first_seen(&u.name, &u.candidate_version)
            .map(|t| t.to_zoned(self.tz.clone()).date());
        let seen = [recorded, self.seen_day()].into_iter().flatten().min();
        seen.unwrap_or(today).min(today)
    }

    /// The day by which the host's offered updates were seen, when before
    /// today (the only case where it changes a decision).
    pub fn seen_day(&self) -> Option<Date> {
        self.seen_at
            .map(|t| t.to_zoned(self.tz.clone()).date())
            .filter(|d| *d < self.today())
    }
}

#[derive(Debug, Clone)]
struct PackageEntry {
    /// The glob's literal start: a cheap test that rules most names out
    /// before the glob runs (installed packages are checked on every host).
    prefix: String,
    glob: GlobMatcher,
    constraint: VersionConstraint,
    reason: String,
    until: Option<Date>,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    classifications: Vec<Classification>,
    severities: Vec<Severity>,
    packages: Vec<GlobMatcher>,
    exclude: Vec<GlobMatcher>,
    repositories: Vec<GlobMatcher>,
    after_days: Option<i64>,
    until: Option<Date>,
    compliance_level: Option<Severity>,
    known_exploited: bool,
    cves: Vec<String>,
    /// In tenths.
    min_cvss: Option<u8>,
}

#[derive(Debug, Clone)]
struct Promotion {
    from: String,
    after: SignedDuration,
    after_text: String,
    require_healthy: bool,
}

#[derive(Debug, Clone)]
struct Exact {
    package: String,
    version: String,
    arch: Option<String>,
    /// The EmergencyChange that approved it (else a PatchApprovals lockfile).
    emergency: Option<String>,
}

/// A baseline ready to evaluate, built from a validated spec.
#[derive(Debug, Clone)]
pub struct CompiledBaseline {
    pub name: String,
    rules: Vec<Rule>,
    approved: Vec<PackageEntry>,
    rejected: Vec<PackageEntry>,
    pub rejected_action: RejectedAction,
    exact: Vec<Exact>,
    promotion: Option<Promotion>,
}

/// The parsed value of a validated field (`Err`: validate was skipped).
fn parsed<G: Grammar>(p: &Parsed<G>) -> Result<G::Value, String> {
    p.checked().cloned().map_err(String::from)
}

fn date(d: &Option<crate::spec::Spanned<DateText>>) -> Result<Option<Date>, String> {
    d.as_ref().map(|t| parsed(t)).transpose()
}

fn entries(list: &[crate::spec::baseline::PackageRule]) -> Result<Vec<PackageEntry>, String> {
    list.iter()
        .map(|e| {
            Ok(PackageEntry {
                prefix: e
                    .package
                    .text()
                    .chars()
                    .take_while(|c| !"*?[{\\".contains(*c))
                    .collect(),
                glob: parsed(&e.package)?,
                constraint: e
                    .version
                    .as_ref()
                    .map_or(Ok(VersionConstraint::Any), |v| parsed(v))?,
                reason: e.reason.value.clone(),
                until: date(&e.until)?,
            })
        })
        .collect()
}

impl CompiledBaseline {
    /// Builds from a baseline and the PatchApprovals that extend it. Fails
    /// only on input `validate` would have refused.
    pub fn compile(
        b: &Resource<PatchBaselineSpec>,
        approvals: &[&Resource<PatchApprovalsSpec>],
    ) -> Result<CompiledBaseline, String> {
        let s = &b.spec;
        let rules = s
            .approval_rules
            .iter()
            .map(|r| {
                let globs = |v: &[crate::spec::Spanned<PackageGlob>]| {
                    v.iter().map(|p| parsed(p)).collect::<Result<Vec<_>, _>>()
                };
                Ok(Rule {
                    name: r.name.value.clone(),
                    classifications: r.classifications.clone(),
                    severities: r.severities.clone(),
                    packages: globs(&r.packages)?,
                    exclude: globs(&r.exclude_packages)?,
                    repositories: r
                        .repositories
                        .iter()
                        .map(|p| parsed(p))
                        .collect::<Result<Vec<_>, _>>()?,
                    after_days: r.approve_after_days.as_ref().map(|d| d.value),
                    until: date(&r.approve_until_date)?,
                    compliance_level: r.compliance_level,
                    known_exploited: r.known_exploited.as_ref().is_some_and(|k| k.value),
                    cves: r.cves.iter().map(|c| c.value.clone()).collect(),
                    min_cvss: r.min_cvss.as_ref().map(|m| m.value.0),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let promotion = s
            .promotion
            .as_ref()
            .map(|p| {
                let after = p.after.checked().map_err(String::from)?;
                Ok::<_, String>(Promotion {
                    from: p.from.value.clone(),
                    after: SignedDuration::try_from(*after).unwrap_or(SignedDuration::MAX),
                    after_text: p.after.text().to_string(),
                    require_healthy: p.require_healthy,
                })
            })
            .transpose()?;
        let exact = approvals
            .iter()
            .flat_map(|a| a.spec.approvals.iter())
            .map(|e| Exact {
                package: e.package.value.clone(),
                version: e.version.value.clone(),
                arch: e.arch.as_ref().map(|a| a.value.clone()),
                emergency: None,
            })
            .collect();
        Ok(CompiledBaseline {
            name: b.name().to_string(),
            rules,
            approved: entries(&s.approved)?,
            rejected: entries(&s.rejected)?,
            rejected_action: s.rejected_action,
            exact,
            promotion,
        })
    }

    /// This baseline with the exact versions that EmergencyChanges approve
    /// for a host they cover added: approved at once, without the
    /// promotion wait (a committed emergency is the decision); `rejected`
    /// entries still win.
    pub fn with_emergency_approvals(&self, emergencies: &[&Emergency<'_>]) -> CompiledBaseline {
        let mut b = self.clone();
        for e in emergencies {
            b.exact.extend(e.approvals.iter().map(|a| Exact {
                package: a.package.value.clone(),
                version: a.version.value.clone(),
                arch: a.arch.as_ref().map(|x| x.value.clone()),
                emergency: Some(e.name.to_string()),
            }));
        }
        b
    }

    /// The decision for one update (its candidate version) on one host.
    pub fn evaluate(&self, o: &Offer<'_>, ctx: &Context<'_>) -> Decision {
        let u = o.update;
        let today = ctx.today();
        let level = o.severity();
        let matches = |e: &PackageEntry| {
            e.glob.is_match(&u.name)
                && e.until.is_none_or(|until| today <= until)
                && satisfies(ctx.package_manager, &u.candidate_version, &e.constraint)
        };
        if let Some(e) = self.rejected.iter().find(|e| matches(e)) {
            return Decision {
                state: DecisionState::ExplicitRejected,
                reason: format!("rejected: {}", e.reason),
                basis: Basis::RejectedList,
                withheld: Some(Withheld::Rejected),
                promotion: None,
                approved_on: None,
                compliance_level: level,
            };
        }
        let exact = |x: &&Exact| {
            x.package == u.name
                && x.arch.as_ref().is_none_or(|a| *a == u.arch)
                && version::compare(ctx.package_manager, &x.version, &u.candidate_version)
                    == Ordering::Equal
        };
        if let Some(name) = self
            .exact
            .iter()
            .filter(exact)
            .find_map(|x| x.emergency.as_deref())
        {
            return Decision {
                state: DecisionState::ExplicitApproved,
                reason: format!("approved by EmergencyChange `{name}`"),
                basis: Basis::EmergencyChange {
                    name: name.to_string(),
                },
                withheld: None,
                promotion: None,
                approved_on: None,
                compliance_level: level,
            };
        }
        let explicit = if let Some(e) = self.approved.iter().find(|e| matches(e)) {
            Some((format!("approved: {}", e.reason), Basis::ApprovedList))
        } else {
            self.exact.iter().find(exact).map(|_| {
                (
                    "approved by review (PatchApprovals)".to_string(),
                    Basis::PatchApprovals,
                )
            })
        };
        let decision = match explicit {
            Some((reason, basis)) => Decision {
                state: DecisionState::ExplicitApproved,
                reason,
                basis,
                withheld: None,
                promotion: None,
                approved_on: None,
                compliance_level: level,
            },
            None => self.by_rules(o, ctx, today),
        };
        if decision.state.installs() {
            self.promotion_gate(decision, u, ctx)
        } else {
            decision
        }
    }

    /// Whether a `rejected` entry matches this update's candidate version.
    pub fn rejects(&self, o: &Offer<'_>, ctx: &Context<'_>) -> bool {
        let u = o.update;
        let today = ctx.today();
        self.rejected.iter().any(|e| {
            e.glob.is_match(&u.name)
                && e.until.is_none_or(|until| today <= until)
                && satisfies(ctx.package_manager, &u.candidate_version, &e.constraint)
        })
    }

    /// Why the installed version of a package is one this baseline rejects
    /// (only with `rejectedAction: block`; with `allowAsDependency` an
    /// installed rejected version is tolerated).
    pub fn rejects_installed(
        &self,
        name: &str,
        version: &str,
        ctx: &Context<'_>,
    ) -> Option<String> {
        self.blocks(name, version, ctx.package_manager, ctx.today())
            .map(|reason| format!("rejected version installed: {reason}"))
    }

    /// The reason of the `rejected[]` entry that forbids this version of a
    /// package from being installed at all, even as another package's
    /// dependency: only with `rejectedAction: block` (the default), matched
    /// exactly as [`CompiledBaseline::evaluate`] matches a rejection (glob,
    /// version constraint, `until` counted on `today`).
    pub fn blocks(
        &self,
        name: &str,
        version: &str,
        pm: PackageManager,
        today: Date,
    ) -> Option<&str> {
        if self.rejected_action != RejectedAction::Block {
            return None;
        }
        self.rejected
            .iter()
            .find(|e| {
                name.starts_with(&e.prefix)
                    && e.glob.is_match(name)
                    && e.until.is_none_or(|until| today <= until)
                    && satisfies(pm, version, &e.constraint)
            })
            .map(|e| e.reason.as_str())
    }

    /// Whether this baseline blocks anything at all (no need to resolve an
    /// install's dependencies otherwise).
    pub fn blocks_any(&self) -> bool {
        self.rejected_action == RejectedAction::Block && !self.rejected.is_empty()
    }

    /// Why a reviewer might approve this update by hand, or `None` when that
    /// changes nothing: it is rejected, already explicitly approved, or the
    /// rules approve it now (promotion gates explicit approvals as well, so
    /// it is not a reason to propose). The state is NOT_APPLICABLE when no
    /// rule will ever approve it, PENDING_APPROVAL when one will later.
    pub fn proposable(&self, o: &Offer<'_>, ctx: &Context<'_>) -> Option<(DecisionState, String)> {
        let d = self.evaluate(o, ctx);
        if matches!(
            d.state,
            DecisionState::ExplicitRejected | DecisionState::ExplicitApproved
        ) {
            return None;
        }
        let by_rules = self.by_rules(o, ctx, ctx.today());
        match by_rules.state {
            DecisionState::NotApplicable => Some((by_rules.state, by_rules.reason)),
            DecisionState::PendingApproval => Some((
                by_rules.state,
                match by_rules.approved_on {
                    Some(on) => format!("{}; the rule approves it on {on}", by_rules.reason),
                    None => by_rules.reason,
                },
            )),
            _ => None,
        }
    }

    /// The most favourable decision among the matching rules.
    fn by_rules(&self, o: &Offer<'_>, ctx: &Context<'_>, today: Date) -> Decision {
        let u = o.update;
        // The patch's age counts from its release date, or else from when
        // patchwave first saw it (now, if this scan is the first sighting).
        let (base, base_what) = match u.release_date {
            Some(d) => (d, "released"),
            None => (ctx.first_seen_day(u), "first seen"),
        };
        let mut best: Option<Decision> = None;
        let mut not_applicable = (
            "no approval rule matches".to_string(),
            Basis::NoRule,
            Withheld::NoMatchingRule,
        );
        for r in self.rules.iter().filter(|r| rule_matches(r, o)) {
            let level = r.compliance_level.unwrap_or(o.severity());
            let rule = || Basis::Rule {
                rule: r.name.clone(),
            };
            let d = if let Some(until) = r.until {
                if base <= until {
                    Decision {
                        state: DecisionState::Approved,
                        reason: format!(
                            "rule `{}`: {base_what} {base}, on or before {until}",
                            r.name
                        ),
                        basis: rule(),
                        withheld: None,
                        promotion: None,
                        approved_on: None,
                        compliance_level: level,
                    }
                } else {
                    not_applicable = (
                        format!(
                            "rule `{}` approves only up to {until}; {base_what} {base}",
                            r.name
                        ),
                        rule(),
                        Withheld::OutsideRuleDates,
                    );
                    continue;
                }
            } else {
                let days = r.after_days.unwrap_or(0);
                let on = base.checked_add(days.days()).unwrap_or(Date::MAX);
                if today >= on {
                    Decision {
                        state: DecisionState::Approved,
                        reason: if days == 0 {
                            format!("rule `{}`", r.name)
                        } else {
                            format!(
                                "rule `{}`: {base_what} {base}, approved {days} days later on {on}",
                                r.name
                            )
                        },
                        basis: rule(),
                        withheld: None,
                        promotion: None,
                        approved_on: None,
                        compliance_level: level,
                    }
                } else {
                    Decision {
                        state: DecisionState::PendingApproval,
                        reason: format!(
                            "rule `{}`: {base_what} {base}, approved after {days} days",
                            r.name
                        ),
                        basis: rule(),
                        withheld: Some(Withheld::TooNew),
                        promotion: None,
                        approved_on: Some(on),
                        compliance_level: level,
                    }
                }
            };
            best = Some(match best {
                None => d,
                Some(b) => better(b, d),
            });
        }
        let (reason, basis, withheld) = not_applicable;
        best.unwrap_or(Decision {
            state: DecisionState::NotApplicable,
            reason,
            basis,
            withheld: Some(withheld),
            promotion: None,
            approved_on: None,
            compliance_level: o.severity(),
        })
    }

    /// Holds an approval back until the earlier stage has run the version long enough.
    fn promotion_gate(&self, d: Decision, u: &AvailableUpdate, ctx: &Context<'_>) -> Decision {
        let Some(p) = &self.promotion else {
            return d;
        };
        let record = ctx
            .history
            .stage_record(&p.from, &u.name, &u.candidate_version);
        let since = record.as_ref().and_then(|r| {
            if p.require_healthy {
                r.healthy_since
            } else {
                Some(r.installed_since)
            }
        });
        let what = if p.require_healthy {
            "installed and healthy"
        } else {
            "installed"
        };
        let unhealthy = record
            .and_then(|r| r.unhealthy.clone())
            .filter(|_| p.require_healthy);
        match since {
            None => Decision {
                state: DecisionState::PendingApproval,
                reason: match &unhealthy {
                    Some(why) => format!(
                        "{}; waiting for promotion: installed on every host of stage `{}` but not healthy ({why})",
                        d.reason, p.from
                    ),
                    None => format!(
                        "{}; waiting for promotion: not yet {what} on every host of stage `{}`",
                        d.reason, p.from
                    ),
                },
                withheld: Some(Withheld::WaitingForPromotion),
                promotion: Some(PromotionWait {
                    from: p.from.clone(),
                    since: None,
                    until: None,
                    promoted: false,
                    unhealthy,
                }),
                approved_on: None,
                ..d
            },
            Some(since) => {
                let ready = since.checked_add(p.after).unwrap_or(Timestamp::MAX);
                let promotion = Some(PromotionWait {
                    from: p.from.clone(),
                    since: Some(since),
                    until: Some(ready),
                    promoted: ctx.now >= ready,
                    unhealthy: None,
                });
                if ctx.now >= ready {
                    Decision {
                        reason: format!(
                            "{}; promoted from stage `{}` ({what} since {since})",
                            d.reason, p.from
                        ),
                        promotion,
                        ..d
                    }
                } else {
                    Decision {
                        state: DecisionState::PendingApproval,
                        reason: format!(
                            "{}; waiting for promotion until {ready}: {what} on stage `{}` since {since}, needs {}",
                            d.reason, p.from, p.after_text
                        ),
                        withheld: Some(Withheld::WaitingForPromotion),
                        promotion,
                        approved_on: Some(ready.to_zoned(ctx.tz.clone()).date()),
                        ..d
                    }
                }
            }
        }
    }
}

/// Approved beats pending; between pendings, the earlier date wins.
fn better(a: Decision, b: Decision) -> Decision {
    match (a.state, b.state) {
        (DecisionState::Approved, _) => a,
        (_, DecisionState::Approved) => b,
        _ if b.approved_on < a.approved_on => b,
        _ => a,
    }
}

fn rule_matches(r: &Rule, o: &Offer<'_>) -> bool {
    let u = o.update;
    (r.classifications.is_empty() || r.classifications.contains(&u.classification))
        && (r.severities.is_empty() || r.severities.contains(&o.severity()))
        && (!r.known_exploited || o.known_exploited())
        && (r.cves.is_empty() || r.cves.iter().any(|c| o.fixes(c)))
        && r.min_cvss
            .is_none_or(|min| o.cvss().is_some_and(|s| s >= min))
        && (r.packages.is_empty() || r.packages.iter().any(|g| g.is_match(&u.name)))
        && !r.exclude.iter().any(|g| g.is_match(&u.name))
        && (r.repositories.is_empty() || r.repositories.iter().any(|g| g.is_match(&u.repository)))
}

/// Whether `v` satisfies every comparison of the constraint.
pub fn satisfies(pm: PackageManager, v: &str, c: &VersionConstraint) -> bool {
    match c {
        VersionConstraint::Any => true,
        VersionConstraint::All(terms) => terms.iter().all(|(op, want)| {
            let o = version::compare(pm, v, want);
            match op {
                VersionOp::Eq => o == Ordering::Equal,
                VersionOp::Ne => o != Ordering::Equal,
                VersionOp::Lt => o == Ordering::Less,
                VersionOp::Le => o != Ordering::Greater,
                VersionOp::Gt => o == Ordering::Greater,
                VersionOp::Ge => o != Ordering::Less,
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::plan::history::StageRecord;
    use crate::spec::Origin;
    use crate::spec::resource::Document;

    fn resource<S: serde::de::DeserializeOwned>(yaml: &str) -> Resource<S> {
        let d: Document<S> = serde_saphyr::from_str(yaml).unwrap();
        Resource {
            origin: Origin {
                file: Arc::from(Path::new("t.yaml")),
                pos: Default::default(),
            },
            metadata: d.metadata,
            spec: d.spec,
        }
    }

    fn baseline(spec: &str, approvals: &[&str]) -> CompiledBaseline {
        let b: Resource<PatchBaselineSpec> = resource(&format!(
            "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {{name: b}}\nspec:\n{spec}"
        ));
        let a: Vec<Resource<PatchApprovalsSpec>> = approvals
            .iter()
            .map(|list| {
                resource(&format!(
                    "apiVersion: patchwave.dev/v1\nkind: PatchApprovals\nmetadata: {{name: a}}\nspec:\n  baseline: b\n  approvals:\n{list}"
                ))
            })
            .collect();
        CompiledBaseline::compile(&b, &a.iter().collect::<Vec<_>>()).unwrap()
    }

    fn update(
        name: &str,
        version: &str,
        class: Classification,
        sev: Severity,
        released: Option<&str>,
    ) -> AvailableUpdate {
        AvailableUpdate {
            source: None,
            name: name.into(),
            arch: "amd64".into(),
            installed_version: "0.1-1".into(),
            candidate_version: version.into(),
            repository: "Debian-Security:12/stable-security".into(),
            classification: class,
            severity: sev,
            advisory: None,
            cves: vec![],
            release_date: released.map(|d| d.parse().unwrap()),
            held_back: false,
            requires_reboot: false,
        }
    }

    struct Case {
        what: &'static str,
        spec: &'static str,
        approvals: &'static [&'static str],
        update: AvailableUpdate,
        now: &'static str,
        tz: &'static str,
        history: History,
        want: DecisionState,
        want_on: Option<&'static str>,
        reason_has: &'static str,
    }

    use Classification::*;
    use DecisionState::*;
    use Severity::*;

    fn run(c: &Case) {
        let b = baseline(c.spec, c.approvals);
        let tz = jiff::tz::db().get(c.tz).unwrap();
        let ctx = Context {
            package_manager: PackageManager::Apt,
            now: c.now.parse().unwrap(),
            tz: &tz,
            history: &c.history,
            seen_at: None,
        };
        let d = b.evaluate(&Offer::plain(&c.update), &ctx);
        assert_eq!(d.state, c.want, "{}: {d:?}", c.what);
        assert_eq!(
            d.approved_on,
            c.want_on.map(|s| s.parse().unwrap()),
            "{}: {d:?}",
            c.what
        );
        assert!(
            d.reason.contains(c.reason_has),
            "{}: reason `{}` lacks `{}`",
            c.what,
            d.reason,
            c.reason_has
        );
    }

    const SECURITY_NOW: &str = "  approvalRules:\n    - {name: sec, classifications: [security]}\n";
    const WEEK: &str = "  approvalRules:\n    - {name: week, approveAfterDays: 7}\n";

    fn seen(pkg: &str, v: &str, at: &str) -> History {
        let mut h = History::default();
        h.first_seen
            .insert((pkg.into(), v.into()), at.parse().unwrap());
        h
    }

    fn staged(pkg: &str, v: &str, installed: &str, healthy: Option<&str>) -> History {
        let mut h = History::default();
        h.stage_healthy_since.insert(
            ("staging".into(), pkg.into(), v.into()),
            StageRecord {
                installed_since: installed.parse().unwrap(),
                healthy_since: healthy.map(|s| s.parse().unwrap()),
                unhealthy: healthy.is_none().then(|| {
                    "host stg-1: check `up` failed: exit 1 at 2026-11-20T00:00:00Z".into()
                }),
            },
        );
        h
    }

    #[test]
    fn decisions() {
        let promo = "  approvalRules:\n    - {name: sec, classifications: [security]}\n  promotion: {from: staging, after: 2d}\n";
        let cases = vec![
            Case {
                what: "security rule approves at once",
                spec: SECURITY_NOW,
                approvals: &[],
                update: update("openssl", "3.0.15-1", Security, Critical, None),
                now: "2026-11-26T12:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: Approved,
                want_on: None,
                reason_has: "rule `sec`",
            },
            Case {
                what: "no rule matches",
                spec: SECURITY_NOW,
                approvals: &[],
                update: update("vim", "9.0-2", Bugfix, Unspecified, None),
                now: "2026-11-26T12:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: NotApplicable,
                want_on: None,
                reason_has: "no approval rule",
            },
            Case {
                what: "pending until seven days after release",
                spec: WEEK,
                approvals: &[],
                update: update("vim", "9.0-2", Bugfix, Low, Some("2026-11-20")),
                now: "2026-11-26T23:59:59Z",
                tz: "UTC",
                history: History::default(),
                want: PendingApproval,
                want_on: Some("2026-11-27"),
                reason_has: "released 2026-11-20",
            },
            Case {
                what: "approved exactly on the boundary",
                spec: WEEK,
                approvals: &[],
                update: update("vim", "9.0-2", Bugfix, Low, Some("2026-11-20")),
                now: "2026-11-27T00:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: Approved,
                want_on: None,
                reason_has: "on 2026-11-27",
            },
            Case {
                what: "the boundary falls in the fleet's zone, not UTC",
                spec: WEEK,
                approvals: &[],
                update: update("vim", "9.0-2", Bugfix, Low, Some("2026-11-20")),
                now: "2026-11-26T23:30:00Z",
                tz: "Europe/Berlin",
                history: History::default(),
                want: Approved,
                want_on: None,
                reason_has: "rule `week`",
            },
            Case {
                what: "same instant, seen from New York, is still the 26th",
                spec: WEEK,
                approvals: &[],
                update: update("vim", "9.0-2", Bugfix, Low, Some("2026-11-20")),
                now: "2026-11-27T03:00:00Z",
                tz: "America/New_York",
                history: History::default(),
                want: PendingApproval,
                want_on: Some("2026-11-27"),
                reason_has: "",
            },
            Case {
                what: "no release date: age from first sighting",
                spec: WEEK,
                approvals: &[],
                update: update("vim", "9.0-2", Other, Unspecified, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: seen("vim", "9.0-2", "2026-11-20T09:00:00Z"),
                want: Approved,
                want_on: None,
                reason_has: "first seen 2026-11-20",
            },
            Case {
                what: "never seen before: the clock starts today",
                spec: WEEK,
                approvals: &[],
                update: update("vim", "9.0-2", Other, Unspecified, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: PendingApproval,
                want_on: Some("2026-12-04"),
                reason_has: "first seen 2026-11-27",
            },
            Case {
                what: "reject beats approve",
                spec: "  approved:\n    - {package: docker-ce, reason: ok}\n  rejected:\n    - {package: docker-ce, version: \">= 5:28\", reason: not certified}\n",
                approvals: &[],
                update: update(
                    "docker-ce",
                    "5:28.0.1-1~debian.12~bookworm",
                    Other,
                    Unspecified,
                    None,
                ),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: ExplicitRejected,
                want_on: None,
                reason_has: "not certified",
            },
            Case {
                what: "a rejection outside its constraint does not apply",
                spec: "  approved:\n    - {package: docker-ce, reason: ok}\n  rejected:\n    - {package: docker-ce, version: \">= 5:28\", reason: not certified}\n",
                approvals: &[],
                update: update(
                    "docker-ce",
                    "5:27.5.1-1~debian.12~bookworm",
                    Other,
                    Unspecified,
                    None,
                ),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: ExplicitApproved,
                want_on: None,
                reason_has: "approved: ok",
            },
            Case {
                what: "a lapsed rejection no longer applies",
                spec: "  approvalRules:\n    - {name: all}\n  rejected:\n    - {package: \"lib*\", reason: freeze, until: 2026-11-01}\n",
                approvals: &[],
                update: update("libc6", "2.36-9+deb12u9", Security, Important, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: Approved,
                want_on: None,
                reason_has: "rule `all`",
            },
            Case {
                what: "explicit approval beats rules",
                spec: "  approvalRules:\n    - {name: month, approveAfterDays: 30}\n  approved:\n    - {package: openssl, version: \">= 3.0.15\", reason: CVE-2024-9143}\n",
                approvals: &[],
                update: update(
                    "openssl",
                    "3.0.15-1~deb12u1",
                    Security,
                    Important,
                    Some("2026-11-26"),
                ),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: ExplicitApproved,
                want_on: None,
                reason_has: "CVE-2024-9143",
            },
            Case {
                what: "a ~ version is older than its release",
                spec: "  approved:\n    - {package: openssl, version: \">= 3.0.15\", reason: r}\n",
                approvals: &[],
                update: update("openssl", "3.0.15~rc1-1", Security, Important, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: NotApplicable,
                want_on: None,
                reason_has: "no approval rule",
            },
            Case {
                what: "approved by review, exact version with epoch",
                spec: "  approvalRules: []\n",
                approvals: &["    - {package: pw-beta, version: \"2:2.1~rc1-1\"}\n"],
                update: update("pw-beta", "2:2.1~rc1-1", Security, Unspecified, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: ExplicitApproved,
                want_on: None,
                reason_has: "PatchApprovals",
            },
            Case {
                what: "an approval for another epoch is another version",
                spec: "  approvalRules: []\n",
                approvals: &["    - {package: pw-beta, version: \"2.1~rc1-1\"}\n"],
                update: update("pw-beta", "2:2.1~rc1-1", Security, Unspecified, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: NotApplicable,
                want_on: None,
                reason_has: "",
            },
            Case {
                what: "promotion gates even a critical security patch",
                spec: promo,
                approvals: &[],
                update: update("openssl", "3.0.15-1", Security, Critical, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: PendingApproval,
                want_on: None,
                reason_has: "not yet installed and healthy on every host of stage `staging`",
            },
            Case {
                what: "promotion waits the full soak",
                spec: promo,
                approvals: &[],
                update: update("openssl", "3.0.15-1", Security, Critical, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: staged(
                    "openssl",
                    "3.0.15-1",
                    "2026-11-26T08:00:00Z",
                    Some("2026-11-26T09:00:00Z"),
                ),
                want: PendingApproval,
                want_on: Some("2026-11-28"),
                reason_has: "needs 2d",
            },
            Case {
                what: "promotion done",
                spec: promo,
                approvals: &[],
                update: update("openssl", "3.0.15-1", Security, Critical, None),
                now: "2026-11-28T09:00:00Z",
                tz: "UTC",
                history: staged(
                    "openssl",
                    "3.0.15-1",
                    "2026-11-26T08:00:00Z",
                    Some("2026-11-26T09:00:00Z"),
                ),
                want: Approved,
                want_on: None,
                reason_has: "promoted from stage `staging`",
            },
            Case {
                what: "installed but unhealthy on staging does not promote",
                spec: promo,
                approvals: &[],
                update: update("openssl", "3.0.15-1", Security, Critical, None),
                now: "2026-12-28T09:00:00Z",
                tz: "UTC",
                history: staged("openssl", "3.0.15-1", "2026-11-26T08:00:00Z", None),
                want: PendingApproval,
                want_on: None,
                reason_has: "installed on every host of stage `staging` but not healthy (host stg-1: check `up` failed: exit 1",
            },
            Case {
                what: "promotion gates explicit approvals too",
                spec: "  approved:\n    - {package: openssl, reason: r}\n  promotion: {from: staging, after: 1d}\n",
                approvals: &[],
                update: update("openssl", "3.0.15-1", Security, Critical, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: PendingApproval,
                want_on: None,
                reason_has: "waiting for promotion",
            },
            Case {
                what: "approveUntilDate excludes later releases",
                spec: "  approvalRules:\n    - {name: frozen, approveUntilDate: 2026-11-30}\n",
                approvals: &[],
                update: update("vim", "9.0-2", Bugfix, Low, Some("2026-12-01")),
                now: "2026-12-02T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: NotApplicable,
                want_on: None,
                reason_has: "approves only up to 2026-11-30",
            },
            Case {
                what: "approveUntilDate includes its own day",
                spec: "  approvalRules:\n    - {name: frozen, approveUntilDate: 2026-11-30}\n",
                approvals: &[],
                update: update("vim", "9.0-2", Bugfix, Low, Some("2026-11-30")),
                now: "2026-12-02T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: Approved,
                want_on: None,
                reason_has: "on or before 2026-11-30",
            },
            Case {
                what: "repository and package globs, and exclusions",
                spec: "  approvalRules:\n    - {name: sec-repo, repositories: [\"*-Security:*\"], packages: [\"lib*\"], excludePackages: [\"libc6\"]}\n",
                approvals: &[],
                update: update("libc6", "2.36-9+deb12u9", Security, Important, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: NotApplicable,
                want_on: None,
                reason_has: "",
            },
            Case {
                what: "repository glob matches",
                spec: "  approvalRules:\n    - {name: sec-repo, repositories: [\"*-Security:*\"], packages: [\"lib*\"], excludePackages: [\"libc6\"]}\n",
                approvals: &[],
                update: update("libssl3", "3.0.15-1", Other, Unspecified, None),
                now: "2026-11-27T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: Approved,
                want_on: None,
                reason_has: "sec-repo",
            },
            Case {
                what: "the earliest matching rule wins",
                spec: "  approvalRules:\n    - {name: slow, approveAfterDays: 30}\n    - {name: fast, severities: [important], approveAfterDays: 2}\n",
                approvals: &[],
                update: update("vim", "9.0-2", Security, Important, Some("2026-11-20")),
                now: "2026-11-21T10:00:00Z",
                tz: "UTC",
                history: History::default(),
                want: PendingApproval,
                want_on: Some("2026-11-22"),
                reason_has: "rule `fast`",
            },
        ];
        for c in &cases {
            run(c);
        }
    }

    #[test]
    fn compliance_level_comes_from_the_rule() {
        let b = baseline(
            "  approvalRules:\n    - {name: r, complianceLevel: critical}\n",
            &[],
        );
        let h = History::default();
        let tz = TimeZone::UTC;
        let ctx = Context {
            package_manager: PackageManager::Apt,
            now: "2026-11-27T10:00:00Z".parse().unwrap(),
            tz: &tz,
            history: &h,
            seen_at: None,
        };
        let d = b.evaluate(
            &Offer::plain(&update("vim", "9.0-2", Bugfix, Low, None)),
            &ctx,
        );
        assert_eq!(d.compliance_level, Critical);
    }

    /// A plan from facts scanned ten days ago counts an undated patch's age
    /// from that scan at the latest, never from `now`, and a recorded
    /// sighting later than the scan does not make it younger either.
    #[test]
    fn first_sightings_are_never_later_than_the_facts_scan() {
        let b = baseline(
            "  approvalRules:\n    - {name: week, approveAfterDays: 7}\n",
            &[],
        );
        let tz = TimeZone::UTC;
        let mut h = History::default();
        let u = update("vim", "9.0-2", Bugfix, Low, None);
        let at = |t: &str| -> Timestamp { t.parse().unwrap() };
        let ctx = |h: &History, seen: Option<&str>| {
            b.evaluate(
                &Offer::plain(&u),
                &Context {
                    package_manager: PackageManager::Apt,
                    now: at("2026-11-27T10:00:00Z"),
                    tz: &tz,
                    history: h,
                    seen_at: seen.map(at),
                },
            )
        };
        assert_eq!(ctx(&h, None).state, PendingApproval, "first seen today");
        let d = ctx(&h, Some("2026-11-17T08:00:00Z"));
        assert_eq!(d.state, Approved, "{d:?}");
        assert!(d.reason.contains("first seen 2026-11-17"), "{}", d.reason);
        h.first_seen
            .insert(("vim".into(), "9.0-2".into()), at("2026-11-25T00:00:00Z"));
        assert_eq!(ctx(&h, Some("2026-11-17T08:00:00Z")).state, Approved);
        // A scan time after `now` (planning "as of" the past) changes nothing.
        assert_eq!(ctx(&h, Some("2026-11-28T08:00:00Z")).state, PendingApproval);
    }

    #[test]
    fn rpm_constraints_use_rpm_ordering() {
        let c = crate::spec::values::parse_version_constraint(">= 3.0.7-27.el9").unwrap();
        assert!(satisfies(PackageManager::Dnf, "1:3.0.7-25.el9", &c));
        assert!(!satisfies(PackageManager::Dnf, "3.0.7-25.el9_3", &c));
        assert!(satisfies(PackageManager::Dnf, "3.0.7-28.el9", &c));
    }

    #[test]
    fn blocked_packages_match_as_rejections_do() {
        let spec = "  rejected:\n    - {package: \"pw-block*\", version: \">= 1.0, < 2\", reason: not certified, until: 2026-12-31}\n";
        let b = baseline(spec, &[]);
        let day = |d: &str| d.parse::<Date>().unwrap();
        let apt = PackageManager::Apt;
        assert!(b.blocks_any());
        assert_eq!(
            b.blocks("pw-blocked", "1.0-1", apt, day("2026-12-02")),
            Some("not certified")
        );
        // The version constraint, the glob and `until` all decide.
        assert_eq!(
            b.blocks("pw-blocked", "2.0-1", apt, day("2026-12-02")),
            None
        );
        assert_eq!(b.blocks("pw-app", "1.0-1", apt, day("2026-12-02")), None);
        assert_eq!(
            b.blocks("pw-blocked", "1.0-1", apt, day("2027-01-01")),
            None
        );
        // The planner's own decision agrees on the same package.
        let history = History::default();
        let tz = TimeZone::UTC;
        let ctx = Context {
            package_manager: apt,
            now: "2026-12-02T10:00:00Z".parse().unwrap(),
            tz: &tz,
            history: &history,
            seen_at: None,
        };
        assert!(b.rejects_installed("pw-blocked", "1.5", &ctx).is_some());
        // allowAsDependency: a rejected package may come in as a dependency.
        let allow = baseline(&format!("  rejectedAction: allowAsDependency\n{spec}"), &[]);
        assert!(!allow.blocks_any());
        assert_eq!(
            allow.blocks("pw-blocked", "1.0-1", apt, day("2026-12-02")),
            None
        );
    }
}
