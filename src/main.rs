use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = patchwave::cli::Cli::parse();
    patchwave::cli::run(cli).into()
}
