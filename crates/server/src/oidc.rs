//! School sign-in for students through the school's OpenID Connect provider
//! (`--oidc-issuer`), with the `openidconnect` crate: the authorization code flow with PKCE and
//! a nonce, the provider found by discovery, its ID token checked against its published keys.
//!
//! `GET /api/v1/oidc/start?join=CODE` sends the browser to the provider; the provider sends it
//! back to `GET /api/v1/oidc/callback`, which finds the student linked to the account
//! (issuer, subject), or joins the class of the join code the login carried (display name from
//! the name claim) and links the account. The browser then lands on `/#oidc=CODE`, a one-time
//! code the page trades for a student session at `POST /api/v1/oidc/session`, so the session
//! token never appears in an address. Logins under way and hand-off codes are kept in the
//! store (any node finishes what another started), bounded in number and time; the login's
//! state is also set in a cookie, so a callback finishes only in the browser that started it.
//!
//! The browser's steps (start, callback) answer a person: a failure is a short page with a
//! 4xx status that sends the browser to `/#oidc_error=REASON`, where the page says it in the
//! student's language.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Utc;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use store::{JoinOutcome, PendingKind};
use tokio::sync::Mutex;
use utoipa::{OpenApi, ToSchema};

use crate::body::JsonBody;
use crate::classes::StudentSession;
use crate::native::ErrorBody;
use crate::{ApiError, AppState};

/// Logins under way held at most, by default ([`OidcConfig::max_pending`]).
pub const DEFAULT_MAX_PENDING_LOGINS: u64 = 1_000;
/// The most `--oidc-max-pending` may be.
pub const MAX_PENDING_LOGINS: u64 = 100_000;
/// How long a student has at the provider, by default ([`OidcConfig::login_lifetime`]).
pub const DEFAULT_LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// The longest `--oidc-login-lifetime` may be.
pub const MAX_LOGIN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long the page has to trade `#oidc=CODE` for a session: it does so at once.
pub const HANDOFF_LIFETIME: Duration = Duration::from_secs(60);
/// How long the provider's discovery document and keys are used before they are read again
/// (so a provider's new signing key is picked up).
pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// How long one request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The claim a display name is read from when the configured one is absent.
const FALLBACK_NAME_CLAIM: &str = "preferred_username";
/// The display name of an account whose ID token names nobody.
const NAMELESS: &str = "Student";
/// The cookie that binds a login to the browser that started it.
const STATE_COOKIE: &str = "tiderun_oidc_state";
const OFF: &str =
    "school sign-in (OpenID Connect) is not set up on this server: its operator starts it with --oidc-issuer";

/// The operator's settings (`tiderun serve --oidc-…`).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The provider's issuer URL (discovery is `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (PKCE alone).
    pub client_secret: Option<String>,
    /// The server's address as browsers reach it; the redirect URI is
    /// `{public_url}/api/v1/oidc/callback`.
    pub public_url: String,
    /// The ID token claim the display name is read from ([`FALLBACK_NAME_CLAIM`] if absent).
    pub name_claim: String,
    /// Logins under way held at most ([`DEFAULT_MAX_PENDING_LOGINS`], at most
    /// [`MAX_PENDING_LOGINS`]).
    pub max_pending: u64,
    /// How long a login may take ([`DEFAULT_LOGIN_LIFETIME`], at most [`MAX_LOGIN_LIFETIME`]).
    pub login_lifetime: Duration,
}

impl OidcConfig {
    /// Settings with the defaults for the limits and the name claim.
    pub fn new(issuer: &str, client_id: &str, client_secret: Option<String>, public_url: &str) -> OidcConfig {
        OidcConfig {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            public_url: public_url.trim_end_matches('/').to_owned(),
            name_claim: "name".to_owned(),
            max_pending: DEFAULT_MAX_PENDING_LOGINS,
            login_lifetime: DEFAULT_LOGIN_LIFETIME,
        }
    }

    /// What is wrong with these settings, if anything.
    pub fn check(&self) -> Result<(), String> {
        IssuerUrl::new(self.issuer.clone()).map_err(|e| format!("--oidc-issuer {:?}: {e}", self.issuer))?;
        RedirectUrl::new(self.redirect_uri()).map_err(|e| format!("--public-url {:?}: {e}", self.public_url))?;
        if !self.public_url.starts_with("http://") && !self.public_url.starts_with("https://") {
            return Err(format!(
                "--public-url {:?} must start with https:// (or http://)",
                self.public_url
            ));
        }
        if self.client_id.is_empty() {
            return Err("--oidc-client-id is empty".into());
        }
        if !(1..=MAX_PENDING_LOGINS).contains(&self.max_pending) {
            return Err(format!("--oidc-max-pending must be 1 to {MAX_PENDING_LOGINS}"));
        }
        if self.login_lifetime.is_zero() || self.login_lifetime > MAX_LOGIN_LIFETIME {
            return Err(format!(
                "--oidc-login-lifetime must be 1 to {} seconds",
                MAX_LOGIN_LIFETIME.as_secs()
            ));
        }
        Ok(())
    }

    /// What to register at the provider as the redirect URI.
    pub fn redirect_uri(&self) -> String {
        format!("{}/api/v1/oidc/callback", self.public_url)
    }
}

/// The client as discovery makes it: an authorization endpoint, maybe a token endpoint.
type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The provider of a server with school sign-in: its settings and what discovery found.
pub struct Provider {
    config: OidcConfig,
    http: reqwest::Client,
    discovered: Mutex<Option<(Instant, Arc<Client>)>>,
}

impl Provider {
    pub fn new(config: OidcConfig) -> Provider {
        let http = reqwest::Client::builder()
            // The provider's endpoints answer directly; following a redirect could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .unwrap_or_default();
        Provider {
            config,
            http,
            discovered: Mutex::new(None),
        }
    }

    /// The client, discovered on first use and again after [`DISCOVERY_TTL`] (the server
    /// starts while the provider is down; a failed discovery is tried again next time).
    async fn client(&self) -> Result<Arc<Client>, Failure> {
        let mut held = self.discovered.lock().await;
        if let Some((at, client)) = held.as_ref() {
            if at.elapsed() < DISCOVERY_TTL {
                return Ok(client.clone());
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|_| Failure::unreachable())?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, issuer = %self.config.issuer, "OpenID Connect discovery failed");
                Failure::unreachable()
            })?;
        let redirect = RedirectUrl::new(self.config.redirect_uri()).map_err(|_| Failure::unreachable())?;
        let client = Arc::new(
            CoreClient::from_provider_metadata(
                metadata,
                ClientId::new(self.config.client_id.clone()),
                self.config.client_secret.clone().map(ClientSecret::new),
            )
            .set_redirect_uri(redirect),
        );
        *held = Some((Instant::now(), client.clone()));
        Ok(client)
    }
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    OidcApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(settings, start, callback, session),
    components(schemas(Settings, HandoffRequest)),
    tags((name = "school sign-in", description = "Students' sign-in through the school's OpenID Connect provider (`tiderun serve --oidc-issuer`)"))
)]
struct OidcApi;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/oidc", get(settings))
        .route("/api/v1/oidc/start", get(start))
        .route("/api/v1/oidc/callback", get(callback))
        .route("/api/v1/oidc/session", post(session))
}

/// Whether a request is a step of school sign-in: on a server that requires keys these need
/// none (the provider's account is the credential).
pub fn signs_in(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET => matches!(path, "/api/v1/oidc" | "/api/v1/oidc/start" | "/api/v1/oidc/callback"),
        Method::POST => path == "/api/v1/oidc/session",
        _ => false,
    }
}

fn provider(state: &AppState) -> Result<&Provider, ApiError> {
    state.oidc().ok_or_else(|| ApiError::NotFound(OFF.into()))
}

/// What the page reads to offer school sign-in.
#[derive(Debug, Serialize, ToSchema)]
struct Settings {
    enabled: bool,
    issuer: String,
}

/// Whether school sign-in is on, and its provider.
#[utoipa::path(
    get,
    path = "/api/v1/oidc",
    tag = "school sign-in",
    responses(
        (status = 200, description = "School sign-in is on", body = Settings),
        (status = 404, description = "It is off on this server", body = ErrorBody),
    )
)]
async fn settings(State(state): State<AppState>) -> Result<Json<Settings>, ApiError> {
    let provider = provider(&state)?;
    Ok(Json(Settings {
        enabled: true,
        issuer: provider.config.issuer.clone(),
    }))
}

/// A login under way, as the store holds it under its state.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    nonce: String,
    verifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    join: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StartQuery {
    join: Option<String>,
}

/// Send the browser to the provider, remembering the login (and the class to join).
#[utoipa::path(
    get,
    path = "/api/v1/oidc/start",
    tag = "school sign-in",
    params(("join" = Option<String>, Query, description = "A class's join code: join it if the account is in no class yet")),
    responses(
        (status = 302, description = "To the provider; sets the login's state cookie"),
        (status = 404, description = "School sign-in is off, or no class has this join code (a page sending the browser to `/#oidc_error=REASON`)"),
        (status = 429, description = "Too many sign-ins under way"),
        (status = 502, description = "The provider cannot be reached"),
    )
)]
async fn start(State(state): State<AppState>, query: Result<Query<StartQuery>, QueryRejection>) -> Response {
    start_login(&state, query.ok().and_then(|Query(q)| q.join))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn start_login(state: &AppState, join: Option<String>) -> Result<Response, Failure> {
    let provider = state.oidc().ok_or_else(Failure::off)?;
    let join = join.filter(|j| !j.trim().is_empty());
    if let Some(code) = &join {
        if store::normalize_code(code, store::JOIN_CODE_LEN).is_none() {
            return Err(Failure::no_class());
        }
    }
    let client = provider.client().await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let pending = Pending {
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        join,
    };
    let lifetime = provider.config.login_lifetime;
    let expires_at = Utc::now() + chrono::Duration::from_std(lifetime).unwrap_or_default();
    let payload = serde_json::to_string(&pending).map_err(|_| Failure::internal())?;
    let held = state
        .store()
        .put_pending_signin(
            PendingKind::Login,
            csrf.secret(),
            &payload,
            expires_at,
            provider.config.max_pending,
        )
        .await
        .map_err(Failure::store)?;
    if !held {
        return Err(Failure::busy());
    }
    let secure = if provider.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{STATE_COOKIE}={}; Path=/api/v1/oidc; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        csrf.secret(),
        lifetime.as_secs()
    );
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, header_value(url.as_str())?);
    headers.insert(header::SET_COOKIE, header_value(&cookie)?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn header_value(text: &str) -> Result<HeaderValue, Failure> {
    HeaderValue::from_str(text).map_err(|_| Failure::internal())
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The provider's answer: sign the student in (or join and link), then hand the page a
/// one-time code.
#[utoipa::path(
    get,
    path = "/api/v1/oidc/callback",
    tag = "school sign-in",
    params(
        ("code" = Option<String>, Query, description = "The provider's authorization code"),
        ("state" = Option<String>, Query, description = "The login's state"),
        ("error" = Option<String>, Query, description = "The provider's error (access_denied…)"),
    ),
    responses(
        (status = 303, description = "To `/#oidc=CODE`, a one-time code for `POST /api/v1/oidc/session`"),
        (status = 400, description = "An unknown, used or expired login, or one started in another browser (each failure: a page sending the browser to `/#oidc_error=REASON`)"),
        (status = 401, description = "The provider's answer was not verified (signature, audience, nonce, expiry)"),
        (status = 403, description = "The provider said no, or the account is in no class and the login carried no join code"),
        (status = 404, description = "No class has the join code"),
        (status = 409, description = "The class is full"),
    )
)]
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return Failure::expired().into_response();
    };
    finish_login(&state, &headers, query)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn finish_login(state: &AppState, headers: &HeaderMap, query: CallbackQuery) -> Result<Response, Failure> {
    let provider = state.oidc().ok_or_else(Failure::off)?;
    if let Some(error) = &query.error {
        return Err(Failure::denied(error));
    }
    let (Some(code), Some(login)) = (query.code, query.state) else {
        return Err(Failure::expired());
    };
    // Only the browser that started the login may finish it (no one else's login forced on it).
    if cookie(headers, STATE_COOKIE) != Some(login.as_str()) {
        return Err(Failure::expired());
    }
    let payload = state
        .store()
        .take_pending_signin(PendingKind::Login, &login)
        .await
        .map_err(Failure::store)?
        .ok_or_else(Failure::expired)?;
    let pending: Pending = serde_json::from_str(&payload).map_err(|_| Failure::expired())?;
    let client = provider.client().await?;
    let answer = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|_| Failure::unreachable())?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&provider.http)
        .await
        .map_err(|e| match e {
            openidconnect::RequestTokenError::ServerResponse(e) => {
                tracing::info!(error = %e, "the provider refused the code");
                Failure::refused()
            }
            e => {
                tracing::warn!(error = %e, "the provider's token endpoint failed");
                Failure::unreachable()
            }
        })?;
    let id_token = answer.id_token().ok_or_else(Failure::refused)?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
        .map_err(|e| {
            tracing::info!(error = %e, "an ID token was refused");
            Failure::refused()
        })?;
    let issuer = claims.issuer().as_str();
    let subject = claims.subject().as_str();
    let student = match state
        .store()
        .student_by_identity(issuer, subject)
        .await
        .map_err(Failure::store)?
    {
        Some(student) => student,
        None => {
            let join = pending.join.ok_or_else(Failure::no_link)?;
            let name = display_name(id_token, &provider.config.name_claim);
            let student = match state.store().join_class_unique(&join, &name).await {
                Ok(JoinOutcome::Joined(student)) => student,
                Ok(JoinOutcome::UnknownCode) => return Err(Failure::no_class()),
                Err(store::StoreError::ClassLimit { .. } | store::StoreError::NameTaken { .. }) => {
                    return Err(Failure::full())
                }
                Err(e) => return Err(Failure::store(e)),
            };
            if !state
                .store()
                .link_identity(issuer, subject, &student.id)
                .await
                .map_err(Failure::store)?
            {
                // The same account finished another login at the same moment: that one is
                // the student, this one leaves an unused roster entry for the teacher.
                tracing::info!(student = %student.id, "a school account was linked twice at once");
                return Err(Failure::expired());
            }
            student
        }
    };
    let handoff = CsrfToken::new_random();
    let expires_at = Utc::now() + chrono::Duration::from_std(HANDOFF_LIFETIME).unwrap_or_default();
    let held = state
        .store()
        .put_pending_signin(
            PendingKind::Handoff,
            handoff.secret(),
            &student.id,
            expires_at,
            provider.config.max_pending,
        )
        .await
        .map_err(Failure::store)?;
    if !held {
        return Err(Failure::busy());
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, header_value(&format!("/#oidc={}", handoff.secret()))?);
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tiderun_oidc_state=; Path=/api/v1/oidc; Max-Age=0; HttpOnly; SameSite=Lax"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The value of the cookie `name`, if the request has it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The display name an ID token gives: the `claim` (else [`FALLBACK_NAME_CLAIM`]), without
/// control characters, cut to [`store::MAX_DISPLAY_NAME_CHARS`]. Read from the token's payload
/// after it was verified, so any claim the school's provider uses can be named.
fn display_name(id_token: &CoreIdToken, claim: &str) -> String {
    let payload = id_token
        .to_string()
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .unwrap_or_default();
    [claim, FALLBACK_NAME_CLAIM]
        .iter()
        .filter_map(|c| payload.get(c).and_then(|v| v.as_str()))
        .map(|name| {
            let clean: String = name.chars().filter(|c| !c.is_control()).collect();
            clean
                .trim()
                .chars()
                .take(store::MAX_DISPLAY_NAME_CHARS)
                .collect::<String>()
        })
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| NAMELESS.to_owned())
}

/// What the page sends to trade `#oidc=CODE` for a session.
#[derive(Debug, Deserialize, ToSchema)]
struct HandoffRequest {
    code: String,
}

/// Trade the one-time code of a finished school sign-in for a student session.
#[utoipa::path(
    post,
    path = "/api/v1/oidc/session",
    tag = "school sign-in",
    request_body(content = HandoffRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A student session", body = StudentSession),
        (status = 401, description = "An unknown, used or expired code", body = ErrorBody),
        (status = 404, description = "School sign-in is off", body = ErrorBody),
    )
)]
async fn session(
    State(state): State<AppState>,
    body: Result<JsonBody<HandoffRequest>, ApiError>,
) -> Result<Json<StudentSession>, ApiError> {
    provider(&state)?;
    let JsonBody(request, ..) = body?;
    let refused = || ApiError::KeyRefused("this sign-in is unknown, used or expired: sign in again".into());
    let id = state
        .store()
        .take_pending_signin(PendingKind::Handoff, &request.code)
        .await?
        .ok_or_else(refused)?;
    let student = state.store().get_student(&id).await?.ok_or_else(refused)?;
    Ok(Json(crate::classes::student_session(&state, student).await?))
}

/// Why a browser's step of the sign-in failed: a status, a reason the page reads from
/// `#oidc_error=`, and a message for the log and a browser without the page's script.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    reason: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, reason: &'static str, message: &str) -> Failure {
        Failure {
            status,
            reason,
            message: message.to_owned(),
        }
    }
    fn off() -> Failure {
        Failure::new(StatusCode::NOT_FOUND, "off", OFF)
    }
    fn no_link() -> Failure {
        Failure::new(
            StatusCode::FORBIDDEN,
            "no_link",
            "this school account is in no class yet: join your class first with your teacher's link",
        )
    }
    fn no_class() -> Failure {
        Failure::new(
            StatusCode::NOT_FOUND,
            "no_class",
            "no class has this join code: check it with your teacher (it may have been changed)",
        )
    }
    fn expired() -> Failure {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "expired",
            "this sign-in is unknown, used or expired (or was started in another browser): sign in again",
        )
    }
    fn denied(error: &str) -> Failure {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        Failure::new(
            StatusCode::FORBIDDEN,
            "denied",
            &format!("the school's sign-in did not sign you in ({error})"),
        )
    }
    fn refused() -> Failure {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "refused",
            "the school's sign-in answer could not be verified: sign in again",
        )
    }
    fn full() -> Failure {
        Failure::new(
            StatusCode::CONFLICT,
            "full",
            "the class has the most students it may: ask your teacher",
        )
    }
    fn busy() -> Failure {
        Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "too many sign-ins are under way: try again in a minute",
        )
    }
    fn unreachable() -> Failure {
        Failure::new(
            StatusCode::BAD_GATEWAY,
            "unreachable",
            "the school's sign-in service cannot be reached: try again later",
        )
    }
    fn internal() -> Failure {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed",
            "the sign-in failed on the server",
        )
    }
    fn store(e: store::StoreError) -> Failure {
        let api = ApiError::from(e);
        Failure {
            status: api.status(),
            reason: "failed",
            message: api.message(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let target = format!("/#oidc_error={}", self.reason);
        let message = self
            .message
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let page = format!(
            "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={target}\">\
             <title>Sign-in</title><p>{message}</p><p><a href=\"{target}\">Back to the class page</a></p>\n"
        );
        let mut response = (self.status, page).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OidcConfig {
        OidcConfig::new("https://id.school.example", "tiderun", None, "https://class.example/")
    }

    #[test]
    fn settings_are_checked_against_their_limits() {
        let ok = config();
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(ok.redirect_uri(), "https://class.example/api/v1/oidc/callback");
        let with = |change: &dyn Fn(&mut OidcConfig)| {
            let mut c = config();
            change(&mut c);
            c.check()
        };
        assert!(with(&|c| c.max_pending = MAX_PENDING_LOGINS).is_ok());
        assert!(with(&|c| c.max_pending = MAX_PENDING_LOGINS + 1)
            .unwrap_err()
            .contains("--oidc-max-pending"));
        assert!(with(&|c| c.max_pending = 0).is_err());
        assert!(with(&|c| c.login_lifetime = MAX_LOGIN_LIFETIME).is_ok());
        assert!(
            with(&|c| c.login_lifetime = MAX_LOGIN_LIFETIME + Duration::from_secs(1))
                .unwrap_err()
                .contains("--oidc-login-lifetime")
        );
        assert!(with(&|c| c.login_lifetime = Duration::ZERO).is_err());
        assert!(with(&|c| c.issuer = "not a url".into())
            .unwrap_err()
            .contains("--oidc-issuer"));
        assert!(with(&|c| c.public_url = String::new())
            .unwrap_err()
            .contains("--public-url"));
        assert!(with(&|c| c.public_url = "ftp://class.example".into()).is_err());
        assert!(with(&|c| c.client_id = String::new()).is_err());
    }

    #[test]
    fn the_state_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; tiderun_oidc_state=abc"));
        assert_eq!(cookie(&headers, STATE_COOKIE), Some("abc"));
        assert_eq!(cookie(&HeaderMap::new(), STATE_COOKIE), None);
    }

    #[test]
    fn only_the_sign_in_steps_need_no_key() {
        assert!(signs_in(&Method::GET, "/api/v1/oidc/start"));
        assert!(signs_in(&Method::GET, "/api/v1/oidc/callback"));
        assert!(signs_in(&Method::POST, "/api/v1/oidc/session"));
        assert!(!signs_in(&Method::POST, "/api/v1/oidc/start"));
        assert!(!signs_in(&Method::DELETE, "/api/v1/oidc/session"));
    }

    #[tokio::test]
    async fn a_failure_page_sends_the_browser_to_the_reason_and_escapes_the_message() {
        let mut failure = Failure::denied("access_denied\"><script>");
        failure.message.push_str(" <b>");
        let response = failure.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let page = String::from_utf8(body.to_vec()).unwrap();
        assert!(page.contains("url=/#oidc_error=denied"), "{page}");
        assert!(page.contains("(access_deniedscript) &lt;b&gt;"), "{page}");
        assert!(!page.contains("<script>") && !page.contains("<b>"), "{page}");
    }
}
