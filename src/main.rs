use std::process::ExitCode;

use clap::Parser;

/// mimalloc: parsing a large fleet's facts allocates millions of small
/// strings, on several threads; glibc's allocator is markedly slower at that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A usage error exits 1, never clap's 2: 2 means "the plan has changes",
    // and CI must not take a typo for a plan. --help and --version exit 0.
    let cli = match patchwave::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                patchwave::Exit::Error.into()
            } else {
                patchwave::Exit::Ok.into()
            };
        }
    };
    patchwave::cli::run(cli).into()
}
