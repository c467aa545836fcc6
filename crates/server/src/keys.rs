//! `/api/v1/keys` (admins: list, create, revoke API keys) and `/api/v1/session` (any key:
//! a page session for the classroom page, see [`crate::session`]).
//!
//! A key's secret is in the answer to its creation and nowhere else: not in a listing, not in
//! a log. Every field of a new key is checked (400 naming the field and its range); a name
//! used before is 409, as is a full key table ([`store::MAX_KEYS`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use store::{ApiKey, NewKey, Quotas, RevokeOutcome, Role};
use utoipa::{OpenApi, ToSchema};

use crate::body::JsonBody;
use crate::native::ErrorBody;
use crate::{session, Admin, ApiError, AppState, Caller};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys", get(list).post(create))
        .route("/api/v1/keys/{name}", delete(revoke))
        .route("/api/v1/session", post(start_session))
}

/// The keys' and the page session's part of the native API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    KeysApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(list, create, revoke, start_session),
    components(schemas(CreateKey, KeyView, CreatedView, KeyList, SessionView))
)]
struct KeysApi;

/// `POST /api/v1/keys`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1 to 64 of `[A-Za-z0-9._-]`, never used before.
    pub name: String,
    /// `admin`, `caller`, `classroom` or `teacher`.
    pub role: String,
    pub runs_per_minute: Option<u32>,
    pub cpu_s_per_day: Option<u32>,
    pub expires_in_days: Option<u32>,
}

/// A key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub name: String,
    /// `tr_xxxxxxxx`: how the key begins, to tell keys apart.
    pub prefix: String,
    pub role: &'static str,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
    pub runs_per_minute: Option<u32>,
    pub cpu_s_per_day: Option<u32>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> KeyView {
        KeyView {
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            role: k.role.as_str(),
            state: k.state(chrono::Utc::now()).as_str(),
            runs_per_minute: k.quotas.runs_per_minute,
            cpu_s_per_day: k.quotas.cpu_s_per_day,
            created_at: k.created_at.to_rfc3339(),
            expires_at: k.expires_at.map(|t| t.to_rfc3339()),
            revoked_at: k.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A new key: the listing's fields and, this once, the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedView {
    #[serde(flatten)]
    pub view: KeyView,
    /// The key (`tr_<prefix>_<secret>`): shown once, stored only as a hash.
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// Every key, active, expired or revoked: never a secret. Admin keys only.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "operate",
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn list(_: Admin, State(state): State<AppState>) -> Result<Json<KeyList>, ApiError> {
    let keys = state.store().list_keys().await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(KeyView::from).collect(),
    }))
}

/// Make a key. The answer holds the key itself, this once; the store keeps only its hash.
/// Admin keys only.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "operate",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, with its secret (shown once)", body = CreatedView),
        (status = 400, description = "A name, role, quota or expiry out of its range", body = ErrorBody),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 409, description = "The name was used before, or the key table is full", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn create(
    Admin(admin): Admin,
    State(state): State<AppState>,
    JsonBody(request, ..): JsonBody<CreateKey>,
) -> Result<(StatusCode, Json<CreatedView>), ApiError> {
    let role = Role::parse(&request.role).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "role {:?} is not one of admin, caller, classroom, teacher",
            request.role.chars().take(32).collect::<String>()
        ))
    })?;
    let created = state
        .store()
        .create_key(&NewKey {
            name: request.name,
            role,
            quotas: Quotas {
                runs_per_minute: request.runs_per_minute,
                cpu_s_per_day: request.cpu_s_per_day,
            },
            expires_in_days: request.expires_in_days,
        })
        .await?;
    tracing::info!(key = %created.key.name, role = %role, by = ?admin.key, "api key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedView {
            view: KeyView::from(&created.key),
            key: created.secret.expose().to_owned(),
        }),
    ))
}

/// Revoke a key: refused on every node within the key cache's life (10 s). Admin keys only.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{name}",
    tag = "operate",
    params(("name" = String, Path, description = "The key's name")),
    responses(
        (status = 200, description = "The key, revoked", body = KeyView),
        (status = 401, description = "An API token is required", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No key of that name", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn revoke(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let key = match state.store().revoke_key(&name).await? {
        RevokeOutcome::Revoked(key) => {
            tracing::info!(key = %key.name, by = ?admin.key, "api key revoked");
            key
        }
        RevokeOutcome::AlreadyRevoked(key) => key,
        RevokeOutcome::NotFound => {
            return Err(ApiError::NotFound(format!(
                "no key named {:?}",
                name.chars().take(80).collect::<String>()
            )))
        }
    };
    // At once on this node; the other nodes' caches forget it within `KEY_CACHE_TTL`.
    state.forget_keys();
    Ok(Json(KeyView::from(&key)))
}

/// `POST /api/v1/session`: a page session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Send it as `Authorization: Bearer TOKEN`, or on a WebSocket as the subprotocol
    /// `tiderun.auth.TOKEN` beside `tiderun.v1`.
    pub token: String,
    pub expires_at: String,
    /// The name of the key it was made from.
    pub key: String,
    /// `classroom`, or `teacher` for a teacher key's session.
    pub role: &'static str,
}

/// A page session for the classroom page, made from the API key the request carries: a
/// signed token with the `classroom` role, valid for 12 hours and only while its key is.
#[utoipa::path(
    post,
    path = "/api/v1/session",
    tag = "native",
    responses(
        (status = 200, description = "The page session", body = SessionView),
        (status = 400, description = "The request carried no API key", body = ErrorBody),
        (status = 401, description = "A key that is unknown, expired or revoked", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn start_session(
    axum::Extension(caller): axum::Extension<Caller>,
    State(state): State<AppState>,
) -> Result<Json<SessionView>, ApiError> {
    if caller.role == Role::Student {
        return Err(ApiError::BadRequest(
            "a student session is a session already: send it as Authorization: Bearer".into(),
        ));
    }
    let key = match caller.key.as_deref() {
        Some(key) if key != crate::auth::AUTH_TOKEN_KEY => key.to_owned(),
        _ => {
            return Err(ApiError::BadRequest(
                "a page session is made from an API key (tr_…): send it as Authorization: Bearer KEY".into(),
            ))
        }
    };
    let secret = state.session_secret().await?;
    let (token, expires_at) = session::mint(&secret, &key, chrono::Utc::now());
    Ok(Json(SessionView {
        token,
        expires_at: expires_at.to_rfc3339(),
        key,
        role: session::session_role(caller.role).as_str(),
    }))
}
