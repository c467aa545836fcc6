//! Page sessions: what the classroom page holds instead of a key.
//!
//! The page trades a key (from a class link, or typed once) at `POST /api/v1/session` for a
//! short-lived token signed with HMAC-SHA-256 under a secret the store keeps
//! (`Store::shared_secret`), so every node of a deployment accepts every node's tokens
//! without asking the database. A token carries the key's name, the role
//! [`Role::Classroom`] (whatever the key's role but a teacher's: the page needs no more, and a
//! token kept in a browser's sessionStorage should be worth as little as possible) and its expiry. A
//! request with one is its key's caller (quotas, metering, the run log), and stops working
//! when the key is revoked or expires (checked through the same cache as keys).
//!
//! A student session (`trst_`, [`mint_student`]) is made the same way from a student's join or
//! login code: its payload names the student instead of a key, and its signature covers a
//! domain word, so neither kind of token can pass for the other. A request with one is the
//! student's, counted to the key that owns the class.
//!
//! Shape: `trs_<payload>.<signature>`, both base64url without padding; the payload is
//! `<expiry, Unix seconds>.<key name>` (a key name may hold dots, so the expiry comes first and
//! the name is the rest). Every character is one a WebSocket subprotocol
//! token may hold, so the page can send it as `tiderun.auth.<token>`.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use store::Role;

/// How long a page session lasts: a school day. Past it the page asks for the class link
/// (or key) again.
pub const PAGE_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// What every page session token starts with.
pub const SESSION_MARK: &str = "trs_";
/// The name of the signing secret in the store.
pub const SESSION_SECRET_NAME: &str = "page-session-hmac";
/// The longest token [`verify`] reads (a 64-byte key name and its signature fit well within).
const MAX_SESSION_TOKEN_BYTES: usize = 256;

/// The role every page session has (but a teacher key's: [`session_role`]).
pub const SESSION_ROLE: Role = Role::Classroom;

/// The role of a page session made from a key of `key_role`: [`SESSION_ROLE`], except that a
/// teacher key's session stays a teacher's, so the teacher's page can manage the teacher's
/// classes (a teacher key may do no more than that and what the page may).
pub fn session_role(key_role: Role) -> Role {
    match key_role {
        Role::Teacher => Role::Teacher,
        _ => SESSION_ROLE,
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The name of the key it was made from.
    pub key: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a token of this deployment (malformed, or a signature that does not match).
    Invalid,
    /// It was, until its expiry.
    Expired,
}

/// What every student session token starts with.
pub const STUDENT_SESSION_MARK: &str = "trst_";
/// What a student session's signature covers besides its payload (a page session's: nothing).
const STUDENT_DOMAIN: &str = "student:";

/// A token for `key`, valid from `now` for [`PAGE_SESSION_LIFETIME`].
pub fn mint(secret: &[u8; 32], key: &str, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    mint_as(SESSION_MARK, "", secret, key, now)
}

/// A student session for the student `id`, valid from `now` for [`PAGE_SESSION_LIFETIME`].
pub fn mint_student(secret: &[u8; 32], id: &str, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    mint_as(STUDENT_SESSION_MARK, STUDENT_DOMAIN, secret, id, now)
}

fn mint_as(mark: &str, domain: &str, secret: &[u8; 32], subject: &str, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    // Whole seconds, as the token carries it.
    let later = now + PAGE_SESSION_LIFETIME;
    let expires_at = DateTime::from_timestamp(later.timestamp(), 0).unwrap_or(later);
    let payload = format!("{}.{subject}", expires_at.timestamp());
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let signature = URL_SAFE_NO_PAD.encode(sign(secret, domain, &payload).finalize().into_bytes());
    (format!("{mark}{payload}.{signature}"), expires_at)
}

fn sign(secret: &[u8; 32], domain: &str, payload: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(domain.as_bytes());
    mac.update(payload.as_bytes());
    mac
}

/// The session a token carries, if this deployment signed it and it has not expired at `now`.
/// The signature is compared in constant time (`Mac::verify_slice`).
pub fn verify(secret: &[u8; 32], token: &str, now: DateTime<Utc>) -> Result<Session, Refused> {
    let (key, expires_at) = verify_as(SESSION_MARK, "", secret, token, now)?;
    if !store::valid_key_name(&key) {
        return Err(Refused::Invalid);
    }
    Ok(Session { key, expires_at })
}

/// The student a student session names (its id), if this deployment signed it and it has not
/// expired at `now`.
pub fn verify_student(secret: &[u8; 32], token: &str, now: DateTime<Utc>) -> Result<String, Refused> {
    let (id, _) = verify_as(STUDENT_SESSION_MARK, STUDENT_DOMAIN, secret, token, now)?;
    if !store::valid_id(&id) {
        return Err(Refused::Invalid);
    }
    Ok(id)
}

fn verify_as(
    mark: &str,
    domain: &str,
    secret: &[u8; 32],
    token: &str,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), Refused> {
    if token.len() > MAX_SESSION_TOKEN_BYTES {
        return Err(Refused::Invalid);
    }
    let rest = token.strip_prefix(mark).ok_or(Refused::Invalid)?;
    let (payload, signature) = rest.split_once('.').ok_or(Refused::Invalid)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Refused::Invalid)?;
    sign(secret, domain, payload)
        .verify_slice(&signature)
        .map_err(|_| Refused::Invalid)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| Refused::Invalid)?;
    let payload = String::from_utf8(payload).map_err(|_| Refused::Invalid)?;
    let (expiry, subject) = payload.split_once('.').ok_or(Refused::Invalid)?;
    let expires_at = expiry
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or(Refused::Invalid)?;
    if expires_at <= now {
        return Err(Refused::Expired);
    }
    Ok((subject.to_owned(), expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_expires() {
        let secret = [7u8; 32];
        let now = Utc::now();
        let (token, expires_at) = mint(&secret, "class.3-b", now);
        assert!(token.starts_with(SESSION_MARK));
        // Only characters a WebSocket subprotocol may hold (RFC 7230 tchar).
        assert!(
            token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
            "{token}"
        );
        assert_eq!(
            verify(&secret, &token, now),
            Ok(Session {
                key: "class.3-b".into(),
                expires_at
            })
        );
        assert_eq!(
            verify(&secret, &token, now + PAGE_SESSION_LIFETIME),
            Err(Refused::Expired)
        );
        // Another deployment's secret, a changed payload or signature: not ours.
        assert_eq!(verify(&[8u8; 32], &token, now), Err(Refused::Invalid));
        let (other, _) = mint(&secret, "admin-key", now);
        let forged = format!(
            "{}.{}",
            other.split_once('.').unwrap().0,
            token.rsplit_once('.').unwrap().1
        );
        assert_eq!(verify(&secret, &forged, now), Err(Refused::Invalid));
        for bad in ["", "trs_", "trs_a.b", "tr_x", &"trs_a".repeat(100)] {
            assert_eq!(verify(&secret, bad, now), Err(Refused::Invalid), "{bad}");
        }
    }

    #[test]
    fn a_student_session_cannot_pass_for_a_page_session_nor_back() {
        let secret = [7u8; 32];
        let now = Utc::now();
        let (student, _) = mint_student(&secret, "0123456789abcdef", now);
        assert_eq!(verify_student(&secret, &student, now), Ok("0123456789abcdef".into()));
        assert_eq!(
            verify_student(&secret, &student, now + PAGE_SESSION_LIFETIME),
            Err(Refused::Expired)
        );
        // The same payload and signature under the other mark: the domain word differs.
        let as_page = student.replacen(STUDENT_SESSION_MARK, SESSION_MARK, 1);
        assert_eq!(verify(&secret, &as_page, now), Err(Refused::Invalid));
        let (page, _) = mint(&secret, "0123456789abcdef", now);
        let as_student = page.replacen(SESSION_MARK, STUDENT_SESSION_MARK, 1);
        assert_eq!(verify_student(&secret, &as_student, now), Err(Refused::Invalid));
    }
}
