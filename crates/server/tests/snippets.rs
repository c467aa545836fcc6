//! Shared snippets on a real server (SQLite and, under `./x test`, Postgres): save, load by
//! id, 404 for unknown ids, a 4xx that says what is wrong for every bad request. With the
//! stand-in executor behind the router (`common::fake`): nothing here runs a program.

extern crate tiderun_server as server;

mod common;

use common::{backends, Backend, TestServer};
use serde_json::{json, Value};
use server::ServerConfig;

async fn post(server: &TestServer, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/snippets", server.base))
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

async fn get(server: &TestServer, id: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}/api/v1/snippets/{id}", server.base))
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

#[tokio::test]
async fn a_snippet_round_trips_by_its_id() {
    for backend in backends() {
        let server = common::fake::start(ServerConfig::default(), backend).await;
        let code = "name = input('名字? ')\nprint(f\"你好, {name}!\")  # \"quotes\" \\ and ✓\n";
        let (status, saved) = post(&server, json!({"language": "py", "code": code}).to_string()).await;
        assert_eq!(status, 201, "{saved}");
        let id = saved["id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), store::SNIPPET_ID_LEN);
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        assert_eq!(saved["language"], "python", "an alias is kept by its name");
        assert_eq!(saved["code"], code);
        let (status, loaded) = get(&server, &id).await;
        assert_eq!(status, 200);
        assert_eq!(loaded, saved);

        let (_, again) = post(&server, json!({"language": "c", "code": "int main(){}"}).to_string()).await;
        assert_ne!(again["id"], saved["id"], "a new id each time");
        assert_eq!(get(&server, again["id"].as_str().unwrap()).await.1["language"], "c");

        for unknown in [
            "AAAAAAAA",
            "short",
            "much-too-long-for-an-id",
            "%00%00%00%00%00%00%00%00",
            "a%2Fb",
        ] {
            let (status, answer) = get(&server, unknown).await;
            assert_eq!(status, 404, "{unknown}: {answer}");
            assert!(answer["error"].as_str().unwrap().contains("no snippet"), "{answer}");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn bad_snippets_get_a_4xx_that_says_what_is_wrong() {
    let server = common::fake::start(ServerConfig::default(), Backend::Sqlite).await;
    let largest = "x".repeat(store::MAX_SNIPPET_BYTES);
    let (status, _) = post(&server, json!({"language": "python", "code": largest}).to_string()).await;
    assert_eq!(status, 201, "exactly the limit is fine");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown language",
            json!({"language": "no-such-language", "code": "x"}).to_string(),
            "unknown language \"no-such-language\"",
        ),
        (
            "empty code",
            json!({"language": "python", "code": " \n"}).to_string(),
            "`code` is empty",
        ),
        (
            "too long",
            json!({"language": "python", "code": format!("{largest}x")}).to_string(),
            "more than the limit of 65536 bytes",
        ),
        (
            "missing code",
            json!({"language": "python"}).to_string(),
            "missing field `code`",
        ),
        (
            "unknown field",
            json!({"language": "python", "code": "1", "title": "t"}).to_string(),
            "unknown field `title`",
        ),
        ("not an object", "[1]".to_string(), "a JSON object"),
        ("malformed", "{\"language\":".to_string(), "invalid JSON"),
        ("empty body", String::new(), "empty"),
        (
            "nul",
            json!({"language": "python", "code": "a\u{0}b"}).to_string(),
            "NUL",
        ),
    ];
    for (what, body, message) in cases {
        let (status, answer) = post(&server, body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(message),
            "{what}: {answer} does not say {message:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn snippets_need_the_token_when_the_server_has_tokens() {
    let config = ServerConfig {
        auth_tokens: vec!["teacher-token".into()],
        ..ServerConfig::default()
    };
    let server = common::fake::start(config, Backend::Sqlite).await;
    let (status, _) = post(&server, json!({"language": "python", "code": "1"}).to_string()).await;
    assert_eq!(status, 401);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/snippets", server.base))
        .bearer_auth("teacher-token")
        .body(json!({"language": "python", "code": "1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    server.stop().await;
}
