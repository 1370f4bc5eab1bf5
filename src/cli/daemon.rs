//! `patchwave daemon`: the reconcile loop and its HTTP endpoints.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::apply::{self, ApplyFormat};
use super::{RepoArgs, SelectArgs, StateArgs};
use crate::daemon::{Config, Reconcile, Shared};
use crate::exit::Exit;
use crate::spec::values;
use crate::state::RunState;
use crate::status::HostStatus;

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
    #[arg(long, default_value = "5m", value_parser = values::parse_duration)]
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
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Exit::Error;
        }
    };
    let apply_args = apply::Args {
        repo: RepoArgs {
            repo: args.repo.repo.clone(),
        },
        select: SelectArgs {
            group: None,
            host: None,
        },
        state: StateArgs {
            state_dir: args.state.state_dir.clone(),
        },
        now: false,
        reason: None,
        break_freeze: false,
        resume: false,
        format: match args.log_format {
            LogFormat::Text => ApplyFormat::Text,
            LogFormat::Json => ApplyFormat::Json,
        },
        branch: args.branch.clone(),
        no_status: false,
    };
    let reconcile: Reconcile = Arc::new(move |shared: &Shared| reconcile_once(&apply_args, shared));
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    match runtime.block_on(crate::daemon::run(config, reconcile)) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    }
}

/// One reconcile: apply (which syncs, verifies, plans and patches what is
/// due), then the metrics from the status branch and run state.
fn reconcile_once(args: &apply::Args, shared: &Shared) -> &'static str {
    let (exit, source) = apply::run_with(args, shared.shutdown.clone());
    // Read everything first; hold the metrics lock only to store it.
    let mut next = shared
        .metrics
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(src) = &source {
        let m = &mut next;
        m.last_successful_sync = Some(jiff::Timestamp::now().as_second());
        m.source_refused = src.refused.is_some();
        m.desired_commit = src.commit.clone();
        if let Ok(checked) = crate::spec::check(&src.policy_dir) {
            let repo = &checked.repo;
            let branch = repo.status_branch();
            if let Ok(files) =
                crate::source::read_status_files(&src.git_dir, &branch, "status/hosts")
            {
                let hosts: Vec<HostStatus> = files
                    .iter()
                    .filter_map(|(_, t)| serde_saphyr::from_str(t).ok())
                    .collect();
                m.set_hosts(&hosts);
            }
            if let Ok(store) = args.state.open(repo)
                && let Ok(runs) = store.recent_runs(100)
            {
                m.runs_by_outcome.clear();
                for r in runs {
                    let word = serde_json::to_value(&r.outcome)
                        .ok()
                        .and_then(|v| v["state"].as_str().map(String::from))
                        .unwrap_or_default();
                    *m.runs_by_outcome.entry(word).or_default() += 1;
                }
            }
        }
    }
    let mut m = shared.metrics.lock().unwrap_or_else(|e| e.into_inner());
    next.reconciles_by_result = m.reconciles_by_result.clone();
    next.last_reconcile_seconds = m.last_reconcile_seconds;
    *m = next;
    drop(m);
    exit.result_word()
}
