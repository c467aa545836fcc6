//! The operator console's live figures: `GET /api/v1/console/live` (admin), server-sent
//! events, one `figures` event a second with this node's runs per second, p50/p99 latency over
//! the last minute, warm and cold starts, errors, runs in flight, queue depth and warm pools.
//! The page is `/console` (`page.rs`); the run log and usage come from their own endpoints.
//!
//! The figures come from [`Live`], a runner observer beside the metrics: cumulative counts
//! (each stream takes the difference over its own second, so several streams never steal
//! from each other) and a bounded ring of recent latencies. A node holds at most
//! [`MAX_CONSOLE_STREAMS`] streams; past it 429.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use engine::{Observation, Observer, PoolStats};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Admin, AppState};

/// Console streams one node serves at once. An operator has a tab or two open; each stream
/// costs a task and a few hundred bytes a second, so this only stops a runaway client (a
/// script reconnecting in a loop) from holding tasks; the 17th gets 429.
pub const MAX_CONSOLE_STREAMS: usize = 16;
/// How often a stream sends its figures.
pub const FIGURES_EVERY: Duration = Duration::from_secs(1);
/// The latency percentiles are over runs that ended this recently.
pub const LATENCY_WINDOW: Duration = Duration::from_secs(60);
/// Latencies kept for the percentiles: the most recent ones when more than this many runs
/// ended within [`LATENCY_WINDOW`] (4096 runs a minute is about 68 a second; past that the
/// percentiles are over the last 4096 runs). 16 bytes each.
pub const MAX_LATENCY_SAMPLES: usize = 4096;
/// Seconds a client is told to wait before opening a stream again after 429.
const RETRY_AFTER_S: u64 = 5;

/// What the console's figures are made of, as the runner reports runs. Cheap to clone.
#[derive(Clone, Default)]
pub struct Live(Arc<LiveInner>);

#[derive(Default)]
struct LiveInner {
    runs: AtomicU64,
    errors: AtomicU64,
    warm_starts: AtomicU64,
    cold_starts: AtomicU64,
    latencies: Mutex<VecDeque<(Instant, f64)>>,
    streams: StreamSlots,
}

/// The bounded number of open streams.
struct StreamSlots(Arc<Semaphore>);

impl Default for StreamSlots {
    fn default() -> Self {
        StreamSlots(Arc::new(Semaphore::new(MAX_CONSOLE_STREAMS)))
    }
}

/// The cumulative counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    runs: u64,
    errors: u64,
    warm_starts: u64,
    cold_starts: u64,
}

/// One `figures` event (the contract's names; counts are for the last second).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figures {
    pub node: String,
    /// Runs that ended (with an outcome, whatever its status) per second.
    pub runs_per_s: f64,
    /// Median time from admission to outcome over [`LATENCY_WINDOW`], 0 when nothing ran.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub warm_starts: u64,
    pub cold_starts: u64,
    /// Requests refused for capacity (429), failed in tiderun, or ended `internal_error`; a
    /// student's program failing is not one, nor a bad request.
    pub errors: u64,
    pub in_flight: usize,
    /// Runs waiting for a run slot plus asynchronous submissions queued on this node.
    pub queue_depth: usize,
    /// Of `queue_depth`: runs waiting for a slot.
    pub waiting: usize,
    /// Of `queue_depth`: queued submissions.
    pub queued: usize,
    pub pools: Vec<PoolFigure>,
}

/// A runtime's warm instances (every phase of it together).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PoolFigure {
    pub runtime: String,
    pub ready: usize,
    pub target: usize,
}

impl Observer for Live {
    fn observe(&self, run: &Observation<'_>) {
        let inner = &self.0;
        if let Ok(outcome) = run.result {
            inner.runs.fetch_add(1, Ordering::Relaxed);
            inner
                .warm_starts
                .fetch_add(u64::from(outcome.usage.warm_starts), Ordering::Relaxed);
            inner
                .cold_starts
                .fetch_add(u64::from(outcome.usage.cold_starts), Ordering::Relaxed);
            self.latency(Instant::now(), run.took.as_secs_f64() * 1000.0);
        }
        if run.is_error() {
            inner.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Live {
    fn latency(&self, at: Instant, ms: f64) {
        let mut ring = self.0.latencies.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == MAX_LATENCY_SAMPLES {
            ring.pop_front();
        }
        ring.push_back((at, ms));
    }

    fn totals(&self) -> Totals {
        let i = &self.0;
        Totals {
            runs: i.runs.load(Ordering::Relaxed),
            errors: i.errors.load(Ordering::Relaxed),
            warm_starts: i.warm_starts.load(Ordering::Relaxed),
            cold_starts: i.cold_starts.load(Ordering::Relaxed),
        }
    }

    /// p50 and p99 (nearest rank) of the latencies of runs that ended within
    /// [`LATENCY_WINDOW`] of `now`; older ones are dropped.
    fn percentiles(&self, now: Instant) -> (f64, f64) {
        let mut values: Vec<f64> = {
            let mut ring = self.0.latencies.lock().unwrap_or_else(|p| p.into_inner());
            while ring
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) > LATENCY_WINDOW)
            {
                ring.pop_front();
            }
            ring.iter().map(|(_, ms)| *ms).collect()
        };
        if values.is_empty() {
            return (0.0, 0.0);
        }
        values.sort_by(f64::total_cmp);
        let rank = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        (rank(0.50), rank(0.99))
    }

    /// A stream slot, if fewer than [`MAX_CONSOLE_STREAMS`] are open.
    fn open_stream(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.0.streams.0).try_acquire_owned().ok()
    }
}

/// Per runtime: the ready instances and targets of its pools (compile and run) together.
fn pools_by_runtime(pools: &[PoolStats]) -> Vec<PoolFigure> {
    let mut by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for p in pools {
        let e = by.entry(&p.runtime).or_default();
        e.0 += p.ready;
        e.1 += p.target;
    }
    by.into_iter()
        .map(|(runtime, (ready, target))| PoolFigure {
            runtime: runtime.to_owned(),
            ready,
            target,
        })
        .collect()
}

/// The figures of the second from `before` (at `since`) to now.
fn figures(state: &AppState, before: Totals, since: Instant) -> (Figures, Totals, Instant) {
    let live = state.live();
    let now = Instant::now();
    let totals = live.totals();
    let seconds = now.saturating_duration_since(since).as_secs_f64().max(0.001);
    let (p50_ms, p99_ms) = live.percentiles(now);
    let runner = state.runner();
    let (waiting, queued) = (runner.waiting(), state.queue().len());
    let figures = Figures {
        node: state.node_id().to_owned(),
        runs_per_s: (totals.runs - before.runs) as f64 / seconds,
        p50_ms,
        p99_ms,
        warm_starts: totals.warm_starts - before.warm_starts,
        cold_starts: totals.cold_starts - before.cold_starts,
        errors: totals.errors - before.errors,
        in_flight: runner.running(),
        queue_depth: waiting + queued,
        waiting,
        queued,
        pools: pools_by_runtime(&runner.engine().pool_stats()),
    };
    (figures, totals, now)
}

/// This part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    ConsoleDoc::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(live_doc),
    tags((name = "console", description = "The operator console's live figures (admin keys only)"))
)]
struct ConsoleDoc;

/// This node's live figures: server-sent events, `event: figures` every second with
/// `{"node","runs_per_s","p50_ms","p99_ms","warm_starts","cold_starts","errors","in_flight",
/// "queue_depth","waiting","queued","pools":[{"runtime","ready","target"}]}` (counts per
/// second, latency over the last minute). At most `MAX_CONSOLE_STREAMS` (16) at once.
#[utoipa::path(
    get,
    path = "/api/v1/console/live",
    tag = "console",
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream"),
        (status = 401, description = "No valid token", body = crate::native::ErrorBody),
        (status = 403, description = "Not an admin", body = crate::native::ErrorBody),
        (status = 429, description = "Too many console streams on this node; Retry-After", body = crate::native::ErrorBody),
    )
)]
#[allow(dead_code)] // Documentation only: the handler is `live`.
fn live_doc() {}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/console/live", get(live))
}

/// The live figures as server-sent events: `event: figures` with [`Figures`] as JSON, every
/// [`FIGURES_EVERY`], until the client goes or the node drains.
async fn live(_admin: Admin, State(state): State<AppState>) -> Response {
    let Some(permit) = state.live().open_stream() else {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(serde_json::json!({
                "error": format!(
                    "this node already serves {MAX_CONSOLE_STREAMS} console streams (MAX_CONSOLE_STREAMS); \
                     close one and retry"
                )
            })),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
        return response;
    };
    let mut ticks = tokio::time::interval(FIGURES_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = (state.live().totals(), Instant::now());
    // The first tick is at once: the first event (nothing counted yet) tells the page the
    // stream is up. The permit lives as long as the stream.
    let stream = futures_util::stream::unfold(
        (state, ticks, start, permit),
        |(state, mut ticks, (before, since), permit)| async move {
            ticks.tick().await;
            // A draining node ends its streams (within a second), so they do not hold the
            // shutdown; the page reconnects to another node.
            if state.is_draining() {
                return None;
            }
            let (f, totals, now) = figures(&state, before, since);
            let event = Event::default()
                .event("figures")
                .json_data(&f)
                .unwrap_or_else(|_| Event::default().comment("figures could not be encoded"));
            Some((Ok::<_, Infallible>(event), (state, ticks, (totals, now), permit)))
        },
    );
    let mut response = Sse::new(stream).keep_alive(KeepAlive::default()).into_response();
    // Proxies (nginx) must pass each event on at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_over_the_last_minute_and_nearest_rank() {
        let live = Live::default();
        let now = Instant::now();
        assert_eq!(live.percentiles(now), (0.0, 0.0));
        // 100 runs of 1..=100 ms now, and one slow run older than the window.
        live.latency(now - LATENCY_WINDOW - Duration::from_secs(1), 99_999.0);
        for ms in 1..=100 {
            live.latency(now, f64::from(ms));
        }
        assert_eq!(live.percentiles(now), (50.0, 99.0));
        // The old one was dropped.
        assert_eq!(live.0.latencies.lock().unwrap().len(), 100);
    }

    #[test]
    fn the_latency_ring_is_bounded() {
        let live = Live::default();
        let now = Instant::now();
        for i in 0..MAX_LATENCY_SAMPLES + 10 {
            live.latency(now, i as f64);
        }
        let ring = live.0.latencies.lock().unwrap();
        assert_eq!(ring.len(), MAX_LATENCY_SAMPLES);
        // The oldest went first.
        assert_eq!(ring.front().map(|(_, ms)| *ms), Some(10.0));
    }

    #[test]
    fn pools_are_summed_per_runtime() {
        let pool = |runtime: &str, phase, ready, target| PoolStats {
            runtime: runtime.into(),
            phase,
            kind: "prepared",
            ready,
            target,
            panicking: false,
            warm_starts: 0,
            cold_starts: 0,
        };
        let got = pools_by_runtime(&[
            pool("python", engine::Phase::Run, 2, 3),
            pool("c", engine::Phase::Compile, 1, 1),
            pool("c", engine::Phase::Run, 4, 5),
        ]);
        assert_eq!(
            got,
            [
                PoolFigure {
                    runtime: "c".into(),
                    ready: 5,
                    target: 6
                },
                PoolFigure {
                    runtime: "python".into(),
                    ready: 2,
                    target: 3
                },
            ]
        );
    }
}
