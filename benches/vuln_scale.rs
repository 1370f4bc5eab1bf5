//! Benchmark: what the Fleet's vulnerability data adds to `patchwave plan
//! --facts` for a large fleet (default 10,000 hosts × 500 installed packages,
//! 50 updates each, Debian 12), against a Debian Security Tracker dataset
//! of the real one's size (generated: see `tracker`), plus the KEV catalog;
//! each update fixes three CVEs.
//! Plans the same fleet without and with `vulnerabilities`, and prints wall
//! time and peak RSS of both and the difference. `cargo bench --bench
//! vuln_scale`; PATCHWAVE_BENCH_HOSTS / PATCHWAVE_BENCH_PACKAGES change the
//! fleet, PATCHWAVE_BENCH_ISSUES the tracker (default 120,000 CVE issues).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Source packages the fleet's binaries come from: ten binaries per source.
fn source_of(p: usize) -> String {
    format!("src-{}", p / 10)
}

fn main() {
    let hosts = env("PATCHWAVE_BENCH_HOSTS", 10_000);
    let packages = env("PATCHWAVE_BENCH_PACKAGES", 500);
    let issues = env("PATCHWAVE_BENCH_ISSUES", 120_000);
    let updates = packages / 10;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    let groups = 10;
    let mut fleet_yaml = String::from(
        "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: b}\nspec:\n  approvalRules:\n    - {name: severe, severities: [critical, important]}\n    - {name: kev, knownExploited: true}\n    - {name: rest, approveAfterDays: 7}\n---\napiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec: {waves: [1, \"10%\", \"50%\", \"100%\"]}\n---\napiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {name: w}\nspec: {schedule: \"0 22 * * SAT\", duration: 4h}\n",
    );
    for g in 0..groups {
        let _ = write!(
            fleet_yaml,
            "---\napiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {{name: g{g}}}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  hosts:\n"
        );
        for h in (g..hosts).step_by(groups) {
            let _ = writeln!(
                fleet_yaml,
                "    - {{name: h{h}, address: 10.{}.{}.{}}}",
                h / 65536,
                (h / 256) % 256,
                h % 256
            );
        }
    }

    let mut facts = String::from("{\"version\":1,\"hosts\":[");
    for h in 0..hosts {
        if h > 0 {
            facts.push(',');
        }
        let _ = write!(
            facts,
            "{{\"host\":\"h{h}\",\"group\":\"g{}\",\"address\":\"x\",\"transport\":\"ssh\",\"scannedAt\":\"2026-12-01T00:00:00Z\",\"durationMs\":1,\"state\":\"scanned\",\"facts\":{{\"os\":{{\"id\":\"debian\",\"versionId\":\"12\"}},\"packageManager\":\"apt\",\"kernel\":\"6.1\",\"bootId\":\"b\",\"rebootRequired\":false,\"installed\":[",
            h % groups
        );
        for p in 0..packages {
            if p > 0 {
                facts.push(',');
            }
            let _ = write!(
                facts,
                "{{\"name\":\"pkg-{p}\",\"arch\":\"amd64\",\"version\":\"1.{p}-1\",\"source\":\"{}\"}}",
                source_of(p)
            );
        }
        facts.push_str("],\"updates\":[");
        for p in 0..updates {
            if p > 0 {
                facts.push(',');
            }
            let _ = write!(
                facts,
                "{{\"name\":\"pkg-{p}\",\"arch\":\"amd64\",\"installedVersion\":\"1.{p}-1\",\"candidateVersion\":\"1.{p}-2\",\"repository\":\"Debian-Security:12/stable-security\",\"classification\":\"security\",\"severity\":\"unspecified\",\"source\":\"{}\"}}",
                source_of(p)
            );
        }
        facts.push_str("]}}");
    }
    facts.push_str("]}");
    let facts_path = dir.join("facts.json");
    fs::write(&facts_path, &facts).unwrap();
    drop(facts);

    let (tracker_bytes, kev_bytes, fixing) = tracker(dir, packages, issues);
    eprintln!(
        "tracker: {:.0} MiB, {issues} issues; KEV catalog: {:.1} MiB; {fixing} issues fixed by the fleet's updates",
        tracker_bytes as f64 / 1048576.0,
        kev_bytes as f64 / 1048576.0
    );

    let without = dir.join("without");
    let with = dir.join("with");
    for d in [&without, &with] {
        fs::create_dir_all(d.join("vuln")).unwrap();
        fs::write(d.join("fleet.yaml"), &fleet_yaml).unwrap();
    }
    fs::rename(dir.join("debian.json"), with.join("vuln/debian.json")).unwrap();
    fs::rename(dir.join("kev.json"), with.join("vuln/kev.json")).unwrap();
    fs::write(
        with.join("fleet.yaml"),
        format!(
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {{name: f}}\nspec:\n  vulnerabilities:\n    sources:\n      - {{name: debian, format: debianTracker, file: vuln/debian.json}}\n      - {{name: kev, format: cisaKev, file: vuln/kev.json}}\n  deadlines: {{critical: 30, important: 90, knownExploited: 14}}\n---\n{fleet_yaml}"
        ),
    )
    .unwrap();

    // The data is read and used: updates are rated by it.
    let check = Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .env("PATCHWAVE_STATE_DIR", dir.join("state"))
        .args([
            "plan",
            "-o",
            "json",
            "--at",
            "2026-12-02T09:30:00Z",
            "--host",
            "h0",
            "--facts",
        ])
        .arg(&facts_path)
        .arg("--repo")
        .arg(&with)
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&check.stdout);
    assert!(
        plan.contains("\"severitySource\":\"debian\"") && plan.contains("\"knownExploited\":true"),
        "the vulnerability data was not used: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let a = measure(&without, &facts_path, dir, &[]);
    let b = measure(&with, &facts_path, dir, &[]);
    // One host: the data's load (read, parse, cache) without the fleet's output.
    let a1 = measure(&without, &facts_path, dir, &["--host", "h0"]);
    let b1 = measure(&with, &facts_path, dir, &["--host", "h0"]);
    let size = |repo: &Path| {
        Command::new(env!("CARGO_BIN_EXE_patchwave"))
            .env("PATCHWAVE_STATE_DIR", dir.join("state"))
            .args([
                "plan",
                "-o",
                "json",
                "--at",
                "2026-12-02T09:30:00Z",
                "--facts",
            ])
            .arg(&facts_path)
            .arg("--repo")
            .arg(repo)
            .output()
            .unwrap()
            .stdout
            .len() as f64
            / 1048576.0
    };
    let (out_a, out_b) = (size(&without), size(&with));
    println!();
    println!(
        "plan of {hosts} hosts × {packages} installed packages ({updates} updates each, Debian 12), from a facts file"
    );
    println!("| what | wall time (median of 3) | peak RSS |");
    println!("| --- | --- | --- |");
    println!(
        "| without vulnerability data | {:.0} ms | {:.0} MiB |",
        a.0 * 1000.0,
        a.1
    );
    println!(
        "| with the tracker ({:.0} MiB, {issues} issues) and KEV, and deadlines | {:.0} ms | {:.0} MiB |",
        tracker_bytes as f64 / 1048576.0,
        b.0 * 1000.0,
        b.1
    );
    println!(
        "| added | {:.0} ms | {:.0} MiB |",
        (b.0 - a.0) * 1000.0,
        b.1 - a.1
    );
    println!(
        "| added for one host (`--host h0`: loading the data, no fleet output) | {:.0} ms | {:.0} MiB |",
        (b1.0 - a1.0) * 1000.0,
        b1.1 - a1.1
    );
    println!(
        "plan JSON: {out_a:.0} MiB without the data, {out_b:.0} MiB with it (the CVEs of every change)"
    );
}

/// A tracker dataset shaped like the real one, at its size: `issues` CVE
/// issues over 6,000 source packages (a few, like `linux`, with thousands
/// each), entries for five releases, descriptions of a typical length.
/// The fleet's sources get bookworm entries fixed by their updates, and
/// many already fixed or still open. Returns (tracker bytes, KEV bytes,
/// issues the fleet's updates fix).
fn tracker(dir: &Path, packages: usize, issues: usize) -> (usize, usize, usize) {
    let fleet_sources = packages.div_ceil(10);
    let sources = 6_000.max(fleet_sources);
    let releases = ["buster", "bullseye", "bookworm", "trixie", "sid"];
    let description = "A buffer overflow in the parsing of crafted input allows a remote attacker to execute arbitrary code or cause a denial of service via a malformed request.";
    // Issues per source: a skewed spread, as the real data is (linux alone has thousands).
    let mut per_source = vec![issues / sources / 2; sources];
    let mut left = issues - per_source.iter().sum::<usize>();
    let mut i = 0;
    while left > 0 {
        let extra = (left / 2).clamp(1, 8_000);
        per_source[i % 40] += extra;
        left -= extra;
        i += 1;
    }
    let mut out = String::with_capacity(issues * 700);
    let mut kev = String::from(
        "{\"title\":\"bench\",\"catalogVersion\":\"bench\",\"dateReleased\":\"2026-12-01T00:00:00Z\",\"count\":0,\"vulnerabilities\":[",
    );
    let mut kev_count = 0;
    let mut fixing = 0;
    let mut cve = 0usize;
    out.push('{');
    for (s, count) in per_source.iter().enumerate() {
        if s > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"src-{s}\":{{");
        for k in 0..*count {
            cve += 1;
            if k > 0 {
                out.push(',');
            }
            let id = format!("CVE-{}-{:05}", 2000 + cve % 26, cve);
            let _ = write!(
                out,
                "\"{id}\":{{\"description\":\"{description}\",\"scope\":\"remote\",\"releases\":{{"
            );
            for (r, rel) in releases.iter().enumerate() {
                if r > 0 {
                    out.push(',');
                }
                // The fleet's binaries of this source are at 1.{p}-1 with
                // updates to 1.{p}-2 (p = 10·s … 10·s+9); the update fixes
                // three issues (as most stable updates fix a few), the
                // others were fixed long before or are still open.
                let p = s * 10;
                let fixed_by_update = s < fleet_sources && k < 3 && *rel == "bookworm";
                let (status, fixed) = if fixed_by_update {
                    fixing += 1;
                    ("resolved", format!("1.{p}-2"))
                } else if k.is_multiple_of(7) {
                    ("open", String::new())
                } else {
                    ("resolved", format!("0.{k}-1"))
                };
                let urgency = ["low", "medium", "high", "not yet assigned", "unimportant"][k % 5];
                let _ = write!(
                    out,
                    "\"{rel}\":{{\"status\":\"{status}\",\"repositories\":{{\"{rel}\":\"1.{p}-1\"}},"
                );
                if !fixed.is_empty() {
                    let _ = write!(out, "\"fixed_version\":\"{fixed}\",");
                }
                if k.is_multiple_of(11) {
                    out.push_str("\"nodsa\":\"Minor issue\",\"nodsa_reason\":\"\",");
                }
                let _ = write!(out, "\"urgency\":\"{urgency}\"}}");
            }
            out.push_str("}}");
            // One CVE in a hundred is known exploited, and one fix of
            // every tenth fleet source.
            if cve.is_multiple_of(100) || (s < fleet_sources && k == 0 && s.is_multiple_of(10)) {
                if kev_count > 0 {
                    kev.push(',');
                }
                kev_count += 1;
                let _ = write!(
                    kev,
                    "{{\"cveID\":\"{id}\",\"vendorProject\":\"v\",\"product\":\"p\",\"vulnerabilityName\":\"n\",\"dateAdded\":\"2026-01-01\",\"shortDescription\":\"{description}\",\"requiredAction\":\"Apply updates per vendor instructions.\",\"dueDate\":\"2026-01-22\",\"knownRansomwareCampaignUse\":\"Unknown\",\"notes\":\"\",\"cwes\":[]}}"
                );
            }
        }
        out.push('}');
    }
    out.push('}');
    kev.push_str("]}");
    fs::write(dir.join("debian.json"), &out).unwrap();
    fs::write(dir.join("kev.json"), &kev).unwrap();
    (out.len(), kev.len(), fixing)
}

/// Median wall time (s) and peak RSS (MiB) of three plans.
fn measure(repo: &Path, facts: &Path, dir: &Path, extra: &[&str]) -> (f64, f64) {
    let bin = env!("CARGO_BIN_EXE_patchwave");
    let mut times = Vec::new();
    let mut peak = 0u64;
    for _ in 0..3 {
        let start = Instant::now();
        let mut child = Command::new(bin)
            .env("PATCHWAVE_STATE_DIR", dir.join("state"))
            .args([
                "plan",
                "-o",
                "json",
                "--at",
                "2026-12-02T09:30:00Z",
                "--facts",
            ])
            .arg(facts)
            .arg("--repo")
            .arg(repo)
            .args(extra)
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
                assert!(matches!(st.code(), Some(0 | 2)), "plan failed: {st:?}");
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        times.push(start.elapsed());
    }
    times.sort();
    (times[1].as_secs_f64(), peak as f64 / 1024.0)
}
