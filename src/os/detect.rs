//! What kind of host this is: one round trip that reads os-release, the
//! kernel, the boot id and which package managers exist.

use crate::facts::{OsInfo, PackageManager};
use crate::transport::RemoteCommand;

const SECTION: &str = "@@patchwave@@";

/// The probe is a constant script: nothing from a host or a YAML file is in it.
pub fn probe_command() -> RemoteCommand {
    RemoteCommand::new("sh").args([
        "-c",
        "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null; \
         echo @@patchwave@@; uname -r; \
         echo @@patchwave@@; cat /proc/sys/kernel/random/boot_id 2>/dev/null; \
         echo @@patchwave@@; for p in apt-get dnf dnf5 yum zypper apk; do command -v \"$p\" || true; done",
    ])
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub os: OsInfo,
    pub kernel: String,
    pub boot_id: String,
    /// Package manager binaries present, by name (`apt-get`, `dnf`, …).
    pub tools: Vec<String>,
}

/// A real probe prints about a kilobyte (os-release, a kernel release, a
/// boot id, a few paths); a longer answer is refused before it is split
/// into many small strings.
const MAX_PROBE: usize = 64 * 1024;

pub fn parse_probe(out: &str) -> Result<Probe, String> {
    if out.len() > MAX_PROBE {
        return Err(format!(
            "the probe printed {} bytes, where a real host prints about 1 KiB (os-release, kernel, boot id); is /etc/os-release sane?",
            out.len()
        ));
    }
    let parts: Vec<&str> = out.split(&format!("{SECTION}\n")).collect();
    let [os_release, kernel, boot_id, tools] = parts.as_slice() else {
        return Err(format!(
            "unexpected probe output ({} sections, expected 4)",
            parts.len()
        ));
    };
    Ok(Probe {
        os: parse_os_release(os_release),
        kernel: kernel.trim().to_string(),
        boot_id: boot_id.trim().to_string(),
        tools: tools
            .lines()
            .filter_map(|l| l.trim().rsplit('/').next())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// `KEY=value` lines, values optionally quoted (os-release(5)).
pub fn parse_os_release(text: &str) -> OsInfo {
    let mut os = OsInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v)
            .replace("\\\"", "\"");
        match k.trim() {
            "ID" => os.id = v.to_ascii_lowercase(),
            "ID_LIKE" => os.id_like = v.split_whitespace().map(str::to_ascii_lowercase).collect(),
            "VERSION_ID" => os.version_id = v,
            "PRETTY_NAME" => os.pretty_name = v,
            _ => {}
        }
    }
    os
}

/// The package manager that owns the system: the distribution family decides
/// (a Debian host may have dnf installed as a tool), the binaries confirm.
pub fn package_manager(p: &Probe) -> Result<PackageManager, String> {
    let family: Vec<&str> = std::iter::once(p.os.id.as_str())
        .chain(p.os.id_like.iter().map(String::as_str))
        .collect();
    let has = |t: &str| p.tools.iter().any(|x| x == t);
    let is = |ids: &[&str]| family.iter().any(|f| ids.contains(f));
    let pm = if is(&["debian", "ubuntu"]) {
        PackageManager::Apt
    } else if is(&[
        "suse",
        "opensuse",
        "sles",
        "opensuse-leap",
        "opensuse-tumbleweed",
    ]) {
        PackageManager::Zypper
    } else if is(&[
        "fedora",
        "rhel",
        "centos",
        "rocky",
        "almalinux",
        "amzn",
        "ol",
    ]) {
        PackageManager::Dnf
    } else if is(&["alpine"]) {
        PackageManager::Apk
    } else {
        return Err(format!(
            "unsupported operating system `{}` (ID_LIKE: {}); patchwave knows Debian, Ubuntu, RHEL-like, SUSE and Alpine",
            p.os.id,
            p.os.id_like.join(" ")
        ));
    };
    // dnf5 (Fedora 41+) and yum-only hosts (EL7, Amazon Linux 2) print other
    // formats; say so rather than misread them.
    if pm == PackageManager::Dnf && has("dnf5") {
        return Err(format!(
            "`{}` uses dnf5, which this build does not scan yet (dnf 4 hosts: RHEL/Rocky/Alma 8-10, Fedora up to 40)",
            p.os.id
        ));
    }
    if pm == PackageManager::Dnf && !has("dnf") && has("yum") {
        return Err(format!(
            "`{}` has only yum (EL7, Amazon Linux 2), which this build does not scan",
            p.os.id
        ));
    }
    let present = match pm {
        PackageManager::Apt => has("apt-get"),
        PackageManager::Dnf => has("dnf"),
        PackageManager::Zypper => has("zypper"),
        PackageManager::Apk => has("apk"),
        // Never detected from a Unix probe.
        PackageManager::WindowsUpdate => false,
    };
    if present {
        Ok(pm)
    } else {
        Err(format!(
            "`{}` is a {} system but its package manager was not found in PATH",
            p.os.id,
            pm.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";

    #[test]
    fn probe_sections() {
        let out = format!(
            "{DEBIAN}@@patchwave@@\n6.1.0-25-amd64\n@@patchwave@@\nabc-123\n@@patchwave@@\n/usr/bin/apt-get\n/usr/bin/dnf\n"
        );
        let p = parse_probe(&out).unwrap();
        assert_eq!(p.os.id, "debian");
        assert_eq!(p.os.version_id, "12");
        assert_eq!(p.os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(p.kernel, "6.1.0-25-amd64");
        assert_eq!(p.boot_id, "abc-123");
        assert_eq!(p.tools, ["apt-get", "dnf"]);
        // Debian with dnf installed as a tool is still an apt host.
        assert_eq!(package_manager(&p), Ok(PackageManager::Apt));
        assert!(parse_probe("garbage").is_err());
        let huge = format!(
            "{DEBIAN}ID_LIKE=\"{}\"\n@@patchwave@@\n6.1\n@@patchwave@@\nb\n@@patchwave@@\n",
            "x ".repeat(MAX_PROBE)
        );
        assert!(
            parse_probe(&huge)
                .unwrap_err()
                .contains("the probe printed")
        );
    }

    #[test]
    fn families() {
        let probe = |id: &str, like: &str, tools: &[&str]| Probe {
            os: parse_os_release(&format!("ID={id}\nID_LIKE=\"{like}\"\n")),
            kernel: String::new(),
            boot_id: String::new(),
            tools: tools.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            package_manager(&probe("rocky", "rhel centos fedora", &["dnf"])),
            Ok(PackageManager::Dnf)
        );
        assert_eq!(
            package_manager(&probe("ubuntu", "debian", &["apt-get"])),
            Ok(PackageManager::Apt)
        );
        assert_eq!(
            package_manager(&probe("opensuse-leap", "suse opensuse", &["zypper"])),
            Ok(PackageManager::Zypper)
        );
        assert!(
            package_manager(&probe("centos", "rhel fedora", &["yum"]))
                .unwrap_err()
                .contains("only yum")
        );
        assert!(
            package_manager(&probe("fedora", "", &["dnf", "dnf5"]))
                .unwrap_err()
                .contains("dnf5")
        );
        assert!(
            package_manager(&probe("fedora", "", &[]))
                .unwrap_err()
                .contains("not found in PATH")
        );
        assert!(
            package_manager(&probe("plan9", "", &["apt-get"]))
                .unwrap_err()
                .contains("unsupported")
        );
    }
}
