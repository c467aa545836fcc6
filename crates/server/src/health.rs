//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready for work: the store answers and the node is not draining (after SIGTERM it answers
/// 503 first, so a load balancer stops sending before the listener closes). The queue's
/// connection is reported but does not decide: a node that cannot reach NATS still runs
/// synchronous requests (its asynchronous submissions get 503 meanwhile).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store_ok = state.store().ping().await.is_ok();
    let draining = state.is_draining();
    let body = serde_json::json!({
        "store": if store_ok { "ok" } else { "unavailable" },
        "running": state.runner().running(),
        "waiting": state.runner().waiting(),
        "node": state.node_id(),
        "draining": draining,
        "queue": state.queue().kind(),
        "queue_connected": state.queue().is_connected(),
    });
    let status = if store_ok && !draining {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Prometheus text format.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state
        .metrics()
        .set_gauges(state.runner().running(), state.runner().waiting(), state.queue().len());
    state
        .metrics()
        .set_pools(&state.runner().engine().pool_stats(), state.runner().admission_totals());
    state
        .metrics()
        .set_build_cache(state.runner().engine().build_cache_stats());
    state.metrics().set_memory(state.runner().engine().memory_stats());
    state
        .metrics()
        .set_precompiled(&state.runner().engine().precompiled_stats());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
}
