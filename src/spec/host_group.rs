//! `HostGroup`: a set of hosts patched under one baseline, window set and rollout.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CommandSpec, Criticality};
use super::diagnostic::Origin;
use super::spanned::Spanned;

/// How patchwave reaches the hosts of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// OpenSSH, honouring the user's ssh_config. The default.
    #[default]
    Ssh,
    /// WS-Management (Windows Remote Management).
    Winrm,
    /// The machine patchwave runs on.
    Local,
}

/// What a group's hosts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OsFamily {
    /// Linux (apt, dnf, zypper). The default.
    #[default]
    Linux,
    /// Windows (Windows Update): over WinRM, or PowerShell over OpenSSH.
    Windows,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostGroupSpec {
    /// Hosts of this group (`hostsFrom` may add more). A host belongs to
    /// exactly one group.
    // Once the repository is loaded, this also holds the hosts read from
    // `hostsFrom` (each with its `source`).
    #[serde(default)]
    pub hosts: Vec<HostSpec>,
    /// Hosts read from files in this repository: an Ansible inventory or an
    /// ssh_config, read when the repository is loaded and merged with `hosts`.
    #[serde(default)]
    pub hosts_from: Vec<Spanned<HostsFromSpec>>,
    /// Name of the PatchBaseline that decides which patches are approved.
    pub baseline: Spanned<String>,
    /// Names of the allow MaintenanceWindows in which patches may be applied.
    /// Deny windows (change freezes) select groups themselves.
    #[serde(default)]
    pub windows: Vec<Spanned<String>>,
    /// Name of the RolloutPolicy (waves, canary, error budget).
    pub rollout: Spanned<String>,
    /// Promotion stage, e.g. `dev`, `staging`, `prod`; baselines promote patches between stages.
    #[serde(default)]
    pub stage: Option<Spanned<String>>,
    /// Default criticality of the group's hosts. Default `medium`.
    #[serde(default)]
    pub criticality: Option<Criticality>,
    /// Detect-only: keep scanning and reporting, never apply.
    #[serde(default)]
    pub suspend: bool,
    /// `ssh` (default), `winrm` or `local`.
    #[serde(default)]
    pub transport: Spanned<TransportKind>,
    /// `linux` (default) or `windows`. `transport: winrm` implies `windows`;
    /// with `transport: ssh`, `windows` runs every command through
    /// PowerShell on the host's OpenSSH server.
    #[serde(default)]
    pub os: Option<Spanned<OsFamily>>,
    #[serde(default)]
    pub connection: ConnectionSpec,
    /// Checks that must pass after a host is patched (and during soak).
    #[serde(default)]
    pub health_checks: Vec<HealthCheckSpec>,
    #[serde(default)]
    pub hooks: HooksSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostSpec {
    /// Unique across the fleet; also the status file name, so letters, digits, `.`, `_`, `-`.
    pub name: Spanned<String>,
    /// DNS name or IP address; defaults to the name.
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    /// Overrides the group's connection port.
    #[serde(default)]
    pub port: Option<Spanned<u32>>,
    /// Overrides the group's connection user.
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// Overrides the group's criticality for this host.
    #[serde(default)]
    pub criticality: Option<Criticality>,
    /// Labels, e.g. `canary: "true"`; rollout waves and `oneAtATime` select on them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The inventory file this host was read from (`hostsFrom`), as shown in
    /// diagnostics; `None` for a host written in the group's YAML, whose
    /// positions are in the group's file.
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Option<Arc<Path>>,
}

impl HostSpec {
    /// Where this host's positions point: its inventory file, or the
    /// group's document.
    pub fn origin(&self, group: &Origin) -> Origin {
        match &self.source {
            Some(file) => Origin {
                file: file.clone(),
                pos: self.name.pos,
            },
            None => group.clone(),
        }
    }
}

/// Where a group's hosts come from when they are not written in `hosts`:
/// exactly one of `ansibleInventory` or `sshConfig`, a file in this
/// repository (relative to its root).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostsFromSpec {
    /// An Ansible inventory, INI or YAML (by a `.yaml`, `.yml` or `.json`
    /// name, or a first line such as `all:`). Each host's `ansible_host`,
    /// `ansible_port` and `ansible_user` become its address, port and user.
    #[serde(default)]
    pub ansible_inventory: Option<Spanned<String>>,
    /// An OpenSSH client configuration: every `Host` name without wildcards
    /// is a host; `HostName`, `Port` and `User` are its address, port and user.
    #[serde(default)]
    pub ssh_config: Option<Spanned<String>>,
    /// With `ansibleInventory`: only this group's hosts, its children's
    /// included. Default: every host of the inventory.
    #[serde(default)]
    pub group: Option<Spanned<String>>,
    /// Only hosts whose name matches one of these globs (`*`, `?`), e.g.
    /// `web-*`. Default: every host.
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    /// Labels given to every host read by this entry, e.g. `canary: "true"`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// How to connect. Secrets are never written here: only references to them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionSpec {
    /// Login user (ssh default: from ssh_config, else the current user).
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// Port (ssh default 22, winrm default 5986 over https, 5985 over http).
    #[serde(default)]
    pub port: Option<Spanned<u32>>,
    /// Private key file on the machine running patchwave.
    #[serde(default)]
    pub identity_file: Option<Spanned<String>>,
    /// Bastion as `[user@]host[:port]` (OpenSSH ProxyJump).
    #[serde(default)]
    pub jump_host: Option<Spanned<String>>,
    /// known_hosts file; a relative path is inside this repository (commit it).
    #[serde(default)]
    pub known_hosts_file: Option<Spanned<String>>,
    /// Settings for `transport: winrm`.
    #[serde(default)]
    pub winrm: Option<Spanned<WinrmSpec>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WinrmScheme {
    #[default]
    Https,
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WinrmAuth {
    #[default]
    Ntlm,
    Basic,
    Kerberos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WinrmSpec {
    #[serde(default)]
    pub scheme: WinrmScheme,
    #[serde(default)]
    pub auth: WinrmAuth,
    /// Where the password comes from; never the password itself.
    pub credential_ref: Spanned<CredentialRef>,
    /// CA bundle (PEM) that signs the hosts' certificates.
    #[serde(default)]
    pub ca_bundle: Option<Spanned<String>>,
    /// Pinned SHA-256 certificate fingerprint (hex, `:` optional) instead of a CA.
    #[serde(default)]
    pub cert_fingerprint: Option<Spanned<String>>,
}

/// A reference to a secret held outside the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialRef {
    /// User name for the credential.
    pub username: String,
    /// Environment variable holding the password.
    #[serde(default)]
    pub env: Option<String>,
    /// File (on the machine running patchwave) holding the password.
    #[serde(default)]
    pub file: Option<String>,
}

/// A check that a patched host still works. Exactly one of `command` or `http`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheckSpec {
    pub name: Spanned<String>,
    /// Run on the host; healthy when it exits 0. Arguments are minijinja templates.
    #[serde(default)]
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
    /// Probed from patchwave's machine.
    #[serde(default)]
    pub http: Option<HttpProbeSpec>,
    /// Per attempt, e.g. `10s`. Default 10s.
    #[serde(default)]
    pub timeout: Option<Spanned<crate::spec::parsed::DurationText>>,
    /// Attempts after the first failure. Default 3.
    #[serde(default)]
    pub retries: Option<Spanned<u32>>,
    /// Pause between attempts, e.g. `5s`. Default 5s.
    #[serde(default)]
    pub interval: Option<Spanned<crate::spec::parsed::DurationText>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpProbeSpec {
    /// http:// or https:// URL; a minijinja template (`{{ host.address }}`).
    pub url: Spanned<String>,
    /// Expected status code. Default 200.
    #[serde(default)]
    pub expect_status: Option<Spanned<u32>>,
}

/// Commands around a host's patching, run on the host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HooksSpec {
    /// Before anything else; a failure stops that host (drain it from a load balancer here).
    #[serde(default)]
    pub pre: Vec<CommandSpec>,
    /// Backup or snapshot; a failure stops that host before any package changes.
    #[serde(default)]
    pub snapshot: Vec<CommandSpec>,
    /// After verification and health checks passed.
    #[serde(default)]
    pub post: Vec<CommandSpec>,
}

impl HostGroupSpec {
    /// What the hosts run, given the transport.
    pub fn os_family(&self) -> OsFamily {
        match (self.transport.value, &self.os) {
            (TransportKind::Winrm, _) => OsFamily::Windows,
            (_, Some(os)) => os.value,
            (_, None) => OsFamily::Linux,
        }
    }
}
