//! WinRM (WS-Management over HTTP) to Windows hosts. Being built for issue
//! 7 (see docs/design/winrm-research.md for the plan): so far the NTLMv2
//! primitives, verified against [MS-NLMP]'s published example. No command
//! reaches a Windows host in this build.

pub mod ntlm;
