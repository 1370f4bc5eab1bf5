//! `patchwave daemon`: reconciles by itself. It polls the desired state on an
//! interval and when a webhook says it changed, one reconcile at a time
//! (triggers that arrive meanwhile are coalesced into one more), and serves
//! `/healthz`, `/readyz`, `/metrics`, `/hooks/github` and `/hooks/gitlab`.
//! A reconcile is level-triggered: whatever woke it, it looks at the whole
//! desired state (new commit, window opening, nothing) and does what is due.
//! SIGTERM: no new host starts, running host steps finish (bounded), exit 0.

pub mod metrics;
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
}

/// What the HTTP side and the reconcile loop share.
pub struct Shared {
    pub metrics: Mutex<Metrics>,
    trigger: Notify,
    ready: AtomicBool,
    /// Set on SIGTERM; the rollout starts no new host once it is set.
    pub shutdown: Arc<AtomicBool>,
    config: Config,
}

/// One reconcile; returns a result word for the metrics (`ok`, `incomplete`,
/// `halted`, `error`).
pub type Reconcile = Arc<dyn Fn(&Shared) -> &'static str + Send + Sync>;

fn log(json: bool, msg: &str) {
    let ts = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    if json {
        let line =
            serde_json::json!({"ts": ts, "level": "info", "component": "daemon", "msg": msg});
        eprintln!("{line}");
    } else {
        eprintln!("{ts} patchwave daemon: {msg}");
    }
}

/// Runs until SIGTERM (or Ctrl-C).
pub async fn run(config: Config, reconcile: Reconcile) -> Result<(), String> {
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
            "listening on {}; reconciling every {:?}",
            config.listen, config.interval
        ),
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    loop {
        // Reconcile on a thread of its own: it runs a whole apply.
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        {
            let shared = shared.clone();
            let reconcile = reconcile.clone();
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                let result = reconcile(&shared);
                let mut m = shared.metrics.lock().unwrap_or_else(|e| e.into_inner());
                *m.reconciles_by_result
                    .entry(result.to_string())
                    .or_default() += 1;
                m.last_reconcile_seconds = started.elapsed().as_secs_f64();
                drop(m);
                shared.ready.store(true, Ordering::SeqCst);
                let _ = done_tx.send(result);
            });
        }
        let mut done_rx = done_rx;
        // Some(result) when the reconcile ended (a crashed one counts as an
        // error and the loop goes on); None on SIGTERM or Ctrl-C.
        let finished = tokio::select! {
            r = &mut done_rx => Some(r.unwrap_or_else(|_| {
                log(json, "the reconcile crashed; please report this as a bug");
                let mut m = shared.metrics.lock().unwrap_or_else(|e| e.into_inner());
                *m.reconciles_by_result.entry("error".into()).or_default() += 1;
                "error"
            })),
            _ = term.recv() => None,
            _ = tokio::signal::ctrl_c() => None,
        };
        if finished.is_none() {
            // SIGTERM during a reconcile: start no new host, let running
            // steps finish within the grace period.
            log(
                json,
                "SIGTERM: starting no new host; waiting for running hosts to finish",
            );
            shared.shutdown.store(true, Ordering::SeqCst);
            if tokio::time::timeout(config.shutdown_grace, done_rx)
                .await
                .is_err()
            {
                log(
                    json,
                    "running hosts did not finish within the grace period; exiting anyway",
                );
            }
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = shared.trigger.notified() => log(json, "webhook: reconciling now"),
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
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
    Ok(())
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
