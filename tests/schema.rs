//! The JSON Schema committed in policy-schema/ is what the types generate,
//! the example repository validates against it, and editors are pointed at it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use patchwave::spec::schema::{ALL_FILE, combined_schema, schema_files};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_schemas_are_up_to_date() {
    let dir = root().join("policy-schema");
    let generated = schema_files();
    for (name, text) in &generated {
        let committed = fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            committed == *text,
            "policy-schema/{name} is stale: run `cargo run -- schema --write policy-schema` and commit it"
        );
    }
    let on_disk = fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        on_disk,
        generated.len(),
        "policy-schema/ holds files the generator does not make"
    );
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.') {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

fn documents(path: &Path) -> Vec<serde_json::Value> {
    let text = fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<serde_json::Value>(&text).unwrap()
}

#[test]
fn example_files_point_editors_at_their_schema_and_match_it() {
    let mut files = Vec::new();
    yaml_files(&root().join("examples/fleet"), &mut files);
    assert!(files.len() >= 10);
    let all = jsonschema::validator_for(&combined_schema()).unwrap();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap();
        let rel = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| {
                panic!("{} does not start with the $schema comment", file.display())
            });
        let schema_path = file.parent().unwrap().join(rel);
        let schema: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&schema_path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        for doc in documents(&file) {
            let kind = doc["kind"].as_str().unwrap();
            assert!(
                rel.ends_with(&format!("{kind}.json")),
                "{}: schema {rel} for a {kind}",
                file.display()
            );
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
            assert!(all.is_valid(&doc), "{} fails {ALL_FILE}", file.display());
        }
    }
}

#[test]
fn schema_rejects_what_the_loader_rejects() {
    let all = jsonschema::validator_for(&combined_schema()).unwrap();
    for bad in [
        "unknown-key.yaml",
        "bad-enum.yaml",
        "secret-inline.yaml",
        "unknown-kind.yaml",
        "missing-field.yaml",
    ] {
        let docs = documents(&root().join("testdata/invalid").join(bad));
        assert!(
            docs.iter().any(|d| !all.is_valid(d)),
            "{bad} passes the schema"
        );
    }
}

#[test]
fn schema_command_prints_the_committed_schemas() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let read = |name: &str| {
        serde_json::from_str::<serde_json::Value>(
            &fs::read_to_string(root().join("policy-schema").join(name)).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(run(&["schema"]), read(ALL_FILE));
    assert_eq!(
        run(&["schema", "--kind", "HostGroup"]),
        read("HostGroup.json")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .args(["schema", "--kind", "Nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
