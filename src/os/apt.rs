//! Debian and Ubuntu: dpkg for what is installed, apt's own upgrade
//! simulation for what would be installed and from which origin.
//!
//! apt publishes no per-package severity or release date: severity is
//! `unspecified` and the planner counts age from first sighting. Security
//! updates are recognised by their origin (label or suite containing
//! "security", as `Debian-Security:12/stable-security`).

use std::collections::BTreeMap;

use super::names::{is_arch, is_deb_name, is_deb_version};
use super::transaction::{Resolved, Unfinished};
use super::{Rejected, ScanError, ScanOptions, TooMany, push_entry, room, run_ok, too_many};
use crate::facts::{AvailableUpdate, InstalledPackage};
use crate::spec::baseline::{Classification, Severity};
use crate::transport::{RemoteCommand, Transport};

/// `name \t arch \t version \t status \t source` for every package dpkg
/// knows. `${Source}` (every dpkg has it, unlike `${source:Package}`) is
/// empty when the source package has the binary's name, `name` when it
/// differs, and `name (version)` when the source's version differs from the
/// binary's (a binNMU: `bash (5.2.15-2)` for bash 5.2.15-2+b2).
pub fn installed_command() -> RemoteCommand {
    RemoteCommand::new("dpkg-query").args([
        "-W",
        "-f",
        "${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Abbrev}\\t${Source}\\n",
    ])
}

/// The source package named by dpkg's `${Source}` field of binary package
/// `name`: `Some(None)` when it is the binary's own (empty, or the same
/// name), `Some(Some(source))` when it differs, `None` when the field does not
/// match `name` or `name (version)` in Debian's grammar.
fn parse_source(field: &str, name: &str) -> Option<Option<String>> {
    if field.is_empty() {
        return Some(None);
    }
    let source = match field.split_once(' ') {
        None => field,
        Some((source, version)) => {
            let version = version.strip_prefix('(')?.strip_suffix(')')?;
            if !is_deb_version(version) {
                return None;
            }
            source
        }
    };
    if !is_deb_name(source) {
        return None;
    }
    Some((source != name).then(|| source.to_string()))
}

/// What `dist-upgrade` would do, without doing it or taking the lock.
pub fn simulate_command() -> RemoteCommand {
    RemoteCommand::new("apt-get").args([
        "--simulate",
        "-q",
        "-o",
        "Debug::NoLocking=true",
        "dist-upgrade",
    ])
}

/// Where patchwave notes its last successful `apt-get update` on a host.
pub const REFRESH_STAMP: &str = "/var/lib/patchwave/apt-update-stamp";

/// Seconds since the package lists were last refreshed, by patchwave's own
/// stamp or apt's periodic one (Release file times are the mirror's, not the
/// refresh's). Constant script; never refreshed means very old.
pub fn lists_age_command() -> RemoteCommand {
    RemoteCommand::new("sh").args([
        "-c",
        "now=$(date +%s); t=0; for f in /var/lib/patchwave/apt-update-stamp /var/lib/apt/periodic/update-success-stamp; do [ -e \"$f\" ] || continue; m=$(stat -c %Y \"$f\"); [ \"$m\" -gt \"$t\" ] && t=$m; done; echo $((now - t))",
    ])
}

/// Marks a successful refresh (constant script).
pub fn stamp_command() -> RemoteCommand {
    RemoteCommand::new("sh").args([
        "-c",
        "mkdir -p /var/lib/patchwave && touch /var/lib/patchwave/apt-update-stamp",
    ])
}

pub fn refresh_command() -> RemoteCommand {
    RemoteCommand::new("apt-get").args(["update", "-q"])
}

/// Whether a reboot is pending, and which packages asked for it (constant script).
pub fn reboot_command() -> RemoteCommand {
    RemoteCommand::new("sh").args([
        "-c",
        "if [ -e /run/reboot-required ] || [ -e /var/run/reboot-required ]; then echo required; cat /run/reboot-required.pkgs 2>/dev/null || cat /var/run/reboot-required.pkgs 2>/dev/null; fi; true",
    ])
}

/// The fields of one line of [`installed_command`]'s output: `name, arch,
/// version, status, source`. Four-field lines (no `${Source}`, as patchwave
/// asked before it recorded source packages) have an empty source.
fn dpkg_fields(line: &str) -> Option<[&str; 5]> {
    // An iterator, not a collected list: a hostile line of tabs costs nothing.
    let mut f = line.split('\t');
    let fields = [
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
        f.next().unwrap_or(""),
    ];
    f.next().is_none().then_some(fields)
}

/// Parses `dpkg-query` output. Lines whose fields do not match Debian's
/// grammar are returned separately (see [`Rejected`]) and never used.
pub fn parse_installed(out: &str) -> Result<(Vec<InstalledPackage>, Vec<String>), TooMany> {
    let mut pkgs = Vec::new();
    let mut rejected = Rejected::default();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let Some([name, arch, version, status, source]) = dpkg_fields(line) else {
            rejected.push(line);
            continue;
        };
        // Status-Abbrev: desired, current, error. Only packages whose files are
        // on disk count; `rc` (removed, config left) and `un` do not.
        let mut st = status.chars();
        let (desired, current) = (st.next().unwrap_or(' '), st.next().unwrap_or(' '));
        if !matches!(current, 'i' | 'W' | 't' | 'U' | 'F' | 'H') {
            continue;
        }
        let valid = is_deb_name(name) && is_arch(arch) && is_deb_version(version);
        let Some(source) = parse_source(source, name).filter(|_| valid) else {
            rejected.push(line);
            continue;
        };
        push_entry(
            &mut pkgs,
            InstalledPackage {
                source,
                name: name.to_string(),
                arch: arch.to_string(),
                version: version.to_string(),
                held: desired == 'h',
            },
            "installed packages",
        )?;
    }
    pkgs.sort();
    Ok((pkgs, rejected.into_lines()))
}

/// One `Inst` line of an apt simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedInstall {
    pub name: String,
    /// `None` for a package newly pulled in (a new kernel ABI package, say).
    pub old_version: Option<String>,
    pub new_version: String,
    /// `Label:Version/Suite` entries, as apt prints them.
    pub origins: Vec<String>,
    pub arch: String,
}

/// What an apt simulation said: installs, and packages kept back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simulation {
    pub installs: Vec<SimulatedInstall>,
    pub kept_back: Vec<String>,
    pub rejected: Vec<String>,
}

/// Parses `apt-get --simulate dist-upgrade`:
/// `Inst NAME [OLD] (NEW ORIGIN[, ORIGIN…] [ARCH]) [BROKEN]` and the
/// "kept back" list.
pub fn parse_simulation(out: &str) -> Result<Simulation, TooMany> {
    let mut sim = Simulation::default();
    let mut rejected = Rejected::default();
    let mut in_kept_back = false;
    for line in out.lines() {
        // Kept back, or (Ubuntu) deferred by phased updates: not installed this time.
        if line.starts_with("The following packages have been kept back")
            || line.starts_with("The following upgrades have been deferred due to phasing")
        {
            in_kept_back = true;
            continue;
        }
        if in_kept_back {
            if line.starts_with(' ') {
                for name in line.split_whitespace() {
                    // Foreign-architecture packages are listed as `name:arch`.
                    let name = name.split_once(':').map_or(name, |(n, _)| n);
                    if is_deb_name(name) {
                        push_entry(&mut sim.kept_back, name.to_string(), "kept-back packages")?;
                    } else {
                        rejected.push(line);
                    }
                }
                continue;
            }
            in_kept_back = false;
        }
        if let Some(rest) = line.strip_prefix("Inst ") {
            match parse_inst(rest) {
                Some(i) => push_entry(&mut sim.installs, i, "packages to install")?,
                None => rejected.push(line),
            }
        }
    }
    sim.rejected = rejected.into_lines();
    Ok(sim)
}

fn parse_inst(rest: &str) -> Option<SimulatedInstall> {
    let (name, rest) = rest.split_once(' ')?;
    // A foreign-architecture copy is printed as `name:arch`; the arch is also in brackets.
    let name = name.split_once(':').map_or(name, |(n, _)| n);
    let rest = rest.trim_start();
    let (old_version, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (old, r) = r.split_once(']')?;
            (Some(old.to_string()), r.trim_start())
        }
        None => (None, rest),
    };
    // `(VERSION ORIGINS [ARCH])`, possibly followed by `[broken-dependency]` notes.
    let inner = rest.strip_prefix('(')?;
    let close = inner.find(')')?;
    let inner = &inner[..close];
    let (new_version, rest) = inner.split_once(' ')?;
    let arch_start = rest.rfind(" [")?;
    let arch = rest[arch_start + 2..].strip_suffix(']')?;
    let origins: Vec<String> = rest[..arch_start]
        .split(", ")
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty())
        .collect();
    let ok = is_deb_name(name)
        && is_deb_version(new_version)
        && old_version.as_deref().is_none_or(is_deb_version)
        && is_arch(arch)
        && origins.iter().all(|o| !o.chars().any(char::is_control));
    ok.then(|| SimulatedInstall {
        name: name.to_string(),
        old_version,
        new_version: new_version.to_string(),
        origins,
        arch: arch.to_string(),
    })
}

/// Security when any origin's label or suite says so (`Debian-Security`,
/// `jammy-security`, `…/stable-security`).
pub fn classify(origins: &[String]) -> Classification {
    if origins
        .iter()
        .any(|o| o.to_ascii_lowercase().contains("security"))
    {
        Classification::Security
    } else {
        Classification::Other
    }
}

/// Candidate versions of kept-back packages, from `apt-cache policy`.
pub fn parse_policy(out: &str) -> Result<BTreeMap<String, String>, TooMany> {
    let mut candidates = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        if !line.starts_with(' ') {
            current = line
                .strip_suffix(':')
                .map(|n| n.split(':').next().unwrap_or(n).to_string());
            continue;
        }
        if let (Some(name), Some(c)) = (&current, line.trim().strip_prefix("Candidate: "))
            && is_deb_version(c)
        {
            room(candidates.len(), "candidate versions")?;
            candidates.insert(name.clone(), c.to_string());
        }
    }
    Ok(candidates)
}

/// The updates apt would install for installed packages, plus kept-back ones.
/// An update's source package is that of the installed package it upgrades
/// (same name and architecture): apt's simulation does not name sources.
pub fn updates(
    installed: &[InstalledPackage],
    sim: &Simulation,
    kept_back_candidates: &BTreeMap<String, String>,
) -> Vec<AvailableUpdate> {
    let source_of: BTreeMap<(&str, &str), &Option<String>> = installed
        .iter()
        .map(|p| ((p.name.as_str(), p.arch.as_str()), &p.source))
        .collect();
    let source = |name: &str, arch: &str| source_of.get(&(name, arch)).and_then(|s| (*s).clone());
    let mut out: Vec<AvailableUpdate> = sim
        .installs
        .iter()
        .filter_map(|i| {
            let old = i.old_version.clone()?;
            Some(AvailableUpdate {
                source: source(&i.name, &i.arch),
                name: i.name.clone(),
                arch: i.arch.clone(),
                installed_version: old,
                candidate_version: i.new_version.clone(),
                repository: i.origins.join(", "),
                classification: classify(&i.origins),
                severity: Severity::Unspecified,
                advisory: None,
                cves: Vec::new(),
                release_date: None,
                held_back: false,
                requires_reboot: false,
            })
        })
        .collect();
    for name in &sim.kept_back {
        let (Some(pkg), Some(cand)) = (
            installed.iter().find(|p| &p.name == name),
            kept_back_candidates.get(name),
        ) else {
            continue;
        };
        out.push(AvailableUpdate {
            source: pkg.source.clone(),
            name: name.clone(),
            arch: pkg.arch.clone(),
            installed_version: pkg.version.clone(),
            candidate_version: cand.clone(),
            repository: String::new(),
            classification: Classification::Other,
            severity: Severity::Unspecified,
            advisory: None,
            cves: Vec::new(),
            release_date: None,
            held_back: true,
            requires_reboot: false,
        });
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out
}

/// `(required, packages that asked)`.
pub fn parse_reboot(out: &str) -> Result<(bool, Vec<String>), TooMany> {
    let mut lines = out.lines();
    match lines.next() {
        Some("required") => {
            let mut pkgs = Vec::new();
            for l in lines.map(str::trim).filter(|l| is_deb_name(l)) {
                push_entry(&mut pkgs, l.to_string(), "packages asking for a reboot")?;
            }
            pkgs.sort();
            pkgs.dedup();
            Ok((true, pkgs))
        }
        _ => Ok((false, Vec::new())),
    }
}

/// The install patchwave is about to run, resolved without changing
/// anything: the same command and arguments with `-s` (apt's simulation;
/// no lock is taken).
pub fn resolve_command(install: &RemoteCommand) -> RemoteCommand {
    let mut c = install.clone();
    let mut args = vec![
        "-s".to_string(),
        "-o".into(),
        "Debug::NoLocking=true".into(),
    ];
    args.append(&mut c.args);
    c.args = args;
    c
}

/// Every package the simulated install would unpack (`Inst` lines),
/// dependencies included. A line that does not parse fails the whole answer:
/// a transaction that cannot be read completely cannot be vouched for.
pub fn parse_resolved(out: &str) -> Result<Vec<Resolved>, String> {
    let sim = parse_simulation(out).map_err(|e| e.to_string())?;
    if let Some(line) = sim.rejected.first() {
        return Err(format!(
            "apt's simulation printed a line patchwave cannot read: `{line}`"
        ));
    }
    Ok(sim
        .installs
        .iter()
        .map(|i| Resolved::new(&i.name, &i.arch, &i.new_version))
        .collect())
}

/// The unfinished packages in `dpkg-query` output ([`installed_command`]):
/// unpacked but not configured, half configured, half installed, or flagged
/// for reinstallation. Trigger states are not counted: `dpkg --configure -a`
/// runs pending triggers, and any transaction leaves them.
pub fn parse_unfinished(out: &str) -> Vec<Unfinished> {
    let mut found = Vec::new();
    for line in out.lines() {
        let Some([name, arch, version, status, _]) = dpkg_fields(line) else {
            continue;
        };
        let mut st = status.chars().skip(1);
        let (current, error) = (st.next().unwrap_or(' '), st.next().unwrap_or(' '));
        let state = match current {
            'H' => "half-installed",
            'U' => "unpacked",
            'F' => "half-configured",
            _ if error == 'R' => "installed",
            _ => continue,
        };
        if !(is_deb_name(name) && is_arch(arch) && is_deb_version(version)) {
            continue;
        }
        let reinst = error == 'R';
        found.push(Unfinished {
            name: name.to_string(),
            arch: arch.to_string(),
            version: version.to_string(),
            state: if reinst {
                format!("{state}, reinst-required")
            } else {
                state.to_string()
            },
            needs_reinstall: reinst || current == 'H',
        });
    }
    found
}

/// Finishes what dpkg was interrupted in: unpacked packages are configured,
/// pending triggers run. Half-installed packages are left for a new install.
pub fn configure_pending_command() -> RemoteCommand {
    RemoteCommand::new("dpkg")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["--force-confdef", "--force-confold", "--configure", "-a"])
}

/// The whole apt scan. Read-only unless a refresh is due.
pub async fn scan(t: &dyn Transport, opts: &ScanOptions) -> Result<super::PackageScan, ScanError> {
    let refresh = match opts.refresh {
        super::Refresh::Never => false,
        super::Refresh::Always => true,
        super::Refresh::IfOlderThan(max) => {
            let age = run_ok(t, &lists_age_command().timeout(opts.command_timeout)).await?;
            age.trim()
                .parse::<u64>()
                .map_or(true, |secs| secs >= max.as_secs())
        }
    };
    if refresh {
        run_ok(t, &refresh_command().timeout(opts.refresh_timeout)).await?;
        run_ok(t, &stamp_command().timeout(opts.command_timeout)).await?;
    }
    let timeout = opts.command_timeout;
    let (installed_cmd, simulate_cmd, reboot_cmd) = (
        installed_command().timeout(timeout),
        simulate_command().timeout(timeout),
        reboot_command().timeout(timeout),
    );
    // Independent reads: run them at once over the host's one connection.
    let (installed, simulation, reboot) = tokio::join!(
        run_ok(t, &installed_cmd),
        run_ok(t, &simulate_cmd),
        run_ok(t, &reboot_cmd),
    );
    // Each output is dropped as soon as it is parsed.
    let (installed, mut rejected) =
        parse_installed(&installed?).map_err(|e| too_many(t, &installed_cmd, e))?;
    let sim = parse_simulation(&simulation?).map_err(|e| too_many(t, &simulate_cmd, e))?;
    rejected.extend(sim.rejected.iter().cloned());
    let candidates = if sim.kept_back.is_empty() {
        BTreeMap::new()
    } else {
        let cmd = RemoteCommand::new("apt-cache")
            .arg("policy")
            .args(sim.kept_back.iter().cloned())
            .timeout(timeout);
        parse_policy(&run_ok(t, &cmd).await?).map_err(|e| too_many(t, &cmd, e))?
    };
    let (reboot_required, reboot_required_by) =
        parse_reboot(&reboot?).map_err(|e| too_many(t, &reboot_cmd, e))?;
    Ok(super::PackageScan {
        updates: updates(&installed, &sim, &candidates),
        installed,
        reboot_required,
        reboot_required_by,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DPKG_QUERY: &str = include_str!("../../testdata/os/apt/dpkg-query.txt");
    const SIMULATE: &str = include_str!("../../testdata/os/apt/simulate-dist-upgrade.txt");
    const POLICY: &str = include_str!("../../testdata/os/apt/apt-cache-policy-held.txt");
    const REBOOT: &str = include_str!("../../testdata/os/apt/reboot-required.txt");
    const PARTIAL: &str = include_str!("../../testdata/os/apt/dpkg-query-partial.txt");
    const BLOCKED: &str =
        include_str!("../../testdata/os/apt/simulate-install-blocked-dependency.txt");
    const INTERRUPTED: &str = include_str!("../../testdata/os/apt/dpkg-query-interrupted.txt");
    const WITH_SOURCE: &str = include_str!("../../testdata/os/apt/dpkg-query-source.txt");

    fn pkg<'a>(pkgs: &'a [InstalledPackage], name: &str, arch: &str) -> &'a InstalledPackage {
        pkgs.iter()
            .find(|p| p.name == name && p.arch == arch)
            .unwrap()
    }

    #[test]
    fn installed_packages_with_holds_and_multiarch() {
        let (pkgs, rejected) = parse_installed(DPKG_QUERY).unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        assert!(pkgs.len() > 100);
        assert_eq!(pkg(&pkgs, "pw-alpha", "all").version, "1.0-1");
        assert!(pkg(&pkgs, "pw-held", "all").held);
        assert!(!pkg(&pkgs, "pw-alpha", "all").held);
        assert_eq!(pkg(&pkgs, "pw-multi", "amd64").version, "1.0-1");
        assert_eq!(pkg(&pkgs, "pw-multi", "i386").version, "1.0-1");
        // Removed packages are not installed.
        assert!(!pkgs.iter().any(|p| p.name == "pw-kernelish"));
    }

    #[test]
    fn partial_output_and_odd_lines() {
        let (pkgs, rejected) = parse_installed(PARTIAL).unwrap();
        assert_eq!(pkgs.len(), 1);
        let (pkgs, rejected2) = parse_installed(
            "ok-pkg\tall\t1.0\tii \nevil;rm\tall\t1.0\tii \nx-y\tall\t$(id)\tii \ngone\tall\t1.0\trc \nshort\tline\n",
        )
        .unwrap();
        assert!(rejected.is_empty());
        assert_eq!(pkgs.len(), 1);
        assert_eq!(rejected2.len(), 3, "{rejected2:?}");
        assert!(parse_installed("").unwrap().0.is_empty());
    }

    #[test]
    fn simulation_with_epoch_tilde_multiarch_and_kept_back() {
        let sim = parse_simulation(SIMULATE).unwrap();
        assert!(sim.rejected.is_empty(), "{:?}", sim.rejected);
        assert_eq!(sim.kept_back, ["pw-held"]);
        assert_eq!(
            sim.installs,
            vec![
                SimulatedInstall {
                    name: "pw-alpha".into(),
                    old_version: Some("1.0-1".into()),
                    new_version: "1:1.1~beta2-1".into(),
                    origins: vec!["PatchwaveTest-Security:testfleet-security".into()],
                    arch: "all".into(),
                },
                SimulatedInstall {
                    name: "pw-multi".into(),
                    old_version: Some("1.0-1".into()),
                    new_version: "1.1-1".into(),
                    origins: vec!["PatchwaveTest:testfleet".into()],
                    arch: "amd64".into(),
                },
                SimulatedInstall {
                    name: "pw-multi".into(),
                    old_version: Some("1.0-1".into()),
                    new_version: "1.1-1".into(),
                    origins: vec!["PatchwaveTest:testfleet".into()],
                    arch: "i386".into(),
                },
            ]
        );
    }

    #[test]
    fn debian_security_lines_and_new_packages() {
        // The shapes Debian's own archive produces (several origins; a new kernel ABI package).
        let sim = parse_simulation(
            "Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])\n\
             Inst linux-image-6.1.0-26-amd64 (6.1.112-1 Debian-Security:12/stable-security [amd64])\n\
             Inst base-files [12.4+deb12u5] (12.4+deb12u7 Debian:12.7/stable [amd64]) []\n",
        )
        .unwrap();
        assert!(sim.rejected.is_empty(), "{:?}", sim.rejected);
        assert_eq!(
            sim.installs[0].origins,
            ["Debian:12.5/stable", "Debian-Security:12/stable-security"]
        );
        assert_eq!(classify(&sim.installs[0].origins), Classification::Security);
        assert_eq!(sim.installs[1].old_version, None);
        assert_eq!(classify(&sim.installs[2].origins), Classification::Other);
        // Only upgrades of installed packages are updates.
        let installed = vec![InstalledPackage {
            source: None,
            name: "libssl3".into(),
            arch: "amd64".into(),
            version: "3.0.11-1~deb12u1".into(),
            held: false,
        }];
        let u = updates(&installed, &sim, &BTreeMap::new());
        assert_eq!(
            u.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            ["base-files", "libssl3"]
        );
    }

    #[test]
    fn hostile_inst_lines_are_rejected() {
        let sim = parse_simulation(
            "Inst evil;rm [1.0] (2.0 X:y [all])\nInst ok [1.0] ($(id) X:y [all])\nInst ok2 [1.0] (2.0 X:y [a b])\nInst trunc [1.0\n",
        )
        .unwrap();
        assert!(sim.installs.is_empty(), "{:?}", sim.installs);
        assert_eq!(sim.rejected.len(), 4);
    }

    #[test]
    fn kept_back_candidates_come_from_policy() {
        let c = parse_policy(POLICY).unwrap();
        assert_eq!(c.get("pw-held").map(String::as_str), Some("1.1-1"));
        let (installed, _) = parse_installed(DPKG_QUERY).unwrap();
        let sim = parse_simulation(SIMULATE).unwrap();
        let u = updates(&installed, &sim, &c);
        let held: Vec<_> = u.iter().filter(|u| u.held_back).collect();
        assert_eq!(held.len(), 1);
        assert_eq!(
            (held[0].name.as_str(), held[0].candidate_version.as_str()),
            ("pw-held", "1.1-1")
        );
        let alpha = u.iter().find(|u| u.name == "pw-alpha").unwrap();
        assert_eq!(alpha.classification, Classification::Security);
        assert_eq!(alpha.severity, Severity::Unspecified);
        assert_eq!(u.len(), 4);
    }

    #[test]
    fn reboot_required_and_its_packages() {
        assert_eq!(
            parse_reboot(REBOOT).unwrap(),
            (
                true,
                vec![
                    "linux-image-6.1.0-26-amd64".to_string(),
                    "pw-alpha".to_string()
                ]
            )
        );
        assert_eq!(parse_reboot("").unwrap(), (false, vec![]));
    }

    #[test]
    fn a_flood_is_reported_briefly_and_a_host_listing_too_much_is_refused() {
        // Garbage: each line rejected, but only the first few kept.
        let garbage = "y\n".repeat(50_000);
        let (pkgs, rejected) = parse_installed(&garbage).unwrap();
        assert!(pkgs.is_empty());
        assert_eq!(rejected.len(), Rejected::KEPT + 1);
        assert_eq!(
            rejected.last().unwrap(),
            &format!("… and {} more rejected lines", 50_000 - Rejected::KEPT)
        );
        // Valid-looking lines past the bound: refused, not believed.
        let many: String = (0..=super::super::MAX_ENTRIES)
            .map(|i| format!("p{i}\tall\t1\tii \n"))
            .collect();
        assert_eq!(
            parse_installed(&many).unwrap_err().to_string(),
            format!("more than {} installed packages", super::super::MAX_ENTRIES)
        );
        let kept: String =
            std::iter::once("The following packages have been kept back:\n".to_string())
                .chain((0..=super::super::MAX_ENTRIES).map(|i| format!("  k{i}\n")))
                .collect();
        assert!(parse_simulation(&kept).is_err());
    }

    #[test]
    fn a_resolved_install_lists_the_dependencies_it_pulls_in() {
        let r = parse_resolved(BLOCKED).unwrap();
        assert_eq!(
            r,
            [
                Resolved::new("pw-blocked", "all", "1.0-1"),
                Resolved::new("pw-app", "all", "2.0-1"),
                Resolved::new("pw-other", "all", "1.1-1"),
            ]
        );
        assert!(parse_resolved("Inst trunc [1.0\n").is_err());
        assert_eq!(
            parse_resolved("0 upgraded, 0 newly installed\n"),
            Ok(vec![])
        );
    }

    #[test]
    fn the_resolve_command_is_the_install_with_simulation() {
        let install = RemoteCommand::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--only-upgrade", "pw-app=2.0-1"]);
        let r = resolve_command(&install);
        assert_eq!(r.program, "apt-get");
        assert_eq!(r.env, install.env);
        assert_eq!(
            r.args,
            [
                "-s",
                "-o",
                "Debug::NoLocking=true",
                "install",
                "-y",
                "--only-upgrade",
                "pw-app=2.0-1"
            ]
        );
    }

    #[test]
    fn an_interrupted_database_names_its_unfinished_packages() {
        let u = parse_unfinished(INTERRUPTED);
        assert_eq!(
            u,
            [
                Unfinished {
                    name: "pw-app".into(),
                    arch: "all".into(),
                    version: "1.0-1".into(),
                    state: "half-installed, reinst-required".into(),
                    needs_reinstall: true,
                },
                Unfinished {
                    name: "pw-blocked".into(),
                    arch: "all".into(),
                    version: "1.0-1".into(),
                    state: "unpacked".into(),
                    needs_reinstall: false,
                },
            ]
        );
        assert!(parse_unfinished(DPKG_QUERY).is_empty());
        // Trigger states are not unfinished work of a transaction.
        assert!(
            parse_unfinished("man-db\tamd64\t2.11.2-2\tiT \nlibc-bin\tamd64\t2.36-9\tiW \n")
                .is_empty()
        );
        let flagged = parse_unfinished("pw-x\tall\t1.0\tiiR\nevil;x\tall\t1\tiHR\n");
        assert_eq!(flagged.len(), 1);
        assert_eq!(flagged[0].state, "installed, reinst-required");
    }

    #[test]
    fn installed_packages_name_their_source_package_when_it_differs() {
        // Shapes of `${Source}` on a bookworm host: empty (source named as the
        // binary), a name, `name (version)` for a binNMU (same name: nothing
        // recorded) or for a binary versioned apart from its source (an epoch
        // in either).
        let (pkgs, rejected) = parse_installed(
            "libc6\tamd64\t2.36-9+deb12u4+b1\tii \tglibc (2.36-9+deb12u4)\n\
             libc-bin\tamd64\t2.36-9+deb12u14\tii \tglibc\n\
             dash\tamd64\t0.5.12-2\tii \t\n\
             bash\tamd64\t5.2.15-2+b13\tii \tbash (5.2.15-2)\n\
             bsdutils\tamd64\t1:2.38.1-5+deb12u3\tii \tutil-linux (2.38.1-5+deb12u3)\n\
             libcap2\tamd64\t1:2.66-4+deb12u3+b1\tii \tlibcap2 (1:2.66-4+deb12u3)\n\
             libgcc-s1\tamd64\t12.2.0-14+deb12u1\thi \tgcc-12\n\
             pw-old\tall\t1.0-1\tii \n",
        )
        .unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let src = |n: &str| pkg(&pkgs, n, if n == "pw-old" { "all" } else { "amd64" });
        assert_eq!(src("libc6").source.as_deref(), Some("glibc"));
        assert_eq!(src("libc6").source_name(), "glibc");
        assert_eq!(src("libc6").version, "2.36-9+deb12u4+b1");
        assert_eq!(src("libc-bin").source.as_deref(), Some("glibc"));
        assert_eq!(src("dash").source, None);
        assert_eq!(src("dash").source_name(), "dash");
        assert_eq!(src("bash").source, None);
        assert_eq!(src("bsdutils").source.as_deref(), Some("util-linux"));
        assert_eq!(src("libcap2").source, None);
        assert!(src("libgcc-s1").held);
        assert_eq!(src("libgcc-s1").source.as_deref(), Some("gcc-12"));
        // Four fields: asked without `${Source}`, still read.
        assert_eq!(src("pw-old").source, None);
        assert_eq!(pkgs.len(), 8);
    }

    #[test]
    fn a_malformed_source_field_rejects_its_line() {
        let bad = [
            "Glibc",
            "gl ibc",
            "glibc 2.36",
            "glibc (2.36",
            "glibc  (2.36)",
            "glibc (2.36) x",
            "glibc ()",
            "glibc ($(id))",
            "evil;rm",
            "g",
            " glibc",
            "glibc\tx",
        ];
        let out: String = bad
            .iter()
            .map(|s| format!("libc6\tamd64\t2.36-9\tii \t{s}\n"))
            .collect();
        let (pkgs, rejected) = parse_installed(&out).unwrap();
        assert!(pkgs.is_empty(), "{pkgs:?}");
        assert_eq!(rejected.len(), bad.len(), "{rejected:?}");
        // A package that is not installed is skipped before its fields are read.
        let (pkgs, rejected) = parse_installed("gone\tall\t1.0\trc \tEvil\n").unwrap();
        assert!(pkgs.is_empty() && rejected.is_empty());
    }

    #[test]
    fn a_debootstrap_base_read_with_sources() {
        let (pkgs, rejected) = parse_installed(WITH_SOURCE).unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(pkgs.len(), WITH_SOURCE.lines().count());
        assert_eq!(
            pkg(&pkgs, "libc6", "amd64").source.as_deref(),
            Some("glibc")
        );
        assert_eq!(
            pkg(&pkgs, "bsdutils", "amd64").source.as_deref(),
            Some("util-linux")
        );
        assert_eq!(pkg(&pkgs, "git-man", "all").source.as_deref(), Some("git"));
        // binNMUs of a source of the same name.
        assert_eq!(pkg(&pkgs, "bash", "amd64").source, None);
        assert_eq!(pkg(&pkgs, "libcap2", "amd64").source, None);
        assert_eq!(pkg(&pkgs, "dpkg", "amd64").source, None);
        // Every recorded source differs from its binary's name.
        assert!(
            pkgs.iter()
                .all(|p| p.source.as_deref() != Some(p.name.as_str()))
        );
        assert!(pkgs.iter().filter(|p| p.source.is_some()).count() > 50);
    }

    #[test]
    fn an_update_takes_the_source_of_the_package_it_upgrades() {
        let (installed, _) = parse_installed(
            "libssl3\tamd64\t3.0.11-1~deb12u1\tii \topenssl\n\
             openssl\tamd64\t3.0.11-1~deb12u1\tii \t\n\
             pw-held\tall\t1.0-1\thi \tpw-src (0.9-1)\n\
             pw-multi\tamd64\t1.0-1\tii \tpw-src\n",
        )
        .unwrap();
        let sim = parse_simulation(
            "Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])\n\
             Inst openssl [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])\n\
             Inst pw-multi:i386 [1.0-1] (1.1-1 PatchwaveTest:testfleet [i386])\n\
             The following packages have been kept back:\n  pw-held\n",
        )
        .unwrap();
        let candidates = BTreeMap::from([("pw-held".to_string(), "1.1-1".to_string())]);
        let u = updates(&installed, &sim, &candidates);
        let source = |n: &str| {
            u.iter()
                .find(|u| u.name == n)
                .unwrap_or_else(|| panic!("{n}: {u:?}"))
                .source
                .as_deref()
        };
        assert_eq!(source("libssl3"), Some("openssl"));
        assert_eq!(source("openssl"), None);
        assert_eq!(source("pw-held"), Some("pw-src"));
        // Only the installed package of the same architecture says: none here.
        assert_eq!(source("pw-multi"), None);
    }

    #[test]
    fn unfinished_packages_are_read_from_lines_with_a_source() {
        let u = parse_unfinished(
            "pw-app\tall\t1.0-1\tiHR\tpw-src\npw-blocked\tall\t1.0-1\tiU \t\nlibc6\tamd64\t2.36-9\tii \tglibc\n",
        );
        assert_eq!(
            u.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            ["pw-app", "pw-blocked"]
        );
        assert!(u[0].needs_reinstall);
    }
}
