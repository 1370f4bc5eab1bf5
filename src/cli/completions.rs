//! `patchwave completions SHELL` and `patchwave man`: shell completion
//! scripts and manual pages, generated from the command line itself
//! (clap_complete, clap_mangen), so they never drift from `--help`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;
use super::output::print;
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write patchwave.1 and a page per command (patchwave-plan.1 and so on) into
    /// this directory instead of printing patchwave.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`.
pub fn completions(args: &CompletionsArgs) -> Exit {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "patchwave", &mut script);
    match String::from_utf8(script) {
        Ok(text) if print(&text) => Exit::Ok,
        Ok(_) => Exit::Error,
        Err(e) => {
            eprintln!(
                "error: the {} completion script is not UTF-8: {e}",
                args.shell
            );
            Exit::Error
        }
    }
}

/// The manual page of `cmd`, dated with the commit the binary was built
/// from. The footer names the package version only: with the commit it runs
/// into the date on an 80-column terminal (`--version` names the commit).
fn page(cmd: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd)
        .source(concat!("patchwave ", env!("CARGO_PKG_VERSION")))
        .date(env!("PATCHWAVE_COMMIT_DATE"))
        .manual("patchwave manual")
}

/// The command line as the manual documents it: NAME says what patchwave is
/// (the package description) rather than `--help`'s first line, and there is
/// no `help` command (it would list a patchwave-help(1) that is not shipped).
fn documented() -> clap::Command {
    Cli::command()
        .about(env!("CARGO_PKG_DESCRIPTION"))
        .disable_help_subcommand(true)
}

/// Prints patchwave.1, or writes every page into `--out-dir`.
pub fn man(args: &ManArgs) -> Exit {
    let Some(dir) = &args.out_dir else {
        let mut roff = Vec::new();
        if let Err(e) = page(documented()).render(&mut roff) {
            eprintln!("error: cannot render the manual page: {e}");
            return Exit::Error;
        }
        return if print(&String::from_utf8_lossy(&roff)) {
            Exit::Ok
        } else {
            Exit::Error
        };
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return Exit::Error;
    }
    // Built, subcommands are named `patchwave-plan` etc., as their pages.
    let mut cmd = documented();
    cmd.build();
    match write_pages(cmd, dir) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!(
                "error: cannot write manual pages into {}: {e}",
                dir.display()
            );
            Exit::Error
        }
    }
}

/// Writes the page of `cmd` and of each visible subcommand, printing each path.
fn write_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir)?;
    }
    let path = page(cmd).generate_to(dir)?;
    println!("wrote {}", path.display());
    Ok(())
}
