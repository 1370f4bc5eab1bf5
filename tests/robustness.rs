//! Never a panic on any input: the loader and validator get mangled copies of
//! the example repository and arbitrary text, and must answer with diagnostics.

use std::fs;
use std::path::PathBuf;

use proptest::prelude::*;

use patchwave::spec;

mod support;
use support::policy;

fn example_files() -> Vec<(PathBuf, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/fleet");
    let mut out = Vec::new();
    for sub in ["", "groups", "baselines", "windows", "rollouts"] {
        for e in fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                let text = fs::read_to_string(&p).unwrap();
                out.push((p.strip_prefix(&root).unwrap().to_path_buf(), text));
            }
        }
    }
    out
}

/// Writes one YAML file into a fresh repository and checks it.
fn check_text(name: &str, text: &str) -> spec::Checked {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(name), text).unwrap();
    spec::check(tmp.path()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn mangled_example_files_never_panic(idx in 0usize..14, cut in 0usize..4000, insert in "[ -~\n\t]{0,12}") {
        let files = example_files();
        let (path, text) = &files[idx % files.len()];
        let cut = cut.min(text.len());
        let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let mangled = format!("{}{}{}", &text[..cut], insert, &text[cut..]);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let checked = check_text(&name, &mangled);
        for d in &checked.diagnostics {
            // Every finding has a position, but the one about the whole
            // repository (no resource at all), which names the directory.
            let whole = d.line == 0 && d.file == std::path::Path::new(".");
            prop_assert!(whole || (d.line >= 1 && d.col >= 1), "{d}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let checked = check_text("x.yaml", &format!("apiVersion: patchwave.dev/v1\n{text}"));
        prop_assert!(checked
            .diagnostics
            .iter()
            .all(|d| d.line >= 1 || (d.line == 0 && d.file == std::path::Path::new("."))));
    }
}

const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
];

fn window_repo(
    schedule: &str,
    tz: &str,
    duration: &str,
    cutoff: &str,
    offset: i64,
    deny: &str,
) -> String {
    format!(
        "apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata: {{name: w}}
spec:
  schedule: \"{schedule}\"
  timezone: {tz}
  duration: {duration}
  cutoff: {cutoff}
  offsetDays: {offset}
---
apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata: {{name: d}}
spec:
  kind: deny
  schedule: \"{deny}\"
  timezone: {tz}
  duration: 3h
---
{base}---
apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: g}}
spec: {{baseline: b, rollout: r, windows: [w], hosts: [{{name: h1}}]}}
",
        base = policy::BASELINE_AND_ROLLOUT
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Openings are ordered, never end before they start, and `status` agrees
    /// with them, whatever the schedule, zone (DST, half-hour DST) and offset.
    #[test]
    fn windows_are_well_formed_in_every_zone(
        minute in prop::sample::select(vec!["0", "30", "45", "*/20", "59"]),
        hour in prop::sample::select(vec!["0", "1", "2", "3", "22", "*/6", "1-3"]),
        dom in prop::sample::select(vec!["*", "1", "15", "L", "28"]),
        month in prop::sample::select(vec!["*", "3", "10", "3,10,11"]),
        dow in prop::sample::select(vec!["*", "SUN", "TUE#2", "FRIL", "MON-FRI"]),
        zone in 0usize..ZONES.len(),
        duration in prop::sample::select(vec!["30m", "1h", "2h", "1d", "2d"]),
        cutoff in prop::sample::select(vec!["0s", "10m", "25m"]),
        offset in -40i64..40,
        deny in prop::sample::select(vec!["0 2 * * SUN", "0 0 1 * *", "30 1 * * *"]),
        from_day in 0i64..700,
    ) {
        let schedule = format!("{minute} {hour} {dom} {month} {dow}");
        let tmp = tempfile::tempdir().unwrap();
        fs::write(
            tmp.path().join("repo.yaml"),
            window_repo(&schedule, ZONES[zone], duration, cutoff, offset, deny),
        ).unwrap();
        let checked = spec::check(tmp.path()).unwrap();
        prop_assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let cal = patchwave::schedule::Calendar::build(&checked.repo);
        let from = jiff::Timestamp::from_second(1_767_225_600 + from_day * 86_400).unwrap();
        let ops = cal.openings("g", from, 12);
        prop_assert!(!ops.is_empty());
        for o in &ops {
            prop_assert!(o.start < o.end, "{} !< {}", o.start, o.end);
            prop_assert!(o.last_start <= o.end);
            prop_assert!(o.end.timestamp() > from);
            for (a, b) in &o.usable {
                prop_assert!(a < b && *a >= o.start.timestamp() && *b <= o.last_start.timestamp());
            }
        }
        for pair in ops.windows(2) {
            prop_assert!(pair[0].start.timestamp() <= pair[1].start.timestamp());
        }
        for o in &ops {
            for (a, b) in &o.usable {
                match cal.status("g", *a) {
                    patchwave::schedule::WindowStatus::Open { start_until, .. } => {
                        prop_assert!(start_until >= *b && start_until > *a);
                    }
                    other => prop_assert!(false, "usable at {a} but status is {other:?}"),
                }
            }
        }
    }
}
