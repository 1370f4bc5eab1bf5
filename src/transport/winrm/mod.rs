//! WinRM (WS-Management over HTTP) to Windows hosts (design notes:
//! docs/design/winrm-research.md): the WinRS client (envelopes, answers, a
//! persistent HTTP/TLS connection), Basic over HTTPS and NTLMv2 with
//! message sealing, and the [`Transport`](crate::transport::Transport)
//! built on them. Verified against transcripts recorded on a real Windows
//! host and MS-NLMP's published example; no live host runs here.

pub mod client;
pub mod envelope;
pub mod http;
pub mod ntlm;
pub mod ntlm_auth;
pub mod response;
pub mod sealed;
mod transport;

pub use transport::{AuthKind, PasswordSource, WinrmSettings, WinrmTransport, quote_arg};
