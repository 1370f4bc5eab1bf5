//! Benchmark: `patchwave plan --facts` for a large fleet (default 10,000
//! hosts × 500 installed packages, 50 of them with updates), from a facts
//! file. Prints wall time and peak RSS. `cargo bench --bench plan_scale`;
//! PATCHWAVE_BENCH_HOSTS / PATCHWAVE_BENCH_PACKAGES change the size;
//! PATCHWAVE_BENCH_DIR keeps the repository and facts file there (for profiling).

use std::fmt::Write as _;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let hosts = env("PATCHWAVE_BENCH_HOSTS", 10_000);
    let packages = env("PATCHWAVE_BENCH_PACKAGES", 500);
    let updates = packages / 10;
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("PATCHWAVE_BENCH_DIR") {
        Some(d) => {
            fs::create_dir_all(&d).unwrap();
            std::path::PathBuf::from(d)
        }
        None => tmp.path().to_path_buf(),
    };

    // The repository: 10 groups sharing one baseline, rollout and window.
    let groups = 10;
    let mut yaml = String::from(
        "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: b}\nspec:\n  approvalRules:\n    - {name: sec, classifications: [security]}\n    - {name: rest, approveAfterDays: 7}\n  rejected:\n    - {package: \"pkg-1?\", reason: bench}\n---\napiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec: {waves: [1, \"10%\", \"50%\", \"100%\"]}\n---\napiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {name: w}\nspec: {schedule: \"0 22 * * SAT\", duration: 4h}\n",
    );
    for g in 0..groups {
        let _ = write!(
            yaml,
            "---\napiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {{name: g{g}}}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  hosts:\n"
        );
        for h in (g..hosts).step_by(groups) {
            let _ = writeln!(
                yaml,
                "    - {{name: h{h}, address: 10.{}.{}.{}}}",
                h / 65536,
                (h / 256) % 256,
                h % 256
            );
        }
    }
    fs::write(dir.as_path().join("fleet.yaml"), &yaml).unwrap();

    // The facts: every host has the same packages at the same versions, as fleets do.
    let mut facts = String::from("{\"version\":1,\"hosts\":[");
    for h in 0..hosts {
        if h > 0 {
            facts.push(',');
        }
        let _ = write!(
            facts,
            "{{\"host\":\"h{h}\",\"group\":\"g{}\",\"address\":\"x\",\"transport\":\"ssh\",\"scannedAt\":\"2026-12-01T00:00:00Z\",\"durationMs\":1,\"state\":\"scanned\",\"facts\":{{\"os\":{{\"id\":\"debian\"}},\"packageManager\":\"apt\",\"kernel\":\"6.1\",\"bootId\":\"b\",\"rebootRequired\":false,\"installed\":[",
            h % groups
        );
        for p in 0..packages {
            if p > 0 {
                facts.push(',');
            }
            let _ = write!(
                facts,
                "{{\"name\":\"pkg-{p}\",\"arch\":\"amd64\",\"version\":\"1.{p}-1\"}}"
            );
        }
        facts.push_str("],\"updates\":[");
        for p in 0..updates {
            if p > 0 {
                facts.push(',');
            }
            let class = if p % 3 == 0 { "security" } else { "bugfix" };
            let _ = write!(
                facts,
                "{{\"name\":\"pkg-{p}\",\"arch\":\"amd64\",\"installedVersion\":\"1.{p}-1\",\"candidateVersion\":\"1.{p}-2\",\"repository\":\"Debian-Security:12/stable-security\",\"classification\":\"{class}\",\"severity\":\"important\"}}"
            );
        }
        facts.push_str("]}}");
    }
    facts.push_str("]}");
    let facts_path = dir.as_path().join("facts.json");
    fs::write(&facts_path, &facts).unwrap();
    eprintln!(
        "facts file: {:.0} MiB, repository: {:.1} MiB",
        facts.len() as f64 / 1048576.0,
        yaml.len() as f64 / 1048576.0
    );
    drop(facts);

    let bin = env!("CARGO_BIN_EXE_patchwave");
    let mut times = Vec::new();
    let mut peak = 0u64;
    for _ in 0..3 {
        let start = Instant::now();
        let mut child = Command::new(bin)
            .env("PATCHWAVE_STATE_DIR", dir.join("state"))
            .args([
                "plan",
                "--format",
                "json",
                "--now",
                "2026-12-02T09:30:00Z",
                "--facts",
            ])
            .arg(&facts_path)
            .arg("--repo")
            .arg(dir.as_path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let status_path = format!("/proc/{}/status", child.id());
        loop {
            if let Ok(s) = fs::read_to_string(&status_path)
                && let Some(v) = s.lines().find_map(|l| l.strip_prefix("VmHWM:"))
            {
                peak = peak.max(v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0));
            }
            if let Some(st) = child.try_wait().unwrap() {
                assert_eq!(st.code(), Some(2), "plan must find changes");
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        times.push(start.elapsed());
    }
    times.sort();
    println!();
    println!(
        "plan of {hosts} hosts × {packages} installed packages ({updates} updates each), from a facts file"
    );
    println!("| what | wall time (median of 3) | peak RSS |");
    println!("| --- | --- | --- |");
    println!(
        "| patchwave plan --facts --format json | {:.0} ms | {:.0} MiB |",
        times[1].as_secs_f64() * 1000.0,
        peak as f64 / 1024.0
    );
}
