//! Health checks: a command on the host (healthy when it exits 0) or an HTTP
//! probe from patchwave's machine, each with a timeout and retries.

use std::time::Duration;

use super::template::{Scope, render, render_argv};
use crate::spec::host_group::HealthCheckSpec;
use crate::spec::parsed::DurationText;
use crate::transport::{RemoteCommand, Transport};
use serde::{Deserialize, Serialize};

/// One health check's result on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
    /// Why it failed (the check's own words, shortened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Runs every check (each with its retries), so the record shows all of
/// them, not only the first that failed.
pub async fn run_all(
    specs: &[HealthCheckSpec],
    transport: &dyn Transport,
    scope: &Scope,
) -> Vec<CheckResult> {
    let mut results = Vec::with_capacity(specs.len());
    for spec in specs {
        let r = check(spec, transport, scope).await;
        results.push(CheckResult {
            name: spec.name.value.clone(),
            ok: r.is_ok(),
            error: r.err().map(|e| shorten(&e)),
        });
    }
    results
}

/// The first failure among `results`, as the step's error; or how many passed.
pub fn verdict(results: &[CheckResult]) -> Result<String, String> {
    match results.iter().find(|r| !r.ok) {
        Some(r) => Err(r
            .error
            .clone()
            .unwrap_or_else(|| format!("check `{}` failed", r.name))),
        None => Ok(format!("{} check(s) passed", results.len())),
    }
}

/// Check output kept in run state and on the status branch is bounded.
fn shorten(text: &str) -> String {
    const MAX: usize = 500;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Runs one check with its retries; `Err` says why it is unhealthy.
pub async fn check(
    spec: &HealthCheckSpec,
    transport: &dyn Transport,
    scope: &Scope,
) -> Result<(), String> {
    let dur = |d: &Option<crate::spec::Spanned<DurationText>>, default| {
        d.as_ref().and_then(|d| d.get()).unwrap_or(default)
    };
    let timeout = dur(&spec.timeout, DEFAULT_TIMEOUT);
    let interval = dur(&spec.interval, DEFAULT_INTERVAL);
    let retries = spec.retries.as_ref().map_or(DEFAULT_RETRIES, |r| r.value);
    let mut last = String::new();
    for attempt in 0..=retries {
        if attempt > 0 {
            tokio::time::sleep(interval).await;
        }
        match once(spec, transport, scope, timeout).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(format!(
        "health check `{}` failed {} time{}: {last}",
        spec.name.value,
        retries + 1,
        if retries == 0 { "" } else { "s" }
    ))
}

async fn once(
    spec: &HealthCheckSpec,
    transport: &dyn Transport,
    scope: &Scope,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(argv) = &spec.command {
        let argv: Vec<String> = argv.value.iter().map(|a| a.value.clone()).collect();
        let argv = render_argv(&argv, scope)?;
        let Some((program, args)) = argv.split_first() else {
            return Err("empty command".into());
        };
        let cmd = RemoteCommand::new(program.clone())
            .args(args.iter().cloned())
            .timeout(timeout);
        let out = transport.run(&cmd).await.map_err(|e| e.to_string())?;
        return if out.success() {
            Ok(())
        } else {
            Err(format!(
                "`{}` exited with {}: {}",
                argv.join(" "),
                out.status.map_or("a signal".into(), |c| c.to_string()),
                crate::os::install::last_lines(
                    &format!("{}\n{}", out.stdout_str(), out.stderr_tail()),
                    3
                )
            ))
        };
    }
    if let Some(http) = &spec.http {
        let url = render(&http.url, scope)?;
        // Results go to run state and the status branch: never with
        // credentials a URL may carry.
        let shown = crate::source::redact(&url);
        let want = http.expect_status.as_ref().map_or(200, |s| s.value);
        let got = tokio::time::timeout(timeout, http_get_status(&url))
            .await
            .map_err(|_| format!("GET {shown}: no answer within {timeout:?}"))?
            .map_err(|e| e.replace(&url, &shown))?;
        let url = shown;
        return if got == want {
            Ok(())
        } else {
            Err(format!("GET {url}: status {got}, expected {want}"))
        };
    }
    Err("the check has neither `command` nor `http`".into())
}

/// `GET url` (http or https); the status code as it is, redirects not
/// followed. HTTPS certificates are checked against the bundle
/// `PATCHWAVE_HEALTH_CA_BUNDLE` names, else the system's roots.
pub async fn http_get_status(url: &str) -> Result<u32, String> {
    let bundle = std::env::var_os("PATCHWAVE_HEALTH_CA_BUNDLE")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    http_get_status_trusting(url, bundle.as_deref()).await
}

/// [`http_get_status`] with the CA bundle given.
pub async fn http_get_status_trusting(
    url: &str,
    ca_bundle: Option<&std::path::Path>,
) -> Result<u32, String> {
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Err(format!("GET {url}: not an http:// or https:// URL"));
    }
    let roots = crate::tls_roots::roots(ca_bundle).map_err(|e| format!("GET {url}: {e}"))?;
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .user_agent("patchwave")
            .build()
            .into();
        agent
            .get(&url)
            .call()
            .map(|r| u32::from(r.status().as_u16()))
            .map_err(|e| format!("GET {url}: {e}"))
    })
    .await
    .map_err(|e| format!("the probe task failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A one-shot HTTP server on loopback answering `status`.
    async fn serve(status: &'static str) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        format!("http://{addr}/healthz")
    }

    #[tokio::test]
    async fn http_probes_read_the_status_and_refuse_what_they_cannot_do() {
        // (https is tested against a TLS server in tests/health_https.rs.)
        assert_eq!(http_get_status(&serve("200 OK").await).await, Ok(200));
        assert_eq!(
            http_get_status(&serve("503 Service Unavailable").await).await,
            Ok(503)
        );
        let e = http_get_status("ftp://127.0.0.1/").await.unwrap_err();
        assert!(e.contains("not an http:// or https:// URL"), "{e}");
        let e = http_get_status("http://127.0.0.1:1/").await.unwrap_err();
        assert!(e.starts_with("GET http://127.0.0.1:1/:"), "{e}");
    }
}
