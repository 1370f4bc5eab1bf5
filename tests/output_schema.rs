//! The published schemas of patchwave's JSON output (`output-schema/`,
//! `patchwave schema --kind Plan` …): up to date, camelCase throughout, and
//! matched by real output. Events and the report are held against them where
//! a real apply produces them (tests/apply.rs), facts where real hosts are
//! scanned (tests/scan.rs).

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::output_schema::{assert_valid, closed_schema};

const KINDS: [&str; 6] = ["Plan", "Facts", "Validation", "Event", "Report", "Cves"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = support::patchwave().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn committed_output_schemas_are_what_the_command_writes() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let (code, _, err) = run(&["schema", "--outputs", "--write", dir_arg]);
    assert_eq!(code, Some(0), "{err}");
    for kind in KINDS {
        let file = format!("{kind}.json");
        let written = std::fs::read_to_string(dir.path().join(&file)).unwrap();
        let committed =
            std::fs::read_to_string(root().join("output-schema").join(&file)).unwrap_or_default();
        assert!(
            written == committed,
            "output-schema/{file} is out of date; run `cargo run -- schema --outputs --write output-schema`"
        );
        // `schema --kind` prints the same schema, by kind or by command name.
        let (code, printed, err) = run(&["schema", "--kind", kind]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(printed, written, "schema --kind {kind}");
    }
    let (_, by_command, _) = run(&["schema", "--kind", "scan"]);
    let (_, facts, _) = run(&["schema", "--kind", "Facts"]);
    assert_eq!(by_command, facts);
    let (code, _, err) = run(&["schema", "--kind", "Plans"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("unknown kind `Plans`") && err.contains("outputs are Plan, Facts"),
        "{err}"
    );
}

/// Every property name an output schema declares, with where.
fn property_names(schema: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match schema {
        Value::Object(obj) => {
            for (key, value) in obj {
                if key == "properties"
                    && let Some(props) = value.as_object()
                {
                    for (name, sub) in props {
                        out.push((name.clone(), at.to_string()));
                        property_names(sub, &format!("{at}.{name}"), out);
                    }
                } else {
                    property_names(value, &format!("{at}/{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                property_names(item, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_field_of_every_output_is_camel_case() {
    let camel = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_alphanumeric())
    };
    let mut checked = 0;
    for kind in KINDS {
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("output-schema").join(format!("{kind}.json")))
                .unwrap(),
        )
        .unwrap();
        let mut names = Vec::new();
        property_names(&schema, kind, &mut names);
        let bad: Vec<_> = names.iter().filter(|(n, _)| !camel(n)).collect();
        assert!(bad.is_empty(), "not camelCase: {bad:?}");
        checked += names.len();
    }
    // The walk saw the schemas' fields (the plan alone has dozens).
    assert!(checked > 150, "only {checked} properties found");
}

fn plan_json(repo: &Path, facts: &Path, at: &str) -> Value {
    let (code, out, err) = run(&[
        "plan",
        "--repo",
        repo.to_str().unwrap(),
        "--facts",
        facts.to_str().unwrap(),
        "--at",
        at,
        "-o",
        "json",
    ]);
    assert!(matches!(code, Some(0 | 2)), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Every decision of a plan, wherever it is listed.
fn decisions(plan: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for g in plan["groups"].as_array().unwrap() {
        let hosts = g["waves"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w["hosts"].as_array().unwrap())
            .chain(g["unchanged"].as_array().unwrap());
        for h in hosts {
            for list in ["install", "withheld"] {
                for c in h[list].as_array().into_iter().flatten() {
                    out.push(&c["decision"]);
                }
            }
        }
    }
    out
}

#[test]
fn the_example_plan_matches_the_schema_and_names_its_rules_as_fields() {
    let plan = plan_json(
        &root().join("examples/fleet"),
        &root().join("examples/facts.json"),
        "2026-12-02T09:30:00Z",
    );
    assert_valid("Plan", &plan);
    let decisions = decisions(&plan);
    assert!(decisions.len() > 10, "{plan}");
    // An approval names its rule as a field, not only inside the reason.
    let by_rule = decisions
        .iter()
        .find(|d| d["state"] == "APPROVED")
        .expect("an approved update");
    assert_eq!(by_rule["basis"]["kind"], "rule", "{by_rule}");
    let rule = by_rule["basis"]["rule"].as_str().unwrap();
    assert!(
        by_rule["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("rule `{rule}`")),
        "{by_rule}"
    );
    assert!(by_rule.get("withheld").is_none(), "{by_rule}");
    // Everything withheld says why as a kind, and only those do.
    for d in &decisions {
        let installs = matches!(
            d["state"].as_str().unwrap(),
            "APPROVED" | "EXPLICIT_APPROVED"
        );
        assert_eq!(d.get("withheld").is_none(), installs, "{d}");
    }
    let pending = decisions
        .iter()
        .find(|d| d["withheld"] == "tooNew")
        .expect("an update a rule approves later");
    assert_eq!(pending["state"], "PENDING_APPROVAL", "{pending}");
    assert!(pending["approvedOn"].is_string(), "{pending}");
}

#[test]
fn a_promotion_wait_is_a_field_with_the_stage_and_when() {
    let dir = tempfile::tempdir().unwrap();
    let group = |name: &str, baseline: &str, address: &str| {
        format!(
            "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {{name: {name}}}\nspec:\n  stage: {name}\n  baseline: {baseline}\n  rollout: r\n  windows: [w]\n  hosts: [{{name: {name}-1, address: {address}}}]\n"
        )
    };
    std::fs::write(
        dir.path().join("fleet.yaml"),
        support::policy::stream(&[
            &group("staging", "b", "127.0.9.96"),
            &group("prod", "b-prod", "127.0.9.97"),
            support::policy::BASELINE_AND_ROLLOUT,
            "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: b-prod}\nspec:\n  approvalRules:\n    - {name: everything}\n  promotion: {from: staging, after: 2d}\n",
            support::policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
    let facts = |host: &str, group: &str| {
        serde_json::json!({
            "host": host, "group": group, "address": "127.0.9.96", "transport": "ssh",
            "scannedAt": "2026-12-02T09:00:00Z", "durationMs": 5, "state": "scanned",
            "facts": {
                "os": {"id": "debian", "versionId": "12"}, "packageManager": "apt",
                "kernel": "6.1.0", "bootId": "b", "rebootRequired": false,
                "installed": [{"name": "pw-app", "arch": "all", "version": "1.0-1"}],
                "updates": [{"name": "pw-app", "arch": "all", "installedVersion": "1.0-1",
                    "candidateVersion": "1.1-1", "repository": "stable", "classification": "security",
                    "severity": "important"}]
            }
        })
    };
    let facts_file = dir.path().join("facts.json");
    let doc = serde_json::json!({"version": 1, "hosts": [facts("staging-1", "staging"), facts("prod-1", "prod")]});
    assert_valid("Facts", &doc);
    std::fs::write(&facts_file, doc.to_string()).unwrap();
    let plan = plan_json(dir.path(), &facts_file, "2026-12-02T10:00:00Z");
    assert_valid("Plan", &plan);
    let prod = plan["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "prod")
        .unwrap();
    let d = &prod["unchanged"][0]["withheld"][0]["decision"];
    assert_eq!(d["state"], "PENDING_APPROVAL", "{prod}");
    assert_eq!(d["withheld"], "waitingForPromotion", "{d}");
    assert_eq!(d["basis"]["rule"], "everything", "{d}");
    assert_eq!(d["promotion"]["from"], "staging", "{d}");
    assert_eq!(d["promotion"]["promoted"], false, "{d}");
    assert!(d["promotion"].get("until").is_none(), "{d}");
}

#[test]
fn bundled_and_local_facts_match_the_schema() {
    let bundled: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("examples/facts.json")).unwrap())
            .unwrap();
    assert_valid("Facts", &bundled);
    // This machine's own facts, scanned for real (`transport: local`)
    // without refreshing its package lists.
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fleet.yaml"),
        support::policy::stream(&[
            "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  transport: local\n  hosts: [{name: this-machine, address: localhost}]\n",
            support::policy::BASELINE_AND_ROLLOUT,
            support::policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
    let (code, out, err) = run(&[
        "scan",
        "--refresh",
        "never",
        "--format",
        "json",
        "--repo",
        dir.path().to_str().unwrap(),
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let local: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(local["hosts"][0]["state"], "scanned", "{local}");
    assert!(
        local["hosts"][0]["facts"]["installed"]
            .as_array()
            .unwrap()
            .len()
            > 50,
        "{local}"
    );
    assert_valid("Facts", &local);
}

#[test]
fn validate_output_matches_the_schema_with_and_without_errors() {
    let (code, out, err) = run(&[
        "validate",
        "--format",
        "json",
        "--repo",
        root().join("examples/fleet").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let clean: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(clean["errors"], 0, "{clean}");
    assert_valid("Validation", &clean);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fleet.yaml"),
        "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\nspec:\n  baseline: nowhere\n  rollout: r\n  windows: [w]\n  hosts: [{name: h, address: 127.0.9.96}]\n",
    )
    .unwrap();
    let (code, out, err) = run(&[
        "validate",
        "--format",
        "json",
        "--repo",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    let broken: Value = serde_json::from_str(&out).unwrap();
    assert!(broken["errors"].as_u64().unwrap() >= 1, "{broken}");
    let first = &broken["diagnostics"][0];
    assert!(
        first["file"].as_str().unwrap().ends_with("fleet.yaml"),
        "{broken}"
    );
    assert!(first["line"].as_u64().unwrap() >= 1, "{broken}");
    assert_valid("Validation", &broken);
}

#[test]
fn the_closed_schemas_refuse_an_undeclared_field() {
    // The check the other tests rely on: a field the schema does not
    // declare fails, at any depth, in every output.
    let mut plan = plan_json(
        &root().join("examples/fleet"),
        &root().join("examples/facts.json"),
        "2026-12-02T09:30:00Z",
    );
    let validator = jsonschema::validator_for(&closed_schema("Plan")).unwrap();
    assert!(validator.is_valid(&plan));
    let host = plan["groups"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .flat_map(|g| g["waves"].as_array_mut().unwrap())
        .flat_map(|w| w["hosts"].as_array_mut().unwrap())
        .next()
        .expect("a host to change");
    host["compliance"]["installed_rejected"] = Value::from(1);
    assert!(!validator.is_valid(&plan));
    let event = serde_json::json!({
        "event": "suspended", "group": "g", "ts": "2026-12-02T09:30:00Z", "level": "info",
        "run": null, "host": null, "state": null,
    });
    let validator = jsonschema::validator_for(&closed_schema("Event")).unwrap();
    assert!(validator.is_valid(&event));
    let mut extra = event.clone();
    extra["hostsToChange"] = Value::from(1);
    assert!(!validator.is_valid(&extra));
}
