use std::process::ExitCode;

use clap::Parser;

/// mimalloc: parsing a large fleet's facts allocates millions of small
/// strings, on several threads; glibc's allocator is markedly slower at that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = patchwave::cli::Cli::parse();
    patchwave::cli::run(cli).into()
}
