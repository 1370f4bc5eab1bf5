//! SUSE: rpm for what is installed, zypper's XML output for updates and
//! patches (category, severity, CVEs, issue date), and `info -t patch` for
//! which packages each needed patch updates.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;

use super::dnf::{self, parse_installed};
use super::names::{is_arch, is_rpm_name};
use super::transaction::Resolved;
use super::{Refresh, Rejected, ScanError, ScanOptions, TooMany, room, run_ok, too_many};
use crate::facts::{AvailableUpdate, InstalledPackage};
use crate::spec::baseline::{Classification, Severity};
use crate::transport::{RemoteCommand, Transport};

/// How long zypper waits for another zypper (or YaST) to release its lock
/// before giving up, instead of failing at once.
const LOCK_WAIT_SECONDS: &str = "60";

/// Queries never touch the network: refreshing is a separate step.
fn zypper(args: &[&str]) -> RemoteCommand {
    RemoteCommand::new("zypper")
        .env("ZYPP_LOCK_TIMEOUT", LOCK_WAIT_SECONDS)
        .args(["--non-interactive", "--no-refresh"])
        .args(args.iter().copied())
}

pub fn list_updates_command() -> RemoteCommand {
    zypper(&["--xmlout", "list-updates"])
}

pub fn list_patches_command() -> RemoteCommand {
    zypper(&["--xmlout", "list-patches"])
}

pub fn refresh_command(refresh: Refresh) -> Option<RemoteCommand> {
    let base = RemoteCommand::new("zypper")
        .env("ZYPP_LOCK_TIMEOUT", LOCK_WAIT_SECONDS)
        .args(["--non-interactive", "refresh"]);
    match refresh {
        Refresh::Never => None,
        Refresh::Always => Some(base.arg("--force")),
        // zypper refreshes repositories whose metadata has expired.
        Refresh::IfOlderThan(_) => Some(base),
    }
}

/// Reboot check (constant script): `zypper needs-rebooting` (exit 102 when a
/// reboot is needed) and SUSE's /run/reboot-needed flag. SUSE's own tools
/// already know about kernels; comparing `uname -r` with package versions
/// would not (`6.4.0-150600.23.25-default` vs `6.4.0-150600.23.25.1`).
pub fn reboot_command() -> RemoteCommand {
    RemoteCommand::new("sh").args([
        "-c",
        "zypper --non-interactive needs-rebooting >/dev/null 2>&1; echo \"needs-rebooting $?\"; \
         if [ -e /run/reboot-needed ]; then echo flag; fi; true",
    ])
}

/// One package update from `list-updates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// In zypper's blocked list: it would not be installed as things stand.
    pub blocked: bool,
    pub name: String,
    pub arch: String,
    pub edition: String,
    pub old_edition: String,
    pub repo: String,
}

/// One needed patch from `list-patches`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub id: String,
    pub category: String,
    pub severity: String,
    pub issued: Option<Date>,
    pub cves: Vec<String>,
}

/// roxmltree keeps every node and attribute of a document (tens of bytes
/// each, so a document of tiny elements costs many times its size) and
/// compares each element's attributes pairwise: both are bounded before a
/// document from a host is parsed. Real `list-patches` output has some tens
/// of nodes per patch and at most a dozen attributes per element.
const MAX_XML_NODES: u32 = 500_000;
const MAX_XML_ATTRIBUTES: usize = 500_000;
const MAX_ATTRIBUTES_PER_ELEMENT: usize = 256;

/// Counts attributes (an `=` followed by a quote) between one `<` and the
/// next: an attribute value cannot hold a `<`, so every attribute of an
/// element is counted with it.
fn check_attributes(xml: &str) -> Result<(), String> {
    let mut total = 0;
    for segment in xml.split('<') {
        let b = segment.as_bytes();
        let here = memchr::memchr_iter(b'=', b)
            .filter(|&i| {
                matches!(
                    b[i + 1..].iter().find(|c| !c.is_ascii_whitespace()),
                    Some(b'"' | b'\'')
                )
            })
            .count();
        if here > MAX_ATTRIBUTES_PER_ELEMENT {
            return Err(format!(
                "zypper printed an XML element with more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes"
            ));
        }
        total += here;
        if total > MAX_XML_ATTRIBUTES {
            return Err(format!(
                "zypper printed XML with more than {MAX_XML_ATTRIBUTES} attributes"
            ));
        }
    }
    Ok(())
}

fn xml_doc(xml: &str) -> Result<roxmltree::Document<'_>, String> {
    check_attributes(xml)?;
    let opts = roxmltree::ParsingOptions {
        nodes_limit: MAX_XML_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(xml, opts).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => {
            format!("zypper printed XML with more than {MAX_XML_NODES} nodes")
        }
        e => format!("zypper printed XML that does not parse: {e}"),
    })
}

fn edition_ok(e: &str) -> bool {
    !e.is_empty()
        && e.len() <= 200
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+~^:-".contains(&b))
}

/// The install patchwave is about to run, resolved without changing
/// anything: the same command and package arguments with `--dry-run`, and
/// zypper's XML output (`--xmlout`, a global option) to read the summary.
pub fn resolve_command(install: &RemoteCommand) -> RemoteCommand {
    let mut c = install.clone();
    let mut args = vec!["--xmlout".to_string()];
    for a in &install.args {
        args.push(a.clone());
        if a == "install" {
            args.push("--dry-run".into());
        }
    }
    c.args = args;
    c
}

/// The packages in the dry run's `<install-summary>` that would be put on the
/// host (installed, upgraded, downgraded, reinstalled, or changing arch or
/// vendor), dependencies included. `Err` with zypper's own error messages
/// when it resolved nothing, or when a package entry does not parse.
pub fn parse_resolved(xml: &str) -> Result<Vec<Resolved>, String> {
    let doc = xml_doc(xml)?;
    let Some(summary) = doc
        .descendants()
        .find(|n| n.has_tag_name("install-summary"))
    else {
        let errors: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("message") && n.attribute("type") == Some("error"))
            .filter_map(|n| n.text())
            .collect();
        return if errors.is_empty() {
            // "Nothing to do.": every package is already at its version.
            Ok(Vec::new())
        } else {
            Err(errors.join(" / "))
        };
    };
    const PUTS: [&str; 6] = [
        "to-install",
        "to-upgrade",
        "to-downgrade",
        "to-reinstall",
        "to-change-arch",
        "to-change-vendor",
    ];
    let mut found = Vec::new();
    for list in summary
        .children()
        .filter(|n| PUTS.iter().any(|t| n.has_tag_name(*t)))
    {
        for s in list.children().filter(|n| n.has_tag_name("solvable")) {
            if s.attribute("type") != Some("package") {
                continue;
            }
            let (name, edition, arch) = (
                s.attribute("name").unwrap_or(""),
                s.attribute("edition").unwrap_or(""),
                s.attribute("arch").unwrap_or(""),
            );
            if !(is_rpm_name(name) && edition_ok(edition) && is_arch(arch)) {
                return Err(format!(
                    "zypper's summary has a package patchwave cannot read: `{name}` `{edition}` `{arch}`"
                ));
            }
            found.push(Resolved::new(name, arch, edition));
        }
    }
    Ok(found)
}

pub fn parse_list_updates(xml: &str) -> Result<(Vec<Update>, Vec<String>), String> {
    let doc = xml_doc(xml)?;
    // Each update is an element: the node limit bounds the list.
    let mut ups = Vec::new();
    let mut rejected = Rejected::default();
    for u in doc.descendants().filter(|n| n.has_tag_name("update")) {
        if u.attribute("kind") != Some("package") {
            continue;
        }
        // Updates zypper cannot install as things stand are listed apart.
        let blocked = u
            .parent()
            .is_some_and(|p| p.has_tag_name("blocked-update-list"));
        let get = |a: &str| u.attribute(a).unwrap_or_default().to_string();
        let repo = u
            .children()
            .find(|c| c.has_tag_name("source"))
            .and_then(|s| s.attribute("alias"))
            .unwrap_or_default()
            .to_string();
        let up = Update {
            blocked,
            name: get("name"),
            arch: get("arch"),
            edition: get("edition"),
            old_edition: get("edition-old"),
            repo,
        };
        if is_rpm_name(&up.name)
            && is_arch(&up.arch)
            && edition_ok(&up.edition)
            && edition_ok(&up.old_edition)
        {
            ups.push(up);
        } else {
            rejected.push(&format!("{} {} {}", up.name, up.arch, up.edition));
        }
    }
    Ok((ups, rejected.into_lines()))
}

fn patch_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":._+-".contains(&b))
}

pub fn parse_list_patches(xml: &str) -> Result<Vec<Patch>, String> {
    let doc = xml_doc(xml)?;
    let mut patches = Vec::new();
    for u in doc.descendants().filter(|n| n.has_tag_name("update")) {
        if u.attribute("kind") != Some("patch") {
            continue;
        }
        let id = u.attribute("name").unwrap_or_default();
        if !patch_id_ok(id) || u.attribute("status").is_some_and(|s| s != "needed") {
            continue;
        }
        let issued = u
            .children()
            .find(|c| c.has_tag_name("issue-date"))
            .and_then(|d| d.attribute("time_t"))
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| Timestamp::from_second(t).ok())
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date());
        let cves = u
            .descendants()
            .filter(|n| n.has_tag_name("issue") && n.attribute("type") == Some("cve"))
            .filter_map(|n| n.attribute("id"))
            .filter(|c| {
                c.starts_with("CVE-") && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            .map(str::to_string)
            .collect();
        patches.push(Patch {
            id: id.to_string(),
            category: u
                .attribute("category")
                .unwrap_or_default()
                .to_ascii_lowercase(),
            severity: u
                .attribute("severity")
                .unwrap_or_default()
                .to_ascii_lowercase(),
            issued,
            cves,
        });
    }
    Ok(patches)
}

/// Which package names each patch updates, from the `Conflicts` of
/// `info -t patch` (`pkg < V-R`, one line or an indented `[N]` list).
pub fn parse_patch_info(text: &str) -> Result<BTreeMap<String, Vec<String>>, TooMany> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_conflicts = false;
    let mut entries = 0;
    let mut add = |patch: &Option<String>, entry: &str| {
        let name = entry.split_whitespace().next().unwrap_or("");
        // `pkg.arch` in multi-line lists; the arch suffix is dropped.
        let name = name
            .rsplit_once('.')
            .filter(|(_, a)| {
                is_arch(a)
                    && matches!(
                        *a,
                        "noarch" | "x86_64" | "aarch64" | "i586" | "i686" | "ppc64le" | "s390x"
                    )
            })
            .map_or(name, |(n, _)| n);
        if let Some(p) = patch
            && is_rpm_name(name)
        {
            room(entries, "patched packages")?;
            entries += 1;
            out.entry(p.clone()).or_default().push(name.to_string());
        }
        Ok(())
    };
    for line in text.lines() {
        if let Some((k, v)) = line
            .split_once(" : ")
            .or_else(|| line.strip_suffix(" :").map(|k| (k, "")))
        {
            let (k, v) = (k.trim(), v.trim());
            in_conflicts = false;
            match k {
                "Name" => current = Some(v.to_string()),
                "Conflicts" => {
                    if v.starts_with('[') || v.is_empty() {
                        in_conflicts = true;
                    } else {
                        add(&current, v)?;
                    }
                }
                _ => {}
            }
        } else if in_conflicts && line.starts_with(' ') && !line.trim().is_empty() {
            add(&current, line.trim())?;
        } else {
            in_conflicts = false;
        }
    }
    Ok(out)
}

fn classification(category: &str) -> Classification {
    match category {
        "security" => Classification::Security,
        // SUSE's own names, and the updateinfo types other vendors' repositories carry.
        "recommended" | "bugfix" => Classification::Bugfix,
        "optional" | "feature" | "enhancement" => Classification::Enhancement,
        _ => Classification::Other,
    }
}

fn severity(s: &str) -> Severity {
    match s {
        "critical" => Severity::Critical,
        "important" => Severity::Important,
        "moderate" => Severity::Moderate,
        "low" => Severity::Low,
        _ => Severity::Unspecified,
    }
}

/// Package updates of installed packages, each with its most urgent patch and
/// the source package of the installed package it upgrades.
pub fn updates(
    installed: &[InstalledPackage],
    ups: &[Update],
    patches: &[Patch],
    patch_packages: &BTreeMap<String, Vec<String>>,
) -> Vec<AvailableUpdate> {
    let mut out = Vec::new();
    for u in ups {
        // The update's source package is that of the package it upgrades.
        let Some(inst) = installed
            .iter()
            .find(|p| p.name == u.name && p.arch == u.arch)
        else {
            continue;
        };
        let covering: Vec<&Patch> = patches
            .iter()
            .filter(|p| {
                patch_packages
                    .get(&p.id)
                    .is_some_and(|names| names.contains(&u.name))
            })
            .collect();
        let chosen = covering.iter().min_by_key(|p| {
            (
                classification(&p.category),
                severity(&p.severity),
                p.id.clone(),
            )
        });
        let mut cves: Vec<String> = covering
            .iter()
            .flat_map(|p| p.cves.iter().cloned())
            .collect();
        cves.sort();
        cves.dedup();
        out.push(AvailableUpdate {
            source: inst.source.clone(),
            name: u.name.clone(),
            arch: u.arch.clone(),
            installed_version: u.old_edition.clone(),
            candidate_version: u.edition.clone(),
            repository: u.repo.clone(),
            classification: chosen.map_or(Classification::Other, |p| classification(&p.category)),
            severity: chosen.map_or(Severity::Unspecified, |p| severity(&p.severity)),
            advisory: chosen.map(|p| p.id.clone()),
            cves,
            release_date: chosen.and_then(|p| p.issued),
            held_back: u.blocked,
            requires_reboot: false,
        });
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out
}

/// `(required, why)` from the reboot script's output.
pub fn parse_reboot(out: &str) -> (bool, Vec<String>) {
    let mut why: Vec<String> = Vec::new();
    for line in out.lines() {
        let reason = match line.trim() {
            "needs-rebooting 102" => "zypper needs-rebooting",
            "flag" => "/run/reboot-needed",
            _ => continue,
        };
        // A reason printed twice is one reason.
        if !why.iter().any(|w| w == reason) {
            why.push(reason.to_string());
        }
    }
    (!why.is_empty(), why)
}

/// The whole zypper scan.
pub async fn scan(t: &dyn Transport, opts: &ScanOptions) -> Result<super::PackageScan, ScanError> {
    if let Some(cmd) = refresh_command(opts.refresh) {
        run_ok(t, &cmd.timeout(opts.refresh_timeout)).await?;
    }
    let timeout = opts.command_timeout;
    // zypper takes a system-wide lock even to read: its commands run one
    // after another (rpm's read-only query runs alongside).
    let installed_cmd = dnf::installed_command().timeout(timeout);
    let zypper_reads = async {
        let ups = run_ok(t, &list_updates_command().timeout(timeout)).await?;
        let patches = run_ok(t, &list_patches_command().timeout(timeout)).await?;
        let reboot = run_ok(
            t,
            &reboot_command()
                .env("ZYPP_LOCK_TIMEOUT", LOCK_WAIT_SECONDS)
                .timeout(timeout),
        )
        .await?;
        Ok::<_, ScanError>((ups, patches, reboot))
    };
    let (installed, reads) = tokio::join!(run_ok(t, &installed_cmd), zypper_reads);
    let (ups, patches, reboot) = reads?;
    let reboot: Result<String, ScanError> = Ok(reboot);
    let failed = |e: String| ScanError::Failed(format!("{}: {e}", t.host()));
    let (installed, mut rejected) =
        parse_installed(&installed?).map_err(|e| too_many(t, &installed_cmd, e))?;
    let (ups, rej) = parse_list_updates(&ups).map_err(failed)?;
    rejected.extend(rej);
    let patches = parse_list_patches(&patches).map_err(failed)?;
    let patch_packages = if patches.is_empty() {
        BTreeMap::new()
    } else {
        let cmd = zypper(&["info", "-t", "patch"])
            .args(patches.iter().map(|p| p.id.clone()))
            .timeout(timeout);
        parse_patch_info(&run_ok(t, &cmd).await?).map_err(|e| too_many(t, &cmd, e))?
    };
    let (reboot_required, reboot_required_by) = parse_reboot(&reboot?);
    Ok(super::PackageScan {
        updates: updates(&installed, &ups, &patches, &patch_packages),
        installed,
        reboot_required,
        reboot_required_by,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LU: &str = include_str!("../../testdata/os/zypper/list-updates.xml");
    const LP: &str = include_str!("../../testdata/os/zypper/list-patches.xml");
    const INFO: &str = include_str!("../../testdata/os/zypper/info-patch.txt");
    const DRY_RUN: &str = include_str!("../../testdata/os/zypper/install-dry-run.xml");

    #[test]
    fn updates_patches_and_their_packages() {
        let (ups, rejected) = parse_list_updates(LU).unwrap();
        assert!(rejected.is_empty());
        assert_eq!(ups.len(), 2);
        assert_eq!(
            (
                ups[1].name.as_str(),
                ups[1].old_edition.as_str(),
                ups[1].edition.as_str()
            ),
            ("pw-beta", "2.0-1", "2.1-1")
        );
        assert_eq!(ups[1].repo, "testfleet");
        let patches = parse_list_patches(LP).unwrap();
        assert_eq!(patches.len(), 2);
        assert_eq!(patches[0].cves, ["CVE-2026-1234"]);
        assert_eq!(patches[0].issued, Some(jiff::civil::date(2026, 11, 20)));
        assert_eq!(patches[1].issued, Some(jiff::civil::date(2025, 11, 18)));
        let pp = parse_patch_info(INFO).unwrap();
        assert_eq!(pp["PWT-2026:0001"], ["pw-beta"]);
        assert_eq!(pp["PWT-2026:0002"], ["pw-alpha"]);
        let installed = vec![
            InstalledPackage {
                source: None,
                name: "pw-alpha".into(),
                arch: "noarch".into(),
                version: "1.0-1".into(),
                held: false,
            },
            InstalledPackage {
                source: None,
                name: "pw-beta".into(),
                arch: "noarch".into(),
                version: "2.0-1".into(),
                held: false,
            },
        ];
        let u = updates(&installed, &ups, &patches, &pp);
        assert_eq!(
            (u[0].classification, u[0].severity),
            (Classification::Bugfix, Severity::Moderate)
        );
        assert_eq!(
            (u[1].classification, u[1].severity),
            (Classification::Security, Severity::Important)
        );
        assert_eq!(u[1].advisory.as_deref(), Some("PWT-2026:0001"));
        // Neither installed package names a source of its own.
        assert!(u.iter().all(|u| u.source.is_none()));
    }

    #[test]
    fn an_update_takes_the_source_of_the_package_it_upgrades() {
        let (ups, _) = parse_list_updates(LU).unwrap();
        // rpm's answer on a SUSE host, with `%{SOURCERPM}`.
        let (installed, rejected) = parse_installed(
            "pw-alpha\t0\t1.0\t1\tnoarch\tpw-src-1.0-1.src.rpm\npw-beta\t0\t2.0\t1\tnoarch\tpw-beta-2.0-1.src.rpm\n",
        )
        .unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let u = updates(&installed, &ups, &[], &BTreeMap::new());
        assert_eq!(
            u.iter()
                .map(|u| (u.name.as_str(), u.source.as_deref()))
                .collect::<Vec<_>>(),
            [("pw-alpha", Some("pw-src")), ("pw-beta", None)]
        );
    }

    #[test]
    fn multi_line_conflicts_and_bad_xml() {
        let text = "Name        : SUSE-2026-1\nConflicts   : [2]\n    libfoo1.x86_64 < 1.2-3\n    foo-tools < 1.2-3\nSummary     : x\n";
        assert_eq!(
            parse_patch_info(text).unwrap()["SUSE-2026-1"],
            ["libfoo1", "foo-tools"]
        );
        assert!(parse_list_updates("<stream><update").is_err());
    }

    #[test]
    fn reboot_signals() {
        assert_eq!(
            parse_reboot("needs-rebooting 0\nrunning 6.4.0\n"),
            (false, vec![])
        );
        assert!(parse_reboot("needs-rebooting 102\nrunning 6.4.0\n").0);
        assert!(parse_reboot("needs-rebooting 0\nflag\nrunning 6.4.0\n").0);
        // No kernel-version guessing on SUSE: its tools decide.
        assert!(!parse_reboot("needs-rebooting 0\n").0);
    }

    #[test]
    fn xml_too_big_to_hold_is_refused_before_it_is_parsed() {
        let tiny_elements = format!("<stream>{}</stream>", "<a/>".repeat(MAX_XML_NODES as usize));
        let e = parse_list_updates(&tiny_elements).unwrap_err();
        assert!(e.contains("more than 500000 nodes"), "{e}");
        let attrs: String = (0..=MAX_ATTRIBUTES_PER_ELEMENT)
            .map(|i| format!(" a{i}=''"))
            .collect();
        let e = parse_list_patches(&format!("<stream><x{attrs}/></stream>")).unwrap_err();
        assert!(e.contains("more than 256 attributes"), "{e}");
        let many = format!(
            "<stream>{}</stream>",
            "<x a=\"1\" b = '2'/>".repeat(MAX_XML_ATTRIBUTES / 2 + 1)
        );
        assert!(
            parse_list_patches(&many)
                .unwrap_err()
                .contains("500000 attributes")
        );
        // `=` in text is not an attribute.
        let text = format!("<stream><d>{}</d></stream>", "== a=b ".repeat(1000));
        assert!(parse_list_patches(&text).unwrap().is_empty());
    }

    #[test]
    fn the_dry_run_summary_with_dependencies_and_epochs() {
        let r = parse_resolved(DRY_RUN).unwrap();
        assert_eq!(
            r,
            [
                Resolved::new("pw-app", "noarch", "2.0-1"),
                Resolved::new("pw-other", "noarch", "1.1-1"),
                Resolved::new("pw-blocked", "noarch", "1.0-1"),
                Resolved::new(
                    "pw-dependency-with-a-really-long-name-to-wrap",
                    "noarch",
                    "2:1.0-1.el9"
                ),
                Resolved::new("pw-gamma", "noarch", "1.0-1"),
            ]
        );
        let err = parse_resolved(
            "<?xml version='1.0'?>\n<stream>\n<message type=\"error\">No provider of &apos;pw-app.noarch=9.9-1&apos; found.</message>\n</stream>\n",
        )
        .unwrap_err();
        assert!(
            err.contains("No provider of 'pw-app.noarch=9.9-1'"),
            "{err}"
        );
        assert_eq!(
            parse_resolved("<stream><message type=\"info\">Nothing to do.</message></stream>"),
            Ok(vec![])
        );
        assert!(parse_resolved("<stream><install-summary><to-install><solvable type=\"package\" name=\"x;y\" edition=\"1-1\" arch=\"noarch\"/></to-install></install-summary></stream>").is_err());
        // Removals are not installs.
        assert_eq!(
            parse_resolved(
                "<stream><install-summary><to-remove><solvable type=\"package\" name=\"old\" edition=\"1-1\" arch=\"noarch\"/></to-remove></install-summary></stream>"
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn the_resolve_command_is_a_dry_run_of_the_install() {
        let install = RemoteCommand::new("zypper")
            .env("ZYPP_LOCK_TIMEOUT", "120")
            .args([
                "--non-interactive",
                "install",
                "--no-recommends",
                "pw-app.noarch=2.0-1",
            ]);
        let r = resolve_command(&install);
        assert_eq!(r.env, install.env);
        assert_eq!(
            r.args,
            [
                "--xmlout",
                "--non-interactive",
                "install",
                "--dry-run",
                "--no-recommends",
                "pw-app.noarch=2.0-1"
            ]
        );
    }
}
