//! One error type for every handler: 4xx with an explanation for the caller's mistakes, 5xx
//! with a generic message while the detail goes to the log. Dialects render it in their own
//! body shape with [`ApiError::status`] and [`ApiError::message`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::EngineError;

/// What a caller reads while the database cannot be reached.
pub const STORE_UNAVAILABLE: &str =
    "the database is unavailable: nothing can be saved or looked up now; try again shortly (runs still work)";
/// What a caller reads while the database's disk is full.
pub const STORE_FULL: &str =
    "the server's storage is full: nothing new can be saved until space is freed (runs still work)";
/// Retry-After for [`STORE_UNAVAILABLE`]: a database restart or failover takes seconds.
pub const STORE_RETRY_AFTER_S: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("authentication required: send X-Auth-Token or Authorization: Bearer")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("too many requests; retry in {retry_after_s} s")]
    TooManyRequests { retry_after_s: u64 },
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_s: Option<u64>,
    },
    /// The store's disk is full (507 Insufficient Storage).
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The text shown to the caller (never internal detail).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// Seconds for a `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { retry_after_s } => Some(*retry_after_s),
            ApiError::Unavailable { retry_after_s, .. } => *retry_after_s,
            _ => None,
        }
    }

    /// A response with `body` as JSON and the right status and headers.
    pub fn respond_with(&self, body: serde_json::Value) -> Response {
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }

    /// A store failure, logged: 503 (with Retry-After) while the database cannot be reached,
    /// 507 while its disk is full — each saying so, and that runs still work — else a
    /// generic 500.
    pub fn store(e: store::StoreError) -> ApiError {
        match e.failure() {
            store::Failure::Unavailable => {
                tracing::warn!(error = ?e, "store unavailable");
                ApiError::Unavailable {
                    message: STORE_UNAVAILABLE.into(),
                    retry_after_s: Some(STORE_RETRY_AFTER_S),
                }
            }
            store::Failure::StorageFull => {
                tracing::warn!(error = ?e, "store full");
                ApiError::InsufficientStorage(STORE_FULL.into())
            }
            store::Failure::Internal => {
                tracing::error!(error = ?e, "store failure");
                ApiError::Internal
            }
        }
    }

    /// A store refusal of the caller's input (a size limit, a NUL character) as 400 with the
    /// store's message; any other store failure as [`ApiError::store`].
    pub fn from_store(e: store::StoreError) -> ApiError {
        if e.is_caller_mistake() {
            ApiError::BadRequest(e.to_string())
        } else {
            ApiError::store(e)
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Busy { retry_after_s } => ApiError::TooManyRequests { retry_after_s },
            EngineError::ShuttingDown => ApiError::Unavailable {
                message: e.to_string(),
                retry_after_s: Some(5),
            },
            e if e.is_caller_mistake() => ApiError::BadRequest(e.to_string()),
            e => {
                tracing::error!(error = ?e, "run failed");
                ApiError::Internal
            }
        }
    }
}

/// The native shape: `{"error": "..."}`.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message() });
        self.respond_with(body)
    }
}

/// Unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}
