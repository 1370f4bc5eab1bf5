//! Benchmark: `patchwave scan` over N real test-fleet hosts against the floor
//! of plain `ssh` to every host in parallel running the same remote commands.
//!
//! Run as root: `cargo bench --bench scan_floor` (N defaults to 24; set
//! PATCHWAVE_BENCH_HOSTS). Prints a table of wall times and peak RSS.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use patchwave::os::{apt, detect};
use patchwave::transport::RemoteCommand;
use support::aptrepo::{AptRepo, Deb, MAIN, SECURITY};
use support::fleet::{Base, Fleet, sh_quote};
use support::http::FileServer;
use support::policy;

const RUNS: usize = 7;

fn main() {
    let n: usize = std::env::var("PATCHWAVE_BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    eprintln!("starting {n} hosts…");
    let fleet = Fleet::start(Base::Apt, 20, n);
    let apt_dir = tempfile::tempdir().unwrap();
    let apt = AptRepo::new(apt_dir.path());
    apt.publish(
        MAIN,
        &[Deb::new("pw-alpha", "1.0-1"), Deb::new("pw-beta", "2.0-1")],
    );
    let server = FileServer::start(apt_dir.path());
    let sources = AptRepo::sources_list(&server.url());
    let mut setup: Vec<Child> = Vec::new();
    for h in &fleet.hosts {
        fleet.write(&h.name, "/etc/apt/sources.list", &sources);
        setup.push(ssh(&fleet, &h.address, "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pw-alpha=1.0-1 pw-beta=2.0-1 >/dev/null"));
    }
    wait_all(setup);
    apt.publish(MAIN, &[Deb::new("pw-alpha", "1.1-1")]);
    apt.publish(SECURITY, &[Deb::new("pw-beta", "2.1-1")]);
    wait_all(
        fleet
            .hosts
            .iter()
            .map(|h| ssh(&fleet, &h.address, "apt-get update -q >/dev/null"))
            .collect(),
    );

    let repo = tempfile::tempdir().unwrap();
    write_repo(repo.path(), &fleet);

    // The floor: the same remote commands patchwave runs on an apt host, one
    // plain ssh connection per host, all hosts at once.
    let script = [
        detect::probe_command(),
        apt::installed_command(),
        apt::simulate_command(),
        apt::reboot_command(),
    ]
    .iter()
    .map(shell_line)
    .collect::<Vec<_>>()
    .join(" && ");

    let patchwave = env!("CARGO_BIN_EXE_patchwave");
    let mut pw_times = Vec::new();
    let mut pw_rss = 0u64;
    let mut floor_times = Vec::new();
    // Warm both paths once (page cache, sshd), then alternate runs.
    run_patchwave(patchwave, repo.path(), n);
    wait_all(
        fleet
            .hosts
            .iter()
            .map(|h| ssh(&fleet, &h.address, &script))
            .collect(),
    );
    for _ in 0..RUNS {
        let (t, rss) = run_patchwave(patchwave, repo.path(), n);
        pw_times.push(t);
        pw_rss = pw_rss.max(rss);
        let start = Instant::now();
        wait_all(
            fleet
                .hosts
                .iter()
                .map(|h| ssh(&fleet, &h.address, &script))
                .collect(),
        );
        floor_times.push(start.elapsed());
    }
    let (pw, floor) = (median(&mut pw_times), median(&mut floor_times));
    println!();
    println!("scan of {n} apt hosts, {RUNS} runs each (median, min–max)");
    println!("| what | wall time | peak RSS |");
    println!("| --- | --- | --- |");
    println!(
        "| patchwave scan (one ssh master per host, parallel channels) | {} ({}–{}) | {:.1} MiB (patchwave process) |",
        ms(pw),
        ms(*pw_times.iter().min().unwrap()),
        ms(*pw_times.iter().max().unwrap()),
        pw_rss as f64 / 1024.0
    );
    println!(
        "| floor: plain ssh per host, same commands, all in parallel | {} ({}–{}) | — |",
        ms(floor),
        ms(*floor_times.iter().min().unwrap()),
        ms(*floor_times.iter().max().unwrap())
    );
    println!(
        "ratio patchwave / floor: {:.2}",
        pw.as_secs_f64() / floor.as_secs_f64()
    );
    drop(server);
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A command as the remote shell line ssh would send: every word quoted.
fn shell_line(c: &RemoteCommand) -> String {
    let env: Vec<String> = c
        .env
        .iter()
        .map(|(k, v)| sh_quote(&format!("{k}={v}")))
        .collect();
    let words: Vec<String> = std::iter::once(&c.program)
        .chain(&c.args)
        .map(|w| sh_quote(w))
        .collect();
    format!("env {} {} >/dev/null", env.join(" "), words.join(" "))
}

fn ssh(fleet: &Fleet, addr: &str, remote: &str) -> Child {
    Command::new("ssh")
        .arg("-F")
        .arg(fleet.ssh_config())
        .arg(addr)
        .arg(remote)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_all(children: Vec<Child>) {
    for mut c in children {
        let st = c.wait().unwrap();
        assert!(st.success(), "ssh failed: {st}");
    }
}

/// Runs one scan; returns its wall time and the peak RSS (VmHWM, sampled) in KiB.
fn run_patchwave(bin: &str, repo: &Path, n: usize) -> (Duration, u64) {
    let state = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let mut child = Command::new(bin)
        .env("PATCHWAVE_STATE_DIR", state.path())
        .args(["scan", "--refresh", "never", "--format", "json", "--repo"])
        .arg(repo)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut hwm = 0u64;
    let reader = {
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut out, &mut s).unwrap();
            s
        })
    };
    loop {
        if let Ok(s) = fs::read_to_string(&status_path)
            && let Some(v) = s.lines().find_map(|l| l.strip_prefix("VmHWM:"))
        {
            hwm = hwm.max(v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let out = reader.join().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let scanned = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["state"] == "scanned")
        .count();
    assert_eq!(scanned, n, "every host must scan cleanly: {out}");
    (elapsed, hwm)
}

fn write_repo(dir: &Path, fleet: &Fleet) {
    let yaml = policy::stream(&[
        &policy::fleet_group("bench", fleet),
        policy::BASELINE_AND_ROLLOUT,
        policy::WEEKLY_WINDOW,
    ]);
    fs::write(dir.join("fleet.yaml"), yaml).unwrap();
}
