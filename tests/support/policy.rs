//! Policy YAML shared by integration tests and benchmarks, for the resources
//! a test needs but is not about.

use super::fleet::Fleet;

/// Baseline `b` (no rules) and rollout `r` (one wave of every host).
pub const BASELINE_AND_ROLLOUT: &str = "apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {name: b}
spec: {}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: r}
spec: {waves: [\"100%\"]}
";

/// Window `w`: Saturdays 22:00-02:00 UTC.
pub const WEEKLY_WINDOW: &str = "apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata: {name: w}
spec: {schedule: \"0 22 * * SAT\", duration: 4h}
";

/// Window `w`, open at every moment: daily from 00:00 UTC for 24 hours.
pub const ALWAYS_OPEN_WINDOW: &str = "apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata: {name: w}
spec: {schedule: \"0 0 * * *\", duration: 24h}
";

/// Window `w`, which first opens on a Saturday at 22:00 UTC two to three
/// weeks from today (computed from the present, so the test never goes
/// stale); returns the YAML and that first opening as RFC 3339.
pub fn later_window() -> (String, String) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let mut day = today
        .checked_add(jiff::Span::new().days(14))
        .expect("a date two weeks from now");
    while day.weekday() != jiff::civil::Weekday::Saturday {
        day = day.tomorrow().expect("a later date");
    }
    (
        format!(
            "apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata: {{name: w}}
spec: {{schedule: \"0 22 * * SAT\", duration: 4h, startDate: {day}}}
"
        ),
        format!("{day}T22:00:00Z"),
    )
}

/// HostGroup `name` holding every host of `fleet`, reached as root with the
/// fleet's key and known_hosts, under baseline `b`, rollout `r`, window `w`.
pub fn fleet_group(name: &str, fleet: &Fleet) -> String {
    let hosts: String = fleet
        .hosts
        .iter()
        .map(|h| format!("    - name: {}\n      address: {}\n", h.name, h.address))
        .collect();
    format!(
        "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: {name}}}
spec:
  baseline: b
  rollout: r
  windows: [w]
  connection:
    user: root
    identityFile: {id}
    knownHostsFile: {kh}
  hosts:
{hosts}",
        id = fleet.identity().display(),
        kh = fleet.known_hosts().display(),
    )
}

/// Documents joined into one multi-document YAML stream.
pub fn stream(docs: &[&str]) -> String {
    docs.join("---\n")
}
