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

    // reboot(2) inside the host ends only its PID namespace; the supervisor boots it again.
    let boot1 = fleet.ssh_ok("h1", &["cat", "/proc/sys/kernel/random/boot_id"]);
    fleet.ssh_ok("h1", &["touch", "/root/survives-reboot"]);
    let machine_boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let reboot = "[ \"$(cat /proc/1/comm)\" = sshd ] && exec perl -e 'syscall(169, 0xfee1dead, 672274793, 0x01234567, 0)'";
    let _ = fleet.ssh("h1", &["sh", "-c", reboot]);
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

    // Teardown: no process rooted in the fleet, no mount under it, the directory gone,
    // and the machine's device nodes untouched.
    fleetctl(&["down", dir.to_str().unwrap()]);
    assert!(!dir.exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(dir.to_str().unwrap()),
        "mounts remain under {}",
        dir.display()
    );
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}
