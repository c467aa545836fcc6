//! JSON requests to a test server, as a key, a session or nobody.

use serde_json::{json, Value};

use super::TestServer;

/// `method path` with `token` as a bearer key or session and `body` as JSON: the status and
/// the answer as JSON (an answer that is not JSON as a JSON string).
pub async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, text) = call_text(server, method, path, token, body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// [`call`], the answer as text (a CSV, a page).
pub async fn call_text(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// A key named `name` with `role`, made with the admin token `admin`.
pub async fn create_key(server: &TestServer, admin: &str, name: &str, role: &str) -> String {
    let (status, body) = call(
        server,
        "POST",
        "/api/v1/keys",
        Some(admin),
        Some(json!({"name": name, "role": role})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().expect("the key, once").to_owned()
}
