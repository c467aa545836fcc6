//! Running submissions: the one path from a stored request to a stored result (used by the
//! background workers and by `wait=true`), the workers, and what a node that stopped left.
//!
//! A worker takes a token from the queue (in-process, or JetStream shared by every node),
//! claims the submission in the store with a lease (`store::Claim`), runs it, stores the
//! result with that claim, and only then acks the delivery. While it works it renews the
//! lease and sends the queue progress acks. Exactly one result is stored per submission: the
//! claim decides who runs it, and only the claim that is still current can store a result. A
//! delivery whose claim fails (finished, or held by a live lease) is acked and dropped.
//!
//! What a stopped node left is found from the store, not from "I am the only node": its
//! half-run submissions are queued again once their lease ran out (the lease watcher; with
//! JetStream they are published again, and the message it never acked is redelivered too),
//! and a worker with nothing to do claims the oldest submission no queue holds
//! (`Store::claim_next`: left in a dead node's in-process queue, never published, or half
//! run).

use std::sync::Arc;
use std::time::Duration;

use engine::{EngineError, OutputHold};
use store::{Claim, Delivery, Popped, PushError};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::callback;
use super::result;
use super::wire::{Fields, Record, StoredRequest, StoredResult};
use crate::AppState;

/// How long a worker waits before trying again when every run slot is busy (the engine's own
/// admission already waited its bounded time).
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// How long a worker waits before trying the store again while it is unavailable or full (a
/// claimed submission and its result are kept meanwhile, not dropped; each attempt also waits
/// up to the store's own acquire timeout).
const STORE_RETRY: Duration = Duration::from_secs(1);
/// How long an idle worker waits on the queue before it looks in the store for work no queue
/// holds.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long a worker that just found such work waits on the queue before looking again.
const EAGER_POLL: Duration = Duration::from_millis(10);
/// A queued submission younger than this is left to the queue that carries it (its message is
/// on its way); older ones no worker took are claimed from the store by idle workers.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(5);
/// Runs one submission may start. A submission whose runs were cut short this many times
/// (each time its node stopped or drained mid-run) is not run again: it gets a final Internal
/// Error (13) that says so.
pub const MAX_RUN_ATTEMPTS: i32 = 3;
/// This dialect's name for the runner's observers (the metrics' `trigger` label).
const TRIGGER: &str = "judge0";

/// Why a claimed submission was not finished now.
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
    /// The claim ran out while the run went on, and another node took the submission: its
    /// result is the one stored.
    TakenOver,
}

/// The node's background tasks for queued submissions.
pub struct Workers {
    workers: Vec<JoinHandle<()>>,
    watcher: JoinHandle<()>,
}

impl Workers {
    /// Wait until every worker stopped (they stop once the node drains, after storing what
    /// they ran), at most until `deadline`; then stop the rest. True when all stopped in time.
    pub async fn finish(self, deadline: tokio::time::Instant) -> bool {
        self.watcher.abort();
        let mut all = true;
        for mut w in self.workers {
            if tokio::time::timeout_at(deadline, &mut w).await.is_err() {
                w.abort();
                all = false;
            }
        }
        all
    }
}

/// Start the background workers (`config.workers` of them) and the lease watcher. They run
/// until the node drains.
pub fn start_workers(state: AppState) -> Workers {
    let workers = (0..state.config().workers)
        .map(|n| tokio::spawn(work(state.clone(), n)))
        .collect();
    Workers {
        workers,
        watcher: tokio::spawn(watch_leases(state)),
    }
}

/// Give back the claims this node still holds (it drains, and their runs were cut short): the
/// submissions are queued again at once for the other nodes, their attempts not counted.
pub async fn give_back(state: &AppState) {
    for claim in state.node().take_held() {
        match state.store().release_claim(&claim).await {
            Ok(true) => {
                tracing::info!(token = %claim.token, "judge0: a run cut short by the drain is queued again for another node");
                state.metrics().delivery("released");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(token = %claim.token, error = ?e, "judge0: cannot give a claim back; its lease will run out")
            }
        }
    }
}

/// Every half lease, put what stopped nodes left half run back in the queue.
async fn watch_leases(state: AppState) {
    let every = state.config().lease / 2;
    loop {
        tokio::time::sleep(every).await;
        if state.is_draining() {
            return;
        }
        let tokens = match state.store().requeue_expired().await {
            Ok(tokens) => tokens,
            Err(e) => {
                tracing::debug!(error = ?e, "judge0: cannot look for expired leases");
                continue;
            }
        };
        if tokens.is_empty() {
            continue;
        }
        tracing::info!(
            submissions = tokens.len(),
            "judge0: submissions whose node stopped mid-run are queued again"
        );
        for token in tokens {
            // Best effort: a token the queue does not take is still found by an idle worker.
            if let Err(e) = state.queue().push_again(token.clone()).await {
                tracing::debug!(%token, error = %e, "judge0: not queued again; an idle worker will find it");
            }
        }
    }
}

async fn work(state: AppState, n: usize) {
    let mut wait = IDLE_POLL;
    loop {
        if state.is_draining() {
            break;
        }
        match state.queue().pop(wait).await {
            Popped::Delivery(delivery) => {
                wait = IDLE_POLL;
                if state.is_draining() {
                    // Not started: straight to another node.
                    delivery.release().await;
                    break;
                }
                let span = tracing::info_span!("judge0_worker", worker = n, token = %delivery.token());
                handle(&state, delivery).instrument(span).await;
            }
            Popped::Empty => {
                wait = IDLE_POLL;
                let config = state.config();
                match state
                    .store()
                    .claim_next(state.node_id(), config.lease, ORPHAN_GRACE)
                    .await
                {
                    Ok(Some(claim)) => {
                        tracing::info!(token = %claim.token, attempt = claim.attempt, "judge0: took a submission no queue held");
                        let span = tracing::info_span!("judge0_worker", worker = n, token = %claim.token);
                        run_claim(&state, claim, None).instrument(span).await;
                        wait = EAGER_POLL;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = ?e, "judge0: cannot look for unclaimed submissions");
                        tokio::time::sleep(STORE_RETRY).await;
                    }
                }
            }
            Popped::Closed => break,
        }
    }
}

/// Whether a store error will likely go away by itself (the database is back, space freed):
/// worth waiting for rather than dropping the work.
fn passes(e: &store::StoreError) -> bool {
    !e.is_caller_mistake() && e.failure() != store::Failure::Internal
}

/// `op` until it succeeds or fails for good; while the store is unavailable or full it waits
/// and tries again (a submission taken from the queue must not be lost to an outage). `None`
/// when it failed for good (logged) or the node drains (the claim's lease runs out, or it is
/// given back, and another node runs the submission).
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
            Err(e) if passes(&e) && !state.is_draining() => {
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

/// Runs `work` while keeping what it holds alive: every third of the lease a progress ack for
/// the delivery and a renewal of the claim's lease.
async fn kept_alive<T>(
    state: &AppState,
    delivery: Option<&Delivery>,
    claim: Option<&Claim>,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::select! {
        out = work => out,
        never = keepalive(state, delivery, claim) => match never {},
    }
}

/// Every third of the lease: a progress ack for the delivery, a renewal of the claim's lease.
/// Never ends (it is dropped with the work it keeps alive).
async fn keepalive(state: &AppState, delivery: Option<&Delivery>, claim: Option<&Claim>) -> std::convert::Infallible {
    let lease = state.config().lease;
    let mut lost = false;
    loop {
        tokio::time::sleep(lease / 3).await;
        if let Some(d) = delivery {
            d.progress().await;
        }
        if let Some(c) = claim {
            match state.store().renew_lease(c, lease).await {
                Ok(true) => {}
                Ok(false) if !lost => {
                    lost = true;
                    tracing::warn!(token = %c.token, "judge0: the claim ran out and another node took the submission; this run's result will not be stored");
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(token = %c.token, error = ?e, "judge0: cannot renew a lease now"),
            }
        }
    }
}

/// A delivery from the queue: claim its submission, run it, store the result, ack.
async fn handle(state: &AppState, delivery: Delivery) {
    let token = delivery.token().to_owned();
    let (store, config) = (state.store(), state.config());
    let claimed = kept_alive(
        state,
        Some(&delivery),
        None,
        patiently(state, &token, "claim a submission", || {
            store.claim_submission(&token, state.node_id(), config.lease)
        }),
    )
    .await;
    match claimed {
        Some(Some(claim)) => run_claim(state, claim, Some(delivery)).await,
        Some(None) => {
            // Finished already, deleted, or run by a live node: nothing to do here.
            tracing::debug!(%token, delivered = delivery.delivered(), "judge0: delivered again; not claimable; dropped");
            state.metrics().delivery("duplicate");
            delivery.ack().await;
        }
        // The store failed for good or the node drains: left for a later delivery.
        None if state.is_draining() => delivery.release().await,
        None => {}
    }
}

/// Why a claimed submission is not run but given up, if it is.
fn give_up_reason(state: &AppState, claim: &Claim, delivery: Option<&Delivery>) -> Option<String> {
    if claim.attempt > MAX_RUN_ATTEMPTS {
        return Some(format!(
            "not run: its run was cut short {} times (the node running it stopped); giving up",
            claim.attempt - 1
        ));
    }
    let max_deliver = u64::try_from(store::MAX_DELIVER).unwrap_or(u64::MAX);
    match delivery {
        Some(d) if state.queue().kind() == "jetstream" && d.delivered() >= max_deliver => Some(format!(
            "not run: delivered {} times without a stored result; giving up",
            d.delivered()
        )),
        _ => None,
    }
}

/// Run a claimed submission (from the queue, or found in the store), store its result with
/// the claim, send its callback, then ack the delivery.
async fn run_claim(state: &AppState, claim: Claim, delivery: Option<Delivery>) {
    let token = claim.token.clone();
    state.node().hold(&claim);
    let give_up = give_up_reason(state, &claim, delivery.as_ref());
    let ran = kept_alive(state, delivery.as_ref(), Some(&claim), async {
        if let Some(message) = &give_up {
            tracing::warn!(%token, attempt = claim.attempt, "judge0: {message}");
            let (status, result) = result::internal_error(message);
            return Some((None, status, result, OutputHold::default()));
        }
        let store = state.store();
        let request = match patiently(state, &token, "read a claimed submission", || {
            store.get_submission(&token)
        })
        .await
        {
            Some(Some(s)) => serde_json::from_str::<StoredRequest>(&s.request)
                .map(|r| (r, s.owner.map(Arc::<str>::from)))
                .map_err(|e| e.to_string()),
            // Deleted meanwhile, or the store failed for good.
            Some(None) | None => return None,
        };
        let (request, owner) = match request {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(%token, error = %e, "judge0: stored request unreadable");
                let (status, result) = result::internal_error("Internal Error");
                return Some((None, status, result, OutputHold::default()));
            }
        };
        loop {
            match run(state, &request, owner.clone()).await {
                Ok((status, result, hold)) => return Some((Some(request), status, result, hold)),
                Err(Deferred::Busy { retry_after_s }) => {
                    tokio::time::sleep(BUSY_RETRY.max(Duration::from_secs(retry_after_s.min(5)))).await;
                    if state.is_draining() {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
    })
    .await;
    let Some((request, status, result, _hold)) = ran else {
        // Not run: the node drains (the claim is given back, the delivery handed on) or the
        // submission is gone.
        if state.is_draining() {
            if let Ok(true) = state.store().release_claim(&claim).await {
                state.metrics().delivery("released");
            }
            state.node().unhold(&claim);
            if let Some(d) = delivery {
                d.release().await;
            }
        } else {
            state.node().unhold(&claim);
            if let Some(d) = delivery {
                d.ack().await;
            }
        }
        return;
    };
    if request.is_some() {
        tracing::info!(%token, attempt = claim.attempt, node = %state.node_id(), status, "judge0: run completed");
    }
    // The result is kept until the store takes it: an outage does not lose a finished run.
    let callback_url = request.as_ref().and_then(|r| r.callback_url.as_deref());
    let stored = kept_alive(
        state,
        delivery.as_ref(),
        Some(&claim),
        patiently(state, &token, "store a result", || async {
            match finish_claimed(state, &claim, status, &result, callback_url).await {
                Ok(_) => Ok(true),
                Err(Deferred::TakenOver) | Err(Deferred::Gone) => Ok(false),
                Err(Deferred::Store(e)) => Err(e),
                // `finish` runs nothing: it cannot be busy or shutting down.
                Err(Deferred::Busy { .. } | Deferred::ShuttingDown) => Ok(false),
            }
        }),
    )
    .await;
    state.node().unhold(&claim);
    match stored {
        Some(true) => {
            tracing::info!(%token, attempt = claim.attempt, node = %state.node_id(), "judge0: result stored");
            state
                .metrics()
                .delivery(if give_up.is_some() { "gave_up" } else { "stored" });
        }
        Some(false) => {
            tracing::warn!(%token, attempt = claim.attempt, "judge0: result not stored: the claim was taken over (or the submission deleted)");
            state.metrics().delivery("discarded");
        }
        // The store failed for good, or the node drains with the result unstored: the
        // delivery stays unacked and the lease runs out, so another node runs it again.
        None => return,
    }
    if let Some(d) = delivery {
        d.ack().await;
    }
}

/// Run a request: the Judge0 status id and result, or why it did not run now.
/// The hold keeps the output counted in the node's memory until it is stored (or sent).
/// `owner` is the submission's key: its runs are counted to it (metering, quotas, the run log).
async fn run(
    state: &AppState,
    request: &StoredRequest,
    owner: Option<Arc<str>>,
) -> Result<(i32, StoredResult, OutputHold), Deferred> {
    match execute(state, request, owner).await {
        Ok(done) => Ok(done),
        Err(EngineError::Busy { retry_after_s }) => Err(Deferred::Busy { retry_after_s }),
        Err(EngineError::ShuttingDown) => Err(Deferred::ShuttingDown),
        Err(e) => {
            let (status, result) = result::internal_error(&engine::public_message(&e));
            Ok((status, result, OutputHold::default()))
        }
    }
}

/// Run a claimed submission now (`wait=true`), store its result and send its callback; the
/// stored record. The lease is renewed while it runs. Deferred: the claim stays held (the
/// caller finishes or gives it back).
pub async fn run_claimed(
    state: &AppState,
    claim: &Claim,
    request: &StoredRequest,
    owner: Option<Arc<str>>,
) -> Result<Record, Deferred> {
    state.node().hold(claim);
    let done = kept_alive(state, None, Some(claim), async {
        let (status, result, _hold) = run(state, request, owner).await?;
        tracing::info!(token = %claim.token, attempt = claim.attempt, node = %state.node_id(), status, "judge0: run completed");
        let record = finish_claimed(state, claim, status, &result, request.callback_url.as_deref()).await?;
        tracing::info!(token = %claim.token, attempt = claim.attempt, node = %state.node_id(), "judge0: result stored");
        Ok(record)
    })
    .await;
    state.node().unhold(claim);
    done
}

/// Run a submission the store could not take (`wait=true` while the database is unavailable
/// or full): the record as it would have been stored, under `token`, which no later request
/// finds. Its callback is sent as for a stored one.
pub async fn run_unstored(
    state: &AppState,
    token: String,
    request: &StoredRequest,
    owner: Option<Arc<str>>,
) -> Result<Record, Deferred> {
    let created_at = chrono::Utc::now();
    let (status, result, _hold) = run(state, request, owner).await?;
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

/// Store a claim's result; then PUT it to the callback URL (Judge0's default fields, base64).
/// [`Deferred::TakenOver`] when the claim is no longer current: nothing is stored or sent.
pub async fn finish_claimed(
    state: &AppState,
    claim: &Claim,
    status: i32,
    result: &StoredResult,
    callback_url: Option<&str>,
) -> Result<Record, Deferred> {
    let store = state.store();
    // Plain data (strings, numbers, options): serializing it cannot fail.
    let json = serde_json::to_string(result).unwrap_or_else(|_| "{}".to_owned());
    if !store
        .finish_claimed(claim, status, &json)
        .await
        .map_err(Deferred::Store)?
    {
        return Err(Deferred::TakenOver);
    }
    stored_record(state, &claim.token, callback_url).await
}

/// Store the result of a submission no worker claimed (its queue refused it). False when a
/// worker claimed it meanwhile: it runs, and its result wins.
pub async fn finish_unclaimed(state: &AppState, token: &str, status: i32, result: &StoredResult) -> bool {
    let json = serde_json::to_string(result).unwrap_or_else(|_| "{}".to_owned());
    state.store().finish_queued(token, status, &json).await.unwrap_or(false)
}

/// The stored record, after its callback was sent.
async fn stored_record(state: &AppState, token: &str, callback_url: Option<&str>) -> Result<Record, Deferred> {
    let record = state
        .store()
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

/// Whether a push error means the submission must be taken back (the queue did not take it).
pub fn refused(e: &PushError) -> Option<&'static str> {
    match e {
        PushError::Full { .. } => Some("queue is full"),
        PushError::Unavailable => Some("the queue is unavailable"),
        // Closed: the node drains; the stored submission is found by another node's idle worker.
        _ => None,
    }
}

/// Translate, run through the engine, translate back: the Judge0 status id and result, and
/// the node memory held for the output.
async fn execute(
    state: &AppState,
    request: &StoredRequest,
    owner: Option<Arc<str>>,
) -> Result<(i32, StoredResult, OutputHold), EngineError> {
    let job = request.check(state.runner().engine())?;
    let trigger = engine::Trigger::new(TRIGGER).with_key(owner);
    let stdin = request.stdin.clone().unwrap_or_default();
    let runs = request.number_of_runs.max(1) as usize;
    if runs == 1 {
        let outcome = state.runner().execute(trigger, job, stdin).await?;
        let run: Vec<_> = outcome.run.iter().cloned().collect();
        let (status, result) = result::from_outcome(request, &outcome, &run);
        return Ok((status, result, outcome.hold));
    }
    let (outcome, all) = state.runner().execute_runs(trigger, job, stdin, runs).await?;
    let (status, result) = result::from_outcome(request, &outcome, &all);
    Ok((status, result, outcome.hold))
}
