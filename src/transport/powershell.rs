//! PowerShell as patchwave sends it: constant scripts as `-EncodedCommand`
//! (UTF-16LE, base64: no quoting to get wrong, the same under cmd.exe and
//! any other shell), and, for Windows hosts reached over SSH, a constant
//! runner script that takes the command to run as JSON on stdin.

use base64::Engine;

use super::RemoteCommand;

/// Runs one command from a JSON request on stdin (see the script).
pub const RUN_SCRIPT: &str = include_str!("run.ps1");

/// The arguments after `powershell.exe` that run `script`.
pub fn encoded_args(script: &str) -> Vec<String> {
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    [
        "-NoLogo",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-EncodedCommand",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([base64::engine::general_purpose::STANDARD.encode(utf16)])
    .collect()
}

/// `powershell.exe` running `script` (constant text).
pub fn command(script: &str) -> RemoteCommand {
    RemoteCommand::new("powershell.exe").args(encoded_args(script))
}

/// The script an `-EncodedCommand` argument carries.
pub fn encoded_script(args: &[String]) -> Option<String> {
    let at = args.iter().position(|a| a == "-EncodedCommand")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(args.get(at + 1)?)
        .ok()?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

/// For a Windows host over SSH: the remote command line (the runner; its
/// words are letters, dashes and base64, read the same by cmd.exe,
/// PowerShell and sh) and the stdin that carries `cmd` to it.
pub fn over_ssh(cmd: &RemoteCommand) -> (Vec<String>, Vec<u8>) {
    let mut argv = vec!["powershell.exe".to_string()];
    argv.extend(encoded_args(RUN_SCRIPT));
    let env: serde_json::Map<String, serde_json::Value> = cmd
        .env
        .iter()
        .filter(|(k, _)| k != "LC_ALL")
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let request = serde_json::json!({
        "program": cmd.program,
        "commandLine": cmd.args.iter().map(|a| super::winrm::quote_arg(a)).collect::<Vec<_>>().join(" "),
        "env": env,
        "stdin": cmd.stdin.as_ref().map(|s| base64::engine::general_purpose::STANDARD.encode(s)),
        "timeoutMs": cmd.timeout.as_millis() as u64,
    });
    let mut stdin = serde_json::to_vec(&request).expect("JSON of strings");
    stdin.push(b'\n');
    (argv, stdin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_line_is_plain_and_the_command_travels_as_data() {
        let cmd = RemoteCommand::new("shutdown.exe")
            .args(["/r", "/c", "a \"quoted\" reason"])
            .env("PATCHWAVE_KBS", "KB1,KB2")
            .stdin(b"in".to_vec());
        let (argv, stdin) = over_ssh(&cmd);
        assert!(argv.iter().all(|a| {
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.+/=".contains(&b))
        }));
        assert_eq!(encoded_script(&argv[1..]).as_deref(), Some(RUN_SCRIPT));
        let line = String::from_utf8(stdin).unwrap();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let req: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(req["program"], "shutdown.exe");
        assert_eq!(req["commandLine"], r#"/r /c "a \"quoted\" reason""#);
        assert_eq!(req["env"]["PATCHWAVE_KBS"], "KB1,KB2");
        assert!(req["env"].get("LC_ALL").is_none());
        assert_eq!(req["stdin"], "aW4=");
    }
}
