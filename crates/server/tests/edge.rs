//! The service's edge on a real socket: clients behind trusted proxies and behind one school
//! address, slow clients (a header sent in part, idle keep-alive connections, more
//! connections than the cap), and callbacks to NAT64 forms of internal addresses. Against the
//! router with the stand-in executor (`common::fake`, no root).

extern crate tiderun_server as server;

mod common;

use std::time::Duration;

use common::{Backend, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use server::{EdgeConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Test servers of one process share a uid range and run names: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Longer than any timeout these tests set: a connection still open after it was not closed.
const PATIENCE: Duration = Duration::from_secs(10);

fn edge(edge: EdgeConfig) -> ServerConfig {
    ServerConfig {
        edge,
        ..ServerConfig::default()
    }
}

async fn stop(server: TestServer) {
    let state = server.state.clone();
    server.stop().await;
    state.runner().engine().wait_idle(Duration::from_secs(10));
}

fn addr(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// One GET on a raw connection, keeping it open; the response's status line and body.
async fn get(stream: &mut TcpStream, path: &str) -> std::io::Result<(String, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_owned())
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if got.len() >= end + 4 + length {
            let status = text.lines().next().unwrap_or("").to_owned();
            return Ok((status, text[end + 4..].to_owned()));
        }
    }
}

/// Whether the server closes the connection within `within` (end of file or a reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_sent_in_part_is_dropped_after_the_header_timeout() {
    let _serial = SERIAL.lock().await;
    let server = common::fake::start(
        edge(EdgeConfig {
            header_read_timeout: Duration::from_secs(1),
            ..EdgeConfig::default()
        }),
        Backend::Sqlite,
    )
    .await;
    // Half a header, then nothing.
    let mut half = TcpStream::connect(addr(&server)).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    // Nothing at all.
    let mut silent = TcpStream::connect(addr(&server)).await.unwrap();
    // A byte at a time, steadily, never finishing.
    let mut trickle = TcpStream::connect(addr(&server)).await.unwrap();
    trickle.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let (mut trickle_read, mut trickle_write) = trickle.into_split();
    let dripping = tokio::spawn(async move {
        for _ in 0..100 {
            if trickle_write.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert!(
        closed_within(&mut half, PATIENCE).await,
        "half a header kept its connection"
    );
    assert!(
        closed_within(&mut silent, PATIENCE).await,
        "a silent connection stayed open"
    );
    let mut buf = [0u8; 64];
    let trickled = tokio::time::timeout(PATIENCE, trickle_read.read(&mut buf)).await;
    assert!(
        matches!(trickled, Ok(Ok(0)) | Ok(Err(_))),
        "a trickled header kept its connection: {trickled:?}"
    );
    dripping.abort();
    // Whoever sends a whole header in time is served.
    let mut fine = TcpStream::connect(addr(&server)).await.unwrap();
    let (status, body) = get(&mut fine, "/healthz").await.unwrap();
    assert!(status.contains(" 200 "), "{status} {body}");
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_keep_alive_connections_are_closed_and_busy_ones_are_not() {
    let _serial = SERIAL.lock().await;
    let server = common::fake::start(
        edge(EdgeConfig {
            idle_timeout: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(60),
            ..EdgeConfig::default()
        }),
        Backend::Sqlite,
    )
    .await;
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    for _ in 0..3 {
        let (status, _) = get(&mut stream, "/healthz").await.unwrap();
        assert!(status.contains(" 200 "), "{status}");
    }
    // Well before the 60 s header timeout: it is the idle timeout that closes it.
    assert!(
        closed_within(&mut stream, PATIENCE).await,
        "an idle connection stayed open"
    );

    // A request that takes longer than the idle timeout is not cut.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/run", server.base))
        .body(json!({"language": "python", "code": "# sleep: 2500\n# stdout: slept"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["run"]["stdout"], "slept\n", "{body}");

    // Nor is a WebSocket that is quiet for longer.
    let ws_url = format!("{}/api/v1/ws", server.ws_base());
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let init = json!({"type": "init", "language": "bash",
        "code": "# stdin", "limits": {"wall_ms": 20000}});
    ws.send(tokio_tungstenite::tungstenite::Message::text(init.to_string()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stdin = json!({"type": "data", "stream": "stdin", "data": "hello\n"});
    ws.send(tokio_tungstenite::tungstenite::Message::text(stdin.to_string()))
        .await
        .unwrap();
    let mut stdout = String::new();
    while !stdout.contains("hello\n") {
        let message = tokio::time::timeout(PATIENCE, ws.next()).await;
        let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) = message else {
            panic!("the quiet WebSocket ended: {message:?}; stdout so far {stdout:?}");
        };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        if v["type"] == "data" && v["stream"] == "stdout" {
            stdout.push_str(v["data"].as_str().unwrap());
        }
    }
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_connection_cap_new_connections_wait_while_open_ones_are_served() {
    let _serial = SERIAL.lock().await;
    let server = common::fake::start(
        edge(EdgeConfig {
            max_connections: 4,
            ..EdgeConfig::default()
        }),
        Backend::Sqlite,
    )
    .await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        assert!(get(&mut stream, "/healthz").await.unwrap().0.contains(" 200 "));
        open.push(stream);
    }
    // The kernel completes the fifth handshake, but the server does not take the connection.
    let mut fifth = TcpStream::connect(addr(&server)).await.unwrap();
    let waiting = tokio::spawn(async move {
        let got = get(&mut fifth, "/healthz").await;
        (got, fifth)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "a connection past the cap was served at once");
    // The open connections are still served.
    for stream in &mut open {
        assert!(get(stream, "/healthz").await.unwrap().0.contains(" 200 "));
    }
    assert!(!waiting.is_finished());
    // One closes: the waiting one is taken.
    drop(open.pop());
    let (got, _fifth) = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(got.unwrap().0.contains(" 200 "));
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_during_a_slowloris_below_the_cap() {
    let _serial = SERIAL.lock().await;
    const SLOW: usize = 200;
    let server = common::fake::start(
        edge(EdgeConfig {
            max_connections: SLOW + 16,
            header_read_timeout: Duration::from_secs(5),
            ..EdgeConfig::default()
        }),
        Backend::Sqlite,
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        slow.push(stream);
    }
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .expect("health answers within 1 s during the slowloris");
    assert_eq!(response.status().as_u16(), 200);
    println!(
        "health answered in {:?} beside {SLOW} slow connections",
        started.elapsed()
    );
    // And every slow connection is let go after the header timeout.
    for stream in &mut slow {
        assert!(closed_within(stream, PATIENCE).await, "a slow connection stayed open");
    }
    stop(server).await;
}

/// `GET /api/v1/runtimes` with extra headers; the status.
async fn runtimes(server: &TestServer, headers: &[(&str, &str)]) -> u16 {
    let mut request = reqwest::Client::new().get(format!("{}/api/v1/runtimes", server.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_each_client_has_its_own_quota() {
    let _serial = SERIAL.lock().await;
    let config = ServerConfig {
        rate_limit_per_minute: 3,
        edge: EdgeConfig {
            trusted_proxies: vec![server::parse_trusted_proxy("127.0.0.0/8").unwrap()],
            ..EdgeConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = common::fake::start(config, Backend::Sqlite).await;
    fn xff(ip: &str) -> [(&str, &str); 1] {
        [("x-forwarded-for", ip)]
    }
    for _ in 0..3 {
        assert_eq!(runtimes(&server, &xff("198.51.100.1")).await, 200);
    }
    assert_eq!(runtimes(&server, &xff("198.51.100.1")).await, 429);
    // A claim left of the proxy's entry does not buy a fresh quota.
    assert_eq!(runtimes(&server, &xff("203.0.113.9, 198.51.100.1")).await, 429);
    // Another student behind the same proxy.
    assert_eq!(runtimes(&server, &xff("198.51.100.2")).await, 200);
    assert_eq!(
        runtimes(&server, &[("forwarded", "for=\"198.51.100.3:5000\"")]).await,
        200
    );
    // Behind two proxies of ours.
    assert_eq!(runtimes(&server, &xff("198.51.100.4, 127.0.0.9")).await, 200);
    stop(server).await;

    // Without trusted proxies the headers are the client's word and count for nothing.
    let config = ServerConfig {
        rate_limit_per_minute: 3,
        ..ServerConfig::default()
    };
    let server = common::fake::start(config, Backend::Sqlite).await;
    for i in 0..3 {
        assert_eq!(runtimes(&server, &xff(&format!("198.51.100.{i}"))).await, 200);
    }
    assert_eq!(runtimes(&server, &xff("198.51.100.99")).await, 429);
    assert_eq!(runtimes(&server, &[("forwarded", "for=198.51.100.98")]).await, 429);
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_school_behind_one_address_is_not_rate_limited_by_default() {
    let _serial = SERIAL.lock().await;
    let server = common::fake::start(ServerConfig::default(), Backend::Sqlite).await;
    // A burst of requests from one address: 40 students, 25 requests each (the page's runtime
    // list, exercises, runs...), more than the old default allowed in a minute.
    let client = reqwest::Client::new();
    let mut students = Vec::new();
    for _ in 0..40 {
        let client = client.clone();
        let url = format!("{}/api/v1/runtimes", server.base);
        students.push(tokio::spawn(async move {
            let mut refused = 0;
            for _ in 0..25 {
                if client.get(&url).send().await.unwrap().status().as_u16() == 429 {
                    refused += 1;
                }
            }
            refused
        }));
    }
    let mut refused = 0;
    for s in students {
        refused += s.await.unwrap();
    }
    assert_eq!(refused, 0, "requests refused with 429");
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn callbacks_to_nat64_forms_of_internal_addresses_are_refused() {
    let _serial = SERIAL.lock().await;
    let server = common::fake::start(ServerConfig::default(), Backend::Sqlite).await;
    let client = reqwest::Client::new();
    // 169.254.169.254 (cloud metadata) through the NAT64 prefix, 127.0.0.1 through 6to4.
    for url in [
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://[2002:7f00:1::1]:8080/hook",
    ] {
        let response = client
            .post(format!("{}/submissions", server.base))
            .json(&json!({"source_code": "print(1)", "language_id": 71, "callback_url": url}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 422, "{url}");
        let body: Value = response.json().await.unwrap();
        let problem = body["callback_url"][0].as_str().unwrap_or_default();
        assert!(problem.contains("internal address"), "{url}: {body}");
    }
    stop(server).await;
}

/// `method path` with an optional JSON body: status, Content-Type and body (JSON, or text).
async fn call(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, String, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", server.base);
    let request = match body {
        Some(body) => client
            .request(method.parse().unwrap(), url)
            .header("content-type", "application/json")
            .body(body.to_string()),
        None => client.request(method.parse().unwrap(), url),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trailing_slash_is_the_route_without_it_in_every_dialect() {
    let _serial = SERIAL.lock().await;
    let server = common::fake::start(ServerConfig::default(), Backend::Sqlite).await;
    // Reads: the same answer with and without the slash.
    for path in [
        "/api/v1/runtimes",
        "/api/v2/runtimes",
        "/api/v2/piston/runtimes",
        "/api/v2",
        "/languages",
        "/languages/71",
        "/statuses",
        "/config_info",
        "/healthz",
    ] {
        let (status, _, without) = call(&server, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {without}");
        let slashed = format!("{path}/");
        let (status, _, with) = call(&server, "GET", &slashed, None).await;
        assert_eq!((status, &with), (200, &without), "{slashed}");
    }
    let (status, _, about) = call(&server, "GET", "/about/", None).await;
    assert_eq!(status, 200, "{about}");
    assert!(about["version"].is_string(), "{about}");
    // Runs, with the query string kept: native, Piston, Judge0 waiting and queued.
    let program = "# stdout: hi";
    let (status, _, body) = call(
        &server,
        "POST",
        "/api/v1/run/",
        Some(json!({"language": "python", "code": program})),
    )
    .await;
    assert_eq!((status, body["run"]["stdout"].as_str()), (200, Some("hi\n")), "{body}");
    for path in ["/api/v2/execute/", "/api/v2/piston/execute/"] {
        let execute = json!({"language": "python", "version": "*", "files": [{"content": program}]});
        let (status, _, body) = call(&server, "POST", path, Some(execute)).await;
        assert_eq!(
            (status, body["run"]["stdout"].as_str()),
            (200, Some("hi\n")),
            "{path}: {body}"
        );
    }
    let submission = json!({"language_id": 71, "source_code": "IyBzdGRvdXQ6IGhp"});
    let (status, _, body) = call(
        &server,
        "POST",
        "/submissions/?base64_encoded=true&wait=true",
        Some(submission.clone()),
    )
    .await;
    assert_eq!((status, body["stdout"].as_str()), (201, Some("aGkK\n")), "{body}");
    let (status, _, created) = call(&server, "POST", "/submissions/?base64_encoded=true", Some(submission)).await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let path = format!("/submissions/{token}/?base64_encoded=true&fields=token,stdout,status_id");
        let (status, _, body) = call(&server, "GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["token"], token.as_str(), "{body}");
        if body["status_id"].as_u64().is_some_and(|id| id > 2) {
            assert_eq!(body["stdout"], "aGkK\n", "{body}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still queued: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Piston's WebSocket too.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/api/v2/connect/", server.ws_base()))
        .await
        .expect("the WebSocket upgrade on /api/v2/connect/");
    let init = json!({"type": "init", "language": "python", "version": "*", "files": [{"content": program}]});
    ws.send(tokio_tungstenite::tungstenite::Message::text(init.to_string()))
        .await
        .unwrap();
    let first = tokio::time::timeout(PATIENCE, ws.next()).await;
    let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) = first else {
        panic!("no answer on the WebSocket: {first:?}");
    };
    assert!(text.as_str().contains(r#""type":"runtime""#), "{text}");
    // The page: `/` stays itself, its files with a slash are found.
    let (status, content_type, _) = call(&server, "GET", "/", None).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let (status, content_type, _) = call(&server, "GET", "/favicon.svg/", None).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("image/svg+xml"), "{content_type}");
    // Unknown paths are still 404 with a JSON body in the dialect's shape, slash or not.
    for (path, key) in [
        ("/nope/", "error"),
        ("/nope", "error"),
        ("/api/v1/nope/", "error"),
        ("/api/v2/nope/", "message"),
        ("/submissions/no-such-token/", "error"),
    ] {
        let (status, content_type, body) = call(&server, "GET", path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(content_type.starts_with("application/json"), "{path}: {content_type}");
        assert!(body[key].is_string(), "{path}: {body}");
    }
    stop(server).await;
}
