//! The classroom page on a real server: the embedded bundle at `/`, `/index.html` and share
//! links `/s/{id}` (revalidated, with an ETag), hashed assets cached for good, every other
//! top-level file of the bundle; unknown files 404; the Judge0 API at the root unshadowed;
//! the page outside authentication and rate limits. With the stand-in executor behind the
//! router (`common::fake`): nothing here runs a program.

extern crate tiderun_server as server;

mod common;

use common::{Backend, TestServer};
use reqwest::header;
use server::ServerConfig;

/// The bundle the binary embeds (built by build.rs).
fn dist() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist")
}

async fn fetch(server: &TestServer, path: &str) -> reqwest::Response {
    reqwest::get(format!("{}{path}", server.base)).await.expect("request")
}

fn header(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_page_and_its_assets_are_served() {
    let server = common::fake::start(ServerConfig::default(), Backend::Sqlite).await;
    let index = std::fs::read_to_string(dist().join("index.html")).expect("web/dist/index.html");
    for path in ["/", "/index.html", "/s/Ab3dE9xY"] {
        let response = fetch(&server, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, header::CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(header(&response, header::CACHE_CONTROL), "no-cache");
        let etag = header(&response, header::ETAG).to_string();
        assert_eq!(response.text().await.unwrap(), index, "{path}");
        // Revalidation: the same ETag is a 304 without a body.
        let again = reqwest::Client::new()
            .get(format!("{}{path}", server.base))
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }

    // Every asset the page names, with its type and cached for good.
    let assets: Vec<&str> = index.split(['"', '\'']).filter(|s| s.starts_with("/assets/")).collect();
    assert!(!assets.is_empty(), "the page loads assets: {index}");
    for asset in assets {
        let response = fetch(&server, asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        let expected_type = if asset.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else if asset.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            ""
        };
        if !expected_type.is_empty() {
            assert_eq!(header(&response, header::CONTENT_TYPE), expected_type, "{asset}");
        }
        assert_eq!(
            header(&response, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        let on_disk = std::fs::read(dist().join(asset.trim_start_matches('/'))).unwrap();
        assert_eq!(response.bytes().await.unwrap(), on_disk, "{asset}");
    }

    // The other top-level files of the bundle (favicon.svg...).
    for entry in std::fs::read_dir(dist()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && name != "index.html" {
            let response = fetch(&server, &format!("/{name}")).await;
            assert_eq!(response.status(), 200, "/{name}");
            assert_eq!(header(&response, header::CACHE_CONTROL), "no-cache");
        }
    }

    for missing in [
        "/assets/nope.js",
        "/assets/..%2Findex.html",
        "/nope.html",
        "/s/",
        "/s/a/b",
    ] {
        let response = fetch(&server, missing).await;
        assert_eq!(response.status(), 404, "{missing}");
        let body: serde_json::Value = response.json().await.expect("a JSON error");
        assert!(body["error"].is_string(), "{missing}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn judge0_routes_at_the_root_still_work() {
    let server = common::fake::start(ServerConfig::default(), Backend::Sqlite).await;
    for path in ["/languages", "/statuses", "/about", "/config_info"] {
        let response = fetch(&server, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            header(&response, header::CONTENT_TYPE).starts_with("application/json"),
            "{path}"
        );
    }
    let response = reqwest::Client::new()
        .post(format!("{}/submissions?wait=false", server.base))
        .json(&serde_json::json!({"source_code": "print(1)", "language_id": 71}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    assert!(created["token"].is_string(), "{created}");
    server.stop().await;
}

#[tokio::test]
async fn the_page_needs_no_token_and_spends_no_quota() {
    let config = ServerConfig {
        auth_tokens: vec!["secret".into()],
        rate_limit_per_minute: 2,
        ..ServerConfig::default()
    };
    let server = common::fake::start(config, Backend::Sqlite).await;
    for _ in 0..5 {
        assert_eq!(fetch(&server, "/").await.status(), 200);
        assert_eq!(fetch(&server, "/s/Ab3dE9xY").await.status(), 200);
    }
    // The API still needs the token (and its own quota is untouched by the page loads).
    assert_eq!(fetch(&server, "/api/v1/runtimes").await.status(), 401);
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/runtimes", server.base))
        .bearer_auth("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

/// The operator console's page is served at `/console` like the classroom page (it holds no
/// data); what it shows needs an admin key, which a page load does not have.
#[tokio::test]
async fn the_console_page_is_served_and_its_data_needs_an_admin() {
    let config = ServerConfig {
        auth_tokens: vec!["secret".into()],
        ..ServerConfig::default()
    };
    let server = common::fake::start(config, Backend::Sqlite).await;
    let console = std::fs::read_to_string(dist().join("console.html")).expect("web/dist/console.html");
    let response = fetch(&server, "/console").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&response, header::CACHE_CONTROL), "no-cache");
    assert_eq!(response.text().await.unwrap(), console);
    let assets: Vec<&str> = console
        .split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert!(assets.iter().any(|a| a.contains("console-")), "{console}");
    for asset in assets {
        assert_eq!(fetch(&server, asset).await.status(), 200, "{asset}");
    }
    assert_eq!(fetch(&server, "/api/v1/console/live").await.status(), 401);
    server.stop().await;
}

/// The teacher's page is served at `/teacher` like the console (it holds no data); the classes
/// it shows need a teacher's key, which a page load does not have.
#[tokio::test]
async fn the_teacher_page_is_served_and_its_data_needs_a_teacher() {
    let config = ServerConfig {
        auth_tokens: vec!["secret".into()],
        ..ServerConfig::default()
    };
    let server = common::fake::start(config, Backend::Sqlite).await;
    let teacher = std::fs::read_to_string(dist().join("teacher.html")).expect("web/dist/teacher.html");
    let response = fetch(&server, "/teacher").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&response, header::CACHE_CONTROL), "no-cache");
    let etag = header(&response, header::ETAG).to_string();
    assert_eq!(response.text().await.unwrap(), teacher);
    let again = reqwest::Client::new()
        .get(format!("{}/teacher", server.base))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let assets: Vec<&str> = teacher
        .split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert!(assets.iter().any(|a| a.contains("teacher-")), "{teacher}");
    for asset in assets {
        assert_eq!(fetch(&server, asset).await.status(), 200, "{asset}");
    }
    assert_eq!(fetch(&server, "/api/v1/classes").await.status(), 401);
    server.stop().await;
}
