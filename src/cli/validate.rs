//! `patchwave validate`: exit 0 when the repository is valid, 1 otherwise.

use super::output::print;
use super::style::Style;
use super::{Format, RepoArgs};
use crate::exit::Exit;
use crate::spec::validation::{VALIDATION_VERSION, ValidationReport};
use crate::spec::{self, Diagnostic, Severity};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// With a remote `--repo` URL: the branch to check (its newest commit).
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// text, json or github (annotations).
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: &Args) -> Exit {
    let root = match super::readable_repo(&args.repo.repo, &args.branch, None) {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    // Named as given, without any credentials a URL carries.
    let shown = crate::source::redact(&args.repo.repo.to_string_lossy());
    let checked = match spec::check(&root) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: cannot read fleet repository {}: {e}\n  hint: pass --repo with the directory that holds the YAML",
                shown
            );
            return Exit::Error;
        }
    };
    let errors = checked.errors().count();
    let warnings = checked.diagnostics.len() - errors;
    let text = match args.format {
        Format::Json => {
            let doc = ValidationReport {
                version: VALIDATION_VERSION,
                repo: &shown,
                files: checked.repo.files,
                resources: checked.repo.resource_count(),
                errors,
                warnings,
                diagnostics: &checked.diagnostics,
            };
            format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )
        }
        Format::Github => checked
            .diagnostics
            .iter()
            .map(|d| format!("{}\n", github_annotation(d)))
            .collect(),
        Format::Text => {
            let st = Style::for_stdout();
            let mut text: String = checked
                .diagnostics
                .iter()
                .map(|d| format!("{}\n", render(d, &st)))
                .collect();
            let summary = format!(
                "{}: {} resources in {} files: {errors} error{}, {warnings} warning{}",
                shown,
                checked.repo.resource_count(),
                checked.repo.files,
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" },
            );
            let summary = if errors > 0 {
                st.red(&summary)
            } else {
                st.green(&summary)
            };
            text.push_str(&summary);
            text.push('\n');
            text
        }
    };
    if !print(&text) || errors > 0 {
        Exit::Error
    } else {
        Exit::Ok
    }
}

fn render(d: &Diagnostic, st: &Style) -> String {
    let level = match d.severity {
        Severity::Error => st.red("error"),
        Severity::Warning => st.yellow("warning"),
    };
    let mut s = format!("{}: {level}: {}", st.bold(&d.location()), d.message);
    if let Some(h) = &d.hint {
        s.push_str(&format!("\n  {} {h}", st.dim("hint:")));
    }
    s
}

/// `::error file=…,line=…,col=…::message`, escaped as the Actions runner expects.
fn github_annotation(d: &Diagnostic) -> String {
    let esc = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let prop = |s: &str| esc(s).replace(':', "%3A").replace(',', "%2C");
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut msg = d.message.clone();
    if let Some(h) = &d.hint {
        msg.push_str(&format!("\nhint: {h}"));
    }
    // A finding about the whole repository has no line: no file either.
    if d.line == 0 {
        return format!("::{level} title=patchwave validate::{}", esc(&msg));
    }
    format!(
        "::{level} file={},line={},col={},title=patchwave validate::{}",
        prop(&d.file.display().to_string()),
        d.line,
        d.col,
        esc(&msg)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Pos;
    use std::path::Path;

    #[test]
    fn github_annotations_escape_properties_and_newlines() {
        let d =
            Diagnostic::error(Path::new("a,b:c.yaml"), Pos::new(3, 7), "bad 100%").with_hint("fix");
        assert_eq!(
            github_annotation(&d),
            "::error file=a%2Cb%3Ac.yaml,line=3,col=7,title=patchwave validate::bad 100%25%0Ahint: fix"
        );
    }
}
