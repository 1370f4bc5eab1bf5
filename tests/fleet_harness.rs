//! The test fleet itself: hosts boot in seconds, are reached with strict
//! host-key checking, reboot inside their own PID namespace (new boot id, same
//! disk), and tear down leaving no process or mount behind.

mod support;

use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant};

use support::fleet::{Base, Fleet, fleetctl};

/// Waits (bounded) until `f` holds.
fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn fleet_boots_reboots_and_tears_down_cleanly() {
    let fleet = Fleet::start(Base::Apt, 1, 3);
    let dir = fleet.dir().to_path_buf();

    // Every host answers as itself, as PID 1 sshd in its own namespace.
    for h in &fleet.hosts {
        let out = fleet.ssh_ok(&h.name, &["sh", "-c", "hostname; cat /proc/1/comm"]);
        assert_eq!(out, format!("{}\nsshd\n", h.name));
    }

    // A host key that is not in known_hosts is refused (strict checking).
    let kh = std::fs::read_to_string(fleet.known_hosts()).unwrap();
    let swapped: String = kh
        .lines()
        .map(|l| {
            l.replace("127.0.1.11 ", "127.0.1.99 ")
                .replace("127.0.1.12 ", "127.0.1.11 ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(fleet.known_hosts(), swapped + "\n").unwrap();
    let out = fleet.ssh("h1", &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(fleet.known_hosts(), &kh).unwrap();

    // Root in a host cannot make device nodes or mount: the machine's disks stay out of reach.
    let out = fleet.ssh("h1", &["mknod", "/root/sda", "b", "8", "0"]);
    assert!(
        !out.status.success(),
        "mknod must be refused inside a test host"
    );
    let out = fleet.ssh("h1", &["mount", "-t", "tmpfs", "x", "/mnt"]);
    assert!(
        !out.status.success(),
        "mount must be refused inside a test host"
    );

    // reboot(2) inside the host ends only its PID namespace; the supervisor boots it again.
    // Before calling it, prove the session is in another PID namespace than the machine's.
    // (This test process runs in the machine's PID namespace.)
    let machine_ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let host_ns = fleet.ssh_ok("h1", &["readlink", "/proc/self/ns/pid"]);
    assert_ne!(
        host_ns.trim(),
        machine_ns.to_string_lossy(),
        "host shares the machine's PID namespace"
    );
    let boot1 = fleet.ssh_ok("h1", &["cat", "/proc/sys/kernel/random/boot_id"]);
    fleet.ssh_ok("h1", &["touch", "/root/survives-reboot"]);
    let machine_boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    // reboot(2) with LINUX_REBOOT_CMD_RESTART; the syscall number is the architecture's.
    let nr = if cfg!(target_arch = "aarch64") {
        142
    } else {
        169
    };
    let reboot = format!(
        "[ \"$(cat /proc/1/comm)\" = sshd ] && exec perl -e 'syscall({nr}, 0xfee1dead, 672274793, 0x01234567, 0)'"
    );
    let _ = fleet.ssh("h1", &["sh", "-c", &reboot]);
    wait_until("h1 to boot again", Duration::from_secs(20), || {
        let out = fleet.ssh("h1", &["cat", "/proc/sys/kernel/random/boot_id"]);
        out.status.success() && String::from_utf8_lossy(&out.stdout) != boot1
    });
    fleet.ssh_ok("h1", &["test", "-e", "/root/survives-reboot"]);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap(),
        machine_boot,
        "the machine itself must never reboot"
    );

    // A host can be taken down and brought back.
    fleet.ctl("stop-sshd", "h2");
    assert_eq!(fleet.ssh("h2", &["true"]).status.code(), Some(255));
    fleet.ctl("start-sshd", "h2");
    fleet.ssh_ok("h2", &["true"]);

    // Teardown: no process rooted in the fleet, no mount under it in any
    // namespace, the directory gone, and the machine's /dev exactly as before.
    let dev_before = dev_fingerprint();
    fleetctl(&["down", dir.to_str().unwrap()]);
    assert!(!dir.exists());
    let needle = format!(" {}/", dir.display());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(m) = std::fs::read_to_string(entry.path().join("mountinfo")) {
            assert!(
                !m.contains(&needle),
                "a mount under {} remains in {:?}",
                dir.display(),
                entry.path()
            );
        }
    }
    assert_eq!(dev_fingerprint(), dev_before);
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    // Never a directory without the fleet marker.
    let not_a_fleet = tempfile::tempdir().unwrap();
    std::fs::write(not_a_fleet.path().join("keep"), "x").unwrap();
    let out = std::process::Command::new(support::fleet::fleetctl_path())
        .args(["down", not_a_fleet.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(not_a_fleet.path().join("keep").exists());
}

/// The machine's /dev: its entries with their device numbers, and its mount.
fn dev_fingerprint() -> (Vec<(String, u64)>, String) {
    use std::os::unix::fs::MetadataExt;
    let mut entries: Vec<(String, u64)> = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .map(|e| {
            let rdev = std::fs::symlink_metadata(e.path())
                .map(|m| m.rdev())
                .unwrap_or(0);
            (e.file_name().to_string_lossy().into_owned(), rdev)
        })
        .collect();
    entries.sort();
    let mount = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/dev"))
        .map(|l| l.split(' ').skip(2).take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    (entries, mount)
}
