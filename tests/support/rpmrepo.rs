//! A real RPM repository built on this machine: noarch packages from
//! `rpmbuild`, metadata from `createrepo_c`, advisories added with
//! `modifyrepo_c --mdtype=updateinfo` — what dnf and zypper read.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A package to build.
#[derive(Debug, Clone)]
pub struct Rpm {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    /// A `Requires:` line's value (`pw-lib >= 1.0`), if any.
    pub requires: Option<String>,
    /// A `Provides:` line's value, if any.
    pub provides: Option<String>,
    /// Body of a `%preun` scriptlet (`/bin/sh`; `$1` is the count of copies
    /// left), if any.
    pub preun: Option<String>,
    /// The source package's name, when it is not the package's own: the
    /// spec is then named so and builds the package as its subpackage
    /// (`%package -n NAME`), so `SOURCERPM` is `SOURCE-VERSION-RELEASE.src.rpm`.
    pub source: Option<String>,
}

impl Rpm {
    pub fn new(name: &str, version: &str, release: &str) -> Rpm {
        Rpm {
            name: name.into(),
            epoch: None,
            version: version.into(),
            release: release.into(),
            requires: None,
            provides: None,
            preun: None,
            source: None,
        }
    }
}

/// An updateinfo advisory for one package build.
#[derive(Debug, Clone)]
pub struct Advisory {
    pub id: String,
    /// security, bugfix, enhancement
    pub kind: String,
    pub severity: Option<String>,
    pub issued: String,
    pub cves: Vec<String>,
    pub package: Rpm,
}

pub struct RpmRepo {
    pub root: PathBuf,
    advisories: Vec<Advisory>,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl RpmRepo {
    pub fn new(root: &Path) -> RpmRepo {
        fs::create_dir_all(root.join("repo")).unwrap();
        let r = RpmRepo {
            root: root.to_path_buf(),
            advisories: Vec::new(),
        };
        r.index();
        r
    }

    /// The repository's base URL path (served under the file server root).
    pub fn repo_dir(&self) -> PathBuf {
        self.root.join("repo")
    }

    pub fn publish(&mut self, rpms: &[Rpm], advisories: &[Advisory]) {
        for p in rpms {
            let spec = self
                .root
                .join(format!("{}-{}-{}.spec", p.name, p.version, p.release));
            let epoch = p.epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
            let requires = [("Requires", &p.requires), ("Provides", &p.provides)]
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}\n")))
                .collect::<String>();
            // A package with a source of another name is that source's
            // subpackage: its sections are marked `-n NAME`, and the source
            // itself (no `%files`) builds no package.
            let (header, sub) = match &p.source {
                None => (String::new(), String::new()),
                Some(src) => (
                    format!(
                        "Name: {src}\n{epoch}Version: {v}\nRelease: {r}\nSummary: patchwave test source {src}\nLicense: MIT\nBuildArch: noarch\n%description\npatchwave test source {src}.\n",
                        v = p.version,
                        r = p.release
                    ),
                    format!(" -n {}", p.name),
                ),
            };
            let preun = p
                .preun
                .as_ref()
                .map(|b| format!("%preun{sub}\n{b}\n"))
                .unwrap_or_default();
            let package = if p.source.is_some() {
                format!(
                    "%package{sub}\n{requires}Summary: patchwave test package {n}\n",
                    n = p.name
                )
            } else {
                format!(
                    "Name: {n}\n{epoch}{requires}Version: {v}\nRelease: {r}\nSummary: patchwave test package {n}\nLicense: MIT\nBuildArch: noarch\n",
                    n = p.name,
                    v = p.version,
                    r = p.release
                )
            };
            fs::write(
                &spec,
                format!(
                    "{header}{package}%description{sub}\npatchwave test package {n}.\n%install\nmkdir -p %{{buildroot}}/usr/share/{n}\necho {v}-{r} > %{{buildroot}}/usr/share/{n}/VERSION\n%files{sub}\n/usr/share/{n}/VERSION\n{preun}",
                    n = p.name, v = p.version, r = p.release
                ),
            )
            .unwrap();
            run(Command::new("rpmbuild")
                .arg("--quiet")
                .arg("--define")
                .arg(format!("_topdir {}", self.root.join("build").display()))
                .arg("--define")
                .arg(format!("_rpmdir {}", self.repo_dir().display()))
                .arg("-bb")
                .arg(&spec));
        }
        self.advisories.extend(advisories.iter().cloned());
        self.index();
    }

    fn index(&self) {
        let repo = self.repo_dir();
        let _ = fs::remove_dir_all(repo.join("repodata"));
        run(Command::new("createrepo_c").arg("-q").arg(&repo));
        if self.advisories.is_empty() {
            return;
        }
        let xml = self.root.join("updateinfo.xml");
        fs::write(&xml, self.updateinfo()).unwrap();
        run(Command::new("modifyrepo_c")
            .arg("--mdtype=updateinfo")
            .arg(&xml)
            .arg(repo.join("repodata")));
    }

    fn updateinfo(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n");
        for a in &self.advisories {
            let sev = a
                .severity
                .as_ref()
                .map(|s| format!("    <severity>{s}</severity>\n"))
                .unwrap_or_default();
            let refs: String = a
                .cves
                .iter()
                .map(|c| format!("      <reference href=\"https://www.cve.org/CVERecord?id={c}\" id=\"{c}\" type=\"cve\" title=\"{c}\"/>\n"))
                .collect();
            let p = &a.package;
            s.push_str(&format!(
                "  <update from=\"tests@example.com\" status=\"stable\" type=\"{kind}\" version=\"1.4\">\n    <id>{id}</id>\n    <title>{id}</title>\n{sev}    <issued date=\"{issued}\"/>\n    <description>test advisory</description>\n    <references>\n{refs}    </references>\n    <pkglist>\n      <collection short=\"testfleet\">\n        <name>testfleet</name>\n        <package name=\"{n}\" version=\"{v}\" release=\"{r}\" epoch=\"{e}\" arch=\"noarch\">\n          <filename>{n}-{v}-{r}.noarch.rpm</filename>\n        </package>\n      </collection>\n    </pkglist>\n  </update>\n",
                kind = a.kind, id = a.id, issued = a.issued,
                n = p.name, v = p.version, r = p.release, e = p.epoch.unwrap_or(0),
            ));
        }
        s.push_str("</updates>\n");
        s
    }

    /// A dnf repo file pointing at this repository.
    pub fn dnf_repo_file(url: &str) -> String {
        format!(
            "[testfleet]\nname=testfleet\nbaseurl={url}\ngpgcheck=0\nenabled=1\nmetadata_expire=0\n"
        )
    }
}
