//! Every run is counted once, whatever its entry point: the native run, a run with tests, an
//! exercise's submit, Piston's execute, Judge0's `wait=true`, `number_of_runs` and background
//! submissions, and both WebSockets — a socket whose client leaves mid-run too. The runner
//! reports each request it is given to the metrics; no handler counts for itself.

extern crate tiderun_server as server;

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use server::exercise_spec::ExerciseDir;
use server::ServerConfig;
use tokio_tungstenite::tungstenite::Message;

/// Longest wait for a count that is reported when a run ends after its answer (a WebSocket
/// whose client left, a background submission).
const COUNTED_WITHIN: Duration = Duration::from_secs(20);
/// How long a count is watched after it moved, for a second report of the same request.
const SETTLE: Duration = Duration::from_millis(300);

/// Samples of a metric summed by their `trigger` label.
async fn by_trigger(server: &TestServer, metric: &str) -> BTreeMap<String, f64> {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let mut sums = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with(&format!("{metric}{{"))) {
        let trigger = line
            .split("trigger=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a trigger label");
        let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a value");
        *sums.entry(trigger.to_owned()).or_insert(0.0) += value;
    }
    sums
}

/// Runs counted so far, by trigger.
async fn runs(server: &TestServer) -> BTreeMap<String, f64> {
    by_trigger(server, "faas_invocations_total").await
}

/// After `what` was done: `trigger` counted exactly one more run, no other trigger moved, and
/// nothing was counted as an error.
async fn counted_once(server: &TestServer, before: &BTreeMap<String, f64>, trigger: &str, what: &str) {
    let mut expected = before.clone();
    *expected.entry(trigger.to_owned()).or_insert(0.0) += 1.0;
    let deadline = Instant::now() + COUNTED_WITHIN;
    while runs(server).await.get(trigger) < expected.get(trigger) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(SETTLE).await;
    assert_eq!(runs(server).await, expected, "{what}: runs counted by trigger");
    assert_eq!(
        by_trigger(server, "faas_errors_total").await,
        BTreeMap::new(),
        "{what}: no errors"
    );
}

async fn post(server: &TestServer, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON answer");
    assert!(status == 200 || status == 201, "{path}: {status} {body}");
    body
}

/// A whole interactive run: `init`, then every message up to the server's close.
async fn interactive(server: &TestServer, path: &str, code: &str) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}{path}", server.ws_base()))
        .await
        .expect("connect");
    let init = json!({"type": "init", "language": "python", "version": "*", "files": [{"content": code}]});
    ws.send(Message::text(init.to_string())).await.expect("init");
    let mut log = Vec::new();
    loop {
        match tokio::time::timeout(COUNTED_WITHIN, ws.next())
            .await
            .expect("a message")
        {
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code));
                assert_eq!(code, Some(4999), "{path}: {log:?}");
                return;
            }
            Some(Ok(Message::Text(text))) => log.push(text.to_string()),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => panic!("{path}: ended without a close; {log:?}"),
        }
    }
}

/// An interactive run whose client goes away once the program has started.
async fn leave_mid_run(server: &TestServer, path: &str) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}{path}", server.ws_base()))
        .await
        .expect("connect");
    let code = "import time\nprint('started', flush=True)\ntime.sleep(60)";
    let init = json!({"type": "init", "language": "python", "version": "*", "files": [{"content": code}]});
    ws.send(Message::text(init.to_string())).await.expect("init");
    loop {
        match tokio::time::timeout(COUNTED_WITHIN, ws.next())
            .await
            .expect("a message")
        {
            Some(Ok(Message::Text(text))) if text.contains("started") => break,
            Some(Ok(Message::Text(_))) => {}
            other => panic!("{path}: {other:?} before the program printed"),
        }
    }
    drop(ws);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn every_entry_point_counts_a_run_exactly_once() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    let exercises = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../exercises");
    let config = ServerConfig {
        exercises: Arc::new(ExerciseDir::load(&exercises, &catalog).expect("the shipped exercises")),
        ..ServerConfig::default()
    };
    let server = common::start(config, Backend::Sqlite).await;
    let python = |code: &str| json!({"language": "python", "code": code});

    let before = runs(&server).await;
    post(&server, "/api/v1/run", python("print(1)")).await;
    counted_once(&server, &before, "native", "POST /api/v1/run").await;

    let before = runs(&server).await;
    let mut tests = python("print(int(input()) * 2)");
    tests["tests"] =
        json!([{"stdin": "1", "expected_output": "2"}, {"stdin": "2", "expected_output": "4", "hidden": true}]);
    post(&server, "/api/v1/run", tests).await;
    counted_once(&server, &before, "native", "POST /api/v1/run with tests").await;

    let before = runs(&server).await;
    let solution = python("a, b = map(int, input().split())\nprint(a + b)");
    let graded = post(&server, "/api/v1/exercises/sum-two/submit", solution).await;
    assert_eq!(graded["score"], 1.0, "{graded}");
    counted_once(&server, &before, "native", "an exercise's submit").await;

    let before = runs(&server).await;
    let piston = json!({"language": "python", "version": "*", "files": [{"content": "print(1)"}]});
    post(&server, "/api/v2/execute", piston).await;
    counted_once(&server, &before, "piston", "Piston's execute").await;

    let before = runs(&server).await;
    let judge0 = json!({"language_id": 71, "source_code": "print(1)", "expected_output": "1"});
    let done = post(&server, "/submissions?wait=true", judge0.clone()).await;
    assert_eq!(done["status"]["id"], 3, "{done}");
    counted_once(&server, &before, "judge0", "Judge0 with wait=true").await;

    let before = runs(&server).await;
    let mut repeated = judge0.clone();
    repeated["number_of_runs"] = json!(3);
    let done = post(&server, "/submissions?wait=true", repeated).await;
    assert_eq!(done["status"]["id"], 3, "{done}");
    counted_once(&server, &before, "judge0", "Judge0 with number_of_runs").await;

    let before = runs(&server).await;
    let queued = post(&server, "/submissions", judge0).await;
    let token = queued["token"].as_str().expect("a token").to_owned();
    counted_once(&server, &before, "judge0", "a Judge0 submission run by a worker").await;
    let stored: Value = reqwest::get(format!("{}/submissions/{token}", server.base))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(stored["status"]["id"], 3, "{stored}");

    for (path, trigger) in [("/api/v1/ws", "native_ws"), ("/api/v2/connect", "piston_ws")] {
        let before = runs(&server).await;
        interactive(&server, path, "print('hi')").await;
        counted_once(&server, &before, trigger, path).await;

        let before = runs(&server).await;
        leave_mid_run(&server, path).await;
        counted_once(&server, &before, trigger, &format!("{path}, left by its client")).await;
    }
    server.stop().await;
}

/// The node's memory budget is exported, and a run refused because running ones took it is
/// counted: what the "memory budget exhausted" alert in deploy/ reads. The run is refused
/// before any sandbox starts (its memory limit alone is past the budget).
#[tokio::test]
async fn the_memory_budget_and_its_refusals_are_exported() {
    let budget = 1u64 << 20;
    let runner = common::runner_with_pools(
        engine::RunnerConfig::default(),
        engine::PoolConfig {
            memory_budget_bytes: budget,
            ..engine::PoolConfig::disabled()
        },
    );
    let server = common::start_with_runner(ServerConfig::default(), runner, common::Backend::Sqlite).await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/run", server.base))
        .json(&json!({"language": "python", "code": "print(1)"}))
        .send()
        .await
        .expect("run");
    assert_eq!(r.status(), 429);
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let sample = |name: &str| {
        text.lines()
            .find(|l| l.split(' ').next() == Some(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(sample("tiderun_memory_budget_bytes"), Some(budget as f64), "{text}");
    assert_eq!(sample("tiderun_memory_running_bytes"), Some(0.0), "{text}");
    assert_eq!(sample("tiderun_memory_warm_bytes"), Some(0.0), "{text}");
    assert_eq!(sample("tiderun_memory_budget_refusals_total"), Some(1.0), "{text}");
    server.stop().await;
}
