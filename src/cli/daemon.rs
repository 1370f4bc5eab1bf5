//! `patchwave daemon`: the reconcile loop and its HTTP endpoints.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::apply::{self, ApplyFormat};
use super::{RepoArgs, StateArgs};
use crate::daemon::Config;
use crate::daemon::desired::Location;
use crate::exit::Exit;
use crate::spec::values;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// With a remote `--repo` URL: the branch holding the desired state.
    #[arg(long, default_value = "main")]
    pub branch: String,
    #[command(flatten)]
    pub state: StateArgs,
    /// Address for /healthz, /readyz, /metrics and the webhooks.
    #[arg(long, default_value = "127.0.0.1:9797")]
    pub listen: SocketAddr,
    /// Reconcile at least this often, e.g. 5m (windows open on their own schedule).
    #[arg(long, default_value = "5m", value_parser = parse_interval)]
    pub interval: Duration,
    /// File holding the GitHub webhook secret (enables /hooks/github).
    #[arg(long, value_name = "FILE")]
    pub github_secret_file: Option<PathBuf>,
    /// File holding the GitLab webhook token (enables /hooks/gitlab).
    #[arg(long, value_name = "FILE")]
    pub gitlab_token_file: Option<PathBuf>,
    /// How long running hosts may take to finish after SIGTERM.
    #[arg(long, default_value = "10m", value_parser = values::parse_duration)]
    pub shutdown_grace: Duration,
    /// text, or json (one JSON object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn secret(path: &Option<PathBuf>) -> Result<Option<Vec<u8>>, String> {
    path.as_ref()
        .map(|p| {
            std::fs::read(p)
                .map(|s| s.trim_ascii().to_vec())
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
        })
        .transpose()
        .and_then(|s| match s {
            Some(v) if v.is_empty() => Err("the webhook secret file is empty".into()),
            other => Ok(other),
        })
}

/// A poll interval of at least a second (`0s` would poll without pause).
fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = values::parse_duration(text)?;
    if d < Duration::from_secs(1) {
        return Err(format!("`{text}` is too short: poll at most once a second"));
    }
    Ok(d)
}

pub fn run(args: &Args) -> Exit {
    let config = match (
        secret(&args.github_secret_file),
        secret(&args.gitlab_token_file),
    ) {
        (Ok(github_secret), Ok(gitlab_token)) => Config {
            listen: args.listen,
            interval: args.interval,
            github_secret,
            gitlab_token,
            shutdown_grace: args.shutdown_grace,
            json_logs: args.log_format == LogFormat::Json,
            desired: Location {
                repo: args.repo.repo.clone(),
                branch: args.branch.clone(),
                state_dir: args.state.state_dir.clone(),
            },
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Exit::Error;
        }
    };
    let events = apply::printer(
        match args.log_format {
            LogFormat::Text => ApplyFormat::Text,
            LogFormat::Json => ApplyFormat::Json,
        },
        true,
    );
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    match runtime.block_on(crate::daemon::run(config, events)) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    }
}
