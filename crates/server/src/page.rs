//! The classroom page: the bundle built from `web/` (see `build.rs`), embedded in the binary
//! and served at `/` (also `/index.html` and a share link `/s/{id}`), `/assets/*` and the
//! few other files at the top of the bundle (`/favicon.svg`). The operator console, a second
//! page of the same bundle, is at `/console`: the page itself holds no data (like the
//! classroom page's, anyone may load it); everything it shows comes from admin-only API
//! calls, made with the admin key entered on the page (a browser navigating to `/console`
//! cannot send one). The teacher's page, a third, is at `/teacher` in the same way: its classes,
//! rosters, assignments and gradebooks come from teacher-only API calls made with the page
//! session of a teacher key.
//!
//! Only those paths: Judge0's API also lives at the root (`/submissions`, `/languages`...),
//! and the page must not shadow it. Served outside authentication and rate limits (a page
//! load must not use up a student's quota; the API calls the page makes are limited).
//! `index.html` is revalidated on every load (a new server version is picked up at once);
//! the hashed assets never change, so browsers keep them for a year.

use std::borrow::Cow;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;
use utoipa::OpenApi;

use crate::{ApiError, AppState};

/// The built page (`web/dist`), in the binary.
#[derive(RustEmbed)]
#[folder = "../../web/dist"]
struct Bundle;

/// The page itself.
const INDEX: &str = "index.html";
/// The operator console's page.
const CONSOLE: &str = "console.html";
/// The teacher's page.
const TEACHER: &str = "teacher.html";
/// Where Vite puts the hashed assets.
const ASSETS_DIR: &str = "assets/";
/// Hashed file names: a changed file has a new name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Revalidate every time (cheap: an ETag match is a 304 without a body).
const REVALIDATE: &str = "no-cache";

/// Build identity of the embedded bundle (set by `build.rs`); only read so that a new bundle
/// recompiles this crate.
const _STAMP: &str = env!("TIDERUN_WEB_DIST_STAMP");

pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/s/{id}", get(share))
        .route("/console", get(console))
        .route("/teacher", get(teacher))
        .route("/assets/{*path}", get(asset));
    // The other top-level files of the bundle (favicon.svg...), each by its own name.
    for name in Bundle::iter().filter(|n| !n.contains('/') && n != INDEX) {
        let path = format!("/{name}");
        let name = name.into_owned();
        router = router.route(
            &path,
            get(move |headers: HeaderMap| async move { serve(&name, REVALIDATE, &headers) }),
        );
    }
    router
}

/// This part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    PageDoc::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(index_doc, share_doc, console_doc, teacher_doc, asset_doc),
    tags((name = "page", description = "The classroom page (needs no API token and counts against no rate limit)"))
)]
struct PageDoc;

/// The classroom page (also at `/index.html`): an editor, a live console, exercises.
#[utoipa::path(
    get,
    path = "/",
    tag = "page",
    security(()),
    responses(
        (status = 200, description = "The page; revalidate with its ETag", content_type = "text/html"),
        (status = 304, description = "Not modified (If-None-Match)"),
    )
)]
#[allow(dead_code)] // Documentation only: the handler is `index`.
fn index_doc() {}

/// A share link: the page, which then loads snippet `id` from `GET /api/v1/snippets/{id}`.
#[utoipa::path(
    get,
    path = "/s/{id}",
    tag = "page",
    security(()),
    params(("id" = String, Path, description = "A snippet's id")),
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 304, description = "Not modified (If-None-Match)"),
    )
)]
#[allow(dead_code)] // Documentation only: the handler is `share`.
fn share_doc() {}

/// The operator console: live figures, the run log and usage, read with an admin key entered
/// on the page (the page itself holds no data).
#[utoipa::path(
    get,
    path = "/console",
    tag = "page",
    security(()),
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 304, description = "Not modified (If-None-Match)"),
    )
)]
#[allow(dead_code)] // Documentation only: the handler is `console`.
fn console_doc() {}

/// The teacher's page: classes, rosters, assignments and the gradebook, read with a teacher
/// key's page session (the page itself holds no data).
#[utoipa::path(
    get,
    path = "/teacher",
    tag = "page",
    security(()),
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 304, description = "Not modified (If-None-Match)"),
    )
)]
#[allow(dead_code)] // Documentation only: the handler is `teacher`.
fn teacher_doc() {}

/// A file of the page's bundle; its name has a content hash, so it is cached for a year.
#[utoipa::path(
    get,
    path = "/assets/{path}",
    tag = "page",
    security(()),
    params(("path" = String, Path, description = "The file's path below /assets/")),
    responses(
        (status = 200, description = "The file, with its media type"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such file", body = crate::native::ErrorBody),
    )
)]
#[allow(dead_code)] // Documentation only: the handler is `asset`.
fn asset_doc() {}

async fn index(headers: HeaderMap) -> Response {
    serve(INDEX, REVALIDATE, &headers)
}

async fn console(headers: HeaderMap) -> Response {
    serve(CONSOLE, REVALIDATE, &headers)
}

async fn teacher(headers: HeaderMap) -> Response {
    serve(TEACHER, REVALIDATE, &headers)
}

/// A share link opens the page, which reads the id from its address and loads the snippet.
async fn share(Path(_id): Path<String>, headers: HeaderMap) -> Response {
    serve(INDEX, REVALIDATE, &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("{ASSETS_DIR}{path}"), IMMUTABLE, &headers)
}

/// One embedded file with its type, caching and ETag; 404 (JSON, as every unknown path) when
/// the bundle has no such file.
fn serve(name: &str, cache: &'static str, headers: &HeaderMap) -> Response {
    let Some(file) = Bundle::get(name) else {
        return ApiError::NotFound(format!("no such file: /{name}")).into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = match file.data {
            Cow::Borrowed(bytes) => axum::body::Body::from(bytes),
            Cow::Owned(bytes) => axum::body::Body::from(bytes),
        };
        let mut response = body.into_response();
        let mime = file.metadata.mimetype();
        // Text types name their charset: Chinese in the page must not be guessed at.
        let content_type = if mime.starts_with("text/") || mime == "application/javascript" || mime.ends_with("+xml") {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_string()
        };
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        response
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_has_the_page_and_its_assets() {
        assert!(Bundle::get(INDEX).is_some(), "web/dist/index.html is embedded");
        let index = String::from_utf8(Bundle::get(INDEX).unwrap().data.into_owned()).unwrap();
        // Vite names an asset `<name>-<8 characters of base64url hash>.<ext>` (the hash may
        // itself hold a `-`).
        for asset in Bundle::iter().filter(|n| n.starts_with(ASSETS_DIR) && n.ends_with(".js")) {
            let stem = asset.trim_end_matches(".js");
            let hashed = stem.len() > 9 && stem.as_bytes()[stem.len() - 9] == b'-';
            assert!(
                hashed,
                "{asset} has a content hash in its name (it is served as immutable)"
            );
        }
        assert!(index.contains("/assets/"), "the page loads its assets from /assets/");
        let console = String::from_utf8(
            Bundle::get(CONSOLE)
                .expect("web/dist/console.html is embedded")
                .data
                .into_owned(),
        )
        .unwrap();
        assert!(console.contains("/assets/console-"), "the console loads its own entry");
        let teacher = String::from_utf8(
            Bundle::get(TEACHER)
                .expect("web/dist/teacher.html is embedded")
                .data
                .into_owned(),
        )
        .unwrap();
        assert!(
            teacher.contains("/assets/teacher-"),
            "the teacher's page loads its own entry"
        );
    }
}
