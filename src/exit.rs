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
    /// `apply` (and `plan --fail-on-unknown`): a targeted host could not be
    /// reached or scanned, so it was not patched (or not planned); never
    /// success, but not a halt either: the other hosts went ahead.
    Incomplete = 4,
}

impl Exit {
    /// The more serious of two outcomes, for a command that runs several
    /// parts (groups): an error beats a halt, a halt beats unreached hosts,
    /// and those beat success.
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok | Exit::Changes => 0,
            Exit::Incomplete => 1,
            Exit::Halted => 2,
            Exit::Error => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// The word the daemon's metrics use for a reconcile that ended so.
    pub fn result_word(self) -> &'static str {
        match self {
            Exit::Ok | Exit::Changes => "ok",
            Exit::Incomplete => "incomplete",
            Exit::Halted => "halted",
            Exit::Error => "error",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
