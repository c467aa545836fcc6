//! Several nodes on one store (and one JetStream queue), each a server with the stand-in
//! executor in a runtime of its own, so that a node can crash the way a killed process does:
//! its runtime is dropped with every task in it, nothing given back. Postgres is
//! `TIDERUN_TEST_POSTGRES_URL` (`scripts/test-postgres`), NATS `TIDERUN_TEST_NATS_URL`
//! (`scripts/test-nats`); without them a test says SKIPPED. The real binary, the real sandbox
//! and kill -9 are in `crates/tiderun/tests/nodes.rs`.

extern crate tiderun_server as server;

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{AppState, ServerConfig};
use store::{JetStreamNames, JetStreamOptions, Queue};
use tokio::time::Instant;

const PYTHON: i64 = 71;
/// How long a test waits for all its submissions; only reached when it is about to fail.
const FINISH_TIMEOUT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(50);
/// The shortest lease the flags allow: a crashed node's runs resume quickly.
const LEASE: Duration = server::node::MIN_LEASE;

fn postgres() -> Option<String> {
    if std::env::var_os("TIDERUN_TEST_POSTGRES_URL").is_none() {
        testkit::skip("several nodes share Postgres: TIDERUN_TEST_POSTGRES_URL is not set (scripts/test-postgres)");
        return None;
    }
    Some(String::new())
}

fn nats() -> Option<String> {
    match std::env::var("TIDERUN_TEST_NATS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            testkit::skip("TIDERUN_TEST_NATS_URL is not set (scripts/test-nats starts a server)");
            None
        }
    }
}

/// A fresh database on the test server (SQLite when asked, in `dir`).
async fn database(backend: common::Backend, dir: &std::path::Path) -> String {
    common::database_url(backend, dir).await
}

/// A JetStream queue of this test's own on the shared server.
fn queue_options(nats_names: &JetStreamNames, node: &str) -> JetStreamOptions {
    JetStreamOptions {
        names: nats_names.clone(),
        capacity: 1000,
        ack_wait: LEASE * 2,
        max_deliver: store::MAX_DELIVER,
        client_name: node.to_owned(),
    }
}

fn unique_names() -> JetStreamNames {
    let id = store::Store::new_token().replace('-', "");
    JetStreamNames {
        stream: format!("TEST_{id}"),
        subject: format!("test.{id}"),
        consumer: format!("workers-{id}"),
    }
}

enum Control {
    Stop,
    Crash,
}

/// One node: a server in a runtime (and thread) of its own.
struct Node {
    base: String,
    state: AppState,
    control: mpsc::Sender<Control>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Node {
    async fn start(id: &str, url: &str, workers: usize, queue: Option<(String, JetStreamNames)>) -> Node {
        Self::start_with(
            url,
            ServerConfig {
                node_id: id.to_owned(),
                workers,
                lease: LEASE,
                drain_timeout: Duration::from_secs(10),
                ..ServerConfig::default()
            },
            queue,
        )
        .await
    }

    async fn start_with(url: &str, config: ServerConfig, queue: Option<(String, JetStreamNames)>) -> Node {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let (control, control_rx) = mpsc::channel::<Control>();
        let url = url.to_owned();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
            let (listener, state) = rt.block_on(async {
                let store = store::Store::connect(&url).await.expect("store");
                let runner = common::fake::runner(engine::RunnerConfig::default());
                let state = match queue {
                    None => AppState::new(runner, store, config),
                    Some((nats, names)) => {
                        let q = store::JetStreamQueue::connect(&nats, queue_options(&names, &config.node_id))
                            .await
                            .expect("queue");
                        AppState::with_queue(runner, store, config, std::sync::Arc::new(q))
                    }
                };
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                (listener, state)
            });
            let base = format!("http://{}", listener.local_addr().expect("addr"));
            let task = rt.spawn(server::serve_on(listener, state.clone(), async {
                let _ = shutdown_rx.await;
            }));
            let _ = ready_tx.send((base, state));
            match control_rx.recv() {
                Ok(Control::Stop) => {
                    let _ = shutdown_tx.send(());
                    let _ = rt.block_on(task);
                }
                // Every task dropped where it stands, as a killed process's: nothing is given
                // back, nothing acked, the leases just stop being renewed.
                Ok(Control::Crash) | Err(_) => rt.shutdown_background(),
            }
            let _ = done_tx.send(());
        });
        let (base, state) = ready_rx.await.expect("node started");
        Node {
            base,
            state,
            control,
            done,
        }
    }

    /// SIGTERM: drain and stop; waits for it.
    async fn stop(self) {
        let _ = self.control.send(Control::Stop);
        let _ = tokio::time::timeout(Duration::from_secs(60), self.done).await;
    }

    /// kill -9.
    async fn crash(self) -> AppState {
        let _ = self.control.send(Control::Crash);
        let _ = tokio::time::timeout(Duration::from_secs(60), self.done).await;
        self.state
    }
}

/// The sum of a counter's samples whose labels contain every `label="value"` given.
fn counter(metrics: &str, name: &str, labels: &[&str]) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Runs this node's runner finished (each counted once when it ended) for Judge0.
fn judge0_runs(state: &AppState) -> u64 {
    counter(
        &state.metrics().render(),
        "faas_invocations_total",
        &[r#"trigger="judge0""#],
    )
}

fn stored(state: &AppState) -> u64 {
    counter(
        &state.metrics().render(),
        "tiderun_queue_deliveries_total",
        &[r#"outcome="stored""#],
    )
}

fn program(i: usize) -> Value {
    json!({ "source_code": format!("# sleep: 40\n# stdout: n{i}"), "language_id": PYTHON })
}

async fn submit(http: &reqwest::Client, base: &str, body: &Value) -> String {
    let r = http
        .post(format!("{base}/submissions"))
        .json(body)
        .send()
        .await
        .expect("post");
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["token"].as_str().expect("token").to_owned()
}

/// Poll (through `base`) until every token is finished; their submissions by token.
async fn all_finished(http: &reqwest::Client, base: &str, tokens: &[String]) -> HashMap<String, Value> {
    let deadline = Instant::now() + FINISH_TIMEOUT;
    let mut done = HashMap::new();
    while done.len() < tokens.len() {
        for t in tokens
            .iter()
            .filter(|t| !done.contains_key(*t))
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
        {
            let s: Value = http
                .get(format!("{base}/submissions/{t}?fields=*"))
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            if s["status"]["id"].as_i64().unwrap_or(0) >= 3 {
                done.insert(t, s);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} finished in {FINISH_TIMEOUT:?}",
            done.len(),
            tokens.len()
        );
        tokio::time::sleep(POLL).await;
    }
    done
}

/// Three nodes, 90 submissions spread over them, one node crashes mid-way: every submission
/// ends with its own output, stored once, and no run completed twice except one the crashed
/// node finished without storing.
async fn three_nodes_one_crash(url: &str, queue: Option<(String, JetStreamNames)>) {
    let http = reqwest::Client::new();
    let mut nodes = Vec::new();
    for id in ["node-a", "node-b", "node-c"] {
        nodes.push(Node::start(id, url, 2, queue.clone()).await);
    }
    let mut tokens = Vec::new();
    for i in 0..90 {
        let node = &nodes[i % 3];
        tokens.push(submit(&http, &node.base, &program(i)).await);
    }
    // Crash node-b once about a third is done.
    let target = 30;
    let deadline = Instant::now() + FINISH_TIMEOUT;
    while nodes.iter().map(|n| stored(&n.state)).sum::<u64>() < target {
        assert!(Instant::now() < deadline, "nothing finishes");
        tokio::time::sleep(POLL).await;
    }
    let crashed = nodes.remove(1).crash().await;
    let done = all_finished(&http, &nodes[0].base, &tokens).await;
    for (i, t) in tokens.iter().enumerate() {
        let s = &done[t];
        assert_eq!(
            (s["status"]["id"].as_i64(), s["stdout"].as_str()),
            (Some(3), Some(format!("n{i}\n").as_str())),
            "{s}"
        );
    }
    // Each submission stored once (every one finished right above; a result is stored only
    // with the current claim). The crashed node's count may miss a result it stored in the
    // instant before it died, one per worker at most.
    let stored_total: u64 = nodes.iter().map(|n| stored(&n.state)).sum::<u64>() + stored(&crashed);
    assert!((88..=90).contains(&stored_total), "results stored: {stored_total}");
    // Run to completion once, but for a run the crashed node finished and could not store (it
    // died between the two): at most one per worker of it.
    let runs: u64 = nodes.iter().map(|n| judge0_runs(&n.state)).sum::<u64>() + judge0_runs(&crashed);
    let unstored_on_crashed = judge0_runs(&crashed) - stored(&crashed);
    assert!(unstored_on_crashed <= 2, "{unstored_on_crashed}");
    assert!(
        (90..=90 + unstored_on_crashed).contains(&runs),
        "runs completed: {runs}, {unstored_on_crashed} on the crashed node not counted as stored"
    );
    println!(
        "runs: {runs}; stored by node-a {}, node-b (crashed) {}, node-c {}; run by the crashed node but not stored: {unstored_on_crashed}",
        stored(&nodes[0].state),
        stored(&crashed),
        stored(&nodes[1].state)
    );
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn several_nodes_on_postgres_without_nats_lose_nothing_and_run_each_once() {
    if postgres().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = database(common::Backend::Postgres, dir.path()).await;
    three_nodes_one_crash(&url, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn several_nodes_on_jetstream_lose_nothing_and_run_each_once() {
    if postgres().is_none() {
        return;
    }
    let Some(nats) = nats() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = database(common::Backend::Postgres, dir.path()).await;
    three_nodes_one_crash(&url, Some((nats, unique_names()))).await;
}

/// SIGTERM with a short and a long run in flight: readiness false at once, the short run
/// finishes and is stored, the long one is cut at the drain timeout and given back —
/// queued, its attempt not counted — and another node runs it.
#[tokio::test(flavor = "multi_thread")]
async fn a_draining_node_finishes_what_it_can_and_gives_back_the_rest() {
    for backend in common::backends() {
        let dir = tempfile::tempdir().unwrap();
        let url = database(backend, dir.path()).await;
        let http = reqwest::Client::new();
        let node = Node::start_with(
            &url,
            ServerConfig {
                node_id: "leaving".into(),
                workers: 2,
                lease: LEASE,
                drain_timeout: Duration::from_millis(1500),
                ..ServerConfig::default()
            },
            None,
        )
        .await;
        let short = submit(
            &http,
            &node.base,
            &json!({ "source_code": "# sleep: 500\n# stdout: short", "language_id": PYTHON }),
        )
        .await;
        let long = submit(
            &http,
            &node.base,
            &json!({ "source_code": "# sleep: 4000\n# stdout: long", "language_id": PYTHON }),
        )
        .await;
        let deadline = Instant::now() + FINISH_TIMEOUT;
        while node.state.runner().running() < 2 {
            assert!(Instant::now() < deadline, "the runs never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let state = node.state.clone();
        let stopping = tokio::spawn(node.stop());
        // Readiness false first (asked of the router: the listener closes at once).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !state.is_draining() {
            assert!(Instant::now() < deadline, "never draining");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, ready) = readyz(&state).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
        assert_eq!(
            (ready["draining"].as_bool(), ready["node"].as_str()),
            (Some(true), Some("leaving"))
        );
        stopping.await.unwrap();
        let store = store::Store::connect(&url).await.unwrap();
        let s = store.get_submission(&short).await.unwrap().unwrap();
        assert_eq!(s.status, 3, "the short run finished within the drain");
        let l = store.get_submission(&long).await.unwrap().unwrap();
        assert_eq!(l.status, 1, "the long run was given back");
        drop(store);
        // Another node (or this one restarted) runs it; its first attempt still.
        let next = Node::start("staying", &url, 1, None).await;
        let done = all_finished(&http, &next.base, std::slice::from_ref(&long)).await;
        assert_eq!(done[&long]["stdout"], "long\n");
        next.stop().await;
    }
}

async fn readyz(state: &AppState) -> (StatusCode, Value) {
    use tower::ServiceExt;
    let response = server::router(state.clone())
        .oneshot(
            axum::http::Request::get("/readyz")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// The node's id in `/workers`, `/metrics` and `/readyz`.
#[tokio::test(flavor = "multi_thread")]
async fn the_node_names_itself() {
    let http = reqwest::Client::new();
    let server = common::fake::start(
        ServerConfig {
            node_id: "node-7".into(),
            ..ServerConfig::default()
        },
        common::Backend::Sqlite,
    )
    .await;
    let metrics = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("tiderun_node_info{node=\"node-7\"} 1"), "{metrics}");
    assert!(metrics.contains("tiderun_queue_length 0"), "{metrics}");
    assert!(metrics.contains("tiderun_runs_in_flight 0"), "{metrics}");
    let workers: Value = http
        .get(format!("{}/workers", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(workers[0]["node"], "node-7", "{workers}");
    let (status, ready) = readyz(&server.state).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(
        (
            ready["node"].as_str(),
            ready["draining"].as_bool(),
            ready["queue"].as_str()
        ),
        (Some("node-7"), Some(false), Some("in-process"))
    );
    server.state.start_drain();
    let (status, ready) = readyz(&server.state).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["draining"], true);
    server.stop().await;
}

/// A submission whose runs were cut short three times (its node died each time) is given up
/// with a final Internal Error that says so, not run a fourth time.
#[tokio::test(flavor = "multi_thread")]
async fn a_submission_cut_short_too_often_is_given_up() {
    for backend in common::backends() {
        let dir = tempfile::tempdir().unwrap();
        let url = database(backend, dir.path()).await;
        let store = store::Store::connect(&url).await.unwrap();
        // Stored as the API stores it, by a node without workers.
        let http = reqwest::Client::new();
        let first = Node::start("first", &url, 0, None).await;
        let token = submit(
            &http,
            &first.base,
            &json!({ "source_code": "# stdout: never", "language_id": PYTHON }),
        )
        .await;
        first.stop().await;
        for _ in 0..server::judge0::MAX_RUN_ATTEMPTS {
            let claim = store
                .claim_submission(&token, "dying", Duration::from_millis(300))
                .await
                .unwrap()
                .expect("claimable");
            assert!(claim.attempt <= server::judge0::MAX_RUN_ATTEMPTS);
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
        store.close().await;
        let node = Node::start("last", &url, 1, None).await;
        let done = all_finished(&http, &node.base, std::slice::from_ref(&token)).await;
        let s = &done[&token];
        assert_eq!(s["status"]["id"], 13, "{s}");
        let message = s["message"].as_str().expect("a message");
        assert!(message.contains("cut short 3 times"), "{message}");
        assert_eq!(judge0_runs(&node.state), 0, "not run again");
        node.stop().await;
    }
}

/// With JetStream: a message delivered `MAX_DELIVER` times without a result (its nodes kept
/// dropping it) gets a final Internal Error and is acked, so it leaves the stream.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_delivered_too_often_is_given_up() {
    if postgres().is_none() {
        return;
    }
    let Some(nats) = nats() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = database(common::Backend::Postgres, dir.path()).await;
    let names = unique_names();
    let http = reqwest::Client::new();
    let first = Node::start("first", &url, 0, Some((nats.clone(), names.clone()))).await;
    let token = submit(
        &http,
        &first.base,
        &json!({ "source_code": "# stdout: never", "language_id": PYTHON }),
    )
    .await;
    first.stop().await;
    // Four deliveries handed on unanswered.
    let q = store::JetStreamQueue::connect(&nats, queue_options(&names, "dropper"))
        .await
        .unwrap();
    for i in 1..=(store::MAX_DELIVER as u64 - 1) {
        let deadline = Instant::now() + FINISH_TIMEOUT;
        loop {
            match q.pop(Duration::from_secs(1)).await {
                store::Popped::Delivery(d) => {
                    assert_eq!((d.token(), d.delivered()), (token.as_str(), i));
                    d.release().await;
                    break;
                }
                _ => assert!(Instant::now() < deadline, "no delivery"),
            }
        }
    }
    drop(q);
    let node = Node::start("last", &url, 1, Some((nats, names))).await;
    let done = all_finished(&http, &node.base, std::slice::from_ref(&token)).await;
    let s = &done[&token];
    assert_eq!(s["status"]["id"], 13, "{s}");
    let message = s["message"].as_str().expect("a message");
    assert!(message.contains("delivered 5 times"), "{message}");
    assert_eq!(judge0_runs(&node.state), 0, "not run");
    node.stop().await;
}
