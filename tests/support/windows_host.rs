//! A Windows host as patchwave's WinRM client sees it: WinRS shells and
//! commands answered in the envelopes a real host sent (taken from the
//! recorded test_winrs_standard transcript, ids and output swapped in), and
//! behind them the Windows Update documents of testdata/os/windows for
//! patchwave's own scripts: scan, install (the KB list it was given is
//! kept), boot id, and `shutdown.exe /r` (which "reboots" it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use patchwave::os::windows::{BOOT_ID_SCRIPT, INSTALL_SCRIPT, SCAN_SCRIPT};

use super::winrm_replay::{Responder, transcript};

/// Baseline `b` for Windows groups (security updates rated critical or
/// important; the Defender definitions KB rejected; reboot if required)
/// and rollout `r` (one wave).
pub const POLICY: &str = "apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {name: b}
spec:
  approvalRules:
    - name: security
      classifications: [security]
      severities: [critical, important]
  rejected:
    - {package: KB2267602, reason: Defender updates its definitions itself}
  reboot: ifRequired
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: r}
spec: {waves: [\"100%\"]}
";

const SHELL_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
const RECORDED_SHELL: &str = "4283CBDC-3706-415B-88BD-B385F3E51A53";
const RECORDED_COMMAND: &str = "CF84C20A-0A35-43FA-AF78-0B4711DA5F30";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Updates offered, nothing pending.
    Before,
    /// The KBs are installed; a reboot is pending.
    Installed,
    /// Rebooted: a new boot time, nothing pending.
    Rebooted,
}

/// What the host went through, for the test to check.
#[derive(Debug)]
pub struct Seen {
    pub phase: Phase,
    /// `PATCHWAVE_KBS` of every install run.
    pub installs: Vec<String>,
    pub reboots: usize,
    /// Each command: the program, or the script's name for PowerShell.
    pub commands: Vec<String>,
    /// Requests that a real host would have refused or that patchwave
    /// should not send.
    pub problems: Vec<String>,
}

pub struct WindowsHost {
    pub seen: Arc<Mutex<Seen>>,
    templates: Vec<String>,
    shells: HashMap<String, Vec<(String, String)>>,
    outputs: HashMap<String, (Vec<u8>, Vec<u8>, i32)>,
    counter: u32,
}

fn doc(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/os/windows")
            .join(name),
    )
    .unwrap()
}

impl WindowsHost {
    pub fn new() -> WindowsHost {
        WindowsHost {
            seen: Arc::new(Mutex::new(Seen {
                phase: Phase::Before,
                installs: Vec::new(),
                reboots: 0,
                commands: Vec::new(),
                problems: Vec::new(),
            })),
            templates: transcript("test_winrs_standard")
                .into_iter()
                .map(|m| m.response)
                .collect(),
            shells: HashMap::new(),
            outputs: HashMap::new(),
            counter: 0,
        }
    }

    fn new_id(&mut self) -> String {
        self.counter += 1;
        format!("{:08X}-0000-4000-8000-{:012X}", self.counter, self.counter)
    }

    /// Runs one command as the host would; stdout, stderr, exit code.
    fn execute(
        &mut self,
        env: &[(String, String)],
        program: &str,
        args: &[String],
    ) -> (Vec<u8>, Vec<u8>, i32) {
        let mut seen = self.seen.lock().unwrap();
        match program {
            "powershell.exe" => {
                let script = args
                    .iter()
                    .position(|a| a == "-EncodedCommand")
                    .and_then(|i| args.get(i + 1))
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|b| {
                        let units: Vec<u16> = b
                            .chunks_exact(2)
                            .map(|c| u16::from_le_bytes([c[0], c[1]]))
                            .collect();
                        String::from_utf16_lossy(&units)
                    })
                    .unwrap_or_default();
                if script == SCAN_SCRIPT {
                    seen.commands.push("scan.ps1".into());
                    let name = match seen.phase {
                        Phase::Before => "scan-before.json",
                        Phase::Installed => "scan-after.json",
                        Phase::Rebooted => "scan-rebooted.json",
                    };
                    (doc(name).trim().as_bytes().to_vec(), Vec::new(), 0)
                } else if script == INSTALL_SCRIPT {
                    seen.commands.push("install.ps1".into());
                    let kbs = env
                        .iter()
                        .find(|(k, _)| k == "PATCHWAVE_KBS")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    seen.installs.push(kbs);
                    seen.phase = Phase::Installed;
                    (
                        doc("install-ok.json").trim().as_bytes().to_vec(),
                        Vec::new(),
                        0,
                    )
                } else if script == BOOT_ID_SCRIPT {
                    seen.commands.push("boot-id".into());
                    let boot = if seen.phase == Phase::Rebooted {
                        "2024-10-15T22:41:09Z"
                    } else {
                        "2024-10-01T03:12:44Z"
                    };
                    (boot.as_bytes().to_vec(), Vec::new(), 0)
                } else {
                    seen.problems
                        .push(format!("an unknown PowerShell script:\n{script}"));
                    (Vec::new(), b"unknown script".to_vec(), 1)
                }
            }
            "shutdown.exe" => {
                seen.commands
                    .push(format!("shutdown.exe {}", args.join(" ")));
                if args.first().map(String::as_str) != Some("/r") {
                    seen.problems
                        .push(format!("shutdown.exe {args:?} is not a restart"));
                }
                seen.reboots += 1;
                if seen.phase == Phase::Installed {
                    seen.phase = Phase::Rebooted;
                }
                (Vec::new(), Vec::new(), 0)
            }
            other => {
                seen.problems
                    .push(format!("an unexpected program `{other}` {args:?}"));
                (
                    Vec::new(),
                    format!("'{other}' is not recognized as an internal or external command")
                        .into_bytes(),
                    1,
                )
            }
        }
    }

    fn receive_response(&self, command: &str, out: &(Vec<u8>, Vec<u8>, i32)) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let t = &self.templates[2];
        let head = &t[..t.find("<s:Body>").unwrap()];
        let stream = |name: &str, data: &[u8]| {
            let mut s = String::new();
            if !data.is_empty() {
                s.push_str(&format!(
                    r#"<rsp:Stream Name="{name}" CommandId="{command}">{}</rsp:Stream>"#,
                    b64.encode(data)
                ));
            }
            s.push_str(&format!(
                r#"<rsp:Stream Name="{name}" CommandId="{command}" End="true"></rsp:Stream>"#
            ));
            s
        };
        format!(
            r#"{head}<s:Body><rsp:ReceiveResponse>{}{}<rsp:CommandState CommandId="{command}" State="{SHELL_NS}/CommandState/Done"><rsp:ExitCode>{}</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse></s:Body></s:Envelope>"#,
            stream("stdout", &out.0),
            stream("stderr", &out.1),
            out.2
        )
    }
}

impl Responder for WindowsHost {
    fn problem(&mut self, what: String) {
        self.seen.lock().unwrap().problems.push(what);
    }

    fn answer(&mut self, soap: &str) -> (u16, String) {
        let Ok(doc) = roxmltree::Document::parse(soap) else {
            self.problem(format!("not XML:\n{soap}"));
            return (500, String::new());
        };
        let text = |local: &str| {
            doc.descendants()
                .find(|n| n.tag_name().name() == local)
                .and_then(|n| n.text())
                .unwrap_or("")
                .to_string()
        };
        let action = text("Action");
        let action = action.rsplit('/').next().unwrap_or("").to_string();
        let shell = doc
            .descendants()
            .find(|n| n.tag_name().name() == "Selector" && n.attribute("Name") == Some("ShellId"))
            .and_then(|n| n.text())
            .unwrap_or("")
            .to_string();
        let option = |name: &str| {
            doc.descendants()
                .find(|n| n.tag_name().name() == "Option" && n.attribute("Name") == Some(name))
                .and_then(|n| n.text())
                .map(str::to_string)
        };
        match action.as_str() {
            "Create" => {
                let env: Vec<(String, String)> = doc
                    .descendants()
                    .filter(|n| n.has_tag_name((SHELL_NS, "Variable")))
                    .map(|n| {
                        (
                            n.attribute("Name").unwrap_or("").to_string(),
                            n.text().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                if option("WINRS_CODEPAGE").as_deref() != Some("65001") {
                    self.problem("a shell without code page 65001 (UTF-8 output)".into());
                }
                let id = self.new_id();
                self.shells.insert(id.clone(), env);
                (200, self.templates[0].replace(RECORDED_SHELL, &id))
            }
            "Command" => {
                if option("WINRS_SKIP_CMD_SHELL").as_deref() != Some("True") {
                    self.problem("a command started under cmd.exe".into());
                }
                let program = text("Command");
                let args: Vec<String> = doc
                    .descendants()
                    .filter(|n| n.has_tag_name((SHELL_NS, "Arguments")))
                    .map(|n| n.text().unwrap_or("").to_string())
                    .collect();
                let env = self.shells.get(&shell).cloned().unwrap_or_default();
                let out = self.execute(&env, &program, &args);
                let id = self.new_id();
                self.outputs.insert(id.clone(), out);
                (200, self.templates[1].replace(RECORDED_COMMAND, &id))
            }
            "Receive" => {
                let command = doc
                    .descendants()
                    .find(|n| n.tag_name().name() == "DesiredStream")
                    .and_then(|n| n.attribute("CommandId"))
                    .unwrap_or("")
                    .to_string();
                match self.outputs.get(&command) {
                    Some(out) => (200, self.receive_response(&command, out)),
                    None => {
                        self.problem(format!("Receive for an unknown command {command}"));
                        (500, String::new())
                    }
                }
            }
            "Signal" => (200, self.templates[3].clone()),
            "Delete" => {
                self.shells.remove(&shell);
                (200, self.templates[4].clone())
            }
            other => {
                self.problem(format!("an unexpected action {other}"));
                (500, String::new())
            }
        }
    }
}
