//! A real apt repository built on this machine: `.deb` files made with
//! dpkg-deb, indexes made with apt-ftparchive, two suites — `testfleet` and
//! `testfleet-security` (its own Origin and Label, as Debian's security archive).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const MAIN: &str = "testfleet";
pub const SECURITY: &str = "testfleet-security";

/// A package to build.
#[derive(Debug, Clone)]
pub struct Deb {
    pub name: String,
    pub version: String,
    /// Body of a postinst script (run with `sh -e`), if any.
    pub postinst: Option<String>,
    /// Body of a postrm script (run with `sh -e`; `$1` is dpkg's action), if any.
    pub postrm: Option<String>,
    /// A `Depends:` field, as Debian writes it (`pw-lib (>= 1.0)`).
    pub depends: Option<String>,
    /// A `Source:` field: the source package's name when it is not the
    /// package's own (`pw-src`), with its version when that differs from the
    /// package's (`pw-src (1.0-0)`, as a binNMU has it).
    pub source: Option<String>,
}

impl Deb {
    pub fn new(name: &str, version: &str) -> Deb {
        Deb {
            name: name.into(),
            version: version.into(),
            postinst: None,
            postrm: None,
            depends: None,
            source: None,
        }
    }
}

pub struct AptRepo {
    pub root: PathBuf,
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl AptRepo {
    pub fn new(root: &Path) -> AptRepo {
        for suite in [MAIN, SECURITY] {
            fs::create_dir_all(root.join("pool").join(suite)).unwrap();
        }
        let repo = AptRepo {
            root: root.to_path_buf(),
        };
        repo.index();
        repo
    }

    /// Builds `deb` into `suite` and re-indexes.
    pub fn publish(&self, suite: &str, debs: &[Deb]) {
        for d in debs {
            let build =
                self.root
                    .join("build")
                    .join(format!("{}-{}", d.name, d.version.replace(':', "_")));
            fs::create_dir_all(build.join("DEBIAN")).unwrap();
            fs::create_dir_all(build.join("usr/share").join(&d.name)).unwrap();
            fs::write(
                build.join("usr/share").join(&d.name).join("VERSION"),
                format!("{}\n", d.version),
            )
            .unwrap();
            let depends = d
                .depends
                .as_ref()
                .map(|x| format!("Depends: {x}\n"))
                .unwrap_or_default();
            let source = d
                .source
                .as_ref()
                .map(|x| format!("Source: {x}\n"))
                .unwrap_or_default();
            fs::write(
                build.join("DEBIAN/control"),
                format!(
                    "Package: {}\n{source}Version: {}\nArchitecture: all\n{depends}Maintainer: patchwave tests <tests@example.com>\nDescription: patchwave test package {}\n",
                    d.name, d.version, d.name
                ),
            )
            .unwrap();
            for (file, script) in [("postinst", &d.postinst), ("postrm", &d.postrm)] {
                let Some(script) = script else { continue };
                let p = build.join("DEBIAN").join(file);
                fs::write(&p, format!("#!/bin/sh\nset -e\n{script}\n")).unwrap();
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            }
            let file = self.root.join("pool").join(suite).join(format!(
                "{}_{}_all.deb",
                d.name,
                d.version.rsplit(':').next().unwrap_or(&d.version)
            ));
            run(Command::new("dpkg-deb")
                .args(["--root-owner-group", "--build"])
                .arg(&build)
                .arg(&file));
        }
        self.index();
    }

    /// Regenerates Packages and Release for both suites.
    fn index(&self) {
        for suite in [MAIN, SECURITY] {
            let bin = self.root.join("dists").join(suite).join("main/binary-all");
            fs::create_dir_all(&bin).unwrap();
            let packages = run(Command::new("apt-ftparchive")
                .current_dir(&self.root)
                .args(["packages", &format!("pool/{suite}")]));
            fs::write(bin.join("Packages"), packages).unwrap();
            let origin = if suite == SECURITY {
                "PatchwaveTest-Security"
            } else {
                "PatchwaveTest"
            };
            let dist = self.root.join("dists").join(suite);
            let _ = fs::remove_file(dist.join("Release"));
            let release = run(Command::new("apt-ftparchive").current_dir(&dist).args([
                "-o",
                &format!("APT::FTPArchive::Release::Origin={origin}"),
                "-o",
                &format!("APT::FTPArchive::Release::Label={origin}"),
                "-o",
                &format!("APT::FTPArchive::Release::Suite={suite}"),
                "-o",
                &format!("APT::FTPArchive::Release::Codename={suite}"),
                "-o",
                "APT::FTPArchive::Release::Architectures=amd64 all",
                "-o",
                "APT::FTPArchive::Release::Components=main",
                "release",
                ".",
            ]));
            fs::write(dist.join("Release"), release).unwrap();
        }
    }

    /// The sources.list a host needs to use this repository.
    pub fn sources_list(url: &str) -> String {
        format!("deb [trusted=yes] {url} {MAIN} main\ndeb [trusted=yes] {url} {SECURITY} main\n")
    }
}
