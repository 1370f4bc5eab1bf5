//! Against a live Windows host, when one is given (ignored by default; no
//! Windows host runs in CI). Read-only: a command, then patchwave's Windows
//! Update scan, through the same transport `scan` uses.
//!
//! ```sh
//! PATCHWAVE_WINRM_TEST_HOST=win.example.org \
//! PATCHWAVE_WINRM_TEST_USER='EXAMPLE\patchwave' PATCHWAVE_WINRM_TEST_PASSWORD=... \
//! cargo test --test winrm_live -- --ignored --nocapture
//! ```
//! Optional: `PATCHWAVE_WINRM_TEST_SCHEME` (`http`, the default, NTLM with
//! sealing on port 5985; or `https`, Basic on port 5986),
//! `PATCHWAVE_WINRM_TEST_PORT`, `PATCHWAVE_WINRM_TEST_CA` (a PEM bundle for
//! https; else the system's roots).

use std::time::Duration;

use patchwave::transport::winrm::http::Trust;
use patchwave::transport::winrm::{AuthKind, PasswordSource, WinrmSettings, WinrmTransport};
use patchwave::transport::{RemoteCommand, Transport};

#[test]
#[ignore = "needs a live Windows host: set PATCHWAVE_WINRM_TEST_HOST (see the file's header)"]
fn a_live_windows_host_runs_a_command_and_scans() {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let host = var("PATCHWAVE_WINRM_TEST_HOST").expect("PATCHWAVE_WINRM_TEST_HOST");
    let https = var("PATCHWAVE_WINRM_TEST_SCHEME").as_deref() == Some("https");
    let settings = WinrmSettings {
        address: host.clone(),
        port: var("PATCHWAVE_WINRM_TEST_PORT")
            .map(|p| p.parse().expect("a port number"))
            .unwrap_or(if https { 5986 } else { 5985 }),
        tls: https.then(|| match var("PATCHWAVE_WINRM_TEST_CA") {
            Some(ca) => Trust::CaBundle(ca.into()),
            None => Trust::System,
        }),
        auth: if https {
            AuthKind::Basic
        } else {
            AuthKind::Ntlm
        },
        user: var("PATCHWAVE_WINRM_TEST_USER").expect("PATCHWAVE_WINRM_TEST_USER"),
        password: PasswordSource::Env("PATCHWAVE_WINRM_TEST_PASSWORD".into()),
        connect_timeout: Duration::from_secs(10),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let t = WinrmTransport::connect(&host, &settings).await.unwrap();
        let out = t
            .run(&RemoteCommand::new("cmd.exe").args(["/c", "echo", "patchwave says hi"]))
            .await
            .unwrap();
        assert_eq!(out.status, Some(0));
        assert_eq!(out.stdout_str().trim(), "patchwave says hi");
        let facts = patchwave::os::scan_host(&t, &patchwave::os::ScanOptions::default())
            .await
            .unwrap();
        println!("{}", serde_json::to_string_pretty(&facts).unwrap());
        assert_eq!(facts.os.id, "windows");
    });
}
