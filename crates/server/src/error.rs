//! One error type for the server: 4xx with an explanation for the caller's mistakes, 5xx with a
//! generic message while the detail goes to the log. Every failure maps into it once — a
//! request body (`From<BodyRejection>`, `body.rs`), the engine (`From<EngineError>`), the store
//! (`From<StoreError>`) — and each dialect renders it in its own body shape with
//! [`ApiError::status`], [`ApiError::message`] and [`ApiError::respond_with`]: the native API
//! as `{"error"}` (this type's `IntoResponse`), Piston as `{"message"}` (`PistonError`), Judge0
//! as `{"error"}` or its own 422 field errors (`Judge0Error`).

use axum::http::{header, HeaderValue, Method, StatusCode};
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
    #[error("authentication required: send X-Auth-Token: TOKEN, Authorization: Bearer TOKEN or Authorization: TOKEN")]
    Unauthorized,
    /// A key (or page session) that exists but does not work: expired or revoked.
    #[error("{0}")]
    KeyRefused(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A wrong method on a known path; the `Allow` header (axum's) lists the right ones.
    #[error("{method} is not allowed on this path; the Allow header lists the methods that are")]
    MethodNotAllowed { method: Method },
    /// The request body did not arrive in time (`body::BodyRejection` says how).
    #[error("{0}")]
    RequestTimeout(String),
    /// The request body is past `--max-body-bytes` (`body::BodyRejection` quotes the limit).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not of a media type the API reads (Piston's answer to a body that is not
    /// JSON).
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests; retry in {retry_after_s} s")]
    TooManyRequests { retry_after_s: u64 },
    /// Past a key's quota (`quota.rs`): the message names the quota, its limit and when it
    /// resets.
    #[error("{message}")]
    QuotaExceeded { message: String, retry_after_s: u64 },
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
            ApiError::Unauthorized | ApiError::KeyRefused(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } | ApiError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
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
            ApiError::TooManyRequests { retry_after_s } | ApiError::QuotaExceeded { retry_after_s, .. } => {
                Some(*retry_after_s)
            }
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
}

/// The one mapping of a store error to an answer, which every dialect renders in its shape: the
/// caller's mistake (a size limit, a NUL character, a page out of range) is 400 with the store's
/// message — 409 for a full exercise store, which the caller can free —, a database that cannot
/// be reached 503 with Retry-After, a full disk 507 (each saying that runs still work), anything
/// else a generic 500 with the detail in the log.
impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        if e.is_caller_mistake() {
            return match e {
                store::StoreError::TooManyExercises
                | store::StoreError::TooManyKeys
                | store::StoreError::DuplicateKeyName { .. }
                | store::StoreError::NameTaken { .. }
                | store::StoreError::ClassLimit { .. } => ApiError::Conflict(e.to_string()),
                e => ApiError::BadRequest(e.to_string()),
            };
        }
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

/// A known path with the wrong method (`Router::method_not_allowed_fallback`: axum adds the
/// `Allow` header).
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed { method }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::StoreError;

    /// The status, message and Retry-After of a store error's answer.
    fn answer(e: StoreError) -> (StatusCode, String, Option<u64>) {
        let e = ApiError::from(e);
        (e.status(), e.message(), e.retry_after())
    }

    #[test]
    fn store_errors_map_once() {
        let (status, message, _) = answer(StoreError::NulCharacter { field: "code" });
        assert_eq!(
            (status, message.as_str()),
            (StatusCode::BAD_REQUEST, "code contains a NUL character")
        );
        assert_eq!(answer(StoreError::TooManyExercises).0, StatusCode::CONFLICT);
        let down = StoreError::Query {
            op: "insert_snippet",
            source: sqlx::Error::PoolTimedOut,
        };
        assert_eq!(
            answer(down),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                STORE_UNAVAILABLE.into(),
                Some(STORE_RETRY_AFTER_S)
            )
        );
        let full = StoreError::Query {
            op: "insert_snippet",
            source: sqlx::Error::Io(std::io::ErrorKind::StorageFull.into()),
        };
        assert_eq!(
            answer(full),
            (StatusCode::INSUFFICIENT_STORAGE, STORE_FULL.into(), None)
        );
        let broken = StoreError::Query {
            op: "insert_snippet",
            source: sqlx::Error::RowNotFound,
        };
        assert_eq!(
            answer(broken),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into(), None),
            "no internal detail reaches the caller"
        );
    }
}
