//! The console's live figures (`GET /api/v1/console/live`): admin only, server-sent events
//! with the contract's fields every second, numbers that move when runs end, and a bounded
//! number of streams. With the stand-in executor: no root needed.

extern crate tiderun_server as server;

mod common;

use std::time::{Duration, Instant};

use common::{fake, Backend, TestServer};
use serde_json::{json, Value};
use server::console::MAX_CONSOLE_STREAMS;
use server::ServerConfig;

const TOKEN: &str = "console-admin";
/// Longest wait for an event that must come (they come every second).
const EVENT_WITHIN: Duration = Duration::from_secs(10);

async fn start() -> TestServer {
    let config = ServerConfig {
        auth_tokens: vec![TOKEN.into()],
        ..ServerConfig::default()
    };
    fake::start(config, Backend::Sqlite).await
}

fn live(server: &TestServer, token: Option<&str>) -> reqwest::RequestBuilder {
    let r = reqwest::Client::new().get(format!("{}/api/v1/console/live", server.base));
    match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    }
}

/// Reads `figures` events off an open stream.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(server: &TestServer) -> Events {
        let response = live(server, Some(TOKEN)).send().await.expect("console stream");
        assert_eq!(response.status(), 200);
        let ct = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next `figures` event's data.
    async fn next(&mut self) -> Value {
        let deadline = Instant::now() + EVENT_WITHIN;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = Some(e.trim().to_owned());
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if event.as_deref() == Some("figures") {
                    return serde_json::from_str(&data).expect("figures are JSON");
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .expect("an event within EVENT_WITHIN")
                .expect("the stream")
                .expect("the stream is open");
            self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

#[tokio::test]
async fn only_an_admin_reads_the_live_figures() {
    let server = start().await;
    let r = live(&server, None).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = live(&server, Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    server.stop().await;
    // An open server has no admin: nobody reads them.
    let open = fake::start(ServerConfig::default(), Backend::Sqlite).await;
    let r = live(&open, None).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
    open.stop().await;
}

#[tokio::test]
async fn figures_come_every_second_and_move_when_runs_end() {
    let server = start().await;
    let mut events = Events::open(&server).await;
    let first = events.next().await;
    for field in [
        "node",
        "runs_per_s",
        "p50_ms",
        "p99_ms",
        "warm_starts",
        "cold_starts",
        "errors",
        "in_flight",
        "queue_depth",
        "pools",
    ] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }
    assert_eq!(first["node"], server.state.node_id());
    assert_eq!(first["runs_per_s"], 0.0, "{first}");
    assert_eq!(first["p99_ms"], 0.0, "{first}");

    // Runs while the stream is open: ten ok ones, one that ends in internal_error, one that
    // sleeps (in flight while it does).
    let client = reqwest::Client::new();
    let run = |code: &'static str| {
        client
            .post(format!("{}/api/v1/run", server.base))
            .bearer_auth(TOKEN)
            .json(&json!({"language": "python", "code": code}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(run("# stdout: hi").await.unwrap().status(), 200);
    }
    assert_eq!(run("# start_failure: setup").await.unwrap().status(), 200);
    let slow = tokio::spawn(run("# sleep: 2500"));

    // Counts are per second: the eleven runs show up in the events of the next seconds.
    let (mut runs, mut errors, mut cold, mut in_flight, mut p50) = (0.0, 0, 0, 0, 0.0);
    let deadline = Instant::now() + EVENT_WITHIN;
    while (runs < 11.0 || errors < 1 || in_flight < 1) && Instant::now() < deadline {
        let f = events.next().await;
        runs += f["runs_per_s"].as_f64().unwrap();
        errors += f["errors"].as_u64().unwrap();
        cold += f["cold_starts"].as_u64().unwrap();
        in_flight = in_flight.max(f["in_flight"].as_u64().unwrap());
        p50 = f["p50_ms"].as_f64().unwrap();
    }
    assert!(runs >= 10.0, "runs per second add up to the runs that ended ({runs})");
    assert_eq!(errors, 1, "the internal_error run is an error");
    // The stand-in's stages start cold, one per run (the real engine's warm starts: the
    // browser test).
    assert!(cold >= 10, "a cold start per run that ended ({cold})");
    assert_eq!(in_flight, 1, "the sleeping run is in flight");
    assert!(p50 > 0.0, "a latency over the last minute");
    assert_eq!(slow.await.unwrap().unwrap().status(), 200);
    drop(events);
    server.stop().await;
}

#[tokio::test]
async fn console_streams_are_bounded() {
    let server = start().await;
    let mut open = Vec::new();
    for _ in 0..MAX_CONSOLE_STREAMS {
        open.push(Events::open(&server).await);
    }
    let r = live(&server, Some(TOKEN)).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("MAX_CONSOLE_STREAMS"),
        "the limit is named: {body}"
    );
    // A stream that closes gives its place back.
    drop(open.pop());
    let deadline = Instant::now() + EVENT_WITHIN;
    loop {
        let r = live(&server, Some(TOKEN)).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "a closed stream's place was not given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(open);
    server.stop().await;
}
