//! WinRM (WS-Management over HTTP) to Windows hosts, for issue 7 (plan:
//! docs/design/winrm-research.md). So far: the WinRS client (envelopes,
//! answers, a persistent HTTP/TLS connection, Basic over HTTPS) and the
//! NTLMv2 primitives. Verified against recorded transcripts of a real
//! Windows host and MS-NLMP's published example; no live host here.

pub mod client;
pub mod envelope;
pub mod http;
pub mod ntlm;
pub mod ntlm_auth;
pub mod response;
pub mod sealed;
