//! A WinRS client: a shell per session, commands in it, stdin sent in
//! pieces that fit MaxEnvelopeSize, output received until the command is
//! done (a TimedOut fault only means "ask again"), then Signal and Delete.
//! Blocking: the transport runs it on a blocking thread.

use std::time::{Duration, Instant};

use base64::Engine;

use super::envelope::{self, Session, ShellOptions};
use super::http::{Connection, Endpoint, HttpError, Response};
use super::ntlm::Sealer;
use super::ntlm_auth::{self, Credentials};
use super::response::{self, Fault};
use super::sealed;
use crate::transport::output::{self, Capped, Overflow, Tail};

/// How the client proves who it is. The password never leaves this value
/// except inside the authentication exchange.
#[derive(Clone)]
pub enum Auth {
    /// HTTP Basic: only over HTTPS.
    Basic { user: String, password: String },
    /// NTLMv2; over plain HTTP every message is sealed.
    Ntlm {
        user: String,
        domain: String,
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { user, .. } => write!(f, "Basic({user}, password hidden)"),
            Auth::Ntlm { user, domain, .. } => {
                write!(f, "Ntlm({domain}\\{user}, password hidden)")
            }
        }
    }
}

impl Auth {
    /// `DOMAIN\name` is split for NTLM; a user principal name
    /// (`name@example.org`) is sent whole with no domain, as Windows does.
    pub fn ntlm(user: &str, password: &str) -> Auth {
        let (domain, name) = user.split_once('\\').unwrap_or(("", user));
        Auth::Ntlm {
            user: name.to_string(),
            domain: domain.to_string(),
            password: password.to_string(),
        }
    }

    fn user(&self) -> String {
        match self {
            Auth::Basic { user, .. } => user.clone(),
            Auth::Ntlm { user, domain, .. } if domain.is_empty() => user.clone(),
            Auth::Ntlm { user, domain, .. } => format!("{domain}\\{user}"),
        }
    }
}

/// An established NTLM context: one sealer per direction.
struct NtlmContext {
    outgoing: Sealer,
    incoming: Sealer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WinrmError {
    #[error("{host}: cannot connect: {message}")]
    Connect { host: String, message: String },
    #[error(
        "{host}: authentication failed for user `{user}` ({message}); check the password the credentialRef names"
    )]
    Auth {
        host: String,
        user: String,
        message: String,
    },
    #[error("{host}: {fault}")]
    Fault { host: String, fault: Fault },
    #[error("{host}: {message}")]
    Protocol { host: String, message: String },
    #[error("{host}: the command did not finish within {after:?}")]
    Timeout { host: String, after: Duration },
    #[error("{host}: refusing: {message}")]
    Refused { host: String, message: String },
    /// The command sent more than the cap; it was terminated.
    #[error("{host}: the command sent more than {} on {}", output::format_size(.overflow.limit), .overflow.stream)]
    OutputTooLarge { host: String, overflow: Overflow },
}

/// What a finished command left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: Option<i32>,
}

pub struct WinrmClient {
    host: String,
    conn: Connection,
    auth: Auth,
    session: Session,
    ntlm: Option<NtlmContext>,
    /// Start commands directly rather than under `cmd.exe /c` (what the
    /// transport does; off by default, as in the recorded sessions).
    pub skip_cmd_shell: bool,
    /// The most a command may send on stdout (and on stderr); past it the
    /// command is terminated and fails.
    pub max_output: u64,
}

const SOAP_TYPE: &str = "application/soap+xml;charset=UTF-8";

/// The base64 NTLM token in a 401's `WWW-Authenticate: Negotiate …`.
fn challenge_token(answer: &Response) -> Option<&str> {
    if answer.status != 401 {
        return None;
    }
    answer.headers_named("www-authenticate").find_map(|v| {
        let (scheme, token) = v.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("Negotiate") || scheme.eq_ignore_ascii_case("NTLM"))
            .then(|| token.trim())
    })
}

impl WinrmClient {
    /// `host` names the host in messages (the endpoint may be an address).
    pub fn new(host: &str, endpoint: Endpoint, auth: Auth) -> Result<WinrmClient, WinrmError> {
        let refused = |message: String| WinrmError::Refused {
            host: host.to_string(),
            message,
        };
        if matches!(auth, Auth::Basic { .. }) && endpoint.tls.is_none() {
            return Err(refused(
                "Basic authentication over plain HTTP would send the password in the clear; use scheme https (or auth ntlm, which seals messages)".into(),
            ));
        }
        let session = Session::new(&endpoint.url());
        let conn = Connection::new(endpoint).map_err(refused)?;
        Ok(WinrmClient {
            host: host.to_string(),
            conn,
            auth,
            session,
            ntlm: None,
            skip_cmd_shell: false,
            max_output: output::DEFAULT_MAX_OUTPUT,
        })
    }

    /// The session's settings (tests pin the envelope size and timeout).
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    fn protocol(&self, message: impl Into<String>) -> WinrmError {
        WinrmError::Protocol {
            host: self.host.clone(),
            message: message.into(),
        }
    }

    fn http_error(&self, e: HttpError) -> WinrmError {
        match e {
            HttpError::Connect(message) => WinrmError::Connect {
                host: self.host.clone(),
                message,
            },
            HttpError::Io(message) => self.protocol(format!("the connection broke: {message}")),
        }
    }

    fn auth_failed(&self, message: &str) -> WinrmError {
        WinrmError::Auth {
            host: self.host.clone(),
            user: self.auth.user(),
            message: message.to_string(),
        }
    }

    /// One request and its answer; faults and HTTP errors as errors.
    fn call(&mut self, envelope: &str) -> Result<String, WinrmError> {
        let (status, body) = match &self.auth {
            Auth::Basic { user, password } => {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                let headers = [("Authorization", format!("Basic {token}"))];
                let (answer, _) = self
                    .conn
                    .post(SOAP_TYPE, &headers, envelope.as_bytes())
                    .map_err(|e| self.http_error(e))?;
                if answer.status == 401 {
                    return Err(self.auth_failed("HTTP 401: the host refused the credentials"));
                }
                (
                    answer.status,
                    String::from_utf8_lossy(&answer.body).into_owned(),
                )
            }
            Auth::Ntlm { .. } => self.call_sealed(envelope)?,
        };
        match status {
            200 => Ok(body),
            status => match response::fault(&body) {
                Some(fault) => Err(WinrmError::Fault {
                    host: self.host.clone(),
                    fault,
                }),
                None => Err(self.protocol(format!(
                    "HTTP {status} from {}: {}",
                    self.conn.endpoint().url(),
                    body.chars().take(200).collect::<String>()
                ))),
            },
        }
    }

    /// NEGOTIATE (on an empty request) and the server's CHALLENGE; the
    /// AUTHENTICATE message to send with the next request, and the keys.
    fn ntlm_handshake(&mut self) -> Result<(Vec<u8>, NtlmContext), WinrmError> {
        let Auth::Ntlm {
            user,
            domain,
            password,
        } = &self.auth
        else {
            unreachable!("only NTLM shakes hands");
        };
        let (user, domain, password) = (user.clone(), domain.clone(), password.clone());
        let negotiate = ntlm_auth::negotiate();
        let b64 = base64::engine::general_purpose::STANDARD;
        let headers = [(
            "Authorization",
            format!("Negotiate {}", b64.encode(&negotiate)),
        )];
        self.conn.close();
        let (answer, _) = self
            .conn
            .post(sealed::CONTENT_TYPE, &headers, &[])
            .map_err(|e| self.http_error(e))?;
        let token = challenge_token(&answer).ok_or_else(|| {
            self.auth_failed(&format!(
                "HTTP {} without an NTLM challenge; is NTLM (Negotiate) enabled on the listener?",
                answer.status
            ))
        })?;
        let challenge_bytes = b64
            .decode(token)
            .map_err(|_| self.protocol("the NTLM challenge is not base64"))?;
        let challenge =
            ntlm_auth::parse_challenge(&challenge_bytes).map_err(|e| self.protocol(e))?;
        let mut random = [0u8; 24];
        getrandom::fill(&mut random)
            .map_err(|e| self.protocol(format!("no randomness for NTLM: {e}")))?;
        let done = ntlm_auth::authenticate(
            &negotiate,
            &challenge_bytes,
            &challenge,
            &Credentials {
                user: &user,
                domain: &domain,
                password: &password,
                client_challenge: random[..8].try_into().expect("8 bytes"),
                exported_session_key: random[8..].try_into().expect("16 bytes"),
            },
        )
        .map_err(|e| self.protocol(e))?;
        Ok((
            done.message,
            NtlmContext {
                outgoing: done.outgoing,
                incoming: done.incoming,
            },
        ))
    }

    /// A sealed request and its unsealed answer. Authenticates first when
    /// there is no context (or the connection it belonged to closed).
    fn call_sealed(&mut self, envelope: &str) -> Result<(u16, String), WinrmError> {
        for _ in 0..2 {
            let mut headers = Vec::new();
            let fresh = self.ntlm.is_none() || !self.conn.is_open();
            if fresh {
                let (message, context) = self.ntlm_handshake()?;
                let b64 = base64::engine::general_purpose::STANDARD;
                headers.push((
                    "Authorization",
                    format!("Negotiate {}", b64.encode(message)),
                ));
                self.ntlm = Some(context);
            }
            let context = self.ntlm.as_mut().expect("set above");
            let body = sealed::wrap(&mut context.outgoing, envelope.as_bytes());
            let (answer, reopened) = self
                .conn
                .post(sealed::CONTENT_TYPE, &headers, &body)
                .map_err(|e| self.http_error(e))?;
            if answer.status == 401 {
                self.ntlm = None;
                if fresh {
                    return Err(self.auth_failed(
                        "HTTP 401 after NTLM authentication: wrong user, domain or password",
                    ));
                }
                // The context ended with its connection: authenticate again.
                continue;
            }
            if reopened && !fresh {
                self.ntlm = None;
                continue;
            }
            let sealed_answer = answer
                .header("content-type")
                .is_some_and(|t| t.starts_with("multipart/encrypted"));
            let text = if sealed_answer {
                let context = self.ntlm.as_mut().expect("set above");
                let plain = sealed::unwrap(&mut context.incoming, &answer.body)
                    .map_err(|e| self.protocol(e))?;
                String::from_utf8_lossy(&plain).into_owned()
            } else if answer.body.is_empty() {
                String::new()
            } else {
                return Err(self.protocol(format!(
                    "HTTP {}: an answer that was not sealed, over a sealed session",
                    answer.status
                )));
            };
            return Ok((answer.status, text));
        }
        Err(self.auth_failed("the host ended the NTLM session twice in a row"))
    }

    pub fn open_shell(&mut self, options: &ShellOptions) -> Result<String, WinrmError> {
        let xml = self.call(&envelope::create_shell(&self.session, options))?;
        response::shell_id(&xml).map_err(|e| self.protocol(e))
    }

    /// Starts `program` with `arguments` (each sent as given) in the shell.
    pub fn start(
        &mut self,
        shell: &str,
        program: &str,
        arguments: &[String],
    ) -> Result<String, WinrmError> {
        let xml = self.call(&envelope::command(
            &self.session,
            shell,
            program,
            arguments,
            self.skip_cmd_shell,
        ))?;
        response::command_id(&xml).map_err(|e| self.protocol(e))
    }

    /// Sends one piece of stdin; `end` closes stdin.
    pub fn send(
        &mut self,
        shell: &str,
        command: &str,
        data: &[u8],
        end: bool,
    ) -> Result<(), WinrmError> {
        self.call(&envelope::send(&self.session, shell, command, data, end))
            .map(|_| ())
    }

    /// The most stdin one Send can carry inside MaxEnvelopeSize.
    pub fn stdin_piece(&self) -> usize {
        let room = (self.session.max_envelope_size as usize)
            .saturating_sub(envelope::send_overhead(&self.session) + 512);
        (room / 4 * 3).max(1024)
    }

    /// Sends all of `data` in pieces that fit, closing stdin with the last.
    pub fn send_all(&mut self, shell: &str, command: &str, data: &[u8]) -> Result<(), WinrmError> {
        let piece = self.stdin_piece();
        if data.is_empty() {
            return self.send(shell, command, &[], true);
        }
        let mut chunks = data.chunks(piece).peekable();
        while let Some(c) = chunks.next() {
            self.send(shell, command, c, chunks.peek().is_none())?;
        }
        Ok(())
    }

    /// Receives until the command is done or `deadline` passes (then the
    /// command is terminated), or until its output goes past `max_output`
    /// (then too: the host stops producing it, nothing more is read).
    pub fn receive_all(
        &mut self,
        shell: &str,
        command: &str,
        deadline: Instant,
    ) -> Result<Output, WinrmError> {
        let started = Instant::now();
        let mut stdout = Capped::new(self.max_output);
        let mut stderr = Tail::new(output::STDERR_TAIL, self.max_output);
        loop {
            if Instant::now() >= deadline {
                let _ = self.signal(shell, command, "terminate");
                return Err(WinrmError::Timeout {
                    host: self.host.clone(),
                    after: deadline.saturating_duration_since(started),
                });
            }
            match self.call(&envelope::receive(&self.session, shell, command)) {
                Ok(xml) => {
                    let got = response::received(&xml).map_err(|e| self.protocol(e))?;
                    drop(xml);
                    if let Err(overflow) = stdout
                        .push(&got.stdout)
                        .and_then(|()| stderr.push(&got.stderr))
                    {
                        let _ = self.signal(shell, command, "terminate");
                        return Err(WinrmError::OutputTooLarge {
                            host: self.host.clone(),
                            overflow,
                        });
                    }
                    if got.done {
                        return Ok(Output {
                            stdout: stdout.into_inner(),
                            stderr: stderr.into_inner(),
                            exit_code: got.exit_code,
                        });
                    }
                }
                // Nothing within OperationTimeout: the command still runs.
                Err(WinrmError::Fault { fault, .. }) if fault.is_timeout() => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn signal(&mut self, shell: &str, command: &str, code: &str) -> Result<(), WinrmError> {
        self.call(&envelope::signal(&self.session, shell, command, code))
            .map(|_| ())
    }

    pub fn close_shell(&mut self, shell: &str) -> Result<(), WinrmError> {
        self.call(&envelope::delete(&self.session, shell))
            .map(|_| ())
    }

    /// One command start to finish in an open shell: start, stdin, receive,
    /// then `ctrl_c` so the service frees it.
    pub fn run(
        &mut self,
        shell: &str,
        program: &str,
        arguments: &[String],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, WinrmError> {
        let deadline = Instant::now() + timeout;
        let command = self.start(shell, program, arguments)?;
        if let Some(data) = stdin {
            self.send_all(shell, &command, data)?;
        }
        let out = self.receive_all(shell, &command, deadline)?;
        // The command is done; a failed Signal (the host going down for a
        // reboot it started, say) must not lose its output.
        let _ = self.signal(shell, &command, "ctrl_c");
        Ok(out)
    }
}
