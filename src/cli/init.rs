//! `patchwave init [DIR] [--local]`: writes a first fleet repository and
//! validates it at once (exit 0 when valid, 1 otherwise). Never overwrites:
//! when any file it would write exists, it writes nothing and names them.

use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::init::{Options, fleet_name, local_host_name, scaffold};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write it (created if missing; default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// A group of this machine alone (`transport: local`), so `scan` and
    /// `plan` work with no other host.
    #[arg(long)]
    pub local: bool,
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
    let files = scaffold(&Options {
        fleet: fleet.clone(),
        local_host: local_host.clone(),
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
    let repo = dir.display();
    println!("\nnext:");
    if !dir.join(".git").exists() {
        println!(
            "  git -C {repo} init && git -C {repo} add -A && git -C {repo} commit -m 'patchwave fleet'"
        );
    }
    match &local_host {
        Some(host) => {
            println!("  patchwave windows --repo {repo}        # when the `weekly` window opens");
            println!(
                "  patchwave plan --repo {repo}           # what would change on {host} (this machine), and why"
            );
        }
        None => {
            println!("  edit {repo}/groups/servers.yaml: list your hosts");
            println!(
                "  patchwave plan --repo {repo}           # scans them over SSH and shows what would change"
            );
        }
    }
    Ok(Exit::Ok)
}

/// The directory's own name (of its absolute path, for `.`).
fn dir_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}
