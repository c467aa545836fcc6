//! Safety of the service on a real socket: API tokens, rate limits per token and per IP,
//! body and file-count limits, CORS, bounded concurrency and queue, graceful shutdown,
//! request ids, health, readiness and metrics. Against the router and the real Runner with the
//! stand-in executor (`common::fake`, no root): none of this depends on what runs a program.

extern crate tiderun_server as server;

mod common;

use std::time::Duration;

use common::{backends, fake, Backend, TestServer};
use engine::RunnerConfig;
use serde_json::{json, Value};
use server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Test servers of one process share a uid range and run names: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn stop(server: TestServer) {
    let state = server.state.clone();
    server.stop().await;
    state.runner().engine().wait_idle(Duration::from_secs(10));
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn run_body(code: &str) -> String {
    json!({"language": "python", "code": code}).to_string()
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn tokens_are_required_when_configured_and_health_stays_open() {
    let _serial = SERIAL.lock().await;
    let config = ServerConfig {
        auth_tokens: vec!["s3cret".into(), "other".into()],
        ..ServerConfig::default()
    };
    let server = fake::start(config, Backend::Sqlite).await;
    let url = format!("{}/api/v1/runtimes", server.base);
    let (status, body) = json_of(client().get(&url).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("X-Auth-Token"), "{body}");
    for (header, value) in [
        ("x-auth-token", "wrong"),
        ("authorization", "Bearer wrong"),
        ("authorization", "Basic s3cret"),
        ("authorization", "wrong"),
        ("authorization", "s3cret2"),
    ] {
        let response = client().get(&url).header(header, value).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{header}: {value}");
    }
    for (header, value) in [
        ("x-auth-token", "s3cret"),
        ("authorization", "Bearer s3cret"),
        ("authorization", "bearer other"),
        // A bare key, as Piston clients (ultra-piston, piston_rspy) send it.
        ("authorization", "s3cret"),
        ("authorization", " other "),
    ] {
        let response = client().get(&url).header(header, value).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{header}: {value}");
    }
    // Every dialect: the bare key works, a wrong one is a 401 in the dialect's shape.
    for (path, key) in [
        ("/api/v1/runtimes", "error"),
        ("/api/v2/runtimes", "message"),
        ("/api/v2/piston/runtimes", "message"),
        ("/languages", "error"),
    ] {
        let url = format!("{}{path}", server.base);
        let response = client()
            .get(&url)
            .header("authorization", "s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        for value in ["wrong", "Bearer wrong"] {
            let (status, body) = json_of(client().get(&url).header("authorization", value).send().await.unwrap()).await;
            assert_eq!(status, 401, "{path}: {value}");
            let says = body[key]
                .as_str()
                .unwrap_or_else(|| panic!("{path}: no {key:?} in {body}"));
            assert!(says.contains("Authorization: TOKEN"), "{path}: {says}");
        }
    }
    // A run without a token never reaches the engine.
    let response = client()
        .post(format!("{}/api/v1/run", server.base))
        .body(run_body("print(1)"))
        .send()
        .await;
    assert_eq!(response.unwrap().status().as_u16(), 401);
    // Health, readiness and metrics need no token (probes and scrapers have none).
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = client().get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    stop(server).await;
}

#[tokio::test]
async fn rate_limits_apply_per_token_and_per_ip_with_retry_after() {
    let _serial = SERIAL.lock().await;
    // Per token: each configured token has its own quota.
    let config = ServerConfig {
        auth_tokens: vec!["a".into(), "b".into()],
        rate_limit_per_minute: 3,
        ..ServerConfig::default()
    };
    let server = fake::start(config, Backend::Sqlite).await;
    let url = format!("{}/api/v1/runtimes", server.base);
    let with = |token: &str| client().get(&url).header("x-auth-token", token.to_string()).send();
    for _ in 0..3 {
        assert_eq!(with("a").await.unwrap().status().as_u16(), 200);
    }
    let refused = with("a").await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let (_, body) = json_of(refused).await;
    assert!(body["error"].as_str().unwrap().contains("too many requests"), "{body}");
    assert_eq!(
        with("b").await.unwrap().status().as_u16(),
        200,
        "b has a quota of its own"
    );
    // Guessing tokens is limited per IP, and wrong guesses do not spend a real token's quota.
    for i in 0..3 {
        assert_eq!(with(&format!("guess{i}")).await.unwrap().status().as_u16(), 401);
    }
    assert_eq!(with("guess4").await.unwrap().status().as_u16(), 429);
    stop(server).await;

    // Per IP without tokens: made-up tokens do not buy fresh quotas; another address has its own.
    let config = ServerConfig {
        rate_limit_per_minute: 3,
        ..ServerConfig::default()
    };
    let server = fake::start(config, Backend::Sqlite).await;
    let url = format!("{}/api/v1/runtimes", server.base);
    for i in 0..3 {
        let response = client()
            .get(&url)
            .header("x-auth-token", format!("t{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let refused = client()
        .get(&url)
        .header("authorization", "Bearer fresh")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // Health is not rate limited.
    assert_eq!(
        client()
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let other_ip = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    match other_ip.get(&url).send().await {
        Ok(response) => assert_eq!(response.status().as_u16(), 200, "127.0.0.2 has a quota of its own"),
        Err(e) => testkit::skip_part(format_args!("the second client address: cannot bind 127.0.0.2 ({e})")),
    }
    let metrics = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("tiderun_rate_limited_total"), "{metrics}");
    stop(server).await;
}

#[tokio::test]
async fn bodies_past_the_limit_get_413_and_too_many_files_400() {
    let _serial = SERIAL.lock().await;
    let config = ServerConfig {
        max_body_bytes: 8192,
        ..ServerConfig::default()
    };
    let server = fake::start(config, Backend::Sqlite).await;
    let url = format!("{}/api/v1/run", server.base);
    let big = run_body(&format!("print('{}')", "x".repeat(20_000)));
    let response = client().post(&url).body(big.clone()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 413);

    // Without a Content-Length (chunked), the limit holds while reading, and the answer is JSON.
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head =
        format!("POST /api/v1/run HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in big.as_bytes().chunks(4096) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains(r#"{"error":"request body too large: the limit is 8192 bytes"}"#),
        "{answer}"
    );

    // Many small files fit in the body but not in the file limit.
    let files: Vec<Value> = (0..=engine::MAX_FILES)
        .map(|i| json!({"name": format!("{i}"), "content": ""}))
        .collect();
    let body = json!({"language": "python", "files": files}).to_string();
    let config = ServerConfig::default();
    assert!(body.len() < config.max_body_bytes);
    stop(server).await;
    let server = fake::start(config, Backend::Sqlite).await;
    let (status, answer) = json_of(
        client()
            .post(format!("{}/api/v1/run", server.base))
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains(&format!("limit of {}", engine::MAX_FILES)),
        "{answer}"
    );
    stop(server).await;
}

#[tokio::test]
async fn a_stalled_body_gets_408() {
    let _serial = SERIAL.lock().await;
    let server = fake::start(ServerConfig::default(), Backend::Sqlite).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head =
        format!("POST /api/v1/run HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        server::BODY_IDLE_TIMEOUT + Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the server kept waiting for the body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("stopped arriving"), "{answer}");
    stop(server).await;
}

/// An `OPTIONS` preflight as a browser sends it before the Judge0 IDE's POST (its JSON
/// Content-Type, its key and Judge0's headers make the POST a non-simple request).
async fn preflight(base: &str, path: &str, origin: &str, method: &str) -> reqwest::Response {
    client()
        .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "content-type,authorization,x-auth-token,x-auth-user",
        )
        .send()
        .await
        .unwrap()
}

/// A header of `response` as text ("" when missing).
fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn cors_allows_any_origin_by_default_without_credentials() {
    let _serial = SERIAL.lock().await;
    let server = fake::start(ServerConfig::default(), Backend::Sqlite).await;
    let ide = "https://ide.example";
    // Each dialect's routes: the preflight allows the method and every header asked for (the
    // Fetch standard does not let `*` stand for Authorization), never with credentials.
    for (path, method) in [
        ("/submissions?base64_encoded=true&wait=false", "POST"),
        ("/submissions/batch", "POST"),
        ("/languages", "GET"),
        ("/api/v2/execute", "POST"),
        ("/api/v2/piston/execute", "POST"),
        ("/api/v1/run", "POST"),
        ("/api/v1/snippets", "POST"),
    ] {
        let ok = preflight(&server.base, path, ide, method).await;
        assert!(ok.status().is_success(), "{path}: {}", ok.status());
        assert_eq!(header(&ok, "access-control-allow-origin"), "*", "{path}");
        let methods = header(&ok, "access-control-allow-methods");
        assert!(methods.contains(method), "{path}: allow-methods {methods:?}");
        let allowed = header(&ok, "access-control-allow-headers").to_ascii_lowercase();
        for asked in ["content-type", "authorization", "x-auth-token", "x-auth-user"] {
            assert!(
                allowed.split(',').any(|h| h.trim() == asked),
                "{path}: {asked} not in {allowed:?}"
            );
        }
        assert!(!ok.headers().contains_key("access-control-allow-credentials"), "{path}");
        assert_eq!(
            header(&ok, "access-control-max-age"),
            server::CORS_MAX_AGE.as_secs().to_string()
        );
    }
    // The answers themselves: readable from any origin, never with credentials, and the
    // headers a page needs to back off exposed.
    for path in ["/languages", "/api/v2/runtimes", "/api/v1/runtimes"] {
        let response = client()
            .get(format!("{}{path}", server.base))
            .header("origin", ide)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(header(&response, "access-control-allow-origin"), "*", "{path}");
        assert!(!response.headers().contains_key("access-control-allow-credentials"));
        let exposed = header(&response, "access-control-expose-headers").to_ascii_lowercase();
        assert!(
            exposed.contains("retry-after") && exposed.contains("x-request-id"),
            "{exposed:?}"
        );
    }
    let response = client()
        .post(format!("{}/submissions?base64_encoded=true&wait=true", server.base))
        .header("origin", ide)
        .header("content-type", "application/json")
        .body(json!({"language_id": 71, "source_code": "IyBzdGRvdXQ6IGhp"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    let (status, body) = json_of(response).await;
    assert_eq!((status, body["stdout"].as_str()), (201, Some("aGkK\n")), "{body}");
    // The page, health and metrics are for their own origin and for probes.
    for path in ["/", "/healthz", "/metrics"] {
        let response = client()
            .get(format!("{}{path}", server.base))
            .header("origin", ide)
            .send()
            .await
            .unwrap();
        assert!(
            !response.headers().contains_key("access-control-allow-origin"),
            "{path}"
        );
    }
    stop(server).await;

    // With tokens, the preflight needs none (browsers send none with it), and a 401 or 429 is
    // readable by the page, so it can say why.
    let config = ServerConfig {
        auth_tokens: vec!["t".into()],
        ..ServerConfig::default()
    };
    let server = fake::start(config, Backend::Sqlite).await;
    let ok = preflight(&server.base, "/submissions", ide, "POST").await;
    assert!(ok.status().is_success(), "{}", ok.status());
    for path in ["/languages", "/api/v2/runtimes", "/api/v1/runtimes"] {
        let response = client()
            .get(format!("{}{path}", server.base))
            .header("origin", ide)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
        assert_eq!(header(&response, "access-control-allow-origin"), "*", "{path}");
    }
    stop(server).await;
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let _serial = SERIAL.lock().await;
    let config = ServerConfig {
        cors: server::CorsOrigins::parse(&["https://class.example"]).unwrap(),
        auth_tokens: vec!["t".into()],
        ..ServerConfig::default()
    };
    let server = fake::start(config, Backend::Sqlite).await;
    let url = format!("{}/api/v1/runtimes", server.base);
    let allowed = client()
        .get(&url)
        .header("origin", "https://class.example")
        .header("x-auth-token", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status().as_u16(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://class.example"
    );
    let other = client()
        .get(&url)
        .header("origin", "https://evil.example")
        .header("x-auth-token", "t")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    // A preflight needs no token (browsers send none) and names the allowed origin only.
    let ok = preflight(&server.base, "/api/v1/run", "https://class.example", "POST").await;
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://class.example");
    assert!(ok.headers().contains_key("access-control-allow-methods"));
    assert!(!ok.headers().contains_key("access-control-allow-credentials"));
    let refused = preflight(&server.base, "/api/v1/run", "https://evil.example", "POST").await;
    assert!(!refused.headers().contains_key("access-control-allow-origin"));
    stop(server).await;

    // `none`: same origin only, no CORS headers for anyone; a preflight is not answered as one.
    let config = ServerConfig {
        cors: server::CorsOrigins::parse(&["none"]).unwrap(),
        ..ServerConfig::default()
    };
    let server = fake::start(config, Backend::Sqlite).await;
    let response = client()
        .get(format!("{}/api/v1/runtimes", server.base))
        .header("origin", "https://class.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(!response.headers().contains_key("access-control-allow-origin"));
    for path in ["/submissions", "/api/v2/execute", "/api/v1/run"] {
        let refused = preflight(&server.base, path, "https://class.example", "POST").await;
        assert!(!refused.headers().contains_key("access-control-allow-origin"), "{path}");
        assert!(
            !refused.headers().contains_key("access-control-allow-methods"),
            "{path}"
        );
    }
    stop(server).await;
}

#[tokio::test]
async fn a_burst_past_capacity_gets_429_with_retry_after() {
    let _serial = SERIAL.lock().await;
    let runner = RunnerConfig {
        max_concurrent: 1,
        max_waiting: 1,
        max_wait: Duration::from_secs(20),
    };
    let server = fake::start_with(ServerConfig::default(), runner, Backend::Sqlite).await;
    let url = format!("{}/api/v1/run", server.base);
    let body = run_body("# sleep: 1000\n# stdout: done");
    let burst: Vec<_> = (0..6)
        .map(|_| {
            let request = client().post(&url).body(body.clone()).send();
            tokio::spawn(async move {
                let response = request.await.unwrap();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let (status, body) = json_of(response).await;
                (status, retry_after, body)
            })
        })
        .collect();
    let mut ran = 0;
    let mut refused = 0;
    for handle in burst {
        let (status, retry_after, body) = handle.await.unwrap();
        match status {
            200 => {
                assert_eq!(body["run"]["stdout"], "done\n", "{body}");
                ran += 1;
            }
            429 => {
                let secs: u64 = retry_after.expect("Retry-After on 429").parse().unwrap();
                assert!(secs >= 1);
                assert!(body["error"].as_str().unwrap().contains("retry in"), "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // One runs, one waits for the slot and runs next, the rest are refused at once.
    assert_eq!((ran, refused), (2, 4), "ran {ran}, refused {refused}");
    let metrics = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"faas_errors_total{reason="busy",runtime="python",trigger="native"} 4"#),
        "{metrics}"
    );
    stop(server).await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_run_in_flight_and_refuses_new_connections() {
    let _serial = SERIAL.lock().await;
    let server = fake::start(ServerConfig::default(), Backend::Sqlite).await;
    let url = format!("{}/api/v1/run", server.base);
    let addr = server.base.trim_start_matches("http://").to_string();
    let state = server.state.clone();
    let in_flight = tokio::spawn(
        client()
            .post(&url)
            .body(run_body("# sleep: 2000\n# stdout: finished"))
            .send(),
    );
    let started = tokio::time::Instant::now();
    while state.runner().running() == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the run never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = tokio::spawn(server.stop());
    // The listener closes at once (a connection caught in the closing backlog is reset)...
    let started = tokio::time::Instant::now();
    loop {
        match tokio::net::TcpStream::connect(&addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            other => {
                assert!(
                    started.elapsed() < Duration::from_secs(1),
                    "still accepting after the signal: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert!(!in_flight.is_finished(), "the run in flight was cut short");
    // ...and the run in flight finishes and is answered.
    let response = in_flight.await.unwrap().expect("the in-flight request was answered");
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run"]["stdout"], "finished\n", "{body}");
    tokio::time::timeout(Duration::from_secs(35), stopping)
        .await
        .expect("shutdown finished")
        .unwrap();
    assert_eq!(state.runner().running(), 0);
    state.runner().engine().wait_idle(Duration::from_secs(10));
}

#[tokio::test]
async fn metrics_count_runs_and_readiness_checks_the_store() {
    let _serial = SERIAL.lock().await;
    for backend in backends() {
        let server = fake::start(ServerConfig::default(), backend).await;
        let (status, ready) = json_of(client().get(format!("{}/readyz", server.base)).send().await.unwrap()).await;
        assert_eq!(status, 200, "{backend:?}: {ready}");
        assert_eq!(ready["store"], "ok", "{backend:?}: {ready}");
        let (status, health) = json_of(client().get(format!("{}/healthz", server.base)).send().await.unwrap()).await;
        assert_eq!((status, &health["status"]), (200, &json!("ok")));
        let response = client()
            .post(format!("{}/api/v1/run", server.base))
            .body(run_body("# stdout: hi"))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, 200, "{body}");
        let tests = json!({"language": "python", "code": "# stdin",
            "tests": [{"stdin": "1", "expected_output": "1"}]});
        let response = client()
            .post(format!("{}/api/v1/run", server.base))
            .body(tests.to_string())
            .send();
        assert_eq!(response.await.unwrap().status().as_u16(), 200);
        let metrics = client().get(format!("{}/metrics", server.base)).send().await.unwrap();
        assert!(metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        let metrics = metrics.text().await.unwrap();
        let line = r#"faas_invocations_total{runtime="python",status="ok",trigger="native"} 2"#;
        assert!(metrics.contains(line), "{backend:?}: {metrics}");
        assert!(metrics.contains("faas_invoke_duration_seconds_bucket"), "{metrics}");
        assert!(metrics.contains("tiderun_runs_in_flight"), "{metrics}");
        stop(server).await;
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let _serial = SERIAL.lock().await;
    let server = fake::start(ServerConfig::default(), Backend::Sqlite).await;
    let response = client()
        .get(format!("{}/api/v1/runtimes", server.base))
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let response = client()
        .post(format!("{}/api/v1/run", server.base))
        .header("x-request-id", "mine-123")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(response.headers()["x-request-id"], "mine-123");
    stop(server).await;
}
