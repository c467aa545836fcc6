//! Running submissions: the one path from a stored request to a stored result (used by the
//! background workers and by `wait=true`), the workers, and recovery after a restart.

use std::time::Duration;

use engine::{EngineError, OutputHold};
use store::PushError;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::callback;
use super::result;
use super::wire::{Fields, Record, StoredRequest, StoredResult};
use crate::AppState;

/// How long a worker waits before trying again when every run slot is busy (the engine's own
/// admission already waited its bounded time).
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// How long recovery waits before pushing again when the queue is full.
const RECOVERY_PUSH_RETRY: Duration = Duration::from_millis(200);
/// How long a worker waits before trying the store again while it is unavailable or full (a
/// claimed submission and its result are kept meanwhile, not dropped; each attempt also waits
/// up to the store's own acquire timeout).
const STORE_RETRY: Duration = Duration::from_secs(1);
/// This dialect's name for the runner's observers (the metrics' `trigger` label).
const TRIGGER: &str = "judge0";

/// Why a claimed submission was not finished now. It stays claimed (status 2) and is queued
/// again at the next start.
#[derive(Debug)]
pub enum Deferred {
    /// Every run slot is taken; retry after this many seconds.
    Busy { retry_after_s: u64 },
    /// The server is shutting down.
    ShuttingDown,
    /// The result could not be stored.
    Store(store::StoreError),
    /// The submission vanished or became unreadable while it ran.
    Gone,
}

/// Start the background workers (`config.workers` of them) and the recovery task. Recovery
/// puts submissions a previous process left processing back in the queue, then queues every
/// unfinished one; the workers start taking work once that reset is done, so it can never
/// reset a claim of theirs. They run until the queue closes.
pub fn start_workers(state: AppState) -> Vec<JoinHandle<()>> {
    let (ready_tx, ready_rx) = watch::channel(false);
    let mut handles = vec![tokio::spawn(recover(state.clone(), ready_tx))];
    for n in 0..state.config().workers {
        handles.push(tokio::spawn(work(state.clone(), ready_rx.clone(), n)));
    }
    handles
}

async fn recover(state: AppState, ready: watch::Sender<bool>) {
    let store = state.store();
    match store.requeue_processing().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(submissions = n, "judge0: interrupted submissions queued again"),
        Err(e) => tracing::error!(error = ?e, "judge0: cannot requeue interrupted submissions"),
    }
    let tokens = match store.unfinished_submissions().await {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::error!(error = ?e, "judge0: cannot list unfinished submissions");
            Vec::new()
        }
    };
    let _ = ready.send(true);
    if !tokens.is_empty() {
        tracing::info!(submissions = tokens.len(), "judge0: queueing unfinished submissions");
    }
    for token in tokens {
        loop {
            match state.queue().try_push(token.clone()) {
                Ok(()) => break,
                // More unfinished work than the queue holds: feed it as workers drain it.
                Err(PushError::Full { .. }) => tokio::time::sleep(RECOVERY_PUSH_RETRY).await,
                // Closed: shutting down; the rest stays stored for the next start.
                Err(_) => return,
            }
        }
    }
}

async fn work(state: AppState, mut ready: watch::Receiver<bool>, n: usize) {
    if ready.wait_for(|r| *r).await.is_err() {
        return;
    }
    while let Some(token) = state.queue().pop().await {
        if state.queue().is_closed() {
            // Shutting down: leave it queued in the store for the next start.
            break;
        }
        let span = tracing::info_span!("judge0_worker", worker = n, token = %token);
        process(&state, &token).instrument(span).await;
    }
}

/// Whether a store error will likely go away by itself (the database is back, space freed):
/// worth waiting for rather than dropping the work.
fn passes(e: &store::StoreError) -> bool {
    !e.is_caller_mistake() && e.failure() != store::Failure::Internal
}

/// `op` until it succeeds or fails for good; while the store is unavailable or full it waits
/// and tries again (a submission taken from the queue must not be lost to an outage). `None`
/// when it failed for good (logged) or the server is shutting down (the submission stays
/// stored and is queued again at the next start).
async fn patiently<T, F, Fut>(state: &AppState, token: &str, what: &'static str, mut op: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, store::StoreError>>,
{
    let mut warned = false;
    loop {
        match op().await {
            Ok(v) => {
                if warned {
                    tracing::info!(%token, "judge0: the store is back: {what}");
                }
                return Some(v);
            }
            Err(e) if passes(&e) && !state.queue().is_closed() => {
                if !warned {
                    tracing::warn!(%token, error = ?e, "judge0: cannot {what} now; trying again until the store is back");
                    warned = true;
                }
                tokio::time::sleep(STORE_RETRY).await;
            }
            Err(e) => {
                tracing::error!(%token, error = ?e, "judge0: cannot {what}");
                return None;
            }
        }
    }
}

/// Claim, run, store, call back. A token delivered twice runs once (the claim decides).
async fn process(state: &AppState, token: &str) {
    let store = state.store();
    if !patiently(state, token, "claim a submission", || store.claim_submission(token))
        .await
        .unwrap_or(false)
    {
        return;
    }
    let request = match patiently(state, token, "read a claimed submission", || {
        store.get_submission(token)
    })
    .await
    {
        Some(Some(s)) => serde_json::from_str::<StoredRequest>(&s.request).map_err(|e| e.to_string()),
        Some(None) | None => return,
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(%token, error = %e, "judge0: stored request unreadable");
            let (status, result) = result::internal_error("Internal Error");
            let _ = finish(state, token, status, &result, None).await;
            return;
        }
    };
    let (status, result, _hold) = loop {
        match run(state, &request).await {
            Ok(done) => break done,
            Err(Deferred::Busy { retry_after_s }) => {
                tokio::time::sleep(BUSY_RETRY.max(Duration::from_secs(retry_after_s.min(5)))).await;
                if state.queue().is_closed() {
                    return;
                }
            }
            Err(_) => return,
        }
    };
    // The result is kept until the store takes it: an outage does not lose a finished run.
    let callback_url = request.callback_url.as_deref();
    let _ = patiently(state, token, "store a result", || async {
        match finish(state, token, status, &result, callback_url).await {
            Ok(_) | Err(Deferred::Gone) => Ok(()),
            Err(Deferred::Store(e)) => Err(e),
            // `finish` runs nothing: it cannot be busy or shutting down.
            Err(Deferred::Busy { .. } | Deferred::ShuttingDown) => Ok(()),
        }
    })
    .await;
}

/// Run a request: the Judge0 status id and result, or why it did not run now.
/// The hold keeps the output counted in the node's memory until it is stored (or sent).
async fn run(state: &AppState, request: &StoredRequest) -> Result<(i32, StoredResult, OutputHold), Deferred> {
    match execute(state, request).await {
        Ok(done) => Ok(done),
        Err(EngineError::Busy { retry_after_s }) => Err(Deferred::Busy { retry_after_s }),
        Err(EngineError::ShuttingDown) => Err(Deferred::ShuttingDown),
        Err(e) => {
            let (status, result) = result::internal_error(&engine::public_message(&e));
            Ok((status, result, OutputHold::default()))
        }
    }
}

/// Run a claimed submission, store its result and send its callback; the stored record.
pub async fn run_claimed(state: &AppState, token: &str, request: &StoredRequest) -> Result<Record, Deferred> {
    let (status, result, _hold) = run(state, request).await?;
    finish(state, token, status, &result, request.callback_url.as_deref()).await
}

/// Run a submission the store could not take (`wait=true` while the database is unavailable
/// or full): the record as it would have been stored, under `token`, which no later request
/// finds. Its callback is sent as for a stored one.
pub async fn run_unstored(state: &AppState, token: String, request: &StoredRequest) -> Result<Record, Deferred> {
    let created_at = chrono::Utc::now();
    let (status, result, _hold) = run(state, request).await?;
    let record = Record {
        token,
        status_id: status,
        request: request.clone(),
        result: Some(result),
        created_at,
        finished_at: Some(chrono::Utc::now()),
    };
    send_callback(state, &record, request.callback_url.as_deref());
    Ok(record)
}

/// Store a result; then PUT it to the callback URL (Judge0's default fields, base64).
pub async fn finish(
    state: &AppState,
    token: &str,
    status: i32,
    result: &StoredResult,
    callback_url: Option<&str>,
) -> Result<Record, Deferred> {
    let store = state.store();
    // Plain data (strings, numbers, options): serializing it cannot fail.
    let json = serde_json::to_string(result).unwrap_or_else(|_| "{}".to_owned());
    store
        .finish_submission(token, status, &json)
        .await
        .map_err(Deferred::Store)?;
    let record = store
        .get_submission(token)
        .await
        .map_err(Deferred::Store)?
        .and_then(Record::from_store)
        .ok_or(Deferred::Gone)?;
    send_callback(state, &record, callback_url);
    Ok(record)
}

/// PUT a finished record to its callback URL (Judge0's default fields, base64), if it has one.
fn send_callback(state: &AppState, record: &Record, callback_url: Option<&str>) {
    if let Some(url) = callback_url {
        let catalog = state.runner().engine().catalog();
        match record.render(&Fields::default(), true, catalog) {
            Ok(body) => callback::spawn(url.to_owned(), body.to_string(), state.config().allow_callbacks),
            Err(_) => tracing::error!(token = %record.token, "judge0: callback body not renderable"),
        }
    }
}

/// Translate, run through the engine, translate back: the Judge0 status id and result, and
/// the node memory held for the output.
async fn execute(state: &AppState, request: &StoredRequest) -> Result<(i32, StoredResult, OutputHold), EngineError> {
    let job = request.check(state.runner().engine())?;
    let stdin = request.stdin.clone().unwrap_or_default();
    let runs = request.number_of_runs.max(1) as usize;
    if runs == 1 {
        let outcome = state.runner().execute(TRIGGER, job, stdin).await?;
        let run: Vec<_> = outcome.run.iter().cloned().collect();
        let (status, result) = result::from_outcome(request, &outcome, &run);
        return Ok((status, result, outcome.hold));
    }
    let (outcome, all) = state.runner().execute_runs(TRIGGER, job, stdin, runs).await?;
    let (status, result) = result::from_outcome(request, &outcome, &all);
    Ok((status, result, outcome.hold))
}
