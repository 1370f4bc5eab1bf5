//! Logs on stderr through `tracing`: spans run → group → wave → host →
//! step say where every line comes from. Text for people, or JSON lines
//! for the daemon (`--log-format json`). The level is `warn` for commands
//! and `info` for the daemon, raised by each `-v` (info, debug, trace), or
//! set exactly with `PATCHWAVE_LOG` (an env-filter directive such as
//! `patchwave=debug`).

use tracing_subscriber::EnvFilter;

/// Installs the log for this process (once; later calls change nothing).
pub fn init(json: bool, daemon: bool, verbose: u8) {
    let base = if daemon { 1 } else { 0 } + verbose;
    let level = match base {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("PATCHWAVE_LOG")
        .ok()
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("patchwave={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}
