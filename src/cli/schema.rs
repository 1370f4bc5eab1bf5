//! `patchwave schema`: print (or write) the JSON Schema of the resource kinds.

use std::path::PathBuf;

use super::output::print;
use crate::exit::Exit;
use crate::spec::Kind;
use crate::spec::schema::{combined_schema, kind_schema, schema_files};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this kind (e.g. HostGroup); default: one schema accepting every kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// Write every schema file into this directory instead (how policy-schema/ is made).
    #[arg(long, value_name = "DIR", conflicts_with = "kind")]
    pub write: Option<PathBuf>,
}

pub fn run(args: &Args) -> Exit {
    if let Some(dir) = &args.write {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create {}: {e}", dir.display());
            return Exit::Error;
        }
        for (name, text) in schema_files() {
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
        Some(k) => match Kind::parse(k) {
            Some(kind) => kind_schema(kind),
            None => {
                eprintln!(
                    "error: unknown kind `{k}`\n  hint: kinds are {}",
                    Kind::list()
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
