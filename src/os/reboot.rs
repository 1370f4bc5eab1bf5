//! Rebooting a host and telling that it came back: the commands per
//! platform (the rollout waits for a new boot id between them).

use std::time::Duration;

use crate::transport::{Platform, RemoteCommand};

/// Reboots the host: through systemd where it runs, else reboot(2); on
/// Windows, `shutdown.exe /r`. The connection may drop as it goes down.
pub fn reboot_command(platform: Platform) -> RemoteCommand {
    match platform {
        Platform::Windows => super::windows::reboot_command(),
        Platform::Unix => RemoteCommand::new("sh").args([
            "-c",
            "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl reboot; else reboot -f; fi",
        ]),
    }
    .timeout(Duration::from_secs(30))
}

/// Prints the host's boot id, which changes with every boot.
pub fn boot_id_command(platform: Platform) -> RemoteCommand {
    match platform {
        Platform::Windows => super::windows::powershell(super::windows::BOOT_ID_SCRIPT),
        Platform::Unix => RemoteCommand::new("cat").arg("/proc/sys/kernel/random/boot_id"),
    }
    .timeout(Duration::from_secs(30))
}
