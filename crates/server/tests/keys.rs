//! API keys and roles against the router with the stand-in executor (`common::fake`, no
//! root), on SQLite and, under `./x test`, Postgres: `/api/v1/keys` for admins (every field
//! checked, the secret shown once), a stored key authenticating in every dialect, revoked and
//! expired keys refused with a 401 that says so, unknown tokens rate limited per address, the
//! roles table (403 in each dialect's shape), Judge0 submissions visible only to their key
//! (and its runs counted to it), and page sessions (Bearer and the WebSocket subprotocol).

extern crate tiderun_server as server;

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::backends;
use common::http::{call, create_key};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use server::ServerConfig;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const ADMIN_TOKEN: &str = "admin-secret";

fn config(tokens: &[&str], require_keys: bool) -> ServerConfig {
    ServerConfig {
        auth_tokens: tokens.iter().map(|t| t.to_string()).collect(),
        require_keys,
        enable_submission_delete: true,
        ..ServerConfig::default()
    }
}

fn run_body() -> Value {
    json!({"language": "python", "code": "# stdout: hi"})
}

#[tokio::test]
async fn admins_create_list_and_revoke_keys() {
    for backend in backends() {
        let server = common::fake::start(config(&[ADMIN_TOKEN], false), backend).await;
        let (status, body) = call(
            &server,
            "POST",
            "/api/v1/keys",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "class-3b", "role": "classroom", "runs_per_minute": 30, "cpu_s_per_day": 600, "expires_in_days": 120})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let key = body["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with(body["prefix"].as_str().unwrap()), "{body}");
        assert_eq!(body["role"], "classroom");
        assert_eq!(body["state"], "active");
        assert_eq!(body["runs_per_minute"], 30);
        assert!(body["expires_at"].is_string());

        // Every field checked, with a 400 that names it.
        let bad = [
            (json!({"name": "a b", "role": "caller"}), "is not a key name"),
            (json!({"name": "", "role": "caller"}), "is not a key name"),
            (json!({"name": "auth-token", "role": "caller"}), "is not a key name"),
            (json!({"name": "x".repeat(65), "role": "caller"}), "is not a key name"),
            (
                json!({"name": "k", "role": "janitor"}),
                "is not one of admin, caller, classroom, teacher",
            ),
            (
                json!({"name": "k", "role": "student"}),
                "a key cannot have the role student",
            ),
            (
                json!({"name": "k", "role": "caller", "runs_per_minute": 0}),
                "runs_per_minute is 0",
            ),
            (
                json!({"name": "k", "role": "caller", "cpu_s_per_day": 86_400_001}),
                "cpu_s_per_day is 86400001",
            ),
            (
                json!({"name": "k", "role": "caller", "expires_in_days": 3651}),
                "expires_in_days is 3651",
            ),
            (
                json!({"name": "k", "role": "caller", "expires_in_days": -1}),
                "expires_in_days",
            ),
            (json!({"name": "k", "role": "caller", "colour": "red"}), "colour"),
            (json!({"role": "caller"}), "name"),
        ];
        for (body, says) in bad {
            let (status, answer) = call(&server, "POST", "/api/v1/keys", Some(ADMIN_TOKEN), Some(body.clone())).await;
            assert_eq!(status, 400, "{body} -> {answer}");
            assert!(answer["error"].as_str().unwrap().contains(says), "{body} -> {answer}");
        }
        let (status, answer) = call(
            &server,
            "POST",
            "/api/v1/keys",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "class-3b", "role": "caller"})),
        )
        .await;
        assert_eq!(status, 409, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains("never reused"), "{answer}");

        // Listed without the secret.
        let (status, list) = call(&server, "GET", "/api/v1/keys", Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, 200);
        assert_eq!(list["keys"].as_array().unwrap().len(), 1);
        assert!(!list.to_string().contains(&key[12..]), "{list}");
        assert!(list["keys"][0].get("key").is_none());

        // Only admins; a stored admin key is one.
        let caller = create_key(&server, ADMIN_TOKEN, "ide", "caller").await;
        for (method, path) in [
            ("GET", "/api/v1/keys"),
            ("POST", "/api/v1/keys"),
            ("DELETE", "/api/v1/keys/ide"),
        ] {
            let (status, answer) = call(&server, method, path, Some(&caller), Some(json!({}))).await;
            assert_eq!(status, 403, "{method} {path}: {answer}");
            assert!(
                answer["error"].as_str().unwrap().contains("needs an admin key"),
                "{answer}"
            );
        }
        let ops = create_key(&server, ADMIN_TOKEN, "ops", "admin").await;
        let (status, _) = call(&server, "GET", "/api/v1/keys", Some(&ops), None).await;
        assert_eq!(status, 200);

        let (status, answer) = call(&server, "DELETE", "/api/v1/keys/ide", Some(&ops), None).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["state"], "revoked");
        let (status, _) = call(&server, "DELETE", "/api/v1/keys/ide", Some(&ops), None).await;
        assert_eq!(status, 200, "revoking twice is no error");
        let (status, answer) = call(&server, "DELETE", "/api/v1/keys/nobody", Some(&ops), None).await;
        assert_eq!(status, 404, "{answer}");
        server.stop().await;
    }
}

#[tokio::test]
async fn stored_keys_authenticate_and_refusals_say_why() {
    for backend in backends() {
        let server = common::fake::start(config(&[ADMIN_TOKEN], false), backend).await;
        let key = create_key(&server, ADMIN_TOKEN, "ide", "caller").await;
        // Without a key: 401 (auth tokens are set).
        let (status, _) = call(&server, "POST", "/api/v1/run", None, Some(run_body())).await;
        assert_eq!(status, 401);
        // Every header a client sends a token in.
        let (status, body) = call(&server, "POST", "/api/v1/run", Some(&key), Some(run_body())).await;
        assert_eq!(status, 200, "{body}");
        for (header, value) in [("x-auth-token", key.clone()), ("authorization", key.clone())] {
            let response = reqwest::Client::new()
                .get(format!("{}/api/v2/runtimes", server.base))
                .header(header, value)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{header}");
        }

        // A key that expired: 401 that says so.
        let expiring = create_key(&server, ADMIN_TOKEN, "old", "caller").await;
        sqlx::any::install_default_drivers();
        let db = sqlx::AnyPool::connect(&server.url).await.unwrap();
        sqlx::query("UPDATE api_keys SET expires_at = 1 WHERE name = 'old'")
            .execute(&db)
            .await
            .unwrap();
        let (status, body) = call(&server, "POST", "/api/v1/run", Some(&expiring), Some(run_body())).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].as_str().unwrap().contains("expired"), "{body}");

        // Revoked: refused at once on this node, in each dialect's shape.
        let (status, _) = call(&server, "DELETE", "/api/v1/keys/ide", Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, 200);
        let (status, body) = call(&server, "POST", "/api/v1/run", Some(&key), Some(run_body())).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].as_str().unwrap().contains("revoked"), "{body}");
        let (status, body) = call(&server, "GET", "/api/v2/runtimes", Some(&key), None).await;
        assert_eq!(status, 401);
        assert!(body["message"].as_str().unwrap().contains("revoked"), "{body}");
        // And on another node of the same database (which never saw it).
        let other = common::fake::start_on(config(&[ADMIN_TOKEN], false), &server).await;
        let (status, body) = call(&other, "POST", "/api/v1/run", Some(&key), Some(run_body())).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].as_str().unwrap().contains("revoked"), "{body}");
        // Nor is a secret ever in an answer or the key list.
        assert!(!body.to_string().contains(&key[12..]));
        other.stop().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn an_open_server_knows_keys_and_require_keys_closes_it() {
    for backend in backends() {
        let open = common::fake::start(config(&[], false), backend).await;
        let key = open
            .state
            .store()
            .create_key(&store::NewKey {
                name: "ide".into(),
                role: store::Role::Classroom,
                quotas: store::Quotas::default(),
                expires_in_days: None,
            })
            .await
            .unwrap();
        let secret = key.secret.expose();
        // Without a key: an anonymous caller, as before keys.
        let (status, _) = call(
            &open,
            "POST",
            "/api/v2/execute",
            None,
            Some(json!({"language": "python", "version": "*", "files": [{"content": "# stdout: hi"}]})),
        )
        .await;
        assert_eq!(status, 200);
        // With one: that key's caller, with its role.
        let (status, body) = call(
            &open,
            "POST",
            "/api/v2/execute",
            Some(secret),
            Some(json!({"language": "python", "version": "*", "files": [{"content": "# stdout: hi"}]})),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        // Unknown tokens stay anonymous on an open server.
        let (status, _) = call(&open, "GET", "/api/v1/runtimes", Some("whatever"), None).await;
        assert_eq!(status, 200);
        open.stop().await;

        let closed = common::fake::start(config(&[], true), backend).await;
        let (status, body) = call(&closed, "GET", "/api/v1/runtimes", None, None).await;
        assert_eq!(status, 401, "{body}");
        let key = closed
            .state
            .store()
            .create_key(&store::NewKey {
                name: "ide".into(),
                role: store::Role::Caller,
                quotas: store::Quotas::default(),
                expires_in_days: None,
            })
            .await
            .unwrap();
        let (status, _) = call(&closed, "GET", "/api/v1/runtimes", Some(key.secret.expose()), None).await;
        assert_eq!(status, 200);
        closed.stop().await;
    }
}

#[tokio::test]
async fn unknown_tokens_are_rate_limited_per_address() {
    let server = common::fake::start(
        ServerConfig {
            rate_limit_per_minute: 5,
            ..config(&[], true)
        },
        common::Backend::Sqlite,
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let made_up = format!("tr_0000000{i}_{}", "a".repeat(64));
        statuses.push(call(&server, "GET", "/api/v1/runtimes", Some(&made_up), None).await.0);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    server.stop().await;
}

#[tokio::test]
async fn roles_decide_what_a_key_may_do() {
    for backend in backends() {
        let server = common::fake::start(config(&[ADMIN_TOKEN], false), backend).await;
        let class = create_key(&server, ADMIN_TOKEN, "class", "classroom").await;
        let caller = create_key(&server, ADMIN_TOKEN, "ide", "caller").await;
        let execute = json!({"language": "python", "version": "*", "files": [{"content": "# stdout: hi"}]});
        let submission = json!({"language_id": 71, "source_code": "# stdout: hi"});
        let exercise =
            json!({"id": "e1", "title": "t", "statement": "s", "tests": [{"stdin": "", "expected_output": ""}]});
        // What a classroom key may do.
        for (method, path, body) in [
            ("POST", "/api/v1/run", Some(run_body())),
            ("GET", "/api/v1/runtimes", None),
            ("GET", "/api/v1/exercises", None),
            (
                "POST",
                "/api/v1/snippets",
                Some(json!({"language": "python", "code": "print(1)"})),
            ),
            ("GET", "/api/v2/runtimes", None),
            ("GET", "/api/v2/piston/runtimes", None),
            ("GET", "/languages", None),
            ("GET", "/languages/71", None),
        ] {
            let (status, answer) = call(&server, method, path, Some(&class), body).await;
            assert!(status < 300, "classroom {method} {path}: {status} {answer}");
        }
        // What it may not: 403 in the dialect's shape, naming the role needed.
        for (method, path, body, field) in [
            ("POST", "/api/v2/execute", Some(execute.clone()), "message"),
            ("POST", "/api/v2/piston/execute", Some(execute.clone()), "message"),
            ("POST", "/submissions?wait=true", Some(submission.clone()), "error"),
            ("GET", "/submissions", None, "error"),
            ("GET", "/statuses", None, "error"),
            ("POST", "/api/v1/exercises", Some(exercise.clone()), "error"),
            ("DELETE", "/api/v1/exercises/e1", None, "error"),
            ("GET", "/api/v1/keys", None, "error"),
        ] {
            let (status, answer) = call(&server, method, path, Some(&class), body).await;
            assert_eq!(status, 403, "classroom {method} {path}: {answer}");
            let text = answer[field].as_str().unwrap_or_default();
            assert!(text.contains("classroom key"), "{method} {path}: {answer}");
            assert!(
                text.contains("needs a caller or admin key")
                    || text.contains("needs a teacher, caller or admin key")
                    || text.contains("needs an admin key"),
                "{answer}"
            );
        }
        // A caller key may use every API but the admin-only ones.
        for (method, path, body) in [
            ("POST", "/api/v2/execute", Some(execute.clone())),
            ("POST", "/submissions?wait=true", Some(submission.clone())),
            ("GET", "/statuses", None),
            ("POST", "/api/v1/exercises", Some(exercise.clone())),
        ] {
            let (status, answer) = call(&server, method, path, Some(&caller), body).await;
            assert!(status < 300, "caller {method} {path}: {status} {answer}");
        }
        let (status, _) = call(&server, "GET", "/api/v1/keys", Some(&caller), None).await;
        assert_eq!(status, 403);
        server.stop().await;
    }
}

/// The triggers the runner was given: (api, key).
#[derive(Default)]
struct Triggers(Mutex<Vec<(String, Option<String>)>>);

impl engine::Observer for Triggers {
    fn observe(&self, run: &engine::Observation<'_>) {
        let t = run.trigger;
        self.0
            .lock()
            .unwrap()
            .push((t.api.to_owned(), t.key.as_deref().map(str::to_owned)));
    }
}

#[tokio::test]
async fn judge0_submissions_belong_to_their_key() {
    for backend in backends() {
        let server = common::fake::start(config(&[ADMIN_TOKEN], false), backend).await;
        let triggers = Arc::new(Triggers::default());
        server.state.runner().observe_with(triggers.clone());
        let a = create_key(&server, ADMIN_TOKEN, "a", "caller").await;
        let b = create_key(&server, ADMIN_TOKEN, "b", "caller").await;
        let submission = json!({"language_id": 71, "source_code": "# stdout: hi"});
        // Queued: run by a worker, counted to its key.
        let (status, created) = call(&server, "POST", "/submissions", Some(&a), Some(submission.clone())).await;
        assert_eq!(status, 201, "{created}");
        let token = created["token"].as_str().unwrap().to_owned();
        let path = format!("/submissions/{token}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, s) = call(&server, "GET", &path, Some(&a), None).await;
            assert_eq!(status, 200, "{s}");
            if s["status"]["id"].as_i64().unwrap_or(0) >= 3 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "not finished: {s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            triggers
                .0
                .lock()
                .unwrap()
                .contains(&("judge0".into(), Some("a".into()))),
            "{:?}",
            triggers.0.lock().unwrap()
        );
        // wait=true is counted to its key too.
        let (status, _) = call(
            &server,
            "POST",
            "/submissions?wait=true",
            Some(&b),
            Some(submission.clone()),
        )
        .await;
        assert_eq!(status, 201);
        assert!(triggers
            .0
            .lock()
            .unwrap()
            .contains(&("judge0".into(), Some("b".into()))));

        // Another key: unknown (404, null), never listed, not deleted.
        let (status, body) = call(&server, "GET", &path, Some(&b), None).await;
        assert_eq!(status, 404, "{body}");
        let (_, batch) = call(
            &server,
            "GET",
            &format!("/submissions/batch?tokens={token}"),
            Some(&b),
            None,
        )
        .await;
        assert_eq!(batch["submissions"], json!([null]));
        let (_, batch) = call(
            &server,
            "GET",
            &format!("/submissions/batch?tokens={token}"),
            Some(&a),
            None,
        )
        .await;
        assert_eq!(batch["submissions"][0]["token"], token.as_str());
        let (_, list) = call(&server, "GET", "/submissions", Some(&b), None).await;
        assert_eq!(list["meta"]["total_count"], 1, "{list}");
        assert_ne!(list["submissions"][0]["token"], token.as_str());
        let (_, list) = call(&server, "GET", "/submissions", Some(&a), None).await;
        assert_eq!(list["meta"]["total_count"], 1, "{list}");
        assert_eq!(list["submissions"][0]["token"], token.as_str());
        let (_, list) = call(&server, "GET", "/submissions", Some(ADMIN_TOKEN), None).await;
        assert_eq!(list["meta"]["total_count"], 2, "an admin lists them all");
        let (status, _) = call(&server, "GET", &path, Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, 200);
        let (status, _) = call(&server, "DELETE", &path, Some(&b), None).await;
        assert_eq!(status, 404);
        let (status, _) = call(&server, "DELETE", &path, Some(&a), None).await;
        assert_eq!(status, 200);
        server.stop().await;
    }
}

#[tokio::test]
async fn page_sessions_work_over_fetch_and_the_websocket() {
    for backend in backends() {
        let server = common::fake::start(config(&[], true), backend).await;
        let class = server
            .state
            .store()
            .create_key(&store::NewKey {
                name: "class-3b".into(),
                role: store::Role::Caller,
                quotas: store::Quotas::default(),
                expires_in_days: None,
            })
            .await
            .unwrap();
        let (status, body) = call(&server, "POST", "/api/v1/session", None, None).await;
        assert_eq!(status, 401, "{body}");
        let (status, session) = call(&server, "POST", "/api/v1/session", Some(class.secret.expose()), None).await;
        assert_eq!(status, 200, "{session}");
        assert_eq!(session["key"], "class-3b");
        assert_eq!(session["role"], "classroom", "never more than a classroom");
        let token = session["token"].as_str().unwrap().to_owned();
        let (status, body) = call(&server, "POST", "/api/v1/run", Some(&token), Some(run_body())).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = call(
            &server,
            "POST",
            "/submissions?wait=true",
            Some(&token),
            Some(json!({"language_id": 71, "source_code": "x"})),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        // Another node of the same database accepts it.
        let other = common::fake::start_on(config(&[], true), &server).await;
        let (status, _) = call(&other, "GET", "/api/v1/runtimes", Some(&token), None).await;
        assert_eq!(status, 200);
        other.stop().await;
        // A changed token is no token.
        let forged = format!("{}x", token);
        let (status, _) = call(&server, "GET", "/api/v1/runtimes", Some(&forged), None).await;
        assert_eq!(status, 401);

        // The WebSocket: the token as a subprotocol, `tiderun.v1` answered.
        let mut request = format!("{}/api/v1/ws", server.ws_base()).into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            format!("tiderun.v1, tiderun.auth.{token}").parse().unwrap(),
        );
        let (mut ws, response) = tokio_tungstenite::connect_async(request).await.expect("connect");
        assert_eq!(response.headers()["sec-websocket-protocol"], "tiderun.v1");
        ws.send(Message::text(
            json!({"type": "init", "language": "python", "code": "# stdout: hi"}).to_string(),
        ))
        .await
        .unwrap();
        let mut exit = None;
        while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            if let Message::Text(text) = message {
                let v: Value = serde_json::from_str(text.as_str()).unwrap();
                if v["type"] == "exit" {
                    exit = Some(v);
                    break;
                }
            }
        }
        assert_eq!(exit.expect("an exit message")["status"], "ok");
        // Without it: refused at the handshake.
        let request = format!("{}/api/v1/ws", server.ws_base()).into_client_request().unwrap();
        let refused = tokio_tungstenite::connect_async(request).await.unwrap_err();
        assert!(refused.to_string().contains("401"), "{refused}");

        // The key revoked (by another node: this one learns of it within the cache's TTL):
        // its sessions stop working too.
        server.state.store().revoke_key("class-3b").await.unwrap();
        let deadline = tokio::time::Instant::now() + server::KEY_CACHE_TTL + Duration::from_secs(5);
        loop {
            let (status, body) = call(&server, "GET", "/api/v1/runtimes", Some(&token), None).await;
            if status == 401 {
                assert!(body["error"].as_str().unwrap().contains("revoked"), "{body}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the session outlived the key's revocation"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        server.stop().await;
    }
}
