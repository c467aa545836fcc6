//! School sign-in (OpenID Connect) for students, end to end, on SQLite and (under `./x test`)
//! Postgres: the browser's steps are followed by hand (start → provider → callback → the
//! page's trade of `#oidc=` for a session). The provider is [`Idp`], a small server in the test
//! that stands in for the school's (Keycloak, Microsoft Entra, Google Workspace…): discovery,
//! its keys (an RSA key made for these tests), an authorize endpoint that signs the next
//! student in at once, and a token endpoint that checks PKCE and returns an RS256 ID token — or
//! a flawed one, to see it refused.

extern crate tiderun_server as server;

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::http::{call, create_key};
use common::{backends, TestServer};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use serde_json::{json, Value};
use server::oidc::OidcConfig;
use server::ServerConfig;
use sha2::{Digest, Sha256};

const ADMIN_TOKEN: &str = "admin-secret";
const CLIENT_ID: &str = "tiderun-class";
const CLIENT_SECRET: &str = "client-secret";
/// The server's public address as registered at the provider (the test follows the redirect
/// itself, so it need not be the test server's).
const PUBLIC_URL: &str = "https://class.example";
const PASSING: &str = "print(input())";

/// What is wrong with the next ID token the provider signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    WrongNonce,
    /// Signed with a key the provider does not publish.
    OtherKey,
    WrongAudience,
    Expired,
}

/// Who the provider signs in next, and how.
#[derive(Debug, Clone)]
struct Next {
    subject: String,
    claims: Value,
    flaw: Flaw,
    deny: bool,
}

/// A code the authorize endpoint gave, waiting for the token endpoint.
struct Grant {
    nonce: String,
    challenge: String,
    next: Next,
}

struct IdpState {
    issuer: String,
    key: CoreRsaPrivateSigningKey,
    other_key: CoreRsaPrivateSigningKey,
    next: Mutex<Next>,
    grants: Mutex<HashMap<String, Grant>>,
}

/// The stand-in for the school's provider.
struct Idp {
    issuer: String,
    state: Arc<IdpState>,
}

impl Idp {
    async fn start() -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let kid = Some(JsonWebKeyId::new("k1".into()));
        let state = Arc::new(IdpState {
            issuer: issuer.clone(),
            key: CoreRsaPrivateSigningKey::from_pem(include_str!("oidc/provider-key.pem"), kid.clone()).unwrap(),
            other_key: CoreRsaPrivateSigningKey::from_pem(include_str!("oidc/other-key.pem"), kid).unwrap(),
            next: Mutex::new(student("sub-1", json!({"name": "Li Lei"}))),
            grants: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Idp { issuer, state }
    }

    fn next(&self, next: Next) {
        *self.state.next.lock().unwrap() = next;
    }

    fn flaw(&self, subject: &str, flaw: Flaw) {
        let mut next = student(subject, json!({"name": "Mallory"}));
        next.flaw = flaw;
        self.next(next);
    }
}

fn student(subject: &str, claims: Value) -> Next {
    Next {
        subject: subject.into(),
        claims,
        flaw: Flaw::None,
        deny: false,
    }
}

async fn discovery(State(idp): State<Arc<IdpState>>) -> Json<Value> {
    let base = &idp.issuer;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(idp): State<Arc<IdpState>>) -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![idp.key.as_verification_key()]))
}

/// Signs the next student in at once and sends the browser back with a code.
async fn authorize(State(idp): State<Arc<IdpState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
    let redirect = q["redirect_uri"].clone();
    assert_eq!(redirect, format!("{PUBLIC_URL}/api/v1/oidc/callback"));
    let state = &q["state"];
    let next = idp.next.lock().unwrap().clone();
    if next.deny {
        return Redirect::to(&format!("{redirect}?error=access_denied&state={state}")).into_response();
    }
    let code = format!("code-{}", idp.grants.lock().unwrap().len());
    idp.grants.lock().unwrap().insert(
        code.clone(),
        Grant {
            nonce: q["nonce"].clone(),
            challenge: q["code_challenge"].clone(),
            next,
        },
    );
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

/// Checks the client and PKCE, then returns the ID token (a code is good once).
async fn token(
    State(idp): State<Arc<IdpState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let Some(grant) = idp.grants.lock().unwrap().remove(&form["code"]) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let now = chrono::Utc::now().timestamp();
    let next = grant.next;
    let mut claims = json!({
        "iss": idp.issuer,
        "sub": next.subject,
        "aud": if next.flaw == Flaw::WrongAudience { "another-client" } else { CLIENT_ID },
        "iat": now - 5,
        "exp": if next.flaw == Flaw::Expired { now - 60 } else { now + 300 },
        "nonce": if next.flaw == Flaw::WrongNonce { "not-the-nonce".to_owned() } else { grant.nonce },
    });
    claims
        .as_object_mut()
        .unwrap()
        .extend(next.claims.as_object().unwrap().clone());
    let claims: CoreIdTokenClaims = serde_json::from_value(claims).unwrap();
    let key = if next.flaw == Flaw::OtherKey {
        &idp.other_key
    } else {
        &idp.key
    };
    let id_token = CoreIdToken::new(claims, key, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None).unwrap();
    Json(json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token.to_string()}))
        .into_response()
}

fn oidc_config(idp: &Idp) -> OidcConfig {
    OidcConfig::new(&idp.issuer, CLIENT_ID, Some(CLIENT_SECRET.into()), PUBLIC_URL)
}

fn server_config(oidc: Option<OidcConfig>) -> ServerConfig {
    ServerConfig {
        auth_tokens: vec![ADMIN_TOKEN.into()],
        require_keys: true,
        oidc,
        ..ServerConfig::default()
    }
}

async fn start_server(oidc: Option<OidcConfig>, backend: common::Backend) -> TestServer {
    common::fake::start(server_config(oidc), backend).await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The browser's state cookie and the query the provider sent it back with.
struct Back {
    cookie: String,
    query: String,
}

/// Start a school sign-in and go through the provider.
async fn begin(server: &TestServer, join: Option<&str>) -> Back {
    let path = match join {
        Some(code) => format!("/api/v1/oidc/start?join={code}"),
        None => "/api/v1/oidc/start".to_owned(),
    };
    let started = browser().get(format!("{}{path}", server.base)).send().await.unwrap();
    assert_eq!(started.status(), 302, "{:?}", started.text().await);
    let cookie = started.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let at_provider = browser().get(location(&started)).send().await.unwrap();
    assert!(at_provider.status().is_redirection());
    let back = location(&at_provider);
    let (target, query) = back.split_once('?').unwrap();
    assert_eq!(target, format!("{PUBLIC_URL}/api/v1/oidc/callback"));
    Back {
        cookie,
        query: query.to_owned(),
    }
}

/// The callback's status and where it sends the browser (`/#oidc=…` or `/#oidc_error=…`).
async fn finish(server: &TestServer, back: &Back) -> (u16, String) {
    let response = browser()
        .get(format!("{}/api/v1/oidc/callback?{}", server.base, back.query))
        .header("cookie", &back.cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 303 {
        return (status, location(&response));
    }
    let page = response.text().await.unwrap();
    let target = page
        .split("url=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    (status, format!("{target} {page}"))
}

/// The page's trade of the one-time code for a session.
async fn trade(server: &TestServer, code: &str) -> (u16, Value) {
    call(
        server,
        "POST",
        "/api/v1/oidc/session",
        None,
        Some(json!({"code": code})),
    )
    .await
}

/// A full sign-in: the student session.
async fn sign_in(server: &TestServer, join: Option<&str>) -> Value {
    let back = begin(server, join).await;
    let (status, to) = finish(server, &back).await;
    assert_eq!(status, 303, "{to}");
    let code = to.strip_prefix("/#oidc=").expect("a one-time code");
    let (status, session) = trade(server, code).await;
    assert_eq!(status, 200, "{session}");
    let (status, again) = trade(server, code).await;
    assert_eq!(status, 401, "a hand-off code is good once: {again}");
    session
}

/// A teacher's class: its id and join code.
async fn make_class(server: &TestServer) -> (String, String, String) {
    let teacher = create_key(server, ADMIN_TOKEN, "teacher-li", "teacher").await;
    let (status, class) = call(
        server,
        "POST",
        "/api/v1/classes",
        Some(&teacher),
        Some(json!({"name": "3B"})),
    )
    .await;
    assert_eq!(status, 201, "{class}");
    (
        teacher,
        class["id"].as_str().unwrap().to_owned(),
        class["join_code"].as_str().unwrap().to_owned(),
    )
}

async fn roster(server: &TestServer, teacher: &str, class: &str) -> Vec<String> {
    let (status, list) = call(
        server,
        "GET",
        &format!("/api/v1/classes/{class}/students"),
        Some(teacher),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["display_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_student_joins_with_the_school_account_and_comes_back_with_it() {
    for backend in backends() {
        let idp = Idp::start().await;
        let server = start_server(Some(oidc_config(&idp)), backend).await;
        let (teacher, class_id, join_code) = make_class(&server).await;
        let (status, settings) = call(&server, "GET", "/api/v1/oidc", None, None).await;
        assert_eq!(status, 200, "{settings}");
        assert_eq!(settings["enabled"], true);

        // An account in no class, without a join code: told to join first; no student made.
        let back = begin(&server, None).await;
        let (status, to) = finish(&server, &back).await;
        assert_eq!(status, 403, "{to}");
        assert!(to.starts_with("/#oidc_error=no_link"), "{to}");
        assert!(to.contains("join your class first with your teacher's link"), "{to}");
        assert!(roster(&server, &teacher, &class_id).await.is_empty());

        // First sign-in with the class's join code: joined under the account's name, linked.
        let first = sign_in(&server, Some(&join_code)).await;
        assert_eq!(first["display_name"], "Li Lei");
        assert_eq!(first["class_id"], class_id.as_str());
        assert_eq!(first["role"], "student");
        let student_id = first["student_id"].as_str().unwrap().to_owned();
        let token = first["token"].as_str().unwrap().to_owned();
        let exercise = json!({
            "id": "echo", "title": "echo", "statement": "Print what you read.",
            "tests": [{"stdin": "a\n", "expected_output": "a\n"}]
        });
        let (status, body) = call(&server, "POST", "/api/v1/exercises", Some(ADMIN_TOKEN), Some(exercise)).await;
        assert_eq!(status, 201, "{body}");
        let (status, graded) = call(
            &server,
            "POST",
            "/api/v1/exercises/echo/submit",
            Some(&token),
            Some(json!({"language": "python", "code": PASSING})),
        )
        .await;
        assert_eq!(status, 200, "{graded}");

        // Back another day, on another device, without the link: the same student and work.
        let again = sign_in(&server, None).await;
        assert_eq!(again["student_id"], student_id.as_str());
        let (status, mine) = call(
            &server,
            "GET",
            "/api/v1/classes/me/submissions",
            again["token"].as_str(),
            None,
        )
        .await;
        assert_eq!(status, 200, "{mine}");
        assert!(mine.to_string().contains(PASSING), "{mine}");
        // With the link again: still the same student, not a second one.
        let with_link = sign_in(&server, Some(&join_code)).await;
        assert_eq!(with_link["student_id"], student_id.as_str());

        // Another account with the same name: numbered; one without a name claim: its user name.
        idp.next(student("sub-2", json!({"name": "li lei"})));
        assert_eq!(sign_in(&server, Some(&join_code)).await["display_name"], "li lei 2");
        idp.next(student("sub-3", json!({"preferred_username": "hanmeimei"})));
        assert_eq!(sign_in(&server, Some(&join_code)).await["display_name"], "hanmeimei");
        assert_eq!(
            roster(&server, &teacher, &class_id).await,
            ["Li Lei", "li lei 2", "hanmeimei"]
        );

        // A removed student's account is in no class any more.
        let (status, _) = call(
            &server,
            "DELETE",
            &format!("/api/v1/classes/{class_id}/students/{student_id}"),
            Some(&teacher),
            None,
        )
        .await;
        assert_eq!(status, 204);
        idp.next(student("sub-1", json!({"name": "Li Lei"})));
        let (status, to) = finish(&server, &begin(&server, None).await).await;
        assert_eq!(status, 403, "{to}");
        server.stop().await;
    }
}

#[tokio::test]
async fn flawed_answers_replays_and_refusals_are_clear_4xx() {
    for backend in backends() {
        let idp = Idp::start().await;
        let server = start_server(Some(oidc_config(&idp)), backend).await;
        let (teacher, class_id, join_code) = make_class(&server).await;

        // ID tokens the server must not believe: no student is made from any.
        for flaw in [Flaw::WrongNonce, Flaw::OtherKey, Flaw::WrongAudience, Flaw::Expired] {
            idp.flaw("sub-m", flaw);
            let (status, to) = finish(&server, &begin(&server, Some(&join_code)).await).await;
            assert_eq!(status, 401, "{flaw:?}: {to}");
            assert!(to.starts_with("/#oidc_error=refused"), "{flaw:?}: {to}");
        }
        assert!(roster(&server, &teacher, &class_id).await.is_empty());

        // A callback replayed (the same state and code): refused, though the first worked.
        idp.next(student("sub-1", json!({"name": "Li Lei"})));
        let back = begin(&server, Some(&join_code)).await;
        assert_eq!(finish(&server, &back).await.0, 303);
        let (status, to) = finish(&server, &back).await;
        assert_eq!(status, 400, "{to}");
        assert!(to.starts_with("/#oidc_error=expired"), "{to}");

        // A callback in another browser (no state cookie) or with a made-up state.
        let back = begin(&server, None).await;
        let stranger = Back {
            cookie: "tiderun_oidc_state=someone-else".into(),
            query: back.query.clone(),
        };
        assert_eq!(finish(&server, &stranger).await.0, 400);
        let made_up = Back {
            cookie: "tiderun_oidc_state=made-up".into(),
            query: "code=code-0&state=made-up".into(),
        };
        assert_eq!(finish(&server, &made_up).await.0, 400);
        for query in [
            "",
            "state=x",
            "code=x",
            "code=&state=",
            &format!("state={}", "x".repeat(5000)),
        ] {
            let bad = Back {
                cookie: back.cookie.clone(),
                query: query.into(),
            };
            let (status, to) = finish(&server, &bad).await;
            assert!((400..500).contains(&status), "{query}: {status} {to}");
        }
        // The untouched login still finishes.
        assert_eq!(finish(&server, &back).await.0, 303);

        // The student said no at the provider.
        idp.next(Next {
            deny: true,
            ..student("sub-9", json!({}))
        });
        let back = begin(&server, Some(&join_code)).await;
        let (status, to) = finish(&server, &back).await;
        assert_eq!(status, 403, "{to}");
        assert!(
            to.starts_with("/#oidc_error=denied") && to.contains("access_denied"),
            "{to}"
        );

        // A join code no class has: said at the start, or (changed meanwhile) at the callback.
        let response = browser()
            .get(format!("{}/api/v1/oidc/start?join=0000", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        idp.next(student("sub-5", json!({"name": "Lucy"})));
        let (status, to) = finish(&server, &begin(&server, Some("ZZZZ-ZZZZ")).await).await;
        assert_eq!(status, 404, "{to}");
        assert!(to.starts_with("/#oidc_error=no_class"), "{to}");

        // Trading a code that was never given, or a bad body.
        let (status, body) = trade(&server, "nothing").await;
        assert_eq!(status, 401, "{body}");
        let (status, body) = call(&server, "POST", "/api/v1/oidc/session", None, Some(json!({}))).await;
        assert!((400..500).contains(&status), "{body}");
        server.stop().await;
    }
}

#[tokio::test]
async fn pending_logins_are_bounded_in_number_and_time() {
    for backend in backends() {
        let idp = Idp::start().await;
        let mut config = oidc_config(&idp);
        config.max_pending = 2;
        config.login_lifetime = Duration::from_secs(1);
        let server = start_server(Some(config), backend).await;
        let (_, _, join_code) = make_class(&server).await;
        let first = begin(&server, Some(&join_code)).await;
        let _second = begin(&server, Some(&join_code)).await;
        let third = browser()
            .get(format!("{}/api/v1/oidc/start", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(third.status(), 429);
        // Past its lifetime a login is refused, and no longer counts.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (status, to) = finish(&server, &first).await;
        assert_eq!(status, 400, "{to}");
        assert!(to.starts_with("/#oidc_error=expired"), "{to}");
        let _ = begin(&server, Some(&join_code)).await;
        server.stop().await;
    }
}

#[tokio::test]
async fn school_sign_in_off_or_its_provider_down() {
    for backend in backends() {
        // Off: every route says so.
        let server = start_server(None, backend).await;
        let (status, body) = call(&server, "GET", "/api/v1/oidc", None, None).await;
        assert_eq!(status, 404, "{body}");
        assert!(body["error"].as_str().unwrap().contains("--oidc-issuer"), "{body}");
        let response = browser()
            .get(format!("{}/api/v1/oidc/start", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let (status, _) = trade(&server, "x").await;
        assert_eq!(status, 404);
        // Documented all the same.
        let (_, doc) = call(&server, "GET", "/api/v1/openapi.json", Some(ADMIN_TOKEN), None).await;
        for (path, method) in [
            ("/api/v1/oidc", "get"),
            ("/api/v1/oidc/start", "get"),
            ("/api/v1/oidc/callback", "get"),
            ("/api/v1/oidc/session", "post"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        server.stop().await;

        // A provider that is down: the server serves; a sign-in says the provider cannot be
        // reached (discovery is tried at each start until it works).
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let config = OidcConfig::new(&issuer, CLIENT_ID, None, PUBLIC_URL);
        let server = start_server(Some(config), backend).await;
        let (status, _) = call(&server, "GET", "/api/v1/oidc", None, None).await;
        assert_eq!(status, 200);
        let response = browser()
            .get(format!("{}/api/v1/oidc/start", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 502);
        assert!(response.text().await.unwrap().contains("cannot be reached"));
        server.stop().await;
    }
}

#[tokio::test]
async fn a_sign_in_started_on_one_node_finishes_on_another() {
    for backend in backends() {
        let idp = Idp::start().await;
        let first = start_server(Some(oidc_config(&idp)), backend).await;
        let second = common::fake::start_on(server_config(Some(oidc_config(&idp))), &first).await;
        let (_, class_id, join_code) = make_class(&first).await;
        let back = begin(&first, Some(&join_code)).await;
        let (status, to) = finish(&second, &back).await;
        assert_eq!(status, 303, "{to}");
        let (status, session) = trade(&first, to.strip_prefix("/#oidc=").unwrap()).await;
        assert_eq!(status, 200, "{session}");
        assert_eq!(session["class_id"], class_id.as_str());
        // Replayed on the node that started it: used already.
        assert_eq!(finish(&first, &back).await.0, 400);
        second.stop().await;
        first.stop().await;
    }
}
