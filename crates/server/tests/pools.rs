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
