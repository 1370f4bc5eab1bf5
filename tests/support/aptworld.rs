//! A fleet of real apt hosts and a local apt repository served to them,
//! every host holding `packages` at 1.0-1: where most rollout tests start.
//! One per test binary (its own subnet); tests publish newer versions.

use super::aptrepo::{AptRepo, Deb, MAIN};
use super::fleet::{Base, Fleet};
use super::http::FileServer;

pub struct AptWorld {
    pub fleet: Fleet,
    pub apt: AptRepo,
    _apt_dir: tempfile::TempDir,
    _server: FileServer,
}

impl AptWorld {
    pub fn start(subnet: u8, hosts: usize, packages: &[&str]) -> AptWorld {
        let fleet = Fleet::start(Base::Apt, subnet, hosts);
        let apt_dir = tempfile::tempdir().unwrap();
        let apt = AptRepo::new(apt_dir.path());
        let debs: Vec<Deb> = packages.iter().map(|p| Deb::new(p, "1.0-1")).collect();
        apt.publish(MAIN, &debs);
        let server = FileServer::start(apt_dir.path());
        let sources = AptRepo::sources_list(&server.url());
        let pins: Vec<String> = packages.iter().map(|p| format!("{p}=1.0-1")).collect();
        for h in fleet.hosts.iter().map(|h| h.name.clone()) {
            fleet.write(&h, "/etc/apt/sources.list", &sources);
            fleet.ssh_ok(&h, &["apt-get", "update", "-q"]);
            let mut argv = vec![
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-q",
            ];
            argv.extend(pins.iter().map(String::as_str));
            fleet.ssh_ok(&h, &argv);
        }
        AptWorld {
            fleet,
            apt,
            _apt_dir: apt_dir,
            _server: server,
        }
    }

    /// The version dpkg has installed on `host`.
    pub fn installed(&self, host: &str, package: &str) -> String {
        self.fleet
            .ssh_ok(host, &["dpkg-query", "-W", "-f", "${Version}", package])
            .trim()
            .to_string()
    }
}
