//! Metering, the run log and quotas, with the stand-in executor, on SQLite and Postgres: what
//! runs reaches `GET /api/v1/usage` and `GET /api/v1/runs` (admin only, never the program's
//! code, input or output; written when the node stops too), and a key's quotas refuse the
//! N+1st run in a minute and runs past the day's CPU-seconds — on every path that runs code,
//! with a message naming the quota and a right `Retry-After` — while another key runs on.

extern crate tiderun_server as server;

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use common::Backend;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use server::{AppState, Caller, ServerConfig};
use store::{Quotas, Role};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The header the test layer reads the caller from: `NAME ROLE RUNS_PER_MINUTE CPU_S_PER_DAY`
/// (`-` for none).
const CALLER: &str = "x-test-caller";
/// Longest wait for the ledger to write (it writes every second).
const WRITTEN_WITHIN: Duration = Duration::from_secs(20);
/// A string in a program's source, stdin and output that must never reach the run log or
/// the log line.
const MARKER: &str = "SECRET-MARKER-7d1f";

/// A server whose callers a test names (as the keys would), around the stand-in executor.
struct Server {
    base: String,
    state: AppState,
    _task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn inject(mut request: Request, next: Next) -> axum::response::Response {
    if let Some(spec) = request.headers().get(CALLER).and_then(|v| v.to_str().ok()) {
        let parts: Vec<&str> = spec.split(' ').collect();
        let number = |i: usize| parts.get(i).and_then(|v| v.parse().ok());
        let caller = Caller {
            key: Some(Arc::from(parts[0])),
            role: Role::parse(parts.get(1).copied().unwrap_or("caller")).expect("a role"),
            quotas: Quotas {
                runs_per_minute: number(2),
                cpu_s_per_day: number(3),
            },
        };
        request.extensions_mut().insert(caller);
    }
    next.run(request).await
}

async fn start(backend: Backend) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::database_url(backend, dir.path()).await;
    let store = store::Store::connect(&url).await.expect("store");
    start_on(store, dir).await
}

async fn start_on(store: store::Store, dir: tempfile::TempDir) -> Server {
    let state = AppState::new(
        common::fake::runner(engine::RunnerConfig::default()),
        store,
        ServerConfig::default(),
    );
    let app = server::router(state.clone()).layer(axum::middleware::from_fn(inject));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        base,
        state,
        _task: task,
        _dir: dir,
    }
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    caller: &str,
    body: Option<Value>,
) -> (u16, Option<u64>, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .header(CALLER, caller);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

async fn get(server: &Server, path: &str, caller: &str) -> (u16, Value) {
    let (status, _, body) = send(server, reqwest::Method::GET, path, caller, None).await;
    (status, body)
}

/// A native run of `code` as `caller`.
async fn run(server: &Server, caller: &str, code: &str) -> (u16, Option<u64>, Value) {
    send(
        server,
        reqwest::Method::POST,
        "/api/v1/run",
        caller,
        Some(json!({"language": "python", "code": code, "stdin": MARKER})),
    )
    .await
}

/// Wait until the usage of `key` today shows `runs` runs.
async fn usage_of(server: &Server, key: &str, runs: u64) -> Value {
    let deadline = Instant::now() + WRITTEN_WITHIN;
    loop {
        let (status, body) = get(server, &format!("/api/v1/usage?key={key}"), "admin admin").await;
        assert_eq!(status, 200, "{body}");
        if body["totals"]["runs"] == runs || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs each test on SQLite and (when configured) Postgres.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in common::backends() {
                println!("{backend:?}");
                tests::$name(backend).await;
            }
        }
    )*};
}

both!(
    usage_and_runs_show_what_ran_and_never_the_program,
    usage_and_runs_are_for_admins_and_check_their_query,
    the_minute_quota_refuses_the_next_run_on_every_api,
    the_cpu_quota_refuses_after_the_days_use_across_nodes,
    the_ledger_is_written_when_the_node_stops,
);

mod tests {
    use super::*;

    pub async fn usage_and_runs_show_what_ran_and_never_the_program(backend: Backend) {
        let server = start(backend).await;
        let code = format!("# stdout: {MARKER}\n# stdin\n# cpu: 40");
        for _ in 0..2 {
            let (status, _, body) = run(&server, "class-a caller", &code).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, _, _) = run(&server, "class-a caller", "# status: time_limit").await;
        assert_eq!(status, 200);
        let (status, _, _) = run(&server, "class-b caller", "# stdout: hi").await;
        assert_eq!(status, 200);
        let usage = usage_of(&server, "class-a", 3).await;
        let today = chrono::Utc::now().date_naive().to_string();
        assert_eq!(
            usage["from"],
            (chrono::Utc::now().date_naive() - chrono::Duration::days(6)).to_string()
        );
        assert_eq!(usage["to"], today);
        let rows = usage["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{usage}");
        let row = &rows[0];
        assert_eq!(
            (row["day"].as_str(), row["key"].as_str()),
            (Some(today.as_str()), Some("class-a"))
        );
        assert_eq!(row["runtime"], "python");
        assert_eq!(
            (row["runs"].as_u64(), row["errors"].as_u64(), row["limits_hit"].as_u64()),
            (Some(3), Some(0), Some(1))
        );
        let cpu_ms = 2 * 40 + common::fake::CPU_MS;
        assert!(
            (row["cpu_s"].as_f64().unwrap() - cpu_ms as f64 / 1000.0).abs() < 1e-9,
            "{row}"
        );
        let wall_ms = 3 * common::fake::WALL_MS;
        assert!(
            (row["wall_s"].as_f64().unwrap() - wall_ms as f64 / 1000.0).abs() < 1e-9,
            "{row}"
        );
        // The stand-in's python runs with python's default memory limit.
        let (_, runtimes) = get(&server, "/api/v1/runtimes", "class-a caller").await;
        let memory_mb = runtimes
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["language"] == "python")
            .and_then(|r| r["limits"]["defaults"]["memory_mb"].as_u64())
            .expect("python's memory limit");
        let gb_s = (memory_mb * wall_ms) as f64 / 1024.0 / 1000.0;
        assert!((row["gb_s"].as_f64().unwrap() - gb_s).abs() < 1e-9, "{row} vs {gb_s}");
        assert_eq!(usage["totals"]["runs"], 3);
        // Every key, and one runtime that did not run.
        let all = usage_of(&server, "", 4).await;
        assert_eq!(all["rows"].as_array().unwrap().len(), 2, "{all}");
        let (_, none) = get(&server, "/api/v1/usage?runtime=nothing", "admin admin").await;
        assert_eq!(none["rows"], json!([]));
        assert_eq!(none["totals"]["runs"], 0);

        let (status, runs) = get(&server, "/api/v1/runs?limit=3", "admin admin").await;
        assert_eq!(status, 200, "{runs}");
        let runs = runs["runs"].as_array().expect("runs").clone();
        assert_eq!(runs.len(), 3);
        let newest = &runs[0];
        assert_eq!(newest["key"], "class-b");
        assert_eq!(runs[1]["status"], "time_limit");
        for field in ["id", "at", "node", "api", "runtime", "status", "start"] {
            assert!(newest[field].is_string(), "{field}: {newest}");
        }
        for field in ["cpu_ms", "wall_ms", "memory_kb", "memory_limit_mb"] {
            assert!(newest[field].is_u64(), "{field}: {newest}");
        }
        assert_eq!(
            (newest["api"].as_str(), newest["start"].as_str()),
            (Some("native"), Some("cold"))
        );
        assert_eq!(newest["memory_limit_mb"], memory_mb);
        assert_eq!(newest["node"], server.state.node_id());
        assert!(chrono::DateTime::parse_from_rfc3339(newest["at"].as_str().unwrap()).is_ok());
        let ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
        // The next page, and filters.
        let (_, older) = get(&server, &format!("/api/v1/runs?before={}", ids[2]), "admin admin").await;
        assert_eq!(older["runs"].as_array().unwrap().len(), 1, "{older}");
        let (_, limited) = get(
            &server,
            "/api/v1/runs?status=time_limit&key=class-a&runtime=python",
            "admin admin",
        )
        .await;
        assert_eq!(limited["runs"].as_array().unwrap().len(), 1, "{limited}");
        let (_, all) = get(&server, "/api/v1/runs", "admin admin").await;
        assert!(
            !all.to_string().contains(MARKER),
            "the run log holds no code, input or output: {all}"
        );
        assert!(!usage.to_string().contains(MARKER));
    }

    pub async fn usage_and_runs_are_for_admins_and_check_their_query(backend: Backend) {
        let server = start(backend).await;
        for path in ["/api/v1/usage", "/api/v1/runs"] {
            for caller in ["teacher caller", "page classroom"] {
                let (status, body) = get(&server, path, caller).await;
                assert_eq!(status, 403, "{path} as {caller}: {body}");
                assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
            }
            assert_eq!(get(&server, path, "admin admin").await.0, 200);
        }
        for (query, words) in [
            (
                "/api/v1/usage?from=2026-13-01",
                "from: expected a UTC day as YYYY-MM-DD",
            ),
            ("/api/v1/usage?to=yesterday", "to: expected a UTC day as YYYY-MM-DD"),
            ("/api/v1/usage?from=2026-12-05&to=2026-12-04", "is after to"),
            ("/api/v1/usage?from=2025-01-01&to=2026-01-02", "at most 366"),
            ("/api/v1/runs?limit=501", "limit: expected a number from 1 to 500"),
            ("/api/v1/runs?limit=0", "limit: expected a number from 1 to 500"),
            ("/api/v1/runs?limit=ten", "limit: expected a number from 1 to 500"),
        ] {
            let (status, body) = get(&server, query, "admin admin").await;
            assert_eq!(status, 400, "{query}: {body}");
            assert!(body["error"].as_str().unwrap().contains(words), "{query}: {body}");
        }
        let (status, body) = get(&server, "/api/v1/usage?from=2025-01-01&to=2026-01-01", "admin admin").await;
        assert_eq!(status, 200, "366 days are allowed: {body}");
        assert_eq!(
            (body["from"].as_str(), body["to"].as_str()),
            (Some("2025-01-01"), Some("2026-01-01"))
        );
        assert_eq!(get(&server, "/api/v1/runs?limit=500", "admin admin").await.0, 200);
        // Both are in the OpenAPI document.
        let (_, doc) = get(&server, "/api/v1/openapi.json", "admin admin").await;
        for path in ["/api/v1/usage", "/api/v1/runs"] {
            assert!(doc["paths"][path]["get"].is_object(), "{path} documented");
        }
    }

    /// The Retry-After of a refused run, after checking the body names the quota.
    fn refused(status: u16, retry_after: Option<u64>, body: &Value, quota: &str) -> u64 {
        assert_eq!(status, 429, "{body}");
        let message = body["error"].as_str().or(body["message"].as_str()).unwrap_or_default();
        assert!(message.contains(quota), "{body}");
        retry_after.expect("Retry-After")
    }

    pub async fn the_minute_quota_refuses_the_next_run_on_every_api(backend: Backend) {
        let server = start(backend).await;
        let key = "minute caller 3 -";
        for _ in 0..3 {
            assert_eq!(run(&server, key, "# stdout: hi").await.0, 200);
        }
        let (status, retry_after, body) = run(&server, key, "# stdout: hi").await;
        let retry_after = refused(status, retry_after, &body, "3 runs per minute (runs_per_minute)");
        // GCRA: the quota comes back one run every 60 s / 3.
        assert!((19..=20).contains(&retry_after), "Retry-After {retry_after}");
        assert!(
            body["error"].as_str().unwrap().contains(&format!("in {retry_after} s")),
            "{body}"
        );
        // Every other path that runs code is refused as well, each in its shape.
        let piston = json!({"language": "python", "version": "*", "files": [{"content": "# stdout: hi"}]});
        let (status, retry, body) = send(
            &server,
            reqwest::Method::POST,
            "/api/v2/execute",
            key,
            Some(piston.clone()),
        )
        .await;
        refused(status, retry, &body, "runs_per_minute");
        assert!(body["message"].is_string(), "Piston's shape: {body}");
        let judge0 = json!({"source_code": "# stdout: hi", "language_id": 71});
        for path in ["/submissions", "/submissions?wait=true"] {
            let (status, retry, body) = send(&server, reqwest::Method::POST, path, key, Some(judge0.clone())).await;
            refused(status, retry, &body, "runs_per_minute");
        }
        let batch = json!({"submissions": [judge0.clone()]});
        let (status, retry, body) = send(&server, reqwest::Method::POST, "/submissions/batch", key, Some(batch)).await;
        refused(status, retry, &body, "runs_per_minute");
        let (status, retry, body) = send(
            &server,
            reqwest::Method::POST,
            "/api/v1/exercises/none/submit",
            key,
            Some(json!({"language": "python", "code": "x"})),
        )
        .await;
        // An unknown exercise is a 404 before any run: the quota is not asked.
        assert_eq!(status, 404, "{body} {retry:?}");
        for (path, init) in [
            (
                "/api/v1/ws",
                json!({"type": "init", "language": "python", "code": "# stdout: hi"}),
            ),
            (
                "/api/v2/connect",
                json!({"type": "init", "language": "python", "version": "*", "files": [{"content": "# stdout: hi"}]}),
            ),
        ] {
            let mut request = format!("{}{path}", server.base.replacen("http://", "ws://", 1))
                .into_client_request()
                .unwrap();
            request.headers_mut().insert(CALLER, key.parse().unwrap());
            let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
            ws.send(Message::text(init.to_string())).await.unwrap();
            let mut said = String::new();
            while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                if let Message::Text(text) = message {
                    said.push_str(&text);
                }
            }
            assert!(said.contains("runs_per_minute"), "{path}: {said}");
        }
        // Another key has its own minute.
        assert_eq!(run(&server, "other caller 3 -", "# stdout: hi").await.0, 200);
        // A Judge0 request's `number_of_runs` counts each run: 2 fit a fresh quota of 3, 2 more do not.
        let key = "judge caller 3 -";
        let twice = json!({"source_code": "# stdout: hi", "language_id": 71, "number_of_runs": 2});
        let (status, _, body) = send(
            &server,
            reqwest::Method::POST,
            "/submissions?wait=true",
            key,
            Some(twice.clone()),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (status, retry, body) = send(
            &server,
            reqwest::Method::POST,
            "/submissions?wait=true",
            key,
            Some(twice),
        )
        .await;
        refused(status, retry, &body, "runs_per_minute");
        let five = json!({"source_code": "# stdout: hi", "language_id": 71, "number_of_runs": 5});
        let (status, retry, body) = send(
            &server,
            reqwest::Method::POST,
            "/submissions",
            "wide caller 3 -",
            Some(five),
        )
        .await;
        assert!(refused(status, retry, &body, "asks for 5 runs") >= 1);
        let text = reqwest::get(format!("{}/metrics", server.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("tiderun_quota_refusals_total{quota=\"runs_per_minute\"}")),
            "{text}"
        );
    }

    pub async fn the_cpu_quota_refuses_after_the_days_use_across_nodes(backend: Backend) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = common::database_url(backend, dir.path()).await;
        let server = start_on(store::Store::connect(&url).await.unwrap(), tempfile::tempdir().unwrap()).await;
        let key = "cpu caller - 2";
        // 1.5 s, then 1.5 s more: the quota of 2 s was not reached before the second run, is after.
        for _ in 0..2 {
            let (status, _, body) = run(&server, key, "# cpu: 1500").await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, retry_after, body) = run(&server, key, "# stdout: hi").await;
        let retry_after = refused(status, retry_after, &body, "2 CPU-seconds");
        assert!(body["error"].as_str().unwrap().contains("(cpu_s_per_day)"), "{body}");
        assert!(body["error"].as_str().unwrap().contains("used 3.0"), "{body}");
        let now = chrono::Utc::now();
        let midnight = (now.date_naive() + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        let to_midnight = (midnight - now).num_seconds() as u64;
        assert!(
            retry_after.abs_diff(to_midnight) <= 2,
            "Retry-After {retry_after}, midnight in {to_midnight} s"
        );
        // Piston and Judge0 too; another key runs on.
        let piston = json!({"language": "python", "version": "*", "files": [{"content": "# stdout: hi"}]});
        let (status, retry, body) = send(&server, reqwest::Method::POST, "/api/v2/execute", key, Some(piston)).await;
        refused(status, retry, &body, "cpu_s_per_day");
        assert_eq!(run(&server, "else caller - 2", "# stdout: hi").await.0, 200);
        // A second node on the same database sees the key's day once the first wrote it.
        usage_of(&server, "cpu", 2).await;
        let other = start_on(store::Store::connect(&url).await.unwrap(), tempfile::tempdir().unwrap()).await;
        let (status, retry, body) = run(&other, key, "# stdout: hi").await;
        refused(status, retry, &body, "cpu_s_per_day");
        drop(dir);
    }

    pub async fn the_ledger_is_written_when_the_node_stops(backend: Backend) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = common::database_url(backend, dir.path()).await;
        let store = store::Store::connect(&url).await.unwrap();
        let state = AppState::new(
            common::fake::runner(engine::RunnerConfig::default()),
            store.clone(),
            ServerConfig::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server::serve_on(listener, state, async {
            let _ = stopped.await;
        }));
        for _ in 0..3 {
            let response = reqwest::Client::new()
                .post(format!("{base}/api/v1/run"))
                .json(&json!({"language": "python", "code": "# stdout: hi"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        // Stopped at once: what the ledger held is written while the node drains.
        stop.send(()).unwrap();
        serving.await.unwrap().unwrap();
        let today = chrono::Utc::now().date_naive();
        let rows = store
            .usage(&store::UsageQuery {
                from: today,
                to: today,
                key: None,
                runtime: None,
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].key.as_deref(), rows[0].totals.runs), (None, 3));
        let runs = store
            .recent_runs(&store::RunsQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(runs.len(), 3);
    }
}
