//! `patchwave init`: a first fleet repository that validates as written —
//! a Fleet, a host group, a baseline, a maintenance window, a rollout, the
//! two CI workflows and an allowed-signers file that says how to fill it.
//! The JSON Schemas are written into the repository (`.patchwave/schema/`)
//! and every file points at them by a relative path, so editors find them
//! wherever the repository is cloned. Pure: it returns the files; the
//! command writes them.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the new repository is for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Fleet's name (a resource name).
    pub fleet: String,
    /// A group of this machine alone (`transport: local`), named after it,
    /// so `scan` and `plan` work with no other host.
    pub local_host: Option<String>,
    /// A group whose hosts come from a file copied into the repository
    /// (ignored with `local_host`).
    pub hosts_from: Option<HostsFile>,
}

/// A host list the team already keeps, copied into the new repository.
#[derive(Debug, Clone)]
pub enum HostsFile {
    /// An Ansible inventory: its text, whether it is YAML (by its name:
    /// `Some("yaml" | "yml" | "json")`, `None` for INI) and the group to take.
    Ansible {
        text: String,
        yaml_extension: Option<String>,
        group: Option<String>,
    },
    /// An OpenSSH client configuration.
    SshConfig { text: String },
}

impl HostsFile {
    /// Where the copy goes, relative to the repository root.
    pub fn path(&self) -> String {
        match self {
            HostsFile::Ansible {
                yaml_extension: Some(ext),
                ..
            } => format!("inventory/hosts.{ext}"),
            HostsFile::Ansible { .. } => "inventory/hosts.ini".into(),
            HostsFile::SshConfig { .. } => "ssh/config".into(),
        }
    }

    /// The HostGroup's name: the Ansible group's, made a resource name,
    /// else `servers`.
    pub fn group_name(&self) -> String {
        match self {
            HostsFile::Ansible { group: Some(g), .. } => {
                resource_name(g).unwrap_or_else(|| "servers".into())
            }
            _ => "servers".into(),
        }
    }

    fn text(&self) -> &str {
        match self {
            HostsFile::Ansible { text, .. } | HostsFile::SshConfig { text } => text,
        }
    }
}

/// Where the schemas go, relative to the repository root.
pub const SCHEMA_DIR: &str = ".patchwave/schema";

/// The repository's files: path (relative to its root) → contents.
pub fn scaffold(o: &Options) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut add = |path: &str, text: String| {
        files.insert(PathBuf::from(path), text);
    };
    add("fleet.yaml", with_schema("", "Fleet", &fleet(&o.fleet)));
    let (group_file, group) = match (&o.local_host, &o.hosts_from) {
        (Some(host), _) => ("groups/this-machine.yaml".to_string(), local_group(host)),
        (None, Some(from)) => {
            add(&from.path(), from.text().to_string());
            (
                format!("groups/{}.yaml", from.group_name()),
                hosts_from_group(from),
            )
        }
        (None, None) => ("groups/servers.yaml".to_string(), ssh_group()),
    };
    add(&group_file, with_schema("../", "HostGroup", &group));
    add(
        "baselines/default.yaml",
        with_schema("../", "PatchBaseline", BASELINE),
    );
    add(
        "windows/weekly.yaml",
        with_schema("../", "MaintenanceWindow", WINDOW),
    );
    add(
        "rollouts/canary.yaml",
        with_schema("../", "RolloutPolicy", ROLLOUT),
    );
    add(".patchwave/allowed_signers", ALLOWED_SIGNERS.to_string());
    add(
        ".github/workflows/patchwave-plan.yml",
        include_str!("templates/patchwave-plan.yml").to_string(),
    );
    add(
        ".github/workflows/patchwave-apply.yml",
        include_str!("templates/patchwave-apply.yml").to_string(),
    );
    for (name, text) in crate::spec::schema::schema_files() {
        add(&format!("{SCHEMA_DIR}/{name}"), text);
    }
    files
}

/// A resource file with the modeline editors (yaml-language-server) read.
fn with_schema(up: &str, kind: &str, body: &str) -> String {
    format!("# yaml-language-server: $schema={up}{SCHEMA_DIR}/{kind}.json\n{body}")
}

/// A name for the Fleet from a directory name: lowercase letters, digits
/// and `-`, as resource names are; `fleet` when nothing is left.
pub fn fleet_name(dir_name: &str) -> String {
    resource_name(dir_name).unwrap_or_else(|| "fleet".into())
}

/// `raw` made a resource name (lowercase letters, digits and `-`), if
/// anything is left.
fn resource_name(raw: &str) -> Option<String> {
    let mut name = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name: String = name.trim_matches('-').chars().take(63).collect();
    let name = name.trim_end_matches('-').to_string();
    (!name.is_empty()).then_some(name)
}

/// This machine's name as a host name patchwave accepts (`this-machine`
/// when it has none that fits).
pub fn local_host_name(raw: &str) -> String {
    let name = raw.trim();
    if crate::spec::values::check_host_name(name).is_ok() {
        name.to_string()
    } else {
        "this-machine".into()
    }
}

fn fleet(name: &str) -> String {
    format!(
        "# Settings for the whole fleet repository (README: \"Resource kinds\").
apiVersion: patchwave.dev/v1
kind: Fleet
metadata:
  name: {name}
spec:
  # Approval days are counted, and plans show times, in this zone.
  timezone: UTC
  # Status, run history and REPORT.md are committed to this branch.
  statusBranch: patchwave/status
  scan:
    timeout: 2m
    # Refresh package lists (apt-get update, dnf makecache) when older.
    refreshAfter: 6h
  apply:
    # Hosts patched at once, across all groups.
    concurrency: 16
  # Apply only commits signed by a key listed in .patchwave/allowed_signers.
  # Add your keys there first (see that file), then uncomment:
  # verification:
  #   requireSignedCommits: true
  #   format: ssh
  #   allowedSigners: .patchwave/allowed_signers
"
    )
}

fn local_group(host: &str) -> String {
    format!(
        "# This machine alone, reached without SSH (`transport: local`): `patchwave
# scan` and `patchwave plan` work here with no other host. Add groups of
# your servers beside it (see groups in the patchwave README).
apiVersion: patchwave.dev/v1
kind: HostGroup
metadata:
  name: this-machine
spec:
  baseline: default
  windows: [weekly]
  rollout: canary
  transport: local
  hosts:
    - name: {host}
      address: localhost
"
    )
}

fn ssh_group() -> String {
    "# Your servers, reached over SSH. List them under `hosts` (a name, and an
# address when the name does not resolve); patchwave needs a user that may
# run the package manager (root, or passwordless sudo).
apiVersion: patchwave.dev/v1
kind: HostGroup
metadata:
  name: servers
spec:
  baseline: default
  windows: [weekly]
  rollout: canary
  transport: ssh
  connection:
    user: root
    # identityFile: ~/.ssh/patchwave_ed25519
  hosts: []
  #   - name: web-1
  #     address: 192.0.2.11
  #   - name: web-2
  #     address: 192.0.2.12
"
    .to_string()
}

fn hosts_from_group(from: &HostsFile) -> String {
    let path = from.path();
    let name = from.group_name();
    let (about, entry) = match from {
        HostsFile::Ansible { group, .. } => {
            let which = match group {
                Some(g) => format!("group `{g}` (and its children) of the Ansible inventory"),
                None => "every host of the Ansible inventory".to_string(),
            };
            let entry = match group {
                Some(g) => format!(
                    "    - ansibleInventory: {path}\n      group: {}\n",
                    yaml_string(g)
                ),
                None => format!("    - ansibleInventory: {path}\n"),
            };
            (
                format!(
                    "# Your servers: {which}\n# {path}. patchwave reads that file each time it loads this\n# repository: add or remove hosts there. Each host's ansible_host,\n# ansible_port and ansible_user are its address, port and user."
                ),
                entry,
            )
        }
        HostsFile::SshConfig { .. } => (
            format!(
                "# Your servers: every `Host` without wildcards in {path} (an ssh_config).\n# patchwave reads that file each time it loads this repository: add or\n# remove hosts there. Each Host's HostName, Port and User are its address,\n# port and user."
            ),
            format!(
                "    - sshConfig: {path}\n      # Only these Host names (default: every Host without wildcards):\n      # hosts: [\"web-*\", \"db-*\"]\n"
            ),
        ),
    };
    format!(
        "{about}
# patchwave needs a user that may run the package manager (root, or
# passwordless sudo).
apiVersion: patchwave.dev/v1
kind: HostGroup
metadata:
  name: {name}
spec:
  baseline: default
  windows: [weekly]
  rollout: canary
  transport: ssh
  # For hosts the file gives no user or port (default: your own ssh_config,
  # then your user name and port 22):
  # connection:
  #   user: root
  #   identityFile: ~/.ssh/patchwave_ed25519
  hostsFrom:
{entry}"
    )
}

/// A YAML scalar that reads back as `s` (an Ansible group name is
/// letters, digits and `_` in practice; anything else is quoted).
fn yaml_string(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        )
    {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

const BASELINE: &str = "# Which updates are approved, and when.
apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata:
  name: default
spec:
  approvalRules:
    # Security updates three days after they were first offered (or
    # released, where the OS publishes a date): time for others to find
    # the broken ones.
    - name: security
      classifications: [security]
      approveAfterDays: 3
    # Everything else after two weeks.
    - name: the-rest
      classifications: [bugfix, enhancement, other]
      approveAfterDays: 14
  # Reboot when the OS says an update needs it (kernel, libc).
  reboot: ifRequired
";

const WINDOW: &str = "# When hosts may be patched: Saturdays 22:00-02:00 UTC; no host starts
# in the last hour.
apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata:
  name: weekly
spec:
  schedule: \"0 22 * * SAT\"
  timezone: UTC
  duration: 4h
  cutoff: 1h
";

const ROLLOUT: &str = "# One host first, a soak, then the rest; the first failure halts.
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata:
  name: canary
spec:
  waves: [1, \"100%\"]
  soak: 15m
  maxErrors: 0
  onFailure: halt
";

const ALLOWED_SIGNERS: &str = "# Keys whose signed commits patchwave applies, once the Fleet sets
# `verification.requireSignedCommits` (see fleet.yaml). One line per key, in
# ssh-keygen's allowed_signers format:
#
#   alice@example.com namespaces=\"git\" ssh-ed25519 AAAA...
#
# Sign commits with that key: git config gpg.format ssh; git config
# user.signingkey ~/.ssh/id_ed25519.pub; git commit -S. A forge that merges
# pull requests signs with its own key: add it too. The keys that count are
# the ones in the parent commit, so a commit cannot add its own key.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_directories_and_hosts() {
        assert_eq!(fleet_name("My Fleet_2026"), "my-fleet-2026");
        assert_eq!(fleet_name("--"), "fleet");
        assert_eq!(fleet_name(&"x".repeat(80)).len(), 63);
        assert_eq!(local_host_name("build-01\n"), "build-01");
        assert_eq!(local_host_name("no spaces please"), "this-machine");
    }

    #[test]
    fn every_resource_points_at_a_schema_that_is_written() {
        let files = scaffold(&Options {
            fleet: "t".into(),
            local_host: Some("h".into()),
            hosts_from: None,
        });
        for (path, text) in &files {
            let Some(line) = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# yaml-language-server: $schema="))
            else {
                continue;
            };
            let target = path.parent().unwrap().join(line);
            let normal: PathBuf = target.components().fold(PathBuf::new(), |mut p, c| {
                match c {
                    std::path::Component::ParentDir => {
                        p.pop();
                    }
                    c => p.push(c),
                }
                p
            });
            assert!(files.contains_key(&normal), "{}: {line}", path.display());
        }
    }
}
