//! RHEL, Fedora and friends: rpm for what is installed, dnf for upgrades and
//! their advisories (updateinfo: type, severity, CVEs, date).

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::names::{is_arch, is_rpm_name, is_rpm_version_part};
use super::transaction::{Resolved, Unfinished};
use super::{
    Refresh, Rejected, ScanError, ScanOptions, TooMany, push_entry, room, run_ok, too_many,
};
use crate::facts::{AvailableUpdate, InstalledPackage};
use crate::spec::baseline::{Classification, Severity};
use crate::transport::{RemoteCommand, Transport};

/// `name \t epoch \t version \t release \t arch \t source rpm` for every
/// package in the rpm database; the source rpm is the file the package was
/// built from (`openssl-3.0.7-27.el9.src.rpm` for `openssl-libs`), `(none)`
/// for gpg-pubkey entries.
pub fn installed_command() -> RemoteCommand {
    RemoteCommand::new("rpm").args([
        "-qa",
        "--qf",
        "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n",
    ])
}

/// The source package named by `%{SOURCERPM}` of binary package `name`:
/// `NAME-VERSION-RELEASE.src.rpm` (or `.nosrc.rpm`, a package built without
/// its sources) with the version and release stripped. `Some(None)` when it
/// is the binary's own name or rpm has none (`(none)`); `None` when the
/// field does not have that shape.
fn parse_source_rpm(field: &str, name: &str) -> Option<Option<String>> {
    if field == "(none)" {
        return Some(None);
    }
    let nvr = field
        .strip_suffix(".src.rpm")
        .or_else(|| field.strip_suffix(".nosrc.rpm"))?;
    let (nv, release) = nvr.rsplit_once('-')?;
    let (source, version) = nv.rsplit_once('-')?;
    (is_rpm_name(source) && is_rpm_version_part(version) && is_rpm_version_part(release))
        .then(|| (source != name).then(|| source.to_string()))
}

/// dnf reads only its cache (`-C`): refreshing is a separate, deliberate step.
fn dnf(args: &[&str]) -> RemoteCommand {
    RemoteCommand::new("dnf")
        .args(["-q", "-C"])
        .args(args.iter().copied())
}

pub fn upgrades_command() -> RemoteCommand {
    dnf(&[
        "repoquery",
        "--upgrades",
        "--latest-limit=1",
        "--qf",
        "%{name}\\t%{epoch}\\t%{version}\\t%{release}\\t%{arch}\\t%{reponame}",
    ])
}

pub fn advisory_list_command() -> RemoteCommand {
    dnf(&["updateinfo", "list", "--updates"])
}

pub fn advisory_info_command() -> RemoteCommand {
    dnf(&["updateinfo", "info", "--updates"])
}

/// Refresh: `makecache`, honouring the age limit through dnf's own expiry.
pub fn refresh_command(refresh: Refresh) -> Option<RemoteCommand> {
    let base = RemoteCommand::new("dnf").args(["-q", "makecache"]);
    match refresh {
        Refresh::Never => None,
        Refresh::Always => Some(base.arg("--refresh")),
        Refresh::IfOlderThan(d) => {
            Some(base.arg(format!("--setopt=*.metadata_expire={}", d.as_secs())))
        }
    }
}

/// Reboot check (constant script): needs-restarting where present, and the
/// package that owns the running kernel's modules against the newest
/// installed package of the same name (so kernel-uek, kernel-rt or SUSE's
/// `-default` naming never look like a mismatch).
pub fn reboot_command() -> RemoteCommand {
    RemoteCommand::new("sh").args([
        "-c",
                "if command -v needs-restarting >/dev/null 2>&1; then needs-restarting -r >/dev/null 2>&1; echo \"needs-restarting $?\"; fi; \
         k=$(uname -r); \
         echo \"running $(rpm -qf --qf '%{NAME} %{VERSION}-%{RELEASE}.%{ARCH}' /lib/modules/$k 2>/dev/null)\"; \
         for n in $(rpm -qf --qf '%{NAME} ' /lib/modules/$k 2>/dev/null); do \
           echo \"newest $(rpm -q --qf '%{INSTALLTIME} %{NAME} %{VERSION}-%{RELEASE}.%{ARCH}\\n' \"$n\" 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-)\"; \
         done; true",
    ])
}

/// `E:V-R`, or `V-R` when the epoch is 0, as dnf prints versions.
pub fn evr(epoch: &str, version: &str, release: &str) -> String {
    if epoch.is_empty() || epoch == "0" || epoch == "(none)" {
        format!("{version}-{release}")
    } else {
        format!("{epoch}:{version}-{release}")
    }
}

fn valid_evr(epoch: &str, version: &str, release: &str) -> bool {
    (epoch.is_empty() || epoch == "(none)" || epoch.bytes().all(|b| b.is_ascii_digit()))
        && is_rpm_version_part(version)
        && is_rpm_version_part(release)
}

/// The tab-separated fields of a line, when there are exactly `N`.
fn fields<const N: usize>(line: &str) -> Option<[&str; N]> {
    let mut it = line.split('\t');
    let f: [&str; N] = std::array::from_fn(|_| it.next().unwrap_or("\0"));
    (it.next().is_none() && !f.contains(&"\0")).then_some(f)
}

pub fn parse_installed(out: &str) -> Result<(Vec<InstalledPackage>, Vec<String>), TooMany> {
    let mut pkgs = Vec::new();
    let mut rejected = Rejected::default();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        // gpg-pubkey entries are keys in the rpm database (arch `(none)`), not packages.
        if line.split('\t').next() == Some("gpg-pubkey") {
            continue;
        }
        // Five fields: recorded before patchwave asked for the source rpm.
        let f =
            fields(line).or_else(|| fields(line).map(|[n, e, v, r, a]| [n, e, v, r, a, "(none)"]));
        match f {
            Some([name, epoch, version, release, arch, source_rpm])
                if is_rpm_name(name) && valid_evr(epoch, version, release) && is_arch(arch) =>
            {
                let Some(source) = parse_source_rpm(source_rpm, name) else {
                    rejected.push(line);
                    continue;
                };
                push_entry(
                    &mut pkgs,
                    InstalledPackage {
                        source,
                        name: name.to_string(),
                        arch: arch.to_string(),
                        version: evr(epoch, version, release),
                        held: false,
                    },
                    "installed packages",
                )?;
            }
            _ => rejected.push(line),
        }
    }
    pkgs.sort();
    Ok((pkgs, rejected.into_lines()))
}

/// The install patchwave is about to run, resolved without changing
/// anything: the same command and package arguments, answering no
/// (`--assumeno`) instead of yes, and not quiet, so dnf prints its
/// transaction table.
pub fn resolve_command(install: &RemoteCommand) -> RemoteCommand {
    let mut c = install.clone();
    c.args = c
        .args
        .iter()
        .filter(|a| *a != "-q")
        .map(|a| {
            if a == "-y" {
                "--assumeno".to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    c
}

/// The packages dnf's transaction table (`dnf install --assumeno`, dnf 4)
/// would install, upgrade, downgrade or reinstall, dependencies included.
/// Removals and skipped packages are not installs. dnf prints the table 80
/// columns wide: a name too long for its column stands on a line of its own
/// and the rest of the row follows on the next. `Err` when dnf resolved
/// nothing it could show, or a row does not parse (an unreadable transaction
/// cannot be vouched for).
pub fn parse_resolved(out: &str) -> Result<Vec<Resolved>, String> {
    if out.lines().any(|l| l.trim() == "Nothing to do.") {
        return Ok(Vec::new());
    }
    if !out.lines().any(|l| l.trim() == "Dependencies resolved.") {
        return Err("dnf did not resolve the transaction".into());
    }
    let mut found = Vec::new();
    let mut installs = false;
    let mut pending: Option<&str> = None;
    for line in out.lines() {
        if line.starts_with("Transaction Summary") {
            break;
        }
        if line.trim().is_empty() || line.starts_with('=') {
            continue;
        }
        if !line.starts_with(' ') {
            // A section header: `Upgrading:`, `Installing dependencies:`, `Removing:` …
            let h = line.trim_end_matches(':');
            installs = ["Install", "Upgrad", "Downgrad", "Reinstall"]
                .iter()
                .any(|w| h.starts_with(w));
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"Package") || words.first() == Some(&"replacing") {
            continue;
        }
        if !installs {
            continue;
        }
        let row: Vec<&str> = match (pending.take(), words.as_slice()) {
            (None, [name]) => {
                pending = Some(name);
                continue;
            }
            (Some(name), rest) => std::iter::once(name).chain(rest.iter().copied()).collect(),
            (None, _) => words,
        };
        // name arch version repo size unit
        match row.as_slice() {
            [name, arch, version, _repo, _size, ..]
                if is_rpm_name(name) && is_arch(arch) && rpm_evr_ok(version) =>
            {
                push_entry(
                    &mut found,
                    Resolved::new(name, arch, version),
                    "packages in a transaction",
                )
                .map_err(|e| e.to_string())?;
            }
            _ => {
                return Err(format!(
                    "dnf printed a row patchwave cannot read: `{}`",
                    line.trim()
                ));
            }
        }
    }
    if let Some(name) = pending {
        return Err(format!("dnf's table ends inside the row of `{name}`"));
    }
    Ok(found)
}

/// `[E:]V-R` as dnf prints it.
fn rpm_evr_ok(s: &str) -> bool {
    let (epoch, vr) = match s.split_once(':') {
        Some((e, vr)) => (e, vr),
        None => ("", s),
    };
    let Some((v, r)) = vr.rsplit_once('-') else {
        return false;
    };
    valid_evr(epoch, v, r)
}

/// Packages in the rpm database twice, as an rpm transaction killed between
/// installing the new version and erasing the old one leaves them (install-only
/// packages such as kernels are not duplicates). Read-only, from the rpm
/// database (`-C`: no repository is loaded).
pub fn check_duplicates_command() -> RemoteCommand {
    dnf(&["check", "--duplicates"])
}

/// dnf's own repair of duplicates: the newest version is installed again and
/// the older ones are erased (their removal scriptlets run then).
pub fn remove_duplicates_command() -> RemoteCommand {
    RemoteCommand::new("dnf").args(["remove", "--duplicates", "-y", "-q"])
}

/// `name-[E:]V-R.arch` → (name, `[E:]V-R`, arch).
fn split_nevra(s: &str) -> Option<(&str, &str, &str)> {
    let (nevr, arch) = s.rsplit_once('.')?;
    let (nev, release) = nevr.rsplit_once('-')?;
    let (name, ev) = nev.rsplit_once('-')?;
    let (epoch, version) = ev.split_once(':').unwrap_or(("", ev));
    (is_rpm_name(name) && is_arch(arch) && valid_evr(epoch, version, release))
        .then(|| (name, &nevr[name.len() + 1..], arch))
}

/// The duplicates `dnf check --duplicates` reports
/// (`OLD-NEVRA is a duplicate with NEW-NEVRA`), the older copy of each.
/// Lines that do not parse are left out.
pub fn parse_duplicates(out: &str) -> Vec<Unfinished> {
    out.lines()
        .filter_map(|l| {
            let (old, new) = l.trim().split_once(" is a duplicate with ")?;
            let (name, version, arch) = split_nevra(old)?;
            let (_, newer, _) = split_nevra(new)?;
            Some(Unfinished {
                name: name.to_string(),
                arch: arch.to_string(),
                version: version.to_string(),
                state: format!("duplicate of {newer}"),
                needs_reinstall: false,
            })
        })
        .collect()
}

/// One row of `repoquery --upgrades`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub name: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub repo: String,
}

impl Upgrade {
    /// The NEVRA as `updateinfo list` prints it: `name-[E:]V-R.arch`.
    pub fn nevra(&self) -> String {
        format!(
            "{}-{}.{}",
            self.name,
            evr(&self.epoch, &self.version, &self.release),
            self.arch
        )
    }
}

pub fn parse_upgrades(out: &str) -> Result<(Vec<Upgrade>, Vec<String>), TooMany> {
    let mut ups = Vec::new();
    let mut rejected = Rejected::default();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        match fields(line) {
            Some([name, epoch, version, release, arch, repo])
                if is_rpm_name(name)
                    && valid_evr(epoch, version, release)
                    && is_arch(arch)
                    && !repo.chars().any(char::is_control) =>
            {
                push_entry(
                    &mut ups,
                    Upgrade {
                        name: name.to_string(),
                        epoch: epoch.to_string(),
                        version: version.to_string(),
                        release: release.to_string(),
                        arch: arch.to_string(),
                        repo: repo.to_string(),
                    },
                    "upgrades",
                )?;
            }
            _ => rejected.push(line),
        }
    }
    Ok((ups, rejected.into_lines()))
}

/// `ADVISORY TYPE PACKAGE-NEVRA` rows: which advisories cover which NEVRA.
pub fn parse_advisory_list(out: &str) -> Result<BTreeMap<String, Vec<String>>, TooMany> {
    let mut by_nevra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rows = 0;
    for line in out.lines() {
        let mut f = line.split_whitespace();
        if let (Some(id), Some(_kind), Some(nevra), None) = (f.next(), f.next(), f.next(), f.next())
        {
            room(rows, "advisory rows")?;
            rows += 1;
            by_nevra
                .entry(nevra.to_string())
                .or_default()
                .push(id.to_string());
        }
    }
    Ok(by_nevra)
}

/// One advisory from `updateinfo info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advisory {
    pub id: String,
    pub kind: String,
    pub severity: Option<String>,
    pub updated: Option<Date>,
    pub cves: Vec<String>,
}

/// Parses the `Key: value` blocks of `updateinfo info`; continuation lines
/// (`           : CVE-…`) belong to the key above.
pub fn parse_advisory_info(out: &str) -> Result<BTreeMap<String, Advisory>, TooMany> {
    let mut all = BTreeMap::new();
    // Advisories and their CVEs together.
    let mut entries = 0;
    let mut cur: Option<Advisory> = None;
    let mut last_key = String::new();
    for line in out.lines() {
        let Some((k, v)) = line
            .split_once(": ")
            .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
        else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let key = if k.is_empty() {
            last_key.clone()
        } else {
            k.to_string()
        };
        match key.as_str() {
            "Update ID" => {
                room(entries, "advisories and CVEs")?;
                entries += 1;
                if let Some(a) = cur.take() {
                    all.insert(a.id.clone(), a);
                }
                cur = Some(Advisory {
                    id: v.to_string(),
                    ..Advisory::default()
                });
            }
            "Type" => {
                if let Some(a) = cur.as_mut() {
                    a.kind = v.to_ascii_lowercase();
                }
            }
            "Severity" => {
                if let Some(a) = cur.as_mut() {
                    a.severity = Some(v.to_string());
                }
            }
            "Updated" | "Issued" => {
                if let Some(a) = cur.as_mut() {
                    let day = v.split_whitespace().next().unwrap_or("");
                    if let Ok(d) = day.parse::<Date>() {
                        a.updated = Some(a.updated.map_or(d, |x| x.max(d)));
                    }
                }
            }
            "CVEs" => {
                if let Some(a) = cur.as_mut()
                    && v.starts_with("CVE-")
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    room(entries, "advisories and CVEs")?;
                    entries += 1;
                    a.cves.push(v.to_string());
                }
            }
            _ => {}
        }
        last_key = key;
    }
    if let Some(a) = cur {
        all.insert(a.id.clone(), a);
    }
    Ok(all)
}

fn classification(kind: &str) -> Classification {
    match kind {
        "security" => Classification::Security,
        "bugfix" => Classification::Bugfix,
        "enhancement" => Classification::Enhancement,
        _ => Classification::Other,
    }
}

fn severity(s: Option<&str>) -> Severity {
    match s.map(str::to_ascii_lowercase).as_deref() {
        Some("critical") => Severity::Critical,
        Some("important") => Severity::Important,
        Some("moderate") => Severity::Moderate,
        Some("low") => Severity::Low,
        _ => Severity::Unspecified,
    }
}

/// Upgrades of installed packages, each with its most urgent advisory and the
/// source package of the installed package it upgrades.
pub fn updates(
    installed: &[InstalledPackage],
    upgrades: &[Upgrade],
    by_nevra: &BTreeMap<String, Vec<String>>,
    advisories: &BTreeMap<String, Advisory>,
) -> Vec<AvailableUpdate> {
    let mut out = Vec::new();
    for u in upgrades {
        let Some(inst) = installed
            .iter()
            .find(|p| p.name == u.name && p.arch == u.arch)
        else {
            continue;
        };
        let advs: Vec<&Advisory> = by_nevra
            .get(&u.nevra())
            .into_iter()
            .flatten()
            .filter_map(|id| advisories.get(id))
            .collect();
        // Most urgent first: security before other types, then by severity.
        let chosen = advs.iter().min_by_key(|a| {
            (
                classification(&a.kind),
                severity(a.severity.as_deref()),
                a.id.clone(),
            )
        });
        let mut cves: Vec<String> = advs.iter().flat_map(|a| a.cves.iter().cloned()).collect();
        cves.sort();
        cves.dedup();
        out.push(AvailableUpdate {
            source: inst.source.clone(),
            name: u.name.clone(),
            arch: u.arch.clone(),
            installed_version: inst.version.clone(),
            candidate_version: evr(&u.epoch, &u.version, &u.release),
            repository: u.repo.clone(),
            classification: chosen.map_or(Classification::Other, |a| classification(&a.kind)),
            severity: chosen.map_or(Severity::Unspecified, |a| severity(a.severity.as_deref())),
            advisory: chosen.map(|a| a.id.clone()),
            cves,
            release_date: chosen.and_then(|a| a.updated),
            held_back: false,
            requires_reboot: false,
        });
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out
}

/// `(required, why)` from the reboot script's output: `needs-restarting N`,
/// `running NAME V-R.A` (the package owning the running kernel) and
/// `newest NAME V-R.A` (the newest installed package of that name).
pub fn parse_reboot(out: &str) -> (bool, Vec<String>) {
    let mut running = None;
    let mut newest = None;
    let mut why = Vec::new();
    for line in out.lines() {
        if let Some(code) = line.strip_prefix("needs-restarting ") {
            if code.trim() == "1" && !why.iter().any(|w| w == "needs-restarting") {
                why.push("needs-restarting".to_string());
            }
        } else if let Some(r) = line.strip_prefix("running ") {
            running = Some(r.trim().to_string()).filter(|r| r.contains(' '));
        } else if let Some(n) = line.strip_prefix("newest ") {
            newest = Some(n.trim().to_string()).filter(|n| n.contains(' '));
        }
    }
    if let (Some(r), Some(n)) = (&running, &newest)
        && r != n
    {
        why.push(format!("{n} installed, {r} running"));
    }
    (!why.is_empty(), why)
}

/// The whole dnf scan.
pub async fn scan(t: &dyn Transport, opts: &ScanOptions) -> Result<super::PackageScan, ScanError> {
    if let Some(cmd) = refresh_command(opts.refresh) {
        run_ok(t, &cmd.timeout(opts.refresh_timeout)).await?;
    }
    let timeout = opts.command_timeout;
    let cmds = [
        installed_command().timeout(timeout),
        upgrades_command().timeout(timeout),
        advisory_list_command().timeout(timeout),
        advisory_info_command().timeout(timeout),
        reboot_command().timeout(timeout),
    ];
    let (installed, upgrades, list, info, reboot) = tokio::join!(
        run_ok(t, &cmds[0]),
        run_ok(t, &cmds[1]),
        run_ok(t, &cmds[2]),
        run_ok(t, &cmds[3]),
        run_ok(t, &cmds[4]),
    );
    let cmds = &cmds;
    let tm = |i: usize| move |e| too_many(t, &cmds[i], e);
    let (installed, mut rejected) = parse_installed(&installed?).map_err(tm(0))?;
    let (upgrades, rej) = parse_upgrades(&upgrades?).map_err(tm(1))?;
    rejected.extend(rej);
    let updates = updates(
        &installed,
        &upgrades,
        &parse_advisory_list(&list?).map_err(tm(2))?,
        &parse_advisory_info(&info?).map_err(tm(3))?,
    );
    let (reboot_required, reboot_required_by) = parse_reboot(&reboot?);
    Ok(super::PackageScan {
        installed,
        updates,
        reboot_required,
        reboot_required_by,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RPM_QA: &str = include_str!("../../testdata/os/dnf/rpm-qa.txt");
    const UPGRADES: &str = include_str!("../../testdata/os/dnf/repoquery-upgrades.txt");
    const LIST: &str = include_str!("../../testdata/os/dnf/updateinfo-list.txt");
    const INFO: &str = include_str!("../../testdata/os/dnf/updateinfo-info.txt");
    const ASSUMENO: &str = include_str!("../../testdata/os/dnf/install-assumeno.txt");
    const DUPLICATES: &str = include_str!("../../testdata/os/dnf/check-duplicates-interrupted.txt");

    #[test]
    fn installed_with_epochs() {
        let (pkgs, rejected) = parse_installed(RPM_QA).unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let v = |n: &str| {
            pkgs.iter()
                .find(|p| p.name == n)
                .map(|p| p.version.as_str())
        };
        assert_eq!(v("pw-gamma"), Some("3:1.0-1"));
        assert_eq!(v("pw-alpha"), Some("1.0-1"));
        let (ok, bad) = parse_installed(
            "x\t0\t1.0\t1\tnoarch\n-e\t0\t1\t1\tnoarch\ny\t0\t1-0\t1\tnoarch\ngpg-pubkey\t0\tabc\tdef\t(none)\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(bad.len(), 2, "{bad:?}");
    }

    #[test]
    fn advisories_pick_the_most_urgent_and_collect_cves() {
        let (installed, _) = parse_installed(RPM_QA).unwrap();
        let (ups, rejected) = parse_upgrades(UPGRADES).unwrap();
        assert!(rejected.is_empty());
        let info = parse_advisory_info(INFO).unwrap();
        assert_eq!(info.len(), 5);
        assert_eq!(
            info["PWT-2026:0001"].cves,
            ["CVE-2026-1234", "CVE-2026-5678"]
        );
        let u = updates(&installed, &ups, &parse_advisory_list(LIST).unwrap(), &info);
        let row = |n: &str| u.iter().find(|x| x.name == n).unwrap();
        let beta = row("pw-beta");
        assert_eq!(beta.classification, Classification::Security);
        assert_eq!(beta.severity, Severity::Important);
        assert_eq!(beta.advisory.as_deref(), Some("PWT-2026:0001"));
        assert_eq!(
            beta.cves,
            ["CVE-2026-1234", "CVE-2026-5678", "CVE-2026-9999"]
        );
        assert_eq!(beta.release_date, Some(jiff::civil::date(2026, 11, 21)));
        assert_eq!(
            (
                beta.installed_version.as_str(),
                beta.candidate_version.as_str()
            ),
            ("2.0-1", "2.1-1")
        );
        let gamma = row("pw-gamma");
        assert_eq!(gamma.candidate_version, "3:1.1-1");
        assert_eq!(gamma.installed_version, "3:1.0-1");
        assert_eq!(
            (gamma.classification, gamma.severity),
            (Classification::Security, Severity::Unspecified)
        );
        let alpha = row("pw-alpha");
        assert_eq!(
            (alpha.classification, alpha.severity),
            (Classification::Bugfix, Severity::Unspecified)
        );
        assert_eq!(alpha.release_date, Some(jiff::civil::date(2026, 11, 18)));
        let delta = row("pw-delta");
        assert_eq!(
            (delta.classification, delta.severity),
            (Classification::Enhancement, Severity::Low)
        );
        assert_eq!(u.len(), 4);
        // A host with nothing to update prints nothing at all.
        assert!(
            updates(
                &installed,
                &parse_upgrades("").unwrap().0,
                &parse_advisory_list("").unwrap(),
                &parse_advisory_info("").unwrap()
            )
            .is_empty()
        );
    }

    #[test]
    fn reboot_from_needs_restarting_or_a_newer_kernel() {
        // The running kernel's modules are owned by no package (a test host).
        assert_eq!(parse_reboot("running \n"), (false, vec![]));
        assert!(parse_reboot("needs-restarting 1\nrunning \n").0);
        let (req, why) = parse_reboot(
            "needs-restarting 0\nrunning kernel-core 5.14.0-1.el9.x86_64\nnewest kernel-core 5.14.0-2.el9.x86_64\n",
        );
        assert!(req);
        assert_eq!(
            why,
            ["kernel-core 5.14.0-2.el9.x86_64 installed, kernel-core 5.14.0-1.el9.x86_64 running"]
        );
        // UEK and SUSE kernels: package names differ from `uname -r`, yet nothing is pending.
        assert!(!parse_reboot("running kernel-uek-core 5.15.0-200.el9uek.x86_64\nnewest kernel-uek-core 5.15.0-200.el9uek.x86_64\n").0);
        assert!(!parse_reboot("running kernel-default 6.4.0-150600.23.25.1.x86_64\nnewest kernel-default 6.4.0-150600.23.25.1.x86_64\n").0);
    }

    #[test]
    fn the_transaction_table_with_dependencies_epochs_and_wrapped_names() {
        let r = parse_resolved(ASSUMENO).unwrap();
        assert_eq!(
            r,
            [
                Resolved::new("pw-gamma", "noarch", "1.0-1"),
                Resolved::new("pw-app", "noarch", "2.0-1"),
                Resolved::new("pw-other", "noarch", "1.1-1"),
                Resolved::new("pw-blocked", "noarch", "1.0-1"),
                Resolved::new(
                    "pw-dependency-with-a-really-long-name-to-wrap",
                    "noarch",
                    "2:1.0-1.el9"
                ),
            ]
        );
        assert_eq!(
            parse_resolved("Dependencies resolved.\nNothing to do.\nComplete!\n"),
            Ok(vec![])
        );
        // No table at all (dnf failed to resolve), a hostile row, a cut table.
        assert!(parse_resolved("No match for argument: x\n").is_err());
        assert!(
            parse_resolved("Dependencies resolved.\nInstalling:\n evil;x noarch 1-1 r 1 k\n")
                .is_err()
        );
        assert!(
            parse_resolved("Dependencies resolved.\nInstalling:\n pw-very-long-name\n").is_err()
        );
        // Removals and obsoleted packages are not installs.
        let r = parse_resolved(
            "Dependencies resolved.\nUpgrading:\n a x86_64 2-1 r 1 k\n     replacing  a-old.x86_64 1-1\nRemoving dependent packages:\n b x86_64 1-1 @System 1 k\n",
        )
        .unwrap();
        assert_eq!(r, [Resolved::new("a", "x86_64", "2-1")]);
    }

    #[test]
    fn the_resolve_command_answers_no_and_keeps_the_packages() {
        let install =
            RemoteCommand::new("dnf").args(["install", "-y", "-q", "pw-app-2.0-1.noarch"]);
        assert_eq!(
            resolve_command(&install).args,
            ["install", "--assumeno", "pw-app-2.0-1.noarch"]
        );
    }

    #[test]
    fn duplicates_left_by_an_interrupted_transaction() {
        assert_eq!(
            parse_duplicates(DUPLICATES),
            [Unfinished {
                name: "pw-crash".into(),
                arch: "noarch".into(),
                version: "1.0-1".into(),
                state: "duplicate of 2.0-1".into(),
                needs_reinstall: false,
            }]
        );
        let d = parse_duplicates(
            "pw-x-y-2:1.0-1.el9.x86_64 is a duplicate with pw-x-y-2:1.1-1.el9.x86_64\nevil;x-1-1.noarch is a duplicate with evil;x-2-1.noarch\nError: Check discovered 2 problem(s)\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (d[0].name.as_str(), d[0].version.as_str()),
            ("pw-x-y", "2:1.0-1.el9")
        );
        assert!(parse_duplicates("").is_empty());
    }

    #[test]
    fn installed_packages_name_their_source_rpm_when_it_differs() {
        let (pkgs, rejected) = parse_installed(
            "openssl-libs\t1\t3.0.7\t27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\n\
             openssl\t1\t3.0.7\t27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\n\
             kernel-core\t0\t5.14.0\t427.13.1.el9_4\tx86_64\tkernel-5.14.0-427.13.1.el9_4.src.rpm\n\
             perl-Net-SSLeay\t0\t1.92\t2.el9\tx86_64\tperl-Net-SSLeay-1.92-2.el9.src.rpm\n\
             python3-dnf\t0\t4.14.0\t9.el9\tnoarch\tdnf-4.14.0-9.el9.src.rpm\n\
             libstdc++\t0\t11.4.1\t3.el9\tx86_64\tgcc-11.4.1-3.el9.src.rpm\n\
             pw-firmware\t0\t1.0\t1\tnoarch\tpw-fw-2.0-1^20240101.nosrc.rpm\n\
             pw-virtual\t0\t1.0\t1\tnoarch\t(none)\n\
             gpg-pubkey\t0\t5a6340b3\t6229229e\t(none)\t(none)\n\
             pw-old\t0\t1.0\t1\tnoarch\n",
        )
        .unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let src = |n: &str| {
            pkgs.iter()
                .find(|p| p.name == n)
                .unwrap_or_else(|| panic!("{n}: {pkgs:?}"))
                .source
                .as_deref()
        };
        assert_eq!(src("openssl-libs"), Some("openssl"));
        assert_eq!(src("openssl"), None);
        assert_eq!(src("kernel-core"), Some("kernel"));
        assert_eq!(src("perl-Net-SSLeay"), None);
        assert_eq!(src("python3-dnf"), Some("dnf"));
        assert_eq!(src("libstdc++"), Some("gcc"));
        assert_eq!(src("pw-firmware"), Some("pw-fw"));
        assert_eq!(src("pw-virtual"), None);
        // Five fields: asked without `%{SOURCERPM}`, still read.
        assert_eq!(src("pw-old"), None);
        assert_eq!(pkgs.len(), 9);
        let libs = pkgs.iter().find(|p| p.name == "openssl-libs").unwrap();
        assert_eq!(libs.version, "1:3.0.7-27.el9");
        assert_eq!(libs.source_name(), "openssl");
    }

    #[test]
    fn a_malformed_source_rpm_rejects_its_line() {
        let bad = [
            "",
            "openssl.src.rpm",
            "openssl-3.0.7.src.rpm",
            "openssl-3.0.7-27.el9.rpm",
            "openssl-3.0.7-27.el9.x86_64.rpm",
            "-3.0.7-27.el9.src.rpm",
            "evil;x-1-1.src.rpm",
            "openssl-3.0.7-27 el9.src.rpm",
            "openssl-$(id)-1.src.rpm",
            "none",
            "openssl-3.0.7-27.el9.src.rpm\tx",
        ];
        let out: String = bad
            .iter()
            .map(|s| format!("openssl-libs\t1\t3.0.7\t27.el9\tx86_64\t{s}\n"))
            .collect();
        let (pkgs, rejected) = parse_installed(&out).unwrap();
        assert!(pkgs.is_empty(), "{pkgs:?}");
        assert_eq!(rejected.len(), bad.len(), "{rejected:?}");
    }

    #[test]
    fn an_update_takes_the_source_of_the_package_it_upgrades() {
        let (installed, _) = parse_installed(
            "openssl-libs\t1\t3.0.7\t27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\n\
             openssl\t1\t3.0.7\t27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\n",
        )
        .unwrap();
        let (ups, rejected) = parse_upgrades(
            "openssl-libs\t1\t3.0.7\t28.el9\tx86_64\tbaseos\nopenssl\t1\t3.0.7\t28.el9\tx86_64\tbaseos\nopenssl-libs\t1\t3.0.7\t28.el9\ti686\tbaseos\n",
        )
        .unwrap();
        assert!(rejected.is_empty());
        let u = updates(&installed, &ups, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(
            u.iter()
                .map(|u| (u.name.as_str(), u.arch.as_str(), u.source.as_deref()))
                .collect::<Vec<_>>(),
            [
                ("openssl", "x86_64", None),
                ("openssl-libs", "x86_64", Some("openssl"))
            ]
        );
        assert_eq!(u[1].candidate_version, "1:3.0.7-28.el9");
    }
}
