//! A fleet of real test hosts (see tests/fleet/fleetctl): overlayfs over a
//! cached debootstrap base, each host in its own PID/UTS/mount namespaces with
//! sshd as PID 1 on 127.0.SUBNET.(10+i).
//!
//! One fleet per test binary: start it once with [`Fleet::shared`]. A watchdog
//! started by fleetctl tears it down when the test process exits, however it
//! exits, so nothing here relies on destructors of statics.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The package family of a fleet's base image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Apt,
    Rpm,
}

impl Base {
    fn as_str(self) -> &'static str {
        match self {
            Base::Apt => "apt",
            Base::Rpm => "rpm",
        }
    }
}

#[derive(Debug)]
pub struct Fleet {
    pub dir: PathBuf,
    pub hosts: Vec<TestHost>,
}

#[derive(Debug, Clone)]
pub struct TestHost {
    pub name: String,
    pub address: String,
}

pub fn fleetctl_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/fleetctl")
}

/// Runs fleetctl and returns its output; panics with its stderr on failure.
pub fn fleetctl(args: &[&str]) -> Output {
    let out = Command::new(fleetctl_path())
        .args(args)
        .output()
        .expect("run tests/fleet/fleetctl");
    assert!(
        out.status.success(),
        "fleetctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc_geteuid() };
    assert_eq!(
        euid, 0,
        "the test fleet needs root (namespaces, overlay mounts, chroot); CI runs `.ci/run` as root"
    );
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

impl Fleet {
    /// Starts `n` hosts on `127.0.subnet.11..`; use a different subnet per test binary.
    pub fn start(base: Base, subnet: u8, n: usize) -> Fleet {
        require_root();
        let dir =
            std::env::temp_dir().join(format!("patchwave-fleet-{subnet}-{}", std::process::id()));
        let pid = std::process::id().to_string();
        fleetctl(&[
            "up",
            dir.to_str().unwrap(),
            base.as_str(),
            &subnet.to_string(),
            &n.to_string(),
            &pid,
        ]);
        let hosts = std::fs::read_to_string(dir.join("hosts.txt"))
            .unwrap()
            .lines()
            .map(|l| {
                let (name, address) = l.split_once(' ').unwrap();
                TestHost {
                    name: name.to_string(),
                    address: address.to_string(),
                }
            })
            .collect();
        Fleet { dir, hosts }
    }

    /// One fleet for the whole test binary.
    pub fn shared(
        cell: &'static OnceLock<Fleet>,
        base: Base,
        subnet: u8,
        n: usize,
    ) -> &'static Fleet {
        cell.get_or_init(|| Fleet::start(base, subnet, n))
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    pub fn identity(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    pub fn host(&self, name: &str) -> &TestHost {
        self.hosts.iter().find(|h| h.name == name).unwrap()
    }

    /// Runs a command on a host with the system ssh client (setup and checks,
    /// independent of patchwave's own transport).
    pub fn ssh(&self, host: &str, argv: &[&str]) -> Output {
        let addr = &self.host(host).address;
        Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .arg(addr)
            .arg("--")
            .args(argv.iter().map(|a| sh_quote(a)))
            .output()
            .expect("run ssh")
    }

    /// Like [`Fleet::ssh`], asserting success and returning stdout.
    pub fn ssh_ok(&self, host: &str, argv: &[&str]) -> String {
        let out = self.ssh(host, argv);
        assert!(
            out.status.success(),
            "ssh {host} {argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes a file on a host (through ssh's stdin; the path is quoted).
    pub fn write(&self, host: &str, path: &str, contents: &str) {
        use std::io::Write;
        let mut child = Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .arg(&self.host(host).address)
            .arg("--")
            .arg(format!("cat > {}", sh_quote(path)))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("run ssh");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(contents.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "writing {path} on {host}");
    }

    /// Copies a local file to a host (through ssh's stdin; the path is quoted).
    pub fn upload(&self, host: &str, local: &Path, path: &str) {
        let file =
            std::fs::File::open(local).unwrap_or_else(|e| panic!("open {}: {e}", local.display()));
        let out = Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .arg(&self.host(host).address)
            .arg("--")
            .arg(format!("cat > {}", sh_quote(path)))
            .stdin(file)
            .output()
            .expect("run ssh");
        assert!(
            out.status.success(),
            "copying {} to {host}:{path}: {}",
            local.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn ctl(&self, verb: &str, host: &str) {
        fleetctl(&[verb, self.dir.to_str().unwrap(), host]);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Quotes one argument for the remote shell: ssh joins its arguments with
/// spaces into one command line, so each must arrive as a single word.
pub fn sh_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', "'\\''"))
}
