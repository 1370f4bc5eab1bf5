//! `patchwave init [DIR] [--local | --from-ansible FILE [--ansible-group G]
//! | --from-ssh-config FILE]`: writes a first fleet repository and
//! validates it at once (exit 0 when valid, 1 otherwise). Never overwrites:
//! when any file it would write exists, it writes nothing and names them.

use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::init::{HostsFile, Options, fleet_name, local_host_name, scaffold};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write it (created if missing; default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// A group of this machine alone (`transport: local`), so `scan` and
    /// `plan` work with no other host.
    #[arg(long, conflicts_with_all = ["from_ansible", "from_ssh_config"])]
    pub local: bool,
    /// Take the hosts from this Ansible inventory (INI, or YAML by its
    /// name): it is copied to inventory/ and the group reads it.
    #[arg(long, value_name = "INVENTORY", conflicts_with = "from_ssh_config")]
    pub from_ansible: Option<PathBuf>,
    /// With --from-ansible: only this group and its children (default:
    /// every host).
    #[arg(long, value_name = "GROUP", requires = "from_ansible")]
    pub ansible_group: Option<String>,
    /// Take the hosts from this ssh_config (every `Host` without
    /// wildcards): it is copied to ssh/config and the group reads it.
    #[arg(long, value_name = "FILE")]
    pub from_ssh_config: Option<PathBuf>,
    /// The Fleet's name (default: from the directory's name).
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(args: &Args) -> Exit {
    match write(args) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    }
}

fn write(args: &Args) -> Result<Exit, String> {
    let dir = &args.dir;
    let fleet = match &args.name {
        Some(n) => {
            crate::spec::values::check_resource_name(n).map_err(|e| format!("--name {e}"))?;
            n.clone()
        }
        None => fleet_name(&dir_name(dir)),
    };
    let local_host = args.local.then(|| {
        let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_default();
        local_host_name(&raw)
    });
    let hosts_from = hosts_file(args)?;
    let files = scaffold(&Options {
        fleet: fleet.clone(),
        local_host: local_host.clone(),
        hosts_from: hosts_from.clone(),
    });
    let taken: Vec<String> = files
        .keys()
        .filter(|p| dir.join(p).exists())
        .map(|p| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        return Err(format!(
            "{} already holds {}; nothing was written\n  hint: run `patchwave init` in a new or empty directory (or move those files away)",
            dir.display(),
            taken.join(", ")
        ));
    }
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!(
        "wrote fleet `{fleet}` to {} ({} files)",
        dir.display(),
        files.len()
    );
    let checked =
        crate::spec::check(dir).map_err(|e| format!("cannot read back {}: {e}", dir.display()))?;
    for d in &checked.diagnostics {
        println!("{d}");
    }
    let errors = checked.errors().count();
    println!(
        "validate: {} resources, {errors} errors, {} warnings",
        checked.repo.resource_count(),
        checked.diagnostics.len() - errors
    );
    if errors > 0 {
        return Ok(Exit::Error);
    }
    if let Some(from) = &hosts_from
        && let Some(g) = checked.repo.group(&from.group_name())
    {
        const SHOWN: usize = 10;
        let names: Vec<&str> = g.spec.hosts.iter().map(|h| h.name.value.as_str()).collect();
        let mut list = names
            .iter()
            .take(SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > SHOWN {
            list.push_str(", …");
        }
        println!(
            "group `{}`: {} hosts from {}{}",
            g.name(),
            names.len(),
            from.path(),
            if names.is_empty() {
                String::new()
            } else {
                format!(" ({list})")
            }
        );
    }
    let repo = dir.display();
    println!("\nnext:");
    if !dir.join(".git").exists() {
        println!(
            "  git -C {repo} init && git -C {repo} add -A && git -C {repo} commit -m 'patchwave fleet'"
        );
    }
    match (&local_host, &hosts_from) {
        (Some(host), _) => {
            println!("  patchwave windows --repo {repo}        # when the `weekly` window opens");
            println!(
                "  patchwave plan --repo {repo}           # what would change on {host} (this machine), and why"
            );
        }
        (None, Some(from)) => {
            println!(
                "  edit {repo}/{}: patchwave reads the hosts from it (its original is not read again)",
                from.path()
            );
            println!(
                "  patchwave plan --repo {repo}           # scans them over SSH and shows what would change"
            );
        }
        (None, None) => {
            println!("  edit {repo}/groups/servers.yaml: list your hosts");
            println!(
                "  patchwave plan --repo {repo}           # scans them over SSH and shows what would change"
            );
        }
    }
    Ok(Exit::Ok)
}

/// The host list to copy in, read from where the user keeps it.
fn hosts_file(args: &Args) -> Result<Option<HostsFile>, String> {
    let read = |path: &Path, flag: &str| {
        let bytes = std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
        String::from_utf8(bytes).map_err(|_| {
            format!(
                "{flag} {}: the file is not UTF-8 text\n  hint: save it as UTF-8",
                path.display()
            )
        })
    };
    if let Some(path) = &args.from_ansible {
        let text = read(path, "--from-ansible")?;
        // The copy's name says its format: a YAML inventory named `hosts`
        // becomes inventory/hosts.yaml.
        let yaml_extension = crate::spec::inventory::is_yaml_inventory(path, &text).then(|| {
            path.extension()
                .and_then(|x| x.to_str())
                .map(str::to_ascii_lowercase)
                .filter(|x| matches!(x.as_str(), "yml" | "json"))
                .unwrap_or_else(|| "yaml".into())
        });
        return Ok(Some(HostsFile::Ansible {
            text,
            yaml_extension,
            group: args.ansible_group.clone(),
        }));
    }
    if let Some(path) = &args.from_ssh_config {
        let text = read(path, "--from-ssh-config")?;
        return Ok(Some(HostsFile::SshConfig { text }));
    }
    Ok(None)
}

/// The directory's own name (of its absolute path, for `.`).
fn dir_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}
