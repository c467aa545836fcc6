//! Warm pools seen through the service: runs served from zygotes, and the pool, start and
//! admission metrics an operator watches at 10:00.

extern crate tiderun_server as server;

mod common;

use std::time::{Duration, Instant};

use common::{runner_with_pools, start_with_runner, Backend};
use engine::{PoolConfig, RunnerConfig};
use serde_json::{json, Value};
use server::ServerConfig;

async fn metrics(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one sample line (`name{labels} value`).
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn python_runs_come_from_zygotes_and_metrics_show_the_pools() {
    python_runs_come_from("zygote", engine::ForkConfig::off()).await;
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn python_runs_come_from_fork_servers_sized_by_the_tide_and_metrics_show_them() {
    // None kept while idle: the first run starts cold and the tide starts one.
    python_runs_come_from(
        "fork_server",
        engine::ForkConfig {
            min: 0,
            ..engine::ForkConfig::default()
        },
    )
    .await;
}

/// Python runs start warm from `kind` instances, which the metrics show, and drain to none
/// when the node is idle.
async fn python_runs_come_from(kind: &str, forks: engine::ForkConfig) {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let runner = runner_with_pools(
        RunnerConfig::default(),
        PoolConfig {
            idle_after: Duration::from_secs(3),
            forks,
            ..PoolConfig::default()
        },
    );
    let server = start_with_runner(ServerConfig::default(), runner, Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let run = || async {
        let r: Value = client
            .post(format!("{}/api/v1/run", server.base))
            .json(&json!({"language": "python", "code": "import sys\nprint(__name__, sys.argv)", "args": ["x"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["run"]["stdout"], "__main__ ['main.py', 'x']\n", "{r}");
    };
    run().await;
    let ready = format!(r#"tiderun_pool_instances{{kind="{kind}",phase="run",runtime="python"}}"#);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sample(&metrics(&server.base).await, &ready).unwrap_or(0.0) < 1.0 {
        assert!(Instant::now() < deadline, "no warm python {kind}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    run().await;
    let m = metrics(&server.base).await;
    let warm = r#"tiderun_starts_total{phase="run",runtime="python",start="warm"}"#;
    assert!(sample(&m, warm).unwrap_or(0.0) >= 1.0, "{m}");
    assert!(
        sample(&m, r#"tiderun_pool_target{phase="run",runtime="python"}"#).unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    assert!(sample(&m, "tiderun_admissions_total").unwrap_or(0.0) >= 2.0, "{m}");
    assert!(m.contains("tiderun_admission_wait_seconds_total"), "{m}");
    // Idle: the pools drain to zero.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = metrics(&server.base).await;
        if sample(&m, &ready) == Some(0.0)
            && sample(&m, r#"tiderun_pool_target{phase="run",runtime="python"}"#) == Some(0.0)
        {
            break;
        }
        assert!(Instant::now() < deadline, "pools did not drain: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let state = server.state.clone();
    server.stop().await;
    state.runner().engine().wait_idle(Duration::from_secs(10));
}

/// One interactive run of the page's greeter over `path` (`/api/v1/ws` as the classroom page
/// speaks it, or Piston's `/api/v2/connect`): the prompt comes first, the answer is sent live,
/// and the greeting follows.
async fn greet_over_websocket(server: &common::TestServer, path: &str, answer: &str) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!("{}{path}", server.ws_base());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    let code = "name = input('name? ')\nprint('hello', name)\n";
    let init = if path.starts_with("/api/v2") {
        json!({"type": "init", "language": "python", "version": "*", "files": [{"content": code}]})
    } else {
        // The classroom page's init (web/src/run.js): a student's wall time.
        json!({"type": "init", "language": "python", "code": code, "limits": {"wall_ms": 60000}})
    };
    ws.send(Message::text(init.to_string())).await.expect("send init");
    let (mut stdout, mut answered, mut log) = (String::new(), false, Vec::new());
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no message within 30 s; so far {log:?}"));
        let Some(Ok(Message::Text(text))) = message else { break };
        let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
        log.push(v.clone());
        match v["type"].as_str() {
            Some("data") if v["stream"] == "stdout" => {
                stdout.push_str(v["data"].as_str().unwrap_or_default());
                if !answered && stdout.contains("name? ") {
                    let data = json!({"type": "data", "stream": "stdin", "data": format!("{answer}\n")});
                    ws.send(Message::text(data.to_string())).await.expect("send stdin");
                    answered = true;
                }
            }
            Some("exit") => break,
            Some("error") => panic!("{log:?}"),
            _ => {}
        }
    }
    assert_eq!(stdout, format!("name? hello {answer}\n"), "{log:?}");
}

/// Sessions over both WebSockets start warm — from zygotes, and forked from fork servers —
/// and `tiderun_starts_total` counts them so (with fork servers it had no Python samples at
/// all: their runs were counted nowhere).
#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn websocket_sessions_start_warm_and_are_counted() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    for (kind, forks) in [
        ("zygote", engine::ForkConfig::off()),
        (
            "fork_server",
            engine::ForkConfig {
                servers: 1,
                ..engine::ForkConfig::default()
            },
        ),
    ] {
        let runner = runner_with_pools(
            RunnerConfig::default(),
            PoolConfig {
                forks,
                ..PoolConfig::default()
            },
        );
        let server = start_with_runner(ServerConfig::default(), runner, Backend::Sqlite).await;
        let ready = format!(r#"tiderun_pool_instances{{kind="{kind}",phase="run",runtime="python"}}"#);
        let warm = r#"tiderun_starts_total{phase="run",runtime="python",start="warm"}"#;
        let cold = r#"tiderun_starts_total{phase="run",runtime="python",start="cold"}"#;
        // A first session tells the zygote pool Python is wanted (pools grow with arrivals).
        greet_over_websocket(&server, "/api/v1/ws", "first").await;
        for (path, answer) in [("/api/v1/ws", "Ada"), ("/api/v2/connect", "小明")] {
            let deadline = Instant::now() + Duration::from_secs(30);
            while sample(&metrics(&server.base).await, &ready).unwrap_or(0.0) < 1.0 {
                assert!(Instant::now() < deadline, "no {kind} ready for python");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // A zygote's interpreter comes up after its sandbox.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let m = metrics(&server.base).await;
            let (warm_before, cold_before) = (sample(&m, warm).unwrap_or(0.0), sample(&m, cold).unwrap_or(0.0));
            greet_over_websocket(&server, path, answer).await;
            let m = metrics(&server.base).await;
            assert_eq!(
                (sample(&m, warm), sample(&m, cold).unwrap_or(0.0)),
                (Some(warm_before + 1.0), cold_before),
                "a {path} session from a {kind} is counted warm: {m}"
            );
        }
        let state = server.state.clone();
        server.stop().await;
        state.runner().engine().wait_idle(Duration::from_secs(10));
    }
}
