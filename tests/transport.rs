//! The ssh and local transports against real sshd hosts of the test fleet.

mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use patchwave::transport::{
    LocalTransport, RemoteCommand, SshSettings, SshTransport, Transport, TransportError,
};
use support::fleet::{Base, Fleet};

static FLEET: OnceLock<Fleet> = OnceLock::new();

fn fleet() -> &'static Fleet {
    Fleet::shared(&FLEET, Base::Apt, 3, 3)
}

fn settings(f: &Fleet, host: &str) -> SshSettings {
    let mut s = SshSettings::new(f.host(host).address.clone());
    s.user = Some("root".into());
    s.identity_file = Some(f.identity());
    s.known_hosts_file = Some(f.known_hosts());
    s.connect_timeout = Duration::from_secs(3);
    s
}

async fn connect(host: &str) -> SshTransport {
    let f = fleet();
    SshTransport::connect(host, &settings(f, host))
        .await
        .unwrap()
}

/// Arguments a shell would mangle arrive as written.
const TRICKY: [&str; 7] = [
    "a b",
    "$(id)",
    "'q'",
    "semi;colon",
    "*",
    "back\\slash",
    "new\nline",
];

#[tokio::test]
async fn arguments_are_never_interpreted_by_a_shell() {
    let t = connect("h1").await;
    let cmd = RemoteCommand::new("printf").arg("[%s]").args(TRICKY);
    let out = t.run(&cmd).await.unwrap();
    assert!(out.success(), "{}", out.stderr_tail());
    let want: String = TRICKY.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(out.stdout_str(), want);
}

#[tokio::test]
async fn exit_codes_stderr_stdin_and_env() {
    let t = connect("h1").await;
    let out = t
        .run(&RemoteCommand::new("sh").args(["-c", "echo oops >&2; echo $LC_ALL; exit 7"]))
        .await
        .unwrap();
    assert_eq!(out.status, Some(7));
    assert_eq!(out.stdout_str(), "C\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");

    let data: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    let out = t
        .run(&RemoteCommand::new("cat").stdin(data.clone()))
        .await
        .unwrap();
    assert_eq!(out.stdout, data);

    t.write_file("/root/patchwave-test", b"hello\n", 0o640)
        .await
        .unwrap();
    let out = t
        .run(&RemoteCommand::new("stat").args(["-c", "%a", "/root/patchwave-test"]))
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "640\n");
}

#[tokio::test]
async fn a_command_that_hangs_times_out_and_the_connection_survives() {
    let t = connect("h2").await;
    let start = Instant::now();
    let err = t
        .run(
            &RemoteCommand::new("sleep")
                .arg("30")
                .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(t.run(&RemoteCommand::new("true")).await.unwrap().success());
    // The timed-out command is not left running on the host.
    let count_sleeps = RemoteCommand::new("sh").args([
        "-c",
        "n=0; for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = sleep ] && n=$((n+1)); done; echo $n",
    ]);
    assert_eq!(t.run(&count_sleeps).await.unwrap().stdout_str(), "0\n");
}

#[tokio::test]
async fn all_commands_to_a_host_share_one_connection() {
    let f = fleet();
    let log = f.dir().join("hosts/h3/sshd.log");
    let before = std::fs::read_to_string(&log)
        .unwrap()
        .matches("Accepted publickey")
        .count();
    let t = connect("h3").await;
    for i in 0..20 {
        let out = t
            .run(&RemoteCommand::new("echo").arg(i.to_string()))
            .await
            .unwrap();
        assert_eq!(out.stdout_str(), format!("{i}\n"));
    }
    let after = std::fs::read_to_string(&log)
        .unwrap()
        .matches("Accepted publickey")
        .count();
    assert_eq!(after - before, 1, "20 commands should reuse one ssh login");
}

#[tokio::test]
async fn a_host_key_that_does_not_match_known_hosts_is_refused() {
    let f = fleet();
    // A known_hosts that gives h1's address the key of h2.
    let kh = std::fs::read_to_string(f.known_hosts()).unwrap();
    let h1 = &f.host("h1").address;
    let h2 = &f.host("h2").address;
    let h2_key = kh
        .lines()
        .find(|l| l.starts_with(&format!("{h2} ")))
        .unwrap();
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), h2_key.replacen(h2.as_str(), h1, 1) + "\n").unwrap();
    let mut s = settings(f, "h1");
    s.known_hosts_file = Some(wrong.path().to_path_buf());
    let err = SshTransport::connect("h1", &s).await.unwrap_err();
    match &err {
        TransportError::HostKey { host, message } => {
            assert_eq!(host, "h1");
            assert!(message.contains("known_hosts"), "{message}");
        }
        other => panic!("expected a host key error, got {other}"),
    }
    assert!(
        err.to_string()
            .starts_with("h1: host key verification failed"),
        "{err}"
    );

    // An empty known_hosts (host never seen) is refused too: no trust on first use.
    let empty = tempfile::NamedTempFile::new().unwrap();
    s.known_hosts_file = Some(empty.path().to_path_buf());
    let err = SshTransport::connect("h1", &s).await.unwrap_err();
    assert!(matches!(err, TransportError::HostKey { .. }), "{err}");
}

#[tokio::test]
async fn an_address_with_nothing_listening_is_unreachable_quickly() {
    let f = fleet();
    let mut s = settings(f, "h1");
    s.address = "127.0.3.99".into();
    let start = Instant::now();
    let err = SshTransport::connect("ghost", &s).await.unwrap_err();
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("Connection refused"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn local_transport_runs_argv_without_a_shell() {
    let t = LocalTransport::new("localhost");
    let out = t
        .run(&RemoteCommand::new("printf").arg("[%s]").args(TRICKY))
        .await
        .unwrap();
    let want: String = TRICKY.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(out.stdout_str(), want);
    let err = t
        .run(
            &RemoteCommand::new("sleep")
                .arg("10")
                .timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }));
    let out = t
        .run(&RemoteCommand::new("sh").args(["-c", "exit 3"]))
        .await
        .unwrap();
    assert_eq!(out.status, Some(3));
}

/// A jump host that cannot be reached is named, with ssh's own reason for
/// it (here: nothing listens there), not only the handshake error that the
/// connection through it ends with.
#[tokio::test]
async fn an_unreachable_jump_host_is_named_with_its_own_error() {
    let f = fleet();
    let mut s = settings(f, "h1");
    s.jump_host = Some("root@127.0.9.96".into());
    let started = Instant::now();
    let err = SshTransport::connect("h1", &s).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, TransportError::Unreachable { .. })
            && text.contains("jump host root@127.0.9.96")
            && text.contains("Connection refused"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// Through a jump host that works, a target it cannot reach is named as
/// such: the jump host's own words about the onward connection.
#[tokio::test]
async fn a_target_the_jump_host_cannot_reach_is_told_apart_from_the_jump_host() {
    let f = fleet();
    let mut s = settings(f, "h1");
    s.address = "127.0.3.99".into();
    s.config_file = Some(f.ssh_config());
    s.jump_host = Some(format!("root@{}", f.host("h2").address));
    let err = SshTransport::connect("h1", &s).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "the jump host root@{} cannot connect on to 127.0.3.99",
            f.host("h2").address
        )) && text.contains("Connection refused"),
        "{text}"
    );
}
