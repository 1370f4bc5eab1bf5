//! The controller loop: polls the desired state, keeps the work queue,
//! runs group passes (see the module docs of `daemon`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::JoinSet;

use super::desired::Desired;
use super::queue::Queue;
use super::{Shared, log};
use crate::reconcile::Options;
use crate::reconcile::event::Sink;
use crate::reconcile::pass::{GroupPass, reconcile_group_pass};

/// The wait before the desired state is polled again after a failed poll
/// (never longer than the interval).
const RETRY_POLL: Duration = Duration::from_secs(30);

/// A pass that ended: its group, how, and how long it took.
type Ended = (String, GroupPass, Duration);

pub async fn run(shared: Arc<Shared>, events: Sink) -> Result<(), String> {
    let config = shared.config.clone();
    let json = config.json_logs;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut queue = Queue::default();
    let mut desired: Option<Arc<Desired>> = None;
    // Fleet-wide host permits, shared by every pass; resized when
    // `apply.concurrency` changes.
    let mut permits: Option<(usize, Arc<tokio::sync::Semaphore>)> = None;
    let mut passes: JoinSet<Ended> = JoinSet::new();
    // Which group each running pass is (a pass that crashes still frees its group).
    let mut running: std::collections::HashMap<tokio::task::Id, String> = Default::default();
    // The groups of the first good poll: ready once each had a pass.
    let mut first_round: Option<BTreeSet<String>> = None;
    let mut poll_at = tokio::time::Instant::now();
    loop {
        // Wake for the next poll, the next due group, a webhook, a pass
        // ending, or a signal.
        let due = queue.next_due().map(instant_of);
        let wake = due.map_or(poll_at, |d| d.min(poll_at));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = shared.trigger.notified() => {
                log(json, "webhook: polling the desired state now");
                poll_at = tokio::time::Instant::now();
            }
            Some(ended) = passes.join_next_with_id(), if !passes.is_empty() => {
                let (group, pass, took) = match ended {
                    Ok((id, e)) => {
                        running.remove(&id);
                        e
                    }
                    Err(e) => {
                        // A crashed pass counts as an error; its group is
                        // freed and tried again after the back-off.
                        let group = running.remove(&e.id()).unwrap_or_default();
                        tracing::error!(group, "a group pass crashed ({e}); please report this as a bug");
                        let again = Timestamp::now()
                            .checked_add(crate::reconcile::pass::ERROR_BACKOFF)
                            .ok();
                        (
                            group,
                            GroupPass {
                                exit: crate::exit::Exit::Error,
                                requeue_at: again,
                            },
                            Duration::ZERO,
                        )
                    }
                };
                count(&shared, pass.exit.result_word(), took);
                // A group the desired state no longer has is not looked at again.
                let still = desired.as_ref().is_some_and(|d| d.checked.repo.group(&group).is_some());
                queue.finished(&group, pass.requeue_at.filter(|_| still), Timestamp::now());
                if !still {
                    queue.forget(&group);
                }
                if let Some(round) = &mut first_round {
                    round.remove(&group);
                    if round.is_empty() {
                        shared.ready.store(true, Ordering::SeqCst);
                    }
                }
                if let Some(d) = &desired {
                    observe(&shared, d.clone()).await;
                }
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
        let now = tokio::time::Instant::now();
        if now >= poll_at {
            poll_at = match poll(&config.desired).await {
                Ok(fresh) => {
                    let fresh = Arc::new(fresh);
                    let groups = fresh.groups();
                    let gone: Vec<String> = desired
                        .as_ref()
                        .map(|d| d.groups())
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|g| !groups.contains(g))
                        .collect();
                    for g in gone {
                        queue.forget(&g);
                    }
                    // Every poll makes every group due: a pass decides from
                    // the whole state, and contacts no host it cannot start.
                    for g in &groups {
                        queue.schedule(g, Timestamp::now());
                    }
                    if first_round.is_none() {
                        if groups.is_empty() {
                            shared.ready.store(true, Ordering::SeqCst);
                        }
                        first_round = Some(groups.into_iter().collect());
                    }
                    let concurrency = fresh
                        .checked
                        .repo
                        .fleets
                        .first()
                        .and_then(|f| f.spec.apply.as_ref())
                        .and_then(|a| a.concurrency.as_ref())
                        .map_or(crate::reconcile::DEFAULT_HOST_CONCURRENCY, |c| {
                            c.value as usize
                        });
                    // One semaphore for the daemon's life, resized when the
                    // setting changes (running passes share it too).
                    let concurrency = concurrency.max(1);
                    match &mut permits {
                        None => {
                            permits = Some((
                                concurrency,
                                Arc::new(tokio::sync::Semaphore::new(concurrency)),
                            ));
                        }
                        Some((n, p)) if *n != concurrency => {
                            if concurrency > *n {
                                p.add_permits(concurrency - *n);
                            } else {
                                // Taken back as hosts finish.
                                let (p, fewer) = (p.clone(), (*n - concurrency) as u32);
                                tokio::spawn(async move {
                                    if let Ok(taken) = p.acquire_many(fewer).await {
                                        taken.forget();
                                    }
                                });
                            }
                            *n = concurrency;
                        }
                        Some(_) => {}
                    }
                    observe(&shared, fresh.clone()).await;
                    desired = Some(fresh);
                    now + config.interval
                }
                Err(e) => {
                    events(&crate::reconcile::event::Event::Error { message: e });
                    count(&shared, "error", Duration::ZERO);
                    now + config.interval.min(RETRY_POLL)
                }
            };
        }
        if let Some(d) = &desired {
            for group in queue.take_due(Timestamp::now()) {
                let (d, events, shutdown) = (d.clone(), events.clone(), shared.shutdown.clone());
                let options = Options {
                    write_status: true,
                    by: "daemon".into(),
                    host_permits: permits.as_ref().map(|(_, p)| p.clone()),
                    ..Options::default()
                };
                let pass_group = group.clone();
                let handle = passes.spawn(async move {
                    let started = std::time::Instant::now();
                    let pass = reconcile_group_pass(
                        &d.source,
                        &d.checked.repo,
                        d.store.clone(),
                        &group,
                        &options,
                        &events,
                        shutdown,
                    )
                    .await;
                    (group, pass, started.elapsed())
                });
                running.insert(handle.id(), pass_group);
            }
        }
    }
    // SIGTERM: start no new host, end soaks, let running host steps finish
    // within the grace period; open runs stay open for the next start.
    shared.shutdown.store(true, Ordering::SeqCst);
    if !passes.is_empty() {
        log(
            json,
            "SIGTERM: starting no new host; waiting for running hosts to finish",
        );
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while passes.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            log(
                json,
                "running hosts did not finish within the grace period; exiting anyway",
            );
            passes.abort_all();
        }
    }
    Ok(())
}

/// A tokio instant for a wall-clock time (now, if it has passed).
fn instant_of(t: Timestamp) -> tokio::time::Instant {
    let wait = t.duration_since(Timestamp::now());
    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + wait
}

async fn poll(at: &super::desired::Location) -> Result<Desired, String> {
    let at = at.clone();
    tokio::task::spawn_blocking(move || Desired::load(&at))
        .await
        .map_err(|e| format!("the poll failed: {e}"))?
}

fn count(shared: &Shared, result: &str, took: Duration) {
    let mut m = shared.metrics.lock().unwrap_or_else(|e| e.into_inner());
    *m.reconciles_by_result
        .entry(result.to_string())
        .or_default() += 1;
    if took > Duration::ZERO {
        m.last_reconcile_seconds = took.as_secs_f64();
    }
}

/// Refreshes the metrics read from git and run state (off the async threads).
async fn observe(shared: &Arc<Shared>, desired: Arc<Desired>) {
    use crate::state::RunState;
    let runs = desired.store.recent_runs(100).await.ok();
    let shared = shared.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let mut next = shared
            .metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        next.observe(&desired, runs.as_deref());
        let mut m = shared.metrics.lock().unwrap_or_else(|e| e.into_inner());
        next.reconciles_by_result = m.reconciles_by_result.clone();
        next.last_reconcile_seconds = m.last_reconcile_seconds;
        *m = next;
    })
    .await;
}
