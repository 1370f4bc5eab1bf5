//! patchwave's WinRS client against transcripts recorded on a real Windows
//! host (../shared/vectors/winrm-pypsrp, recorded by the pypsrp project):
//! every request must mean what the recorded one says, and the recorded
//! answers must come back as the right output, errors and exit codes.
//! No Windows host runs here; this is the protocol as Windows spoke it.

mod support;

use std::time::Duration;

use patchwave::transport::winrm::client::{Auth, Output, WinrmClient, WinrmError};
use patchwave::transport::winrm::envelope::ShellOptions;
use patchwave::transport::winrm::http::{Endpoint, Trust};
use support::winrm_replay::{PASSWORD, Replay, USER, transcript};

fn client(replay: &Replay, password: &str, trust: Trust) -> WinrmClient {
    WinrmClient::new(
        "win-1",
        Endpoint {
            host: "127.0.0.1".into(),
            port: replay.port,
            tls: Some(trust),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
        },
        Auth::Basic {
            user: USER.into(),
            password: password.into(),
        },
    )
    .unwrap()
}

fn replay(name: &str) -> (Replay, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Replay::start(transcript(name), dir.path()), dir)
}

fn trusted(r: &Replay) -> Trust {
    Trust::CaBundle(r.dir.join("ca.pem"))
}

/// Open a shell, run one command, close (with the OperationTimeout the
/// recording used).
fn run_one(
    name: &str,
    shell: ShellOptions,
    program: &str,
    args: &[&str],
    operation_timeout_secs: u32,
) -> (Output, Replay, tempfile::TempDir) {
    let (r, dir) = replay(name);
    let mut c = client(&r, PASSWORD, trusted(&r));
    c.session_mut().operation_timeout_secs = operation_timeout_secs;
    let id = c
        .open_shell(&shell)
        .unwrap_or_else(|e| panic!("{e}\n{}", r.deviations.lock().unwrap().join("\n")));
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = c
        .run(&id, program, &args, None, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", r.deviations.lock().unwrap().join("\n")));
    c.close_shell(&id).unwrap();
    r.assert_complete();
    (out, r, dir)
}

#[test]
fn a_standard_command() {
    let (out, ..) = run_one(
        "test_winrs_standard",
        ShellOptions::default(),
        "cmd.exe",
        &["/c", "echo", "hi"],
        20,
    );
    assert_eq!(out.stdout, b"hi\r\n");
    assert_eq!((out.stderr.as_slice(), out.exit_code), (&b""[..], Some(0)));
}

#[test]
fn stderr_and_a_non_zero_exit_code() {
    let (out, ..) = run_one(
        "test_winrs_stderr_rc",
        ShellOptions::default(),
        "cmd.exe",
        &["/c echo out && echo err>&2 && exit 1"],
        20,
    );
    assert_eq!(out.stdout, b"out \r\n");
    assert_eq!(out.stderr, b"err \r\n");
    assert_eq!(out.exit_code, Some(1));
}

#[test]
fn unicode_output_in_code_page_65001() {
    let (out, ..) = run_one(
        "test_winrs_unicode",
        ShellOptions {
            codepage: Some(65001),
            ..ShellOptions::default()
        },
        "powershell.exe",
        &["Write-Host こんにちは"],
        20,
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "こんにちは\n");
}

#[test]
fn operation_timeouts_are_retried_until_the_command_is_done() {
    let (out, ..) = run_one(
        "test_winrs_operation_timeout",
        ShellOptions::default(),
        "powershell.exe",
        &["Write-Host hi; Start-Sleep 30; Write-Host hi again"],
        10,
    );
    assert_eq!(out.stdout, b"hi\nhi again\n");
    assert_eq!(out.exit_code, Some(0));
}

#[test]
fn a_profile_free_shell() {
    let (out, ..) = run_one(
        "test_winrs_noprofile",
        ShellOptions {
            no_profile: true,
            ..ShellOptions::default()
        },
        "cmd.exe",
        &["/c", "set"],
        20,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("COMPUTERNAME=SERVER2016"), "{text}");
}

#[test]
fn stdin_in_pieces() {
    let (r, _dir) = replay("test_winrs_send");
    let mut c = client(&r, PASSWORD, trusted(&r));
    let shell = c.open_shell(&ShellOptions::default()).unwrap();
    let cmd = c.start(&shell, "powershell.exe", &["-".into()]).unwrap();
    c.send(&shell, &cmd, b"Write-Host \"output 1\";", false)
        .unwrap();
    c.send(&shell, &cmd, b"Write-Host \"output 2\";", true)
        .unwrap();
    let out = c
        .receive_all(
            &shell,
            &cmd,
            std::time::Instant::now() + Duration::from_secs(30),
        )
        .unwrap();
    c.signal(&shell, &cmd, "ctrl_c").unwrap();
    c.close_shell(&shell).unwrap();
    r.assert_complete();
    assert_eq!(out.stdout, b"output 1\noutput 2\n");
}

#[test]
fn a_request_that_deviates_fails_with_a_readable_xml_diff() {
    let (r, _dir) = replay("test_winrs_standard");
    let mut c = client(&r, PASSWORD, trusted(&r));
    let shell = c.open_shell(&ShellOptions::default()).unwrap();
    let err = c
        .run(
            &shell,
            "cmd.exe",
            &["/c".into(), "echo".into(), "bye".into()],
            None,
            Duration::from_secs(30),
        )
        .unwrap_err();
    assert!(matches!(err, WinrmError::Protocol { .. }), "{err}");
    let diffs = r.deviations.lock().unwrap().clone();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    let diff = &diffs[0];
    assert!(diff.contains("--- recorded request"), "{diff}");
    assert!(
        diff.contains(
            "-      <{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}Arguments>hi"
        ),
        "{diff}"
    );
    assert!(
        diff.contains(
            "+      <{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}Arguments>bye"
        ),
        "{diff}"
    );
}

#[test]
fn a_wrong_password_is_an_authentication_error_naming_the_host_not_the_secret() {
    let (r, _dir) = replay("test_winrs_standard");
    let mut c = client(&r, "not-the-Secret-1", trusted(&r));
    let err = c.open_shell(&ShellOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, WinrmError::Auth { .. }), "{text}");
    assert!(
        text.starts_with("win-1: authentication failed for user `vagrant`"),
        "{text}"
    );
    assert!(!text.contains("not-the-Secret-1"), "{text}");
    assert!(!format!("{err:?}").contains("not-the-Secret-1"));
}

#[test]
fn certificates_are_checked_by_ca_or_pin() {
    // The right pin works; a CA that did not sign the host's certificate
    // and a wrong pin are connect errors that say why.
    let (r, _dir) = replay("test_winrs_standard");
    let pin = support::tls::server_fingerprint(&r.dir);
    let mut c = client(&r, PASSWORD, Trust::Pinned(pin));
    let shell = c.open_shell(&ShellOptions::default()).unwrap();
    assert!(!shell.is_empty());

    let (r, _dir) = replay("test_winrs_standard");
    let mut wrong = pin;
    wrong[0] ^= 0xff;
    let err = client(&r, PASSWORD, Trust::Pinned(wrong))
        .open_shell(&ShellOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("win-1: cannot connect: TLS handshake"),
        "{err}"
    );
    assert!(err.contains("not the pinned"), "{err}");

    let other = tempfile::tempdir().unwrap();
    let _unrelated = support::tls::server_config(other.path());
    let err = client(&r, PASSWORD, Trust::CaBundle(other.path().join("ca.pem")))
        .open_shell(&ShellOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid peer certificate"), "{err}");
}

fn ntlm_client(replay: &Replay, password: &str) -> WinrmClient {
    WinrmClient::new(
        "win-1",
        Endpoint {
            host: "127.0.0.1".into(),
            port: replay.port,
            tls: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
        },
        Auth::ntlm(USER, password),
    )
    .unwrap()
}

/// NTLM over plain HTTP: the handshake, then every request and answer
/// sealed; the replaying server only understands sealed bodies and checks
/// the client's proof and MIC.
#[test]
fn ntlm_sealed_sessions_replay_the_same_transcripts() {
    let dir = tempfile::tempdir().unwrap();
    let r = Replay::start_with(
        transcript("test_winrs_operation_timeout"),
        dir.path(),
        support::winrm_replay::Mode::HttpNtlm,
    );
    let mut c = ntlm_client(&r, PASSWORD);
    c.session_mut().operation_timeout_secs = 10;
    let shell = c.open_shell(&ShellOptions::default()).unwrap();
    let out = c
        .run(
            &shell,
            "powershell.exe",
            &["Write-Host hi; Start-Sleep 30; Write-Host hi again".into()],
            None,
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", r.deviations.lock().unwrap().join("\n")));
    c.close_shell(&shell).unwrap();
    r.assert_complete();
    assert_eq!(out.stdout, b"hi\nhi again\n");
}

#[test]
fn a_wrong_ntlm_password_is_an_authentication_error() {
    let dir = tempfile::tempdir().unwrap();
    let r = Replay::start_with(
        transcript("test_winrs_standard"),
        dir.path(),
        support::winrm_replay::Mode::HttpNtlm,
    );
    let err = ntlm_client(&r, "Wr0ng-passw0rd")
        .open_shell(&ShellOptions::default())
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, WinrmError::Auth { .. }), "{text}");
    assert!(
        text.starts_with(
            "win-1: authentication failed for user `vagrant` (HTTP 401 after NTLM authentication"
        ),
        "{text}"
    );
    assert!(!text.contains("Wr0ng"), "{text}");
}

#[test]
fn basic_over_plain_http_is_refused_before_anything_is_sent() {
    let err = WinrmClient::new(
        "win-1",
        Endpoint {
            host: "127.0.0.1".into(),
            port: 9,
            tls: None,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
        },
        Auth::Basic {
            user: USER.into(),
            password: PASSWORD.into(),
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("in the clear"), "{err}");
}
