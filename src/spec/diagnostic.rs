//! Problems found in a fleet repository, each pinned to `file:line:col`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::spanned::Pos;

/// How bad a finding is: errors make `validate` exit 1, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, in the `file:line:col: message` form editors and CI annotate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Path relative to the repository root, as the user would type it.
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, pos, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col`, the prefix every finding starts with (just the
    /// path for a finding about a whole directory, which has no line).
    pub fn location(&self) -> String {
        if self.line == 0 {
            return self.file.display().to_string();
        }
        format!("{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {level}: {}", self.location(), self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Where a resource came from: the file (relative to the repository) and the
/// position of its document. Shared by every diagnostic about that resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<Path>,
    /// Position of the document's `kind:` key, used when no finer span exists.
    pub pos: Pos,
}

impl Origin {
    pub fn error(&self, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(&self.file, pos, message)
    }

    pub fn warning(&self, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(&self.file, pos, message)
    }

    /// An error from a check whose text reads "problem; what to do": what follows
    /// the last "; " becomes the hint (the problem may quote values containing "; ").
    pub fn error_hinted(&self, pos: Pos, text: &str) -> Diagnostic {
        match text.rsplit_once("; ") {
            Some((message, hint)) => self.error(pos, message).with_hint(hint),
            None => self
                .error(pos, text)
                .with_hint("see `patchwave schema` for what this field accepts"),
        }
    }

    /// `file:line:col` of another position in the same file, for "first defined at".
    pub fn at(&self, pos: Pos) -> String {
        format!("{}:{}", self.file.display(), pos)
    }
}
