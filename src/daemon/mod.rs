//! `patchwave daemon`: a controller, as kube-rs's and Flux's are. One
//! reconciler per group, each requeued at the instant its calendar says
//! (a window opening, a freeze's end, the end of a window's start time, a
//! back-off), groups in parallel within the fleet-wide host concurrency,
//! never two passes of one group at once. The desired state is polled on
//! `--interval` and at once when a webhook arrives; every poll makes every
//! group due (level-triggered: a pass looks at the whole state, never at
//! what woke it), and a group whose hosts may not start now is not
//! contacted at all. Serves `/healthz`, `/readyz`, `/metrics`,
//! `/hooks/github` and `/hooks/gitlab`. SIGTERM: no new host starts, soaks
//! end, running host steps finish (bounded), open runs stay open for the
//! next start to resume; exit 0.

mod controller;
pub mod desired;
pub mod metrics;
pub mod queue;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use tokio::sync::Notify;

use crate::reconcile::event::Sink;
use desired::Location;
use metrics::Metrics;
use webhook::Refusal;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub interval: Duration,
    pub github_secret: Option<Vec<u8>>,
    pub gitlab_token: Option<Vec<u8>>,
    /// How long running host steps may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// One JSON object per log line instead of text.
    pub json_logs: bool,
    /// Where the desired state is.
    pub desired: Location,
}

/// What the HTTP side and the controller share.
pub struct Shared {
    pub metrics: Mutex<Metrics>,
    trigger: Notify,
    ready: AtomicBool,
    /// Set on SIGTERM; the rollout starts no new host once it is set.
    pub shutdown: Arc<AtomicBool>,
    config: Config,
}

/// The daemon's own lines, through the log (text or JSON, as it was set up).
fn log(_json: bool, msg: &str) {
    tracing::info!(component = "daemon", "{msg}");
}

/// Runs until SIGTERM (or Ctrl-C); what the passes report goes to `events`.
pub async fn run(config: Config, events: Sink) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let shared = Arc::new(Shared {
        metrics: Mutex::new(Metrics::default()),
        trigger: Notify::new(),
        ready: AtomicBool::new(false),
        shutdown: Arc::new(AtomicBool::new(false)),
        config: config.clone(),
    });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/hooks/github", post(github_hook))
        .route("/hooks/gitlab", post(gitlab_hook))
        // Bodies over the cap are refused before they are read.
        .layer(axum::extract::DefaultBodyLimit::max(webhook::MAX_BODY))
        .with_state(shared.clone());
    let stop = Arc::new(Notify::new());
    let server = {
        let stop = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await
        })
    };
    let json = config.json_logs;
    log(
        json,
        &format!(
            "listening on {}; polling the desired state every {:?}",
            config.listen, config.interval
        ),
    );
    let result = controller::run(shared.clone(), events).await;
    shared.shutdown.store(true, Ordering::SeqCst);
    stop.notify_one();
    // A slow client must not hold the exit forever.
    if tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .is_err()
    {
        log(
            json,
            "the HTTP server did not stop within 10s; exiting anyway",
        );
    }
    log(json, "stopped");
    result
}

async fn readyz(State(s): State<Arc<Shared>>) -> (StatusCode, &'static str) {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first reconcile has not finished\n",
        )
    }
}

async fn metrics_text(State(s): State<Arc<Shared>>) -> ([(&'static str, &'static str); 1], String) {
    let text = s.metrics.lock().unwrap_or_else(|e| e.into_inner()).render();
    ([("content-type", "text/plain; version=0.0.4")], text)
}

fn refused(r: Refusal) -> (StatusCode, String) {
    match r {
        Refusal::Malformed(m) => (StatusCode::BAD_REQUEST, format!("{m}\n")),
        Refusal::Unauthenticated(m) => (StatusCode::UNAUTHORIZED, format!("{m}\n")),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn github_hook(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(secret) = &s.config.github_secret else {
        return (
            StatusCode::NOT_FOUND,
            "the GitHub webhook is not configured\n".into(),
        );
    };
    if body.len() > webhook::MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB\n".into());
    }
    match webhook::github(secret, header(&headers, "x-hub-signature-256"), &body) {
        Ok(()) => {
            s.trigger.notify_one();
            (StatusCode::ACCEPTED, "reconcile triggered\n".into())
        }
        Err(r) => refused(r),
    }
}

async fn gitlab_hook(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(token) = &s.config.gitlab_token else {
        return (
            StatusCode::NOT_FOUND,
            "the GitLab webhook is not configured\n".into(),
        );
    };
    if body.len() > webhook::MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB\n".into());
    }
    match webhook::gitlab(token, header(&headers, "x-gitlab-token")) {
        Ok(()) => {
            s.trigger.notify_one();
            (StatusCode::ACCEPTED, "reconcile triggered\n".into())
        }
        Err(r) => refused(r),
    }
}
