//! One check before admission: a request the engine refuses gets the same answer from every
//! dialect whether the node is idle or every run slot and the wait queue are taken — 400 (Judge0:
//! 422 with field errors; a WebSocket: an `error` message and close 4002), never 429 for a
//! request that could not run anyway. Native `/api/v1/run` (also with tests), Piston
//! `/api/v2/execute`, Judge0 `POST /submissions` (`wait=true` and `wait=false`) and
//! `/submissions/batch`, Piston's `/api/v2/connect` and the native `/api/v1/ws`. Against the
//! router and the real Runner with the stand-in executor (`common::fake`, no root): the check
//! and admission are the real ones.

extern crate tiderun_server as server;

mod common;

use std::time::Duration;

use engine::{RequestLimits, Runner, RunnerConfig, DEFAULT_REQUEST_OUTPUT_BYTES};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use server::ServerConfig;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;

/// The server's wall time per request: less than Python's longest run (60 s) and Judge0's
/// longest `wall_time_limit` (20 s), so a run asking for more is refused by the request's
/// bound, which the dialects checked differently before.
const REQUEST_WALL: Duration = Duration::from_secs(10);
/// No single answer should take this long; a hang fails the test instead of blocking it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// One run slot, no wait queue: while one program runs, every other run is refused at once.
fn full_after_one() -> Arc<Runner> {
    let limits = RequestLimits::new(DEFAULT_REQUEST_OUTPUT_BYTES, REQUEST_WALL).expect("request limits");
    let executor = common::fake::FakeExecutor::new().with_request_limits(limits);
    Runner::with_executor(
        Arc::new(executor),
        RunnerConfig {
            max_concurrent: 1,
            max_waiting: 0,
            max_wait: Duration::from_secs(1),
        },
    )
}

/// What a request was answered: an HTTP status and body, or a WebSocket's close code and the
/// message of its `error`.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    body: Value,
}

async fn post(client: &reqwest::Client, base: &str, path: &str, body: &Value) -> Answer {
    let response = tokio::time::timeout(ANSWER_TIMEOUT, client.post(format!("{base}{path}")).json(body).send())
        .await
        .unwrap_or_else(|_| panic!("no answer to {path} within {ANSWER_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// Send `init` on a fresh socket; the `error` message and the close code, or what came instead.
async fn init(ws_base: &str, path: &str, init: &Value) -> Answer {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{ws_base}{path}"))
        .await
        .unwrap_or_else(|e| panic!("connect {path}: {e}"));
    ws.send(Message::text(init.to_string())).await.expect("send init");
    let mut error = Value::Null;
    let mut log = Vec::new();
    loop {
        let message = tokio::time::timeout(ANSWER_TIMEOUT, ws.next())
            .await
            .unwrap_or_else(|_| panic!("{path}: nothing within {ANSWER_TIMEOUT:?}; so far {log:?}"));
        match message {
            Some(Ok(Message::Text(text))) => {
                let v: Value = serde_json::from_str(text.as_str()).expect("server sends JSON");
                if v["type"] == "error" {
                    error = v["message"].clone();
                }
                log.push(v);
            }
            Some(Ok(Message::Close(frame))) => {
                let status = frame.map_or(1005, |f| u16::from(f.code));
                // A session that started instead of being refused shows what it said.
                let body = if error.is_null() { json!(log) } else { error };
                return Answer { status, body };
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => {
                return Answer {
                    status: 0,
                    body: json!(log),
                }
            }
        }
    }
}

/// A request that checks nothing but the engine's check would pass: the program is fine.
fn program() -> &'static str {
    "print(1)"
}

/// Every dialect's out-of-range limits, each answered with what is expected (status and a
/// part of the message, or Judge0's whole field errors).
async fn refusals(server: &common::TestServer) -> Vec<(&'static str, Answer)> {
    let client = reqwest::Client::new();
    let base = server.base.as_str();
    let ws = server.ws_base();
    let native = |limits: Value| json!({"language": "python", "code": program(), "limits": limits});
    let piston = |extra: Value| {
        let mut body = json!({"language": "python", "version": "*", "files": [{"content": program()}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let judge0 = |extra: Value| {
        let mut body = json!({"source_code": program(), "language_id": 71});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let native_init = |limits: Value| {
        let mut body = native(limits);
        body["type"] = json!("init");
        body
    };
    let ws_init = |extra: Value| {
        let mut body = piston(extra);
        body["type"] = json!("init");
        body
    };
    let mut tests = native(json!({"cpu_ms": 0}));
    tests["tests"] = json!([{"stdin": "", "expected_output": "1"}]);
    vec![
        (
            "native: memory past the runtime's maximum",
            post(&client, base, "/api/v1/run", &native(json!({"memory_mb": 1_000_000}))).await,
        ),
        (
            "native: a run longer than a request",
            post(&client, base, "/api/v1/run", &native(json!({"wall_ms": 15_000}))).await,
        ),
        (
            "native: tests, cpu below the minimum",
            post(&client, base, "/api/v1/run", &tests).await,
        ),
        (
            "piston: memory past the runtime's maximum",
            post(
                &client,
                base,
                "/api/v2/execute",
                &piston(json!({"run_memory_limit": 1u64 << 40})),
            )
            .await,
        ),
        (
            "piston: a compile limit past its maximum",
            post(
                &client,
                base,
                "/api/v2/execute",
                &piston(json!({"compile_timeout": 1u64 << 30})),
            )
            .await,
        ),
        (
            "piston: a run longer than a request",
            post(
                &client,
                base,
                "/api/v2/execute",
                &piston(json!({"run_timeout": 15_000})),
            )
            .await,
        ),
        (
            "judge0 wait=true: a run longer than a request",
            post(
                &client,
                base,
                "/submissions?wait=true",
                &judge0(json!({"wall_time_limit": 15})),
            )
            .await,
        ),
        (
            "judge0 wait=false: a run longer than a request",
            post(&client, base, "/submissions", &judge0(json!({"wall_time_limit": 15}))).await,
        ),
        (
            "judge0 wait=true: memory below what can start",
            post(
                &client,
                base,
                "/submissions?wait=true",
                &judge0(json!({"memory_limit": 2048})),
            )
            .await,
        ),
        (
            "judge0 batch: a run longer than a request",
            post(
                &client,
                base,
                "/submissions/batch",
                &json!({"submissions": [judge0(json!({"wall_time_limit": 15}))]}),
            )
            .await,
        ),
        (
            "piston ws: memory past the runtime's maximum",
            init(
                &ws,
                "/api/v2/connect",
                &ws_init(json!({"run_memory_limit": 1u64 << 40})),
            )
            .await,
        ),
        (
            "piston ws: a run longer than a request",
            init(&ws, "/api/v2/connect", &ws_init(json!({"run_timeout": 15_000}))).await,
        ),
        (
            "native ws: a run longer than a request",
            init(&ws, "/api/v1/ws", &native_init(json!({"wall_ms": 15_000}))).await,
        ),
    ]
}

/// What each refusal must be, idle or not.
fn assert_refused(answers: &[(&'static str, Answer)]) {
    let message = |a: &Answer| match &a.body {
        Value::String(s) => s.clone(),
        v => v["error"]
            .as_str()
            .or(v["message"].as_str())
            .unwrap_or_default()
            .to_owned(),
    };
    let expected: [(u16, &str); 6] = [
        (400, "memory_mb = 1000000 is out of range (at most 2048)"),
        (
            400,
            "wall_ms = 15000 is more than this server lets one request run (10000 ms for its compile and runs together)",
        ),
        (400, "cpu_ms must be at least 1"),
        (400, "run_memory_limit cannot exceed the configured limit of 2147483648"),
        (400, "compile_timeout cannot exceed the configured limit of "),
        (400, "run_timeout cannot exceed the configured limit of 10000"),
    ];
    for ((case, answer), (status, text)) in answers.iter().zip(expected) {
        assert_eq!(answer.status, status, "{case}: {answer:?}");
        assert!(message(answer).starts_with(text), "{case}: {answer:?}");
    }
    let wall = json!({"wall_time_limit": ["must be less than or equal to 10.0"]});
    let judge0 = [
        (422, wall.clone()),
        (422, wall.clone()),
        (422, json!({"memory_limit": ["must be greater than or equal to 4096"]})),
        (422, json!([wall])),
    ];
    for ((case, answer), (status, body)) in answers[6..].iter().zip(judge0) {
        assert_eq!((answer.status, &answer.body), (status, &body), "{case}");
    }
    let ws = [
        "run_memory_limit cannot exceed the configured limit of 2147483648",
        "run_timeout cannot exceed the configured limit of 10000",
        // The native socket in the native API's words.
        "wall_ms = 15000 is more than this server lets one request run (10000 ms for its compile and runs together)",
    ];
    for ((case, answer), text) in answers[10..].iter().zip(ws) {
        assert_eq!((answer.status, &answer.body), (4002, &json!(text)), "{case}");
    }
    assert_eq!(answers.len(), 13);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_limit_gets_the_same_answer_idle_and_under_load() {
    let server = common::start_with_runner(ServerConfig::default(), full_after_one(), common::Backend::Sqlite).await;
    let idle = refusals(&server).await;
    assert_refused(&idle);
    assert_eq!(server.state.runner().running(), 0, "nothing ran for a refused request");

    // Take the only slot with a program that waits, and keep it while the refusals are sent.
    let (mut holder, _) = tokio_tungstenite::connect_async(format!("{}/api/v1/ws", server.ws_base()))
        .await
        .expect("connect");
    // Holds the slot until its stdin closes (the socket is dropped).
    let hold = "# stdout: holding\n# stdin";
    let init = json!({"type": "init", "language": "python", "code": hold, "limits": {"wall_ms": 10_000}});
    holder.send(Message::text(init.to_string())).await.expect("send init");
    loop {
        let message = tokio::time::timeout(ANSWER_TIMEOUT, holder.next())
            .await
            .expect("the holder starts")
            .expect("the holder's socket is open")
            .expect("a message");
        if let Message::Text(text) = message {
            let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
            assert_ne!(v["type"], "error", "{v}");
            if v["type"] == "data" && v["data"].as_str().is_some_and(|d| d.contains("holding")) {
                break;
            }
        }
    }
    assert_eq!(server.state.runner().running(), 1);

    let busy = refusals(&server).await;
    // A good request at the end is refused for capacity: the slot was taken all along.
    let client = reqwest::Client::new();
    let good = json!({"language": "python", "code": program()});
    let control = post(&client, &server.base, "/api/v1/run", &good).await;
    assert_eq!(control.status, 429, "{control:?}");
    assert_refused(&busy);
    assert_eq!(idle, busy, "the same answers idle and under load");

    drop(holder);
    server.stop().await;
}
