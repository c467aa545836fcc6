//! The error path every dialect shares, on a real socket: a body over `--max-body-bytes` (with
//! and without a Content-Length), a body that stops arriving, a body that is not a JSON
//! object, and a wrong method on a known path each get a JSON answer in the dialect's own
//! shape — native and Judge0 `{"error": ...}`, Piston `{"message": ...}` — never a text or
//! empty body. No program runs: every request here is refused before the engine sees it.

extern crate tiderun_server as server;

mod common;

use std::time::Duration;

use common::{Backend, TestServer};
use serde_json::{json, Value};
use server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The body limit of these tests' server: small, so a body past it is quick to send.
const TEST_MAX_BODY_BYTES: usize = 8192;

/// Where each dialect takes a JSON body, and the key its errors use.
const BODY_PATHS: [(&str, &str); 7] = [
    ("/api/v1/run", "error"),
    ("/api/v1/snippets", "error"),
    ("/api/v1/exercises", "error"),
    ("/api/v2/execute", "message"),
    ("/api/v2/piston/execute", "message"),
    ("/submissions", "error"),
    ("/submissions/batch", "error"),
];

async fn start() -> TestServer {
    let config = ServerConfig {
        max_body_bytes: TEST_MAX_BODY_BYTES,
        // Posting exercises needs tokens: with one, the body is read (and refused) first.
        auth_tokens: vec!["t".into()],
        ..ServerConfig::default()
    };
    common::start(config, Backend::Sqlite).await
}

/// An answer read off a raw connection: status, Content-Type, body as JSON (or text).
#[derive(Debug)]
struct Raw {
    status: u16,
    content_type: String,
    body: Value,
}

/// Send `head` (with the body framing headers of the caller's choice) and then `body` in
/// chunks, as far as the server reads it, and read the whole answer.
async fn raw(server: &TestServer, head: String, body: Vec<Vec<u8>>) -> Raw {
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    for part in body {
        if stream.write_all(&part).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        server::BODY_IDLE_TIMEOUT + Duration::from_secs(20),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "no answer: {}", String::from_utf8_lossy(&answer));
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    // A chunked answer: the JSON is the first chunk.
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body.split("\r\n").nth(1).unwrap_or("").to_owned()
    } else {
        body.to_owned()
    };
    Raw {
        status,
        content_type,
        body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
    }
}

fn assert_json_error(what: &str, status: u16, expected: u16, content_type: &str, body: &Value, key: &str, says: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: Content-Type {content_type:?}, body {body}"
    );
    let message = body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no {key:?} in {body}"));
    assert!(message.contains(says), "{what}: {message:?} does not say {says:?}");
}

#[tokio::test]
async fn every_413_is_json_in_the_dialects_shape_with_or_without_a_content_length() {
    let server = start().await;
    let big = json!({"language": "python", "code": "x".repeat(3 * TEST_MAX_BODY_BYTES)}).to_string();
    let addr = server.base.trim_start_matches("http://").to_string();
    for (path, key) in BODY_PATHS {
        // With a Content-Length: refused before a byte of the body is read.
        let response = reqwest::Client::new()
            .post(format!("{}{path}", server.base))
            .header("x-auth-token", "t")
            .body(big.clone())
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let what = format!("{path} with a Content-Length");
        assert_json_error(&what, status, 413, &content_type, &body, key, "too large");
        assert!(
            body[key].as_str().unwrap().contains(&TEST_MAX_BODY_BYTES.to_string()),
            "{what}: the limit is not quoted: {body}"
        );

        // Chunked: refused when the bytes read pass the limit.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let mut chunks: Vec<Vec<u8>> = big
            .as_bytes()
            .chunks(4096)
            .map(|c| [format!("{:x}\r\n", c.len()).as_bytes(), c, b"\r\n"].concat())
            .collect();
        chunks.push(b"0\r\n\r\n".to_vec());
        let answer = raw(&server, head, chunks).await;
        let what = format!("{path} chunked");
        assert_json_error(
            &what,
            answer.status,
            413,
            &answer.content_type,
            &answer.body,
            key,
            "too large",
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_body_gets_408_in_every_dialect() {
    let server = start().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let stalled = |path: &'static str| {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: t\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{"
        );
        raw(&server, head, Vec::new())
    };
    // At once: each waits out the idle timeout.
    let answers = futures_util::future::join_all(BODY_PATHS.iter().map(|(path, _)| stalled(path))).await;
    for ((path, key), answer) in BODY_PATHS.iter().zip(answers) {
        assert_json_error(
            path,
            answer.status,
            408,
            &answer.content_type,
            &answer.body,
            key,
            "stopped arriving",
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_one_json_object_is_refused_in_every_dialect() {
    let server = start().await;
    let client = reqwest::Client::new();
    for (path, key) in BODY_PATHS {
        for (what, body, says) in [
            ("an array", r#"["python", "*", []]"#, "must be a JSON object"),
            ("a string", r#""print(1)""#, "must be a JSON object"),
            ("empty", "", "empty"),
            ("not JSON", "{language: python}", "invalid JSON"),
        ] {
            let response = client
                .post(format!("{}{path}", server.base))
                .header("x-auth-token", "t")
                // A JSON body is read as JSON whatever the Content-Type says (the next test);
                // here it says JSON.
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("send");
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let text = response.text().await.unwrap_or_default();
            let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
            assert_json_error(
                &format!("{path}: {what}"),
                status,
                400,
                &content_type,
                &answer,
                key,
                says,
            );
        }
    }
    // A field of the wrong type is named by its path (Judge0 takes any JSON value for each
    // field and answers 422 with its own field errors).
    for (path, key, body, says) in [
        (
            "/api/v1/run",
            "error",
            json!({"language": "python", "code": 1}),
            "at code",
        ),
        (
            "/api/v2/execute",
            "message",
            json!({"language": "python", "version": "*", "files": [{"content": 1}]}),
            "at files[0].content",
        ),
        (
            "/api/v1/snippets",
            "error",
            json!({"language": "python", "code": [1]}),
            "at code",
        ),
    ] {
        let response = client
            .post(format!("{}{path}", server.base))
            .header("x-auth-token", "t")
            .body(body.to_string())
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        let answer: Value = response.json().await.expect("JSON");
        assert_json_error(path, status, 400, "application/json", &answer, key, says);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_body_not_sent_as_json_is_read_as_json_and_a_form_gets_pistons_415() {
    let server = start().await;
    let client = reqwest::Client::new();
    let post = |path: &str, content_type: Option<&str>, body: String| {
        let mut request = client
            .post(format!("{}{path}", server.base))
            .header("x-auth-token", "t")
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let text = response.text().await.unwrap_or_default();
            (
                status,
                content_type,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
    };
    // What pistonapi sends (`requests.post(url, payload)`: a form), and a multipart form.
    let form = "language=python&version=%2A&files=print%28%22hi%22%29&stdin=&timeout=10000".to_owned();
    let multipart = "--b\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\npython\r\n--b--\r\n".to_owned();
    for path in ["/api/v2/execute", "/api/v2/piston/execute"] {
        for (content_type, body) in [
            (Some("application/x-www-form-urlencoded"), form.clone()),
            (Some("multipart/form-data; boundary=b"), multipart.clone()),
            (Some("text/plain"), "print('hi')".to_owned()),
            (Some("application/x-www-form-urlencoded"), String::new()),
        ] {
            let (status, got_type, body) = post(path, content_type, body).await;
            assert_json_error(
                &format!("{path} as {content_type:?}"),
                status,
                415,
                &got_type,
                &body,
                "message",
                "",
            );
            assert_eq!(body, json!({"message": "requests must be of type application/json"}));
        }
        // Sent as JSON, or without a Content-Type (meant as JSON), but broken: 400 saying why
        // (Piston: 400 for the first, 415 for the second).
        for content_type in [Some("application/json"), None] {
            let (status, got_type, body) = post(path, content_type, "{language: python}".into()).await;
            assert_json_error(path, status, 400, &got_type, &body, "message", "invalid JSON");
        }
    }
    // The other dialects read only JSON too, and say so with a 400 (Judge0 1.13.1, a Rails
    // app, would read a form's fields; see the server README).
    for (path, key) in BODY_PATHS.into_iter().filter(|(_, key)| *key == "error") {
        let (status, got_type, body) = post(path, Some("application/x-www-form-urlencoded"), form.clone()).await;
        assert_json_error(
            path,
            status,
            400,
            &got_type,
            &body,
            key,
            "must be a JSON object (sent as application/x-www-form-urlencoded, not application/json)",
        );
    }
    // A JSON body is read whatever it is sent as: piston-client's node-fetch labels it
    // text/plain, curl's -d a form; some clients send no Content-Type. The validation error
    // proves the body was read as JSON (the engine never runs here).
    let execute = json!({"language": "python", "version": "*", "files": "main.py"}).to_string();
    let run = json!({"language": "python", "code": 1}).to_string();
    for content_type in [
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        for (path, key, body, says) in [
            ("/api/v2/execute", "message", &execute, "at files"),
            ("/api/v1/run", "error", &run, "at code"),
        ] {
            let (status, got_type, answer) = post(path, content_type, body.clone()).await;
            assert_json_error(
                &format!("{path} as {content_type:?}"),
                status,
                400,
                &got_type,
                &answer,
                key,
                says,
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_a_json_body_and_allow_everywhere() {
    let server = start().await;
    let client = reqwest::Client::new();
    for (method, path, key) in [
        (reqwest::Method::GET, "/api/v1/run", "error"),
        (reqwest::Method::PUT, "/api/v1/snippets", "error"),
        (reqwest::Method::POST, "/api/v1/runtimes", "error"),
        (reqwest::Method::PATCH, "/api/v1/exercises/x", "error"),
        (reqwest::Method::POST, "/api/v1/ws", "error"),
        (reqwest::Method::GET, "/api/v2/execute", "message"),
        (reqwest::Method::POST, "/api/v2/piston/runtimes", "message"),
        (reqwest::Method::PUT, "/submissions", "error"),
        (reqwest::Method::POST, "/submissions/abc", "error"),
        (reqwest::Method::DELETE, "/languages", "error"),
        (reqwest::Method::GET, "/authenticate", "error"),
        (reqwest::Method::POST, "/healthz", "error"),
        (reqwest::Method::DELETE, "/", "error"),
    ] {
        let what = format!("{method} {path}");
        let response = client
            .request(method, format!("{}{path}", server.base))
            .header("x-auth-token", "t")
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        assert_json_error(&what, status, 405, &content_type, &body, key, "not allowed");
        assert!(!allow.is_empty(), "{what}: no Allow header");
    }
    server.stop().await;
}

/// The message every dialect gives for a runtime this server knows but has no toolchain for.
const NOT_INSTALLED: &str =
    "no-such-language is not installed on this server: an operator installs it with `tiderun runtimes install no-such-language`";

/// A language of the catalog whose toolchain is missing gets a 4xx that says how an operator
/// installs it, in each dialect's shape: native and Piston 400, Judge0 its 422 field errors
/// (what it answers for an archived language).
#[tokio::test(flavor = "multi_thread")]
async fn a_language_whose_toolchain_is_missing_says_how_to_install_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("no-such-language.toml"),
        "name = \"no-such-language\"\ndisplay_name = \"No such language\"\naliases = [\"nsl\"]\njudge0_ids = [999]\nfile = \"main.nsl\"\n\
         compile = [\"/nonexistent/nslc\", \"-x\", \"{file}\"]\nrun = [\"./main\"]\ndetect = [\"/nonexistent/nslc\", \"--version\"]\n\
         [example]\nhello = 'x'\necho = 'x'\nruntime_error = 'x'\ncompile_error = 'x'\n[install]\napt = [\"nsl-compiler\"]\n",
    )
    .expect("write no-such-language.toml");
    let mut catalog = runtimes::Catalog::load(Some(dir.path())).expect("catalog");
    catalog.detect();
    assert!(!catalog.get("no-such-language").expect("no-such-language").installed);
    let runner = engine::Runner::with_executor(
        std::sync::Arc::new(common::fake::FakeExecutor::with_catalog(catalog)),
        engine::RunnerConfig::default(),
    );
    let server = common::start_with_runner(ServerConfig::default(), runner, Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{}{path}", server.base)).json(&body).send();

    let r = post("/api/v1/run", json!({"language": "no-such-language", "code": "x"}))
        .await
        .expect("native");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.expect("json")["error"], NOT_INSTALLED);
    for path in ["/api/v2/execute", "/api/v2/piston/execute"] {
        let body = json!({"language": "nsl", "version": "*", "files": [{"content": "x"}]});
        let r = post(path, body).await.expect("piston");
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(
            r.json::<Value>().await.expect("json")["message"],
            NOT_INSTALLED,
            "{path}"
        );
    }
    for path in ["/submissions?wait=true", "/submissions"] {
        let r = post(path, json!({"source_code": "x", "language_id": 999}))
            .await
            .expect("judge0");
        assert_eq!(r.status(), 422, "{path}");
        assert_eq!(
            r.json::<Value>().await.expect("json")["language_id"],
            json!([format!(
                "language with id 999 is archived and cannot be used anymore: {NOT_INSTALLED}"
            )]),
            "{path}"
        );
    }
    // Piston's packages endpoint words it the same, then says what the command runs.
    let r = post(
        "/api/v2/packages",
        json!({"language": "no-such-language", "version": "*"}),
    )
    .await
    .expect("packages");
    assert_eq!(r.status(), 403);
    let message = r.json::<Value>().await.expect("json")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with(&format!("{NOT_INSTALLED} (apt-get install nsl-compiler)")),
        "{message}"
    );
    // An installed language of the same catalog still runs.
    let r = post("/api/v1/run", json!({"language": "python", "code": "# stdout: hi"}))
        .await
        .expect("native");
    assert_eq!(r.status(), 200);
    server.stop().await;
}
