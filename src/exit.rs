//! Exit codes, in one table (PRODUCT.md), so every command agrees.

use std::process::ExitCode;

/// What a command's outcome means to the shell or CI that ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; nothing wrong (for `plan`: no changes).
    Ok = 0,
    /// Invalid input or a failure; the message says what to do.
    Error = 1,
    /// `plan`: changes are pending. `propose`: something was proposed.
    Changes = 2,
    /// `apply`: the rollout halted (error budget exceeded).
    Halted = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
