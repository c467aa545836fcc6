//! JSON bodies: one extractor for every dialect ([`JsonBody`]), accepted whatever the
//! Content-Type says (Piston's npm client labels its JSON `text/plain`, curl's `-d` labels it a
//! form, some clients send none), bounded in size and time, with one typed rejection
//! ([`BodyRejection`]) that says where the body is wrong and that each dialect words in its own
//! shape — a body that is not JSON and was sent as something else is [`BodyRejection::NotJson`],
//! which Piston answers with its 415; and JSON answers that keep a run's output counted in the node's
//! memory budget until they are sent.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::OutputHold;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{ApiError, AppState};

/// The longest a request body may take to arrive, in total: a few MiB from a classroom
/// laptop take a second or two, and a client that trickles bytes must not hold a connection
/// (and its buffer) for longer. Between two chunks, [`crate::BODY_IDLE_TIMEOUT`] applies.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A request body that is one JSON object of type `T`, read by every dialect the same way:
/// whatever the Content-Type (a failure of a body that is not JSON at all and was sent as
/// something else, a form, is [`BodyRejection::NotJson`]); at most `--max-body-bytes` (a Content-Length past it is refused
/// before a byte is read, a body without one when the bytes read pass it); within
/// [`BODY_READ_TIMEOUT`] in total and [`crate::BODY_IDLE_TIMEOUT`] between chunks; an object
/// (serde would take an array for a struct, field by field); errors naming the failing field's
/// path. The rejection is `E`, the dialect's error type, which words the [`BodyRejection`] in
/// the dialect's shape: `JsonBody<RunRequest>` answers `{"error"}`, `JsonBody<ExecuteRequest,
/// PistonError>` answers `{"message"}`.
///
/// No handler reads a body any other way, so this is where the body limit holds (axum's
/// `DefaultBodyLimit`, set by [`crate::router`], bounds the bytes read). The second field only
/// names the rejection type: match it with `JsonBody(request, ..)`.
pub struct JsonBody<T, E = ApiError>(pub T, pub PhantomData<fn() -> E>);

impl<T, E> FromRequest<AppState> for JsonBody<T, E>
where
    T: DeserializeOwned,
    E: From<BodyRejection> + IntoResponse,
{
    type Rejection = E;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, E> {
        let content_type = request.headers().get(header::CONTENT_TYPE).cloned();
        let body = read_body(request, state.config().max_body_bytes).await?;
        match parse_object(&body) {
            Ok(value) => Ok(JsonBody(value, PhantomData)),
            Err(e) => Err(not_json(e, content_type.as_ref(), &body).into()),
        }
    }
}

/// Why a request body was refused: the one rejection of [`JsonBody`], whatever the dialect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyRejection {
    /// Past `--max-body-bytes` (413).
    #[error("request body too large: the limit is {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    /// Not all there within [`BODY_READ_TIMEOUT`] (408).
    #[error("the request body did not arrive within {} s", BODY_READ_TIMEOUT.as_secs())]
    TimedOut,
    /// No byte for [`crate::BODY_IDLE_TIMEOUT`] (408).
    #[error("the request body stopped arriving for {} s", crate::BODY_IDLE_TIMEOUT.as_secs())]
    Stalled,
    /// The connection failed while the body was read (400).
    #[error("cannot read the request body: {0}")]
    Unreadable(String),
    #[error("the request body is empty; send a JSON object")]
    Empty,
    #[error("the request body is not valid UTF-8 (byte {valid_up_to})")]
    NotUtf8 { valid_up_to: usize },
    #[error("the request body must be a JSON object")]
    NotAnObject,
    /// Not JSON, or not of the request's type; `path` names the field (empty: the whole body).
    #[error("invalid JSON body{}: {message}", if path.is_empty() { String::new() } else { format!(" at {path}") })]
    Invalid { path: String, message: String },
    /// `cause`, for a body that is not JSON at all and that was sent as something else: a
    /// form, text... Piston answers it with 415, the other dialects with `cause`'s 400. (A body
    /// without a Content-Type is taken for JSON, so its error is `cause` itself.)
    #[error("{cause} (sent as {content_type}, not application/json)")]
    NotJson {
        content_type: String,
        cause: Box<BodyRejection>,
    },
}

impl From<BodyRejection> for ApiError {
    fn from(e: BodyRejection) -> Self {
        match e {
            BodyRejection::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            BodyRejection::TimedOut | BodyRejection::Stalled => ApiError::RequestTimeout(e.to_string()),
            BodyRejection::Unreadable(_)
            | BodyRejection::Empty
            | BodyRejection::NotUtf8 { .. }
            | BodyRejection::NotAnObject
            | BodyRejection::Invalid { .. }
            | BodyRejection::NotJson { .. } => ApiError::BadRequest(e.to_string()),
        }
    }
}

/// The whole body, within `limit_bytes`, [`BODY_READ_TIMEOUT`] in total and
/// [`crate::BODY_IDLE_TIMEOUT`] between chunks.
async fn read_body(request: Request, limit_bytes: usize) -> Result<Bytes, BodyRejection> {
    let too_large = BodyRejection::TooLarge { limit_bytes };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit_bytes as u64) {
        return Err(too_large);
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, Bytes::from_request(request, &())).await {
        Err(_) => Err(BodyRejection::TimedOut),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large),
        Ok(Err(rejection)) if stalled(&rejection) => Err(BodyRejection::Stalled),
        Ok(Err(rejection)) => Err(BodyRejection::Unreadable(rejection.body_text())),
    }
}

/// The body stopped arriving (the idle timeout layer gave up on it).
fn stalled(rejection: &BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// `e`, the failure to parse `body`, as [`BodyRejection::NotJson`] when the body is not JSON at
/// all (it would not parse as any JSON value) and `content_type` names something else. Without
/// a Content-Type the body was meant as JSON (clients that send none send JSON), so `e` stays.
fn not_json(e: BodyRejection, content_type: Option<&HeaderValue>, body: &[u8]) -> BodyRejection {
    let Some(content_type) = content_type.filter(|t| !says_json(t)) else {
        return e;
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return e;
    }
    BodyRejection::NotJson {
        content_type: String::from_utf8_lossy(content_type.as_bytes()).into_owned(),
        cause: Box::new(e),
    }
}

/// `application/json` or a `+json` type (`application/problem+json`), parameters aside. A few
/// lines rather than the `mime` crate: the only question asked is this one.
fn says_json(content_type: &HeaderValue) -> bool {
    let Ok(value) = content_type.to_str() else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A body that must be one JSON object of type `T`.
pub fn parse_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyRejection> {
    // serde would take an array for a struct, field by field: refuse it with a clear word.
    if body.trim_ascii_start().first().is_some_and(|&b| b != b'{') {
        return Err(BodyRejection::NotAnObject);
    }
    parse_json(body)
}

/// Parse a JSON body; the error names the field path and the problem.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyRejection> {
    if body.is_empty() {
        return Err(BodyRejection::Empty);
    }
    let text = std::str::from_utf8(body).map_err(|e| BodyRejection::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        BodyRejection::Invalid {
            path: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

/// A JSON answer carrying a job's output: `hold` (the node memory counted for that output,
/// see `engine::OutputHold`) is kept until the connection has taken the answer, so a client
/// that reads slowly keeps it counted.
pub fn held_json<T: Serialize>(status: StatusCode, value: &T, hold: OutputHold) -> Response {
    let response = (status, Json(value)).into_response();
    if hold.bytes() == 0 {
        return response;
    }
    response.map(|inner| Body::new(HeldBody { inner, _hold: hold }))
}

/// A body that keeps a hold until it is dropped.
struct HeldBody {
    inner: Body,
    _hold: OutputHold,
}

impl HttpBody for HeldBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    // `is_end_stream` stays the default (false): the connection then asks for one more frame
    // once it has room for it, that is once the answer has mostly gone out, and only then
    // drops the body and the hold.

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        b: Vec<String>,
    }

    fn error<T: DeserializeOwned + std::fmt::Debug>(body: &[u8]) -> String {
        parse_object::<T>(body).unwrap_err().to_string()
    }

    #[test]
    fn errors_say_where() {
        assert!(error::<T>(b"").contains("empty"));
        assert!(error::<T>(b"{\xff}").contains("UTF-8"));
        assert!(error::<T>(b"{").contains("invalid JSON"));
        assert_eq!(error::<T>(b" [1, []]"), "the request body must be a JSON object");
        assert_eq!(
            error::<serde_json::Value>(b"3"),
            "the request body must be a JSON object"
        );
        let e = error::<T>(br#"{"a": -1, "b": []}"#);
        assert!(e.starts_with("invalid JSON body at a: "), "{e}");
        let e = error::<T>(br#"{"a": 1, "b": [1]}"#);
        assert!(e.contains("at b[0]"), "{e}");
        assert!(error::<T>(b"{}").starts_with("invalid JSON body: missing field `a`"));
        assert_eq!(parse_object::<T>(br#"{"a": 1, "b": ["x"]}"#).unwrap().a, 1);
    }

    #[test]
    fn a_body_that_is_not_json_nor_sent_as_json_is_not_json() {
        let form = HeaderValue::from_static("application/x-www-form-urlencoded");
        let text = HeaderValue::from_static("text/plain;charset=UTF-8");
        let json = HeaderValue::from_static("Application/JSON; charset=utf-8");
        let problem = HeaderValue::from_static("application/problem+json");
        let classify = |body: &[u8], content_type: Option<&HeaderValue>| {
            not_json(parse_object::<T>(body).unwrap_err(), content_type, body)
        };
        let e = classify(b"language=python&version=3", Some(&form));
        assert!(matches!(e, BodyRejection::NotJson { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the request body must be a JSON object (sent as application/x-www-form-urlencoded, not application/json)"
        );
        assert!(matches!(classify(b"", Some(&text)), BodyRejection::NotJson { .. }));
        // No Content-Type: meant as JSON, so the JSON error.
        assert!(matches!(classify(b"{a: 1}", None), BodyRejection::Invalid { .. }));
        assert!(matches!(classify(b"a=1", None), BodyRejection::NotAnObject));
        // Sent as JSON: the parse error itself.
        assert!(matches!(
            classify(b"{a: 1}", Some(&json)),
            BodyRejection::Invalid { .. }
        ));
        assert!(matches!(classify(b"", Some(&problem)), BodyRejection::Empty));
        // JSON, whatever the label: the error is about its shape.
        assert!(matches!(classify(b"[1]", Some(&form)), BodyRejection::NotAnObject));
        assert!(matches!(
            classify(br#"{"a": "x"}"#, Some(&text)),
            BodyRejection::Invalid { .. }
        ));
        assert_eq!(
            ApiError::from(classify(b"a=1", Some(&form))).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn each_rejection_has_its_status() {
        let status = |r: BodyRejection| ApiError::from(r).status();
        assert_eq!(
            status(BodyRejection::TooLarge { limit_bytes: 1 }),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(status(BodyRejection::TimedOut), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(status(BodyRejection::Stalled), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(status(BodyRejection::NotAnObject), StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::from(BodyRejection::TooLarge { limit_bytes: 8192 }).message(),
            "request body too large: the limit is 8192 bytes"
        );
    }
}
