//! JSON bodies, accepted whatever the Content-Type says (Piston's npm client sends none), with
//! errors that say where the body is wrong; and JSON answers that keep a run's output counted
//! in the node's memory budget until they are sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::OutputHold;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Parse a JSON body; the error names the field path and the problem.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.is_empty() {
        return Err("the request body is empty; send a JSON object".into());
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| format!("the request body is not valid UTF-8 (byte {})", e.valid_up_to()))?;
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            format!("invalid JSON body: {inner}")
        } else {
            format!("invalid JSON body at {path}: {inner}")
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

    #[test]
    fn errors_say_where() {
        assert!(parse_json::<T>(b"").unwrap_err().contains("empty"));
        assert!(parse_json::<T>(b"\xff").unwrap_err().contains("UTF-8"));
        assert!(parse_json::<T>(b"{").unwrap_err().contains("invalid JSON"));
        let e = parse_json::<T>(br#"{"a": -1, "b": []}"#).unwrap_err();
        assert!(e.contains("at a"), "{e}");
        let e = parse_json::<T>(br#"{"a": 1, "b": [1]}"#).unwrap_err();
        assert!(e.contains("b[0]"), "{e}");
        assert_eq!(parse_json::<T>(br#"{"a": 1, "b": ["x"]}"#).unwrap().a, 1);
    }
}
