//! Server-side sessions for coordinators and reporters: a fresh 256-bit token per login in a
//! `__Host-` cookie; the row id is SHA-256(token) and what the session keeps (a private key
//! or a report key) is sealed under HKDF(token), so the database alone opens nothing.
//! Also derives the CSRF token from the session token. Never logs tokens.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::envelope::{self, Context, Purpose, Role};
use crate::crypto::Key32;
use crate::storage::NewSession;

use super::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Coordinator,
    Reporter,
}

impl SessionKind {
    pub fn code(self) -> &'static str {
        match self {
            SessionKind::Coordinator => "coordinator",
            SessionKind::Reporter => "reporter",
        }
    }

    /// `__Host-` binds the cookie to this exact origin; browsers only accept it with Secure.
    pub fn cookie_name(self, secure: bool) -> &'static str {
        match (self, secure) {
            (SessionKind::Coordinator, true) => "__Host-meldpunt-beheer",
            (SessionKind::Coordinator, false) => "meldpunt-beheer",
            (SessionKind::Reporter, true) => "__Host-meldpunt-melder",
            (SessionKind::Reporter, false) => "meldpunt-melder",
        }
    }

    fn idle_seconds(self, state: &AppState) -> i64 {
        match self {
            SessionKind::Coordinator => state.settings.sessions.coordinator_idle_minutes * 60,
            SessionKind::Reporter => state.settings.sessions.reporter_idle_minutes * 60,
        }
    }

    fn max_seconds(self, state: &AppState) -> i64 {
        match self {
            SessionKind::Coordinator => state.settings.sessions.coordinator_max_hours * 3600,
            // A reporter's session is short: long enough to read and answer.
            SessionKind::Reporter => 2 * 3600,
        }
    }
}

/// The secret in the cookie. Redacted in `Debug`, zeroized on drop.
#[derive(Debug)]
pub struct SessionToken(Key32);

impl SessionToken {
    fn mint() -> Self {
        SessionToken(Key32::random())
    }

    fn from_cookie(value: &str) -> Option<Self> {
        let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(value).ok()?);
        Key32::from_slice(&bytes).ok().map(SessionToken)
    }

    fn cookie_value(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    fn id_hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    /// Sealed under HKDF(token) for this kind of session only: a coordinator's sealed key
    /// cannot be served as a reporter's, or the other way round.
    fn seal(&self, kind: SessionKind, secret: &[u8]) -> Vec<u8> {
        envelope::seal_content(&self.0, &session_context(kind), secret)
    }

    fn open(&self, kind: SessionKind, blob: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        envelope::open_content(&self.0, &session_context(kind), blob).ok()
    }

    /// The CSRF token for forms of this session: derived, so nothing extra is stored.
    pub fn csrf(&self) -> String {
        let k = envelope::derive(self.0.as_bytes(), None, &Context::new(Purpose::Csrf));
        URL_SAFE_NO_PAD.encode(k.as_bytes())
    }

    pub fn csrf_matches(&self, given: Option<&str>) -> bool {
        let expected = self.csrf();
        given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
    }
}

fn session_context(kind: SessionKind) -> Context {
    let role = match kind {
        SessionKind::Coordinator => Role::Coordinator,
        SessionKind::Reporter => Role::Reporter,
    };
    Context::new(Purpose::Session).role(role)
}

/// A reporter session's sealed content: when it started and was last used, then the secret.
fn with_times(started: i64, seen: i64, secret: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(16 + secret.len()));
    out.extend_from_slice(&started.to_le_bytes());
    out.extend_from_slice(&seen.to_le_bytes());
    out.extend_from_slice(secret);
    out
}

fn split_times(opened: &[u8]) -> Option<(i64, i64, Zeroizing<Vec<u8>>)> {
    let started = i64::from_le_bytes(opened.get(..8)?.try_into().ok()?);
    let seen = i64::from_le_bytes(opened.get(8..16)?.try_into().ok()?);
    Some((started, seen, Zeroizing::new(opened.get(16..)?.to_vec())))
}

/// The start of the UTC day after `t`: the only time a reporter's session row holds.
fn day_after(t: i64) -> i64 {
    (t.div_euclid(86_400) + 1) * 86_400
}

/// A live session with the secret it keeps, unsealed for this request only.
#[derive(Debug)]
pub struct ActiveSession {
    pub token: SessionToken,
    pub subject_id: String,
    pub secret: Zeroizing<Vec<u8>>,
    id_hash: Vec<u8>,
}

fn build_cookie(kind: SessionKind, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(kind.cookie_name(secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish()
}

/// A cookie that makes the browser forget the session.
pub fn removal_cookie(kind: SessionKind, secure: bool) -> Cookie<'static> {
    let mut c = build_cookie(kind, String::new(), secure);
    c.make_removal();
    c
}

/// Starts a session keeping `secret`; returns the cookie to set and the CSRF token.
pub async fn start(
    state: &AppState,
    kind: SessionKind,
    subject_id: &str,
    secret: &[u8],
) -> Result<(Cookie<'static>, String), sqlx::Error> {
    start_stage(state, kind, subject_id, secret, Stage::Full).await
}

/// Where a coordinator's login stands: password checked and second factor pending (good for
/// ten minutes and for the second-factor pages only), or complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    SecondFactor,
    Full,
    /// Made by a login at another organisation of the same person (a switch): good for
    /// one minute and one use, at [`take_handoff`], which makes it a full session.
    Handoff,
}

impl Stage {
    fn code(self) -> &'static str {
        match self {
            Stage::SecondFactor => "mfa",
            Stage::Full => "full",
            Stage::Handoff => "handoff",
        }
    }
}

pub async fn start_stage(
    state: &AppState,
    kind: SessionKind,
    subject_id: &str,
    secret: &[u8],
    stage: Stage,
) -> Result<(Cookie<'static>, String), sqlx::Error> {
    let token = SessionToken::mint();
    let now = state.clock.now();
    let lifetime = match stage {
        Stage::SecondFactor => 600,
        Stage::Handoff => 60,
        Stage::Full => kind.max_seconds(state),
    };
    let id_hash = token.id_hash();
    let (sealed, seen, expires_at) = match kind {
        SessionKind::Coordinator => (token.seal(kind, secret), now, now + lifetime),
        // A reporter's session row keeps no time finer than a day: its start and last
        // request travel sealed with the secret (opened only with the cookie), and the row
        // says only the day after which it can be swept.
        SessionKind::Reporter => (
            token.seal(kind, &with_times(now, now, secret)),
            0,
            day_after(now + lifetime),
        ),
    };
    state
        .store
        .insert_session(&NewSession {
            id_hash: &id_hash,
            kind: kind.code(),
            subject_id,
            sealed: &sealed,
            now: seen,
            expires_at,
            stage: stage.code(),
        })
        .await?;
    let csrf = token.csrf();
    Ok((
        build_cookie(kind, token.cookie_value(), state.settings.http.secure_cookies),
        csrf,
    ))
}

/// A one-minute coordinator session for `subject_id` with `secret`, handed over by a
/// switch from another organisation: the token to put in the link to this organisation.
pub async fn start_handoff(state: &AppState, subject_id: &str, secret: &[u8]) -> Result<String, sqlx::Error> {
    let (cookie, _) = start_stage(state, SessionKind::Coordinator, subject_id, secret, Stage::Handoff).await?;
    Ok(cookie.value().to_string())
}

/// Takes a handed-over session (once: the row is deleted) and makes it a full session;
/// `None` for a token that is unknown, used, expired or no handover.
pub async fn take_handoff(state: &AppState, token: &str) -> Result<Option<(Cookie<'static>, String)>, sqlx::Error> {
    let Some(token) = SessionToken::from_cookie(token) else {
        return Ok(None);
    };
    let id_hash = token.id_hash();
    let kind = SessionKind::Coordinator;
    let Some(row) = state.store.session(&id_hash, kind.code()).await? else {
        return Ok(None);
    };
    state.store.delete_session(&id_hash).await?;
    if row.expires_at <= state.clock.now() || row.stage != Stage::Handoff.code() {
        return Ok(None);
    }
    let Some(secret) = token.open(kind, &row.sealed_secret) else {
        return Ok(None);
    };
    let (cookie, _) = start(state, kind, &row.subject_id, &secret).await?;
    Ok(Some((cookie, row.subject_id)))
}

/// The request's complete session of `kind`, if it has a live one.
pub async fn current(
    state: &AppState,
    req: &HttpRequest,
    kind: SessionKind,
) -> Result<Option<ActiveSession>, sqlx::Error> {
    current_stage(state, req, kind, Stage::Full).await
}

/// The request's live session of `kind` at `stage`. Stale rows are deleted on sight; a
/// session at another stage is not returned.
pub async fn current_stage(
    state: &AppState,
    req: &HttpRequest,
    kind: SessionKind,
    stage: Stage,
) -> Result<Option<ActiveSession>, sqlx::Error> {
    let Some(cookie) = req.cookie(kind.cookie_name(state.settings.http.secure_cookies)) else {
        return Ok(None);
    };
    let Some(token) = SessionToken::from_cookie(cookie.value()) else {
        return Ok(None);
    };
    let id_hash = token.id_hash();
    let Some(row) = state.store.session(&id_hash, kind.code()).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    if row.expires_at <= now || (kind == SessionKind::Coordinator && row.last_seen_at + kind.idle_seconds(state) <= now)
    {
        state.store.delete_session(&id_hash).await?;
        return Ok(None);
    }
    if row.stage != stage.code() {
        return Ok(None);
    }
    let Some(opened) = token.open(kind, &row.sealed_secret) else {
        return Ok(None);
    };
    let secret = match kind {
        SessionKind::Coordinator => {
            // Only write when a minute has passed: most page views then cost no write.
            if now - row.last_seen_at >= 60 {
                state.store.touch_session(&id_hash, now).await?;
            }
            opened
        }
        SessionKind::Reporter => {
            let Some((started, seen, secret)) = split_times(&opened) else {
                return Ok(None);
            };
            if started + kind.max_seconds(state) <= now || seen + kind.idle_seconds(state) <= now {
                state.store.delete_session(&id_hash).await?;
                return Ok(None);
            }
            if now - seen >= 60 {
                let resealed = token.seal(kind, &with_times(started, now, &secret));
                state.store.reseal_session(&id_hash, &resealed).await?;
            }
            secret
        }
    };
    Ok(Some(ActiveSession {
        token,
        subject_id: row.subject_id,
        secret,
        id_hash,
    }))
}

/// A value derived from the session token for `purpose`: stable for the session, unknown to
/// anyone without the cookie (used for the TOTP secret offered at enrolment).
pub fn derived(session: &ActiveSession, purpose: Purpose) -> Key32 {
    envelope::derive(session.token.0.as_bytes(), None, &Context::new(purpose))
}

/// Ends a session: the row goes, so the cookie opens nothing any more.
pub async fn end(state: &AppState, session: &ActiveSession) -> Result<(), sqlx::Error> {
    state.store.delete_session(&session.id_hash).await
}
