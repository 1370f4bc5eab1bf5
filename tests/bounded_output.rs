//! What a host sends back is bounded (Fleet `scan.maxOutput`, default 64 MiB
//! per command): a host that floods fails alone with a clear error, the
//! flood is ended on the host rather than drained, patchwave's memory stays
//! bounded, and the connection is still good for the next command. Real
//! sshd hosts of the test fleet (subnet 11), the local machine, and a WinRM
//! endpoint speaking the recorded protocol.

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use patchwave::transport::winrm::{AuthKind, PasswordSource, WinrmSettings, WinrmTransport};
use patchwave::transport::{
    LocalTransport, RemoteCommand, SshSettings, SshTransport, Stream, Transport, TransportError,
};
use support::fleet::{Base, Fleet};
use support::winrm_replay::{Mode, PASSWORD, Responder, USER, serve_winrm, transcript};

const MIB: u64 = 1 << 20;

/// h1, h2: ordinary hosts. h3: its `dpkg-query` floods (200 MB on one
/// line). h4: its `dpkg-query` answers truly, then adds 70 MB of junk on one
/// line: more than the default cap, less than a raised one.
static FLEET: OnceLock<Fleet> = OnceLock::new();

/// The hosts are shared and the memory figures should not compete: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the flood is noted: 141 means `tr` was killed by SIGPIPE (the
/// reader went away), 0 that all 200 MB were read.
const FLOOD_STATUS: &str = "/tmp/flood-status";

const FLOOD: &str = "#!/bin/sh
# A broken or compromised dpkg-query: 200 MB on one line.
head -c 200000000 /dev/zero | tr '\\0' a
echo $? > /tmp/flood-status
";

const PADDED: &str = "#!/bin/sh
# A true answer, then 70 MB of junk on one line.
/usr/bin/dpkg-query \"$@\" || exit
head -c 70000000 /dev/zero | tr '\\0' x
";

fn fleet() -> &'static Fleet {
    FLEET.get_or_init(|| {
        let fleet = Fleet::start(Base::Apt, 11, 4);
        for (host, script) in [("h3", FLOOD), ("h4", PADDED)] {
            fleet.write(host, "/usr/local/bin/dpkg-query", script);
            fleet.ssh_ok(host, &["chmod", "755", "/usr/local/bin/dpkg-query"]);
            // sshd's PATH puts /usr/local/bin first: commands find the stand-in.
            assert_eq!(
                fleet
                    .ssh_ok(host, &["sh", "-c", "command -v dpkg-query"])
                    .trim(),
                "/usr/local/bin/dpkg-query"
            );
        }
        fleet
    })
}

/// A fleet repository with one group of `hosts` and `fleet_spec` as the
/// Fleet's spec.
fn repo(fleet: &Fleet, hosts: &[&str], fleet_spec: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let listed: String = hosts
        .iter()
        .map(|h| format!("    - {{name: {h}, address: {}}}\n", fleet.host(h).address))
        .collect();
    let group = format!(
        "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: g}}
spec:
  baseline: b
  rollout: r
  windows: [w]
  connection:
    user: root
    identityFile: {id}
    knownHostsFile: {kh}
  hosts:
{listed}",
        id = fleet.identity().display(),
        kh = fleet.known_hosts().display(),
    );
    let fleet_doc = format!(
        "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {{name: f}}\nspec: {fleet_spec}\n"
    );
    std::fs::write(
        dir.path().join("fleet.yaml"),
        support::policy::stream(&[
            &fleet_doc,
            &group,
            support::policy::BASELINE_AND_ROLLOUT,
            support::policy::WEEKLY_WINDOW,
        ]),
    )
    .unwrap();
    dir
}

/// `struct rusage` on 64-bit Linux: two `timeval`s, then fourteen longs,
/// `ru_maxrss` (KiB) first.
#[repr(C)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

unsafe extern "C" {
    #[link_name = "wait4"]
    fn libc_wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

/// What a finished process left, and its peak resident set.
struct Measured {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    /// KiB: wait4's `ru_maxrss`, the process's own high-water mark (or a
    /// reaped child's, were one larger: an upper bound either way).
    peak_kib: u64,
    wall: Duration,
}

/// Runs `cmd`, reaping it with wait4 to read its peak RSS.
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also reads its peak RSS"
)]
fn measured(mut cmd: Command) -> Measured {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).unwrap();
        v
    });
    let pid = i32::try_from(child.id()).unwrap();
    let mut status = 0;
    let mut usage = Rusage {
        utime: [0; 2],
        stime: [0; 2],
        maxrss: 0,
        rest: [0; 13],
    };
    // Bounded: only EINTR repeats.
    for attempt in 0.. {
        // SAFETY: both pointers are to live locals of the right layout; the
        // pid is our unreaped child (std's Child is never waited on).
        let r = unsafe { libc_wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert!(
            e.kind() == std::io::ErrorKind::Interrupted && attempt < 100,
            "wait4: {e}"
        );
    }
    let code = (status & 0x7f == 0).then_some((status >> 8) & 0xff);
    Measured {
        code,
        stdout: out.join().unwrap(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        peak_kib: u64::try_from(usage.maxrss).unwrap(),
        wall: started.elapsed(),
    }
}

fn scan(dir: &Path, extra: &[&str]) -> (Measured, serde_json::Value) {
    let mut cmd = support::patchwave();
    cmd.args(["scan", "--repo"]).arg(dir).args([
        "--format",
        "json",
        "--refresh",
        "never",
        "--timeout",
        "90s",
        "--connect-timeout",
        "5s",
    ]);
    cmd.args(extra);
    let m = measured(cmd);
    let doc = serde_json::from_slice(&m.stdout).unwrap_or_else(|e| panic!("{e}: {}", m.stderr));
    (m, doc)
}

fn host<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == name)
        .unwrap_or_else(|| panic!("{name} not in {doc}"))
}

/// The file's contents once it exists (bounded wait).
fn wait_for_file(fleet: &Fleet, h: &str, path: &str) -> String {
    for _ in 0..100 {
        let out = fleet.ssh(h, &["cat", path]);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{path} never appeared on {h}");
}

#[test]
fn a_flooding_host_fails_alone_and_memory_stays_bounded() {
    let _serial = serial();
    let f = fleet();
    f.ssh_ok("h3", &["rm", "-f", FLOOD_STATUS]);
    let dir = repo(f, &["h1", "h2", "h3"], "{}");
    let (m, doc) = scan(dir.path(), &[]);
    assert_eq!(m.code, Some(1), "one host failed: {}", m.stderr);

    let flood = host(&doc, "h3");
    assert_eq!(flood["state"], "failed", "{flood}");
    let error = flood["error"].as_str().unwrap();
    for part in [
        "h3: `dpkg-query` sent more than 64 MiB on stdout",
        "stopped reading and ended it",
        "scan.maxOutput",
    ] {
        assert!(error.contains(part), "{part:?} not in {error}");
    }
    for h in ["h1", "h2"] {
        let ok = host(&doc, h);
        assert_eq!(ok["state"], "scanned", "{ok}");
        assert!(ok["facts"]["installed"].as_array().unwrap().len() > 50);
    }
    // The flood was ended on the host, not drained: `tr` died of SIGPIPE.
    assert_eq!(wait_for_file(f, "h3", FLOOD_STATUS), "141");
    let peak_mib = m.peak_kib / 1024;
    eprintln!(
        "flood scan: peak RSS {peak_mib} MiB, {:.1} s",
        m.wall.as_secs_f64()
    );
    assert!(peak_mib < 256, "peak RSS {peak_mib} MiB");
}

#[test]
fn a_raised_cap_lets_a_large_answer_through() {
    let _serial = serial();
    let f = fleet();
    // 70 MB is past the default cap...
    let dir = repo(f, &["h4"], "{}");
    let (m, doc) = scan(dir.path(), &[]);
    assert_eq!(m.code, Some(1), "{}", m.stderr);
    let h = host(&doc, "h4");
    assert_eq!(h["state"], "failed", "{h}");
    assert!(
        h["error"]
            .as_str()
            .unwrap()
            .contains("`dpkg-query` sent more than 64 MiB on stdout"),
        "{h}"
    );
    // ...and within a raised one: read whole, the true lines used, the junk
    // line reported briefly.
    let dir = repo(f, &["h4"], "{scan: {maxOutput: 128Mi}}");
    let (m, doc) = scan(dir.path(), &[]);
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    let h = host(&doc, "h4");
    assert_eq!(h["state"], "scanned", "{h}");
    assert!(h["facts"]["installed"].as_array().unwrap().len() > 50);
    let rejected = h["facts"]["rejectedLines"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let line = rejected[0].as_str().unwrap();
    assert!(
        line.starts_with("xxxx") && line.ends_with("(70000000 bytes)") && line.len() < 300,
        "{line}"
    );
    // It really held the 70 MB (so the figure measures what it claims), and
    // no more than a few times that.
    let peak_mib = m.peak_kib / 1024;
    eprintln!("raised cap: peak RSS {peak_mib} MiB");
    assert!((66..256).contains(&peak_mib), "peak RSS {peak_mib} MiB");
}

#[test]
fn a_low_cap_in_the_fleet_trips_on_an_ordinary_host() {
    let _serial = serial();
    let f = fleet();
    let dir = repo(f, &["h1"], "{scan: {maxOutput: 4Ki}}");
    let (m, doc) = scan(dir.path(), &[]);
    assert_eq!(m.code, Some(1), "{}", m.stderr);
    let h = host(&doc, "h1");
    assert_eq!(h["state"], "failed", "{h}");
    let error = h["error"].as_str().unwrap();
    assert!(
        error.contains("h1: `dpkg-query` sent more than 4 KiB on stdout")
            && error.contains("`scan.maxOutput` (now 4 KiB)"),
        "{error}"
    );
}

#[test]
fn max_output_is_validated_where_it_is_written() {
    for (value, message) in [
        ("lots", "scan.maxOutput `lots` is not a size"),
        ("1.5Gi", "scan.maxOutput `1.5Gi` is not a size"),
        ("8Gi", "scan.maxOutput `8Gi` is out of range"),
        ("512", "scan.maxOutput `512` is out of range"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("fleet.yaml"),
            format!(
                "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {{name: f}}\nspec:\n  scan:\n    maxOutput: \"{value}\"\n"
            ),
        )
        .unwrap();
        let out = support::patchwave()
            .args(["validate", "--repo"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        let want = format!("fleet.yaml:6:16: error: {message}");
        assert!(stdout.contains(&want), "{want:?} not in\n{stdout}");
    }
}

async fn ssh(f: &Fleet, host: &str) -> SshTransport {
    let mut s = SshSettings::new(f.host(host).address.clone());
    s.user = Some("root".into());
    s.identity_file = Some(f.identity());
    s.known_hosts_file = Some(f.known_hosts());
    s.connect_timeout = Duration::from_secs(5);
    SshTransport::connect(host, &s).await.unwrap()
}

/// A command that floods stdout and notes (in `status_file`) how it ended.
fn flood_command(status_file: &str) -> RemoteCommand {
    RemoteCommand::new("sh").args([
        "-c",
        "head -c 200000000 /dev/zero | tr '\\0' a; echo $? > \"$1\"",
        "sh",
        status_file,
    ])
}

/// The error a command that sent too much must give (without printing
/// megabytes of output when it did not).
fn too_large(r: Result<patchwave::transport::CommandOutput, TransportError>) -> TransportError {
    match r {
        Err(e @ TransportError::OutputTooLarge { .. }) => e,
        Err(e) => panic!("another error: {e}"),
        Ok(out) => panic!(
            "accepted {} bytes of stdout, exit {:?}",
            out.stdout.len(),
            out.status
        ),
    }
}

/// The same transport, after a flood: its cap met exactly, passed by one
/// byte, a long stderr kept by its tail, and an ordinary command.
async fn still_good_after_a_flood(t: &dyn Transport, cap: u64) {
    let exact = RemoteCommand::new("head").args(["-c", &cap.to_string(), "/dev/zero"]);
    assert_eq!(t.run(&exact).await.unwrap().stdout.len() as u64, cap);
    let over = RemoteCommand::new("head").args(["-c", &(cap + 1).to_string(), "/dev/zero"]);
    match too_large(t.run(&over).await) {
        TransportError::OutputTooLarge { stream, limit, .. } => {
            assert_eq!((stream, limit), (Stream::Stdout, cap));
        }
        e => panic!("{e}"),
    }
    let noisy = RemoteCommand::new("sh").args([
        "-c",
        "head -c 3000000 /dev/zero | tr '\\0' e >&2; echo last words >&2; echo out",
    ]);
    let out = t.run(&noisy).await.unwrap();
    assert!(out.success());
    assert_eq!(out.stdout, b"out\n");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.ends_with("eeeelast words\n"),
        "{}",
        &stderr[stderr.len().saturating_sub(40)..]
    );
    assert!(
        stderr.starts_with("[patchwave: the first ") && stderr.len() < (1 << 20) + 100,
        "{} bytes",
        stderr.len()
    );
    let out = t.run(&RemoteCommand::new("echo").arg("ok")).await.unwrap();
    assert_eq!(out.stdout_str(), "ok\n");
}

/// Runs `f` to completion on a runtime of its own.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn an_ssh_flood_is_ended_on_the_host_and_the_connection_stays_good() {
    let f = fleet();
    let _serial = serial();
    block_on(ssh_flood(f));
}

async fn ssh_flood(f: &Fleet) {
    let status = "/tmp/ssh-flood-status";
    f.ssh_ok("h1", &["rm", "-f", status]);
    let t = ssh(f, "h1").await.with_max_output(8 * MIB);
    let started = Instant::now();
    let e = too_large(t.run(&flood_command(status)).await);
    assert!(
        matches!(&e, TransportError::OutputTooLarge { host, program, stream: Stream::Stdout, limit }
            if host == "h1" && program == "sh" && *limit == 8 * MIB),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("h1: `sh` sent more than 8 MiB on stdout"),
        "{e}"
    );
    assert_eq!(wait_for_file(f, "h1", status), "141");
    assert!(started.elapsed() < Duration::from_secs(30));
    still_good_after_a_flood(&t, 8 * MIB).await;
    t.close().await;
}

#[tokio::test]
async fn a_local_flood_is_ended_and_the_transport_stays_good() {
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status");
    let t = LocalTransport::new("localhost").with_max_output(8 * MIB);
    let e = too_large(t.run(&flood_command(status.to_str().unwrap())).await);
    assert!(
        e.to_string()
            .starts_with("localhost: `sh` sent more than 8 MiB on stdout"),
        "{e}"
    );
    // The command was ended: either `tr` died of SIGPIPE and the script
    // noted it, or the SIGTERM took the script with it. Never a full read.
    for _ in 0..100 {
        if status.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Ok(s) = std::fs::read_to_string(&status) {
        assert_ne!(s.trim(), "0", "the flood was read to its end");
    }
    still_good_after_a_flood(&t, 8 * MIB).await;
}

const SHELL_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
const RECORDED_SHELL: &str = "4283CBDC-3706-415B-88BD-B385F3E51A53";
const RECORDED_COMMAND: &str = "CF84C20A-0A35-43FA-AF78-0B4711DA5F30";

/// What the flooding WinRM host was asked.
#[derive(Debug, Default)]
struct FloodSeen {
    /// Receives answered for the flooding command.
    receives: usize,
    /// The code of every Signal.
    signals: Vec<String>,
    deletes: usize,
}

/// A WinRM host (answers shaped as the recorded ones) whose `flood.exe`
/// sends 256 KiB of stdout per Receive and never finishes; any other
/// program prints `ok` and exits 0.
struct FloodHost {
    templates: Vec<String>,
    programs: HashMap<String, String>,
    seen: Arc<Mutex<FloodSeen>>,
    counter: u32,
}

impl Responder for FloodHost {
    fn problem(&mut self, what: String) {
        panic!("{what}");
    }

    fn answer(&mut self, soap: &str) -> (u16, String) {
        let doc = roxmltree::Document::parse(soap).unwrap();
        let text = |local: &str| {
            doc.descendants()
                .find(|n| n.tag_name().name() == local)
                .and_then(|n| n.text())
                .unwrap_or("")
                .to_string()
        };
        let action = text("Action");
        self.counter += 1;
        let id = format!("{:08X}-0000-4000-8000-{:012X}", self.counter, self.counter);
        match action.rsplit('/').next().unwrap_or("") {
            "Create" => (200, self.templates[0].replace(RECORDED_SHELL, &id)),
            "Command" => {
                self.programs.insert(id.clone(), text("Command"));
                (200, self.templates[1].replace(RECORDED_COMMAND, &id))
            }
            "Receive" => {
                let command = doc
                    .descendants()
                    .find(|n| n.tag_name().name() == "DesiredStream")
                    .and_then(|n| n.attribute("CommandId"))
                    .unwrap()
                    .to_string();
                let t = &self.templates[2];
                let head = &t[..t.find("<s:Body>").unwrap()];
                let b64 = base64::engine::general_purpose::STANDARD;
                let body = if self.programs[&command] == "flood.exe" {
                    self.seen.lock().unwrap().receives += 1;
                    format!(
                        r#"<rsp:Stream Name="stdout" CommandId="{command}">{}</rsp:Stream><rsp:CommandState CommandId="{command}" State="{SHELL_NS}/CommandState/Running"/>"#,
                        b64.encode(vec![b'y'; 256 * 1024])
                    )
                } else {
                    format!(
                        r#"<rsp:Stream Name="stdout" CommandId="{command}">{}</rsp:Stream><rsp:Stream Name="stdout" CommandId="{command}" End="true"></rsp:Stream><rsp:CommandState CommandId="{command}" State="{SHELL_NS}/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>"#,
                        b64.encode(b"ok")
                    )
                };
                (
                    200,
                    format!(
                        "{head}<s:Body><rsp:ReceiveResponse>{body}</rsp:ReceiveResponse></s:Body></s:Envelope>"
                    ),
                )
            }
            "Signal" => {
                let code = text("Code");
                self.seen.lock().unwrap().signals.push(code);
                (200, self.templates[3].clone())
            }
            "Delete" => {
                self.seen.lock().unwrap().deletes += 1;
                (200, self.templates[4].clone())
            }
            other => panic!("unexpected action {other}"),
        }
    }
}

#[tokio::test]
async fn a_winrm_flood_is_terminated_and_the_connection_stays_good() {
    let tmp = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(FloodSeen::default()));
    let host = FloodHost {
        templates: transcript("test_winrs_standard")
            .into_iter()
            .map(|m| m.response)
            .collect(),
        programs: HashMap::new(),
        seen: seen.clone(),
        counter: 0,
    };
    let endpoint = serve_winrm(Box::new(host), tmp.path(), Mode::HttpNtlm);
    let password = tmp.path().join("password");
    std::fs::write(&password, PASSWORD).unwrap();
    let settings = WinrmSettings {
        address: "127.0.0.1".into(),
        port: endpoint.port,
        tls: None,
        auth: AuthKind::Ntlm,
        user: USER.into(),
        password: PasswordSource::File(password),
        connect_timeout: Duration::from_secs(5),
    };
    let t = WinrmTransport::connect("win-1", &settings)
        .await
        .unwrap()
        .with_max_output(2 * MIB);
    let e = too_large(
        t.run(&RemoteCommand::new("flood.exe").timeout(Duration::from_secs(60)))
            .await,
    );
    assert_eq!(
        e.to_string(),
        "win-1: `flood.exe` sent more than 2 MiB on stdout, so patchwave stopped reading and ended it (a broken or compromised host can do this). If this host really prints that much, raise the Fleet's `scan.maxOutput` (now 2 MiB)"
    );
    {
        let seen = seen.lock().unwrap();
        // 8 answers fill the cap exactly; the 9th goes past it, and no more is asked for.
        assert_eq!(seen.receives, 9);
        assert_eq!(
            seen.signals,
            [format!("{SHELL_NS}/signal/terminate")],
            "the command was terminated"
        );
    }
    let out = t.run(&RemoteCommand::new("hostname.exe")).await.unwrap();
    assert_eq!(out.stdout, b"ok");
    let seen = seen.lock().unwrap();
    // connect's probe shell, the flood's and hostname's: each deleted.
    assert_eq!(seen.deletes, 3);
}
