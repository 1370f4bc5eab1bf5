//! Maintenance windows on the example repository and on small repositories
//! built here: exact instants, DST, change freezes, cutoffs.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use jiff::Timestamp;
use patchwave::schedule::{Calendar, WindowStatus};
use patchwave::spec;

mod support;
use support::policy;

fn example_calendar() -> Calendar {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/fleet");
    let checked = spec::check(&root).unwrap();
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    Calendar::build(&checked.repo)
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// (local start, UTC start, UTC end) of the next `n` openings.
fn openings(cal: &Calendar, group: &str, from: &str, n: usize) -> Vec<(String, String, String)> {
    cal.openings(group, ts(from), n)
        .into_iter()
        .map(|o| {
            (
                o.start.to_string(),
                o.start.timestamp().to_string(),
                o.end.timestamp().to_string(),
            )
        })
        .collect()
}

#[test]
fn patch_tuesday_plus_two_opens_on_the_thursday() {
    let cal = example_calendar();
    // December 2026: the second Tuesday is the 8th, so the window opens on the 10th.
    let got = openings(&cal, "db-prod", "2026-12-01T00:00:00Z", 3);
    assert_eq!(
        got,
        vec![
            (
                "2026-12-10T22:00:00+01:00[Europe/Berlin]".into(),
                "2026-12-10T21:00:00Z".into(),
                "2026-12-11T01:00:00Z".into()
            ),
            // 2027-01-12 is the second Tuesday; the 14th is after the freeze.
            (
                "2027-01-14T22:00:00+01:00[Europe/Berlin]".into(),
                "2027-01-14T21:00:00Z".into(),
                "2027-01-15T01:00:00Z".into()
            ),
            (
                "2027-02-11T22:00:00+01:00[Europe/Berlin]".into(),
                "2027-02-11T21:00:00Z".into(),
                "2027-02-12T01:00:00Z".into()
            ),
        ]
    );
}

#[test]
fn offsets_cross_month_ends() {
    // September 2026: second Tuesday is the 8th; +2 = 10th. November: 10th -> 12th.
    let cal = example_calendar();
    let got = openings(&cal, "db-prod", "2026-09-01T00:00:00Z", 3);
    let starts: Vec<&str> = got.iter().map(|g| g.1.as_str()).collect();
    assert_eq!(
        starts,
        [
            "2026-09-10T20:00:00Z",
            "2026-10-15T20:00:00Z",
            "2026-11-12T21:00:00Z"
        ]
    );
}

#[test]
fn weekly_window_keeps_wall_clock_time_across_dst() {
    let cal = example_calendar();
    // Clocks go back on 2026-10-25 03:00 CEST -> 02:00 CET.
    let got = openings(&cal, "web-prod", "2026-10-17T00:00:00Z", 3);
    assert_eq!(
        got,
        vec![
            (
                "2026-10-17T22:00:00+02:00[Europe/Berlin]".into(),
                "2026-10-17T20:00:00Z".into(),
                "2026-10-18T02:00:00Z".into()
            ),
            // Opens in summer time, closes at 04:00 winter time: 7 hours on the clock night.
            (
                "2026-10-24T22:00:00+02:00[Europe/Berlin]".into(),
                "2026-10-24T20:00:00Z".into(),
                "2026-10-25T03:00:00Z".into()
            ),
            (
                "2026-10-31T22:00:00+01:00[Europe/Berlin]".into(),
                "2026-10-31T21:00:00Z".into(),
                "2026-11-01T03:00:00Z".into()
            ),
        ]
    );
    // Clocks go forward on 2026-03-29 02:00 CET -> 03:00 CEST: 22:00-04:00 is 5 hours.
    let got = openings(&cal, "web-prod", "2026-03-28T00:00:00Z", 2);
    assert_eq!(got[0].1, "2026-03-28T21:00:00Z");
    assert_eq!(got[0].2, "2026-03-29T02:00:00Z");
    assert_eq!(got[1].0, "2026-04-04T22:00:00+02:00[Europe/Berlin]");
    assert_eq!(got[1].1, "2026-04-04T20:00:00Z");
}

#[test]
fn change_freeze_suppresses_openings_inside_it() {
    let cal = example_calendar();
    let ops = cal.openings("web-prod", ts("2026-12-19T00:00:00Z"), 5);
    let summary: Vec<(String, bool, Vec<&str>)> = ops
        .iter()
        .map(|o| {
            (
                o.start.timestamp().to_string(),
                o.is_blocked(),
                o.blocked_by(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("2026-12-19T21:00:00Z".into(), false, vec![]),
            ("2026-12-26T21:00:00Z".into(), true, vec!["change-freeze"]),
            ("2027-01-02T21:00:00Z".into(), true, vec!["change-freeze"]),
            ("2027-01-09T21:00:00Z".into(), false, vec![]),
            ("2027-01-14T21:00:00Z".into(), false, vec![]),
        ]
    );
    // The Saturday before the freeze is cut short at midnight Berlin time.
    assert_eq!(
        ops[0].usable,
        vec![(ts("2026-12-19T21:00:00Z"), ts("2026-12-19T23:00:00Z"))]
    );
    // Staging is not selected by the freeze (env: prod only).
    let staging = cal.openings("staging", ts("2026-12-20T00:00:00Z"), 2);
    assert!(staging.iter().all(|o| !o.is_blocked()));
    assert_eq!(staging[0].start.timestamp(), ts("2026-12-23T08:00:00Z"));
}

#[test]
fn status_answers_open_until_cutoff_denied_and_closed() {
    let cal = example_calendar();
    assert_eq!(
        cal.status("db-prod", ts("2026-12-10T21:30:00Z")),
        WindowStatus::Open {
            window: "patch-tuesday-plus-2".into(),
            start_until: ts("2026-12-11T00:00:00Z"),
            closes_at: ts("2026-12-11T01:00:00Z"),
        }
    );
    // Inside the window but past its cutoff: no new host may start.
    assert_eq!(
        cal.status("db-prod", ts("2026-12-11T00:30:00Z")),
        WindowStatus::Closed {
            next_start: Some(ts("2027-01-14T21:00:00Z"))
        }
    );
    // The weekend window of 26 December falls in the freeze.
    assert_eq!(
        cal.status("web-prod", ts("2026-12-26T22:00:00Z")),
        WindowStatus::Denied {
            deny_window: "change-freeze".into(),
            until: ts("2027-01-03T23:00:00Z"),
            next_start: Some(ts("2027-01-09T21:00:00Z")),
        }
    );
    // The freeze cuts the 19 December window short at 23:00Z.
    assert_eq!(
        cal.status("web-prod", ts("2026-12-19T22:00:00Z")),
        WindowStatus::Open {
            window: "weekend-night".into(),
            start_until: ts("2026-12-19T23:00:00Z"),
            closes_at: ts("2026-12-20T03:00:00Z"),
        }
    );
    assert!(!cal.status("web-prod", ts("2026-12-19T23:00:00Z")).is_open());
    assert_eq!(
        cal.status("staging", ts("2026-12-01T12:00:00Z")),
        WindowStatus::Closed {
            next_start: Some(ts("2026-12-02T08:00:00Z"))
        }
    );
}

/// A one-window repository in a temp dir, for schedules the example lacks.
fn single_window_calendar(window_spec: &str) -> (tempfile::TempDir, Calendar) {
    let window = format!(
        "---\napiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {{name: w}}\nspec:\n{window_spec}"
    );
    calendar_of(&window, "w")
}

#[test]
fn a_start_in_the_spring_gap_moves_forward_and_a_fold_takes_the_first() {
    let (_t, cal) = single_window_calendar(
        "  schedule: \"30 2 * * *\"\n  timezone: Europe/Berlin\n  duration: 1h\n",
    );
    // 02:30 does not exist on 2026-03-29: the window opens at 03:30 CEST.
    let got = openings(&cal, "g", "2026-03-28T12:00:00Z", 2);
    assert_eq!(got[0].0, "2026-03-29T03:30:00+02:00[Europe/Berlin]");
    assert_eq!(got[0].1, "2026-03-29T01:30:00Z");
    // It still lasts its full hour.
    assert_eq!(got[0].2, "2026-03-29T02:30:00Z");
    // 02:30 happens twice on 2026-10-25: the first (CEST) is used, once.
    let got = openings(&cal, "g", "2026-10-24T12:00:00Z", 2);
    assert_eq!(got[0].1, "2026-10-25T00:30:00Z");
    assert_eq!(got[1].1, "2026-10-26T01:30:00Z");
}

#[test]
fn last_day_of_month_start_and_end_dates() {
    let (_t, cal) = single_window_calendar(
        "  schedule: \"0 20 L * *\"\n  timezone: America/New_York\n  duration: 2h\n  startDate: 2027-02-01\n  endDate: 2027-04-30\n",
    );
    let got = openings(&cal, "g", "2026-01-01T00:00:00Z", 10);
    let starts: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        starts,
        [
            "2027-02-28T20:00:00-05:00[America/New_York]",
            "2027-03-31T20:00:00-04:00[America/New_York]",
            "2027-04-30T20:00:00-04:00[America/New_York]",
        ]
    );
}

#[test]
fn large_negative_and_positive_offsets() {
    // Patch Tuesday - 3 (the Saturday before) and + 20 (crosses into the next month).
    let (_t, cal) =
        single_window_calendar("  schedule: \"0 6 * * TUE#2\"\n  offsetDays: -3\n  duration: 1h\n");
    assert_eq!(
        openings(&cal, "g", "2026-12-01T00:00:00Z", 1)[0].1,
        "2026-12-05T06:00:00Z"
    );
    let (_t, cal) =
        single_window_calendar("  schedule: \"0 6 * * TUE#2\"\n  offsetDays: 20\n  duration: 1h\n");
    assert_eq!(
        openings(&cal, "g", "2026-12-01T00:00:00Z", 1)[0].1,
        "2026-12-28T06:00:00Z"
    );
    // A window that opened before `from` and is still open is listed first.
    assert_eq!(
        openings(&cal, "g", "2026-12-28T06:30:00Z", 1)[0].1,
        "2026-12-28T06:00:00Z"
    );
}

#[test]
fn windows_command_prints_local_and_utc_and_names_the_freeze() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .args([
            "windows",
            "--repo",
            "examples/fleet",
            "--group",
            "web-prod",
            "--from",
            "2026-12-19",
            "--count",
            "3",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Sat 2026-12-26 22:00 CET → Sun 2026-12-27 04:00 CET  (2026-12-26 21:00Z → 2026-12-27 03:00Z)  weekend-night  blocked by change-freeze (Sun 2026-12-20 00:00 CET → Mon 2027-01-04 00:00 CET)"),
        "{text}"
    );
    assert!(
        text.contains("cut short by change-freeze at 2026-12-19 23:00Z"),
        "{text}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .args([
            "windows",
            "--repo",
            "examples/fleet",
            "--group",
            "db-prod",
            "--from",
            "2026-12-01T00:00:00Z",
            "--count",
            "1",
            "--format",
            "json",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = &doc["groups"][0]["openings"][0];
    assert_eq!(o["startUtc"], "2026-12-10T21:00:00Z");
    assert_eq!(o["start"], "2026-12-10T22:00:00+01:00[Europe/Berlin]");
    assert_eq!(o["lastStartUtc"], "2026-12-11T00:00:00Z");
    assert_eq!(doc["groups"][0]["status"]["state"], "closed");
    assert_eq!(
        doc["groups"][0]["status"]["nextStart"],
        "2026-12-10T21:00:00Z"
    );
}

#[test]
fn windows_command_rejects_unknown_group_and_bad_time() {
    let root = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_patchwave"))
            .args(args)
            .current_dir(root)
            .output()
            .unwrap()
    };
    let out = run(&["windows", "--repo", "examples/fleet", "--group", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no HostGroup named `nope`"));
    let out = run(&["windows", "--repo", "examples/fleet", "--from", "tomorrow"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time"));
    let out = run(&["windows", "--repo", "testdata/invalid"]);
    assert_eq!(out.status.code(), Some(1));
}

/// A repository with several windows, for interactions the example lacks.
fn calendar_of(windows_yaml: &str, group_windows: &str) -> (tempfile::TempDir, Calendar) {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{windows_yaml}
---
{base}---
apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: g}}
spec:
  baseline: b
  rollout: r
  windows: [{group_windows}]
  hosts: [{{name: h1}}]
",
        base = policy::BASELINE_AND_ROLLOUT
    );
    fs::write(tmp.path().join("repo.yaml"), yaml).unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let cal = Calendar::build(&checked.repo);
    (tmp, cal)
}

fn window(name: &str, kind: &str, schedule: &str, duration: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {{name: {name}}}\nspec:\n  kind: {kind}\n  schedule: \"{schedule}\"\n  duration: {duration}\n{extra}"
    )
}

#[test]
fn two_deny_windows_that_together_block_an_opening_are_both_named() {
    let ws = [
        window("night", "allow", "0 22 * * *", "4h", "  cutoff: 1h\n"),
        window("d1", "deny", "0 22 * * *", "1h", ""),
        window("d2", "deny", "0 23 * * *", "2h", ""),
        // Only overlaps the cutoff tail: takes no usable time, is not named.
        window("d3", "deny", "30 1 * * *", "10m", ""),
    ]
    .concat();
    let (_t, cal) = calendar_of(&ws, "night");
    let o = &cal.openings("g", ts("2026-06-01T12:00:00Z"), 1)[0];
    assert!(o.is_blocked());
    assert_eq!(o.blocked_by(), vec!["d1", "d2"]);
    // Past the cutoff, a deny window in force is not what stops hosts: the clock is.
    assert!(matches!(
        cal.status("g", ts("2026-06-02T01:40:00Z")),
        WindowStatus::Closed { .. }
    ));
}

#[test]
fn next_start_skips_a_long_freeze_over_a_frequent_window() {
    let ws = [
        window("quarter-hourly", "allow", "*/15 * * * *", "10m", ""),
        window("freeze", "deny", "0 0 20 12 *", "15d", ""),
    ]
    .concat();
    let (_t, cal) = calendar_of(&ws, "quarter-hourly");
    assert_eq!(
        cal.status("g", ts("2026-12-21T10:05:00Z")),
        WindowStatus::Denied {
            deny_window: "freeze".into(),
            until: ts("2027-01-04T00:00:00Z"),
            next_start: Some(ts("2027-01-04T00:00:00Z")),
        }
    );
}

#[test]
fn a_window_shortened_by_dst_below_its_cutoff_has_no_usable_time() {
    // 01:00-03:00 New York on 2027-03-14 lasts one hour (02:00 is skipped); the cutoff is 90m.
    let ws = window(
        "early",
        "allow",
        "0 1 * * *",
        "2h",
        "  timezone: America/New_York\n  cutoff: 90m\n",
    );
    let (_t, cal) = calendar_of(&ws, "early");
    let o = &cal.openings("g", ts("2027-03-14T00:00:00Z"), 1)[0];
    assert_eq!(o.start.timestamp(), ts("2027-03-14T06:00:00Z"));
    assert_eq!(o.end.timestamp(), ts("2027-03-14T07:00:00Z"));
    assert!(o.is_blocked());
    assert!(o.blocked_by().is_empty());
}
