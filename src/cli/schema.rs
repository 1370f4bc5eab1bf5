//! `patchwave schema`: print (or write) the JSON Schema of the resource
//! kinds, and of the JSON that patchwave prints (plan, facts, validation,
//! events, report).

use std::path::PathBuf;

use super::output::print;
use crate::exit::Exit;
use crate::output_schema::{OutputKind, output_schema, output_schema_files};
use crate::spec::Kind;
use crate::spec::schema::{combined_schema, kind_schema, schema_files};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this kind: a resource kind (e.g. HostGroup), or an output (Plan,
    /// Facts, Validation, Event, Report); default: one schema accepting
    /// every resource kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// Write every resource schema into this directory instead (how
    /// policy-schema/ is made); with `--outputs`, every output schema (how
    /// output-schema/ is made).
    #[arg(long, value_name = "DIR", conflicts_with = "kind")]
    pub write: Option<PathBuf>,
    /// With `--write`: the output schemas instead of the resource kinds.
    #[arg(long, requires = "write")]
    pub outputs: bool,
}

pub fn run(args: &Args) -> Exit {
    if let Some(dir) = &args.write {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create {}: {e}", dir.display());
            return Exit::Error;
        }
        let files = if args.outputs {
            output_schema_files()
        } else {
            schema_files()
        };
        for (name, text) in files {
            let path = dir.join(&name);
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return Exit::Error;
            }
            println!("wrote {}", path.display());
        }
        return Exit::Ok;
    }
    let value = match &args.kind {
        None => combined_schema(),
        Some(k) => match (Kind::parse(k), OutputKind::parse(k)) {
            (Some(kind), _) => kind_schema(kind),
            (None, Some(output)) => output_schema(output),
            (None, None) => {
                let outputs: Vec<_> = OutputKind::ALL.iter().map(|o| o.as_str()).collect();
                eprintln!(
                    "error: unknown kind `{k}`\n  hint: resource kinds are {}; outputs are {}",
                    Kind::list(),
                    outputs.join(", ")
                );
                return Exit::Error;
            }
        },
    };
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
    if print(&text) { Exit::Ok } else { Exit::Error }
}
