//! Git's smart HTTP protocol over `http://` and `https://`, registered with
//! libgit2 in place of its own (which needs OpenSSL at build time). TLS is
//! rustls; certificates are checked against `PATCHWAVE_GIT_CA_BUNDLE` when
//! set, else the system's bundle (/etc/ssl/certs/ca-certificates.crt, as git
//! uses), else Mozilla's roots built in.
//!
//! Credentials: `user:password@` in the URL, or `PATCHWAVE_GIT_TOKEN` (with
//! `PATCHWAVE_GIT_USER`, default `x-access-token`, which GitHub and Gitea
//! accept; GitLab wants `oauth2` for OAuth tokens). They are only ever sent
//! over HTTPS, and never appear in messages.

use std::io::{self, Read, Write};
use std::sync::Once;
use std::time::Duration;

use base64::Engine;
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};

/// How one HTTP remote is reached: the agent (TLS roots, timeouts) and the
/// `Authorization` header, if any.
#[derive(Clone)]
struct HttpRemote {
    agent: ureq::Agent,
    authorization: Option<String>,
}

/// The URL without its credentials, and the credentials as `(user, password)`.
fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), None);
    };
    let authority_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    match url[scheme_end..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &url[scheme_end..scheme_end + at];
            let bare = format!("{}{}", &url[..scheme_end], &url[scheme_end + at + 1..]);
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (bare, Some((percent_decode(user), percent_decode(password))))
        }
        None => (url.to_string(), None),
    }
}

/// `%XX` escapes decoded (URL userinfo may escape `@`, `:` and `/`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl HttpRemote {
    fn new(url: &str) -> Result<HttpRemote, String> {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(crate::tls_roots::roots_for("PATCHWAVE_GIT_CA_BUNDLE")?)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            // Servers that speak smart HTTP expect a git client.
            .user_agent(concat!(
                "git/2.0 (patchwave/",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .build()
            .into();
        let (_, in_url) = split_credentials(url);
        let token = std::env::var("PATCHWAVE_GIT_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        let credentials = in_url.or_else(|| {
            token.map(|t| {
                let user = std::env::var("PATCHWAVE_GIT_USER")
                    .ok()
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| "x-access-token".into());
                (user, t)
            })
        });
        let authorization = match credentials {
            None => None,
            Some(_) if !url.starts_with("https://") => {
                return Err(format!(
                    "refusing to send git credentials over plain HTTP to {}; use https://",
                    super::redact(url)
                ));
            }
            Some((user, password)) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
        };
        Ok(HttpRemote {
            agent,
            authorization,
        })
    }
}

/// One request: libgit2 writes the body (for a POST), then reads the answer.
struct HttpStream {
    remote: HttpRemote,
    /// Without credentials, for requests and messages alike.
    url: String,
    service: &'static str,
    post: bool,
    body: Vec<u8>,
    response: Option<ureq::BodyReader<'static>>,
}

impl HttpStream {
    fn send(&mut self) -> io::Result<ureq::BodyReader<'static>> {
        let result = if self.post {
            let mut req = self
                .remote
                .agent
                .post(&self.url)
                .header(
                    "Content-Type",
                    format!("application/x-{}-request", self.service),
                )
                .header("Accept", format!("application/x-{}-result", self.service));
            if let Some(a) = &self.remote.authorization {
                req = req.header("Authorization", a);
            }
            req.send(&self.body[..])
        } else {
            let mut req = self.remote.agent.get(&self.url);
            if let Some(a) = &self.remote.authorization {
                req = req.header("Authorization", a);
            }
            req.call()
        };
        let response = result.map_err(|e| {
            io::Error::other(format!(
                "cannot reach {}: {}",
                self.url,
                scrub(&e.to_string())
            ))
        })?;
        let status = response.status().as_u16();
        let what = match status {
            200 => None,
            401 if self.remote.authorization.is_none() => Some(
                "the server wants credentials: set PATCHWAVE_GIT_TOKEN (and PATCHWAVE_GIT_USER if it is not a GitHub-style token)"
                    .to_string(),
            ),
            401 | 403 => Some(
                "the server refused the credentials (PATCHWAVE_GIT_TOKEN or the URL's user): check the token and its access to this repository"
                    .to_string(),
            ),
            404 => Some("no such repository (or no access to it)".to_string()),
            s => Some(format!("the server answered HTTP {s}")),
        };
        if let Some(what) = what {
            return Err(io::Error::other(format!("{}: {what}", self.url)));
        }
        let expected = if self.post {
            format!("application/x-{}-result", self.service)
        } else {
            format!("application/x-{}-advertisement", self.service)
        };
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !content_type.starts_with(&expected) {
            return Err(io::Error::other(format!(
                "{} is not a smart-HTTP git server (answered `{content_type}`, not `{expected}`; dumb HTTP is not supported)",
                self.url
            )));
        }
        Ok(response.into_body().into_reader())
    }
}

/// Error text from the HTTP client, without any credentials it may quote.
fn scrub(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            if w.contains("://") {
                super::redact(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Read for HttpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.response.is_none() {
            self.response = Some(self.send()?);
        }
        self.response.as_mut().expect("just sent").read(buf)
    }
}

impl Write for HttpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.response.is_some() {
            return Err(io::Error::other(
                "git wrote to an HTTP request that was already sent",
            ));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct HttpSubtransport {
    remote: Result<HttpRemote, String>,
}

impl SmartSubtransport for HttpSubtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let remote = self.remote.clone().map_err(|e| git2::Error::from_str(&e))?;
        let (base, _) = split_credentials(url);
        let base = base.trim_end_matches('/');
        let (service, post) = match action {
            Service::UploadPackLs => ("git-upload-pack", false),
            Service::UploadPack => ("git-upload-pack", true),
            Service::ReceivePackLs => ("git-receive-pack", false),
            Service::ReceivePack => ("git-receive-pack", true),
        };
        let url = if post {
            format!("{base}/{service}")
        } else {
            format!("{base}/info/refs?service={service}")
        };
        Ok(Box::new(HttpStream {
            remote,
            url,
            service,
            post,
            body: Vec::new(),
            response: None,
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// Registers the transport for `http` and `https` (once per process). The
/// environment (token, CA bundle) is read for each fetch or push.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["http", "https"] {
            // SAFETY: as for the SSH transport: `Once` serialises this, and
            // it runs before the first remote operation creates a transport.
            let registered = unsafe {
                git2::transport::register(scheme, |remote| {
                    let url = remote.url().unwrap_or_default().to_string();
                    // Stateless (rpc): each request is a stream of its own.
                    Transport::smart(
                        remote,
                        true,
                        HttpSubtransport {
                            remote: HttpRemote::new(&url),
                        },
                    )
                })
            };
            if let Err(e) = registered {
                eprintln!("patchwave: cannot register the HTTP git transport for {scheme}: {e}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_out_of_the_url() {
        assert_eq!(
            split_credentials("https://bot:s%40cret@git.example.org/infra/fleet.git"),
            (
                "https://git.example.org/infra/fleet.git".to_string(),
                Some(("bot".to_string(), "s@cret".to_string()))
            )
        );
        assert_eq!(
            split_credentials("https://git.example.org/a@b/fleet.git"),
            ("https://git.example.org/a@b/fleet.git".to_string(), None)
        );
    }

    #[test]
    fn credentials_are_never_sent_over_plain_http() {
        let err = HttpRemote::new("http://bot:secret@127.0.0.1:1/fleet.git")
            .err()
            .unwrap();
        assert!(err.contains("plain HTTP"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn error_text_loses_credentials() {
        assert_eq!(
            scrub("failed https://bot:secret@h/x: refused"),
            "failed https://h/x: refused"
        );
    }
}
