//! Coordinator accounts: password rules, the X25519 key pair sealed under Argon2id of the
//! password, unsealing it at login (the derived public key must match the stored one), and
//! the one-time set-up token. Never logs passwords or keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::envelope::{Context, Purpose};
use crate::crypto::kdf::{random_salt, KdfPool, Lane};
use crate::crypto::keys::{self, Argon2Header};
use crate::crypto::pin::TrustPin;
use crate::crypto::sign::SigningKey;
use crate::crypto::{CoordinatorSecret, CryptoError};
use crate::i18n::StaffTexts;
use crate::ids;
use crate::storage::{CoordinatorRow, Store};

pub const MIN_PASSWORD_CHARS: usize = 12;

/// Long passwords that still top the leaked-password lists (lower-cased).
const COMMON_PASSWORDS: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789123",
    "qwertyuiopas",
    "qwertyuiopasdfgh",
    "passwordpassword",
    "password1234",
    "password12345",
    "password123456",
    "wachtwoord123",
    "wachtwoord1234",
    "welkom123456",
    "welkomwelkom",
    "iloveyou1234",
    "aaaaaaaaaaaa",
    "000000000000",
    "111111111111",
    "abcdefghijkl",
    "abc123abc123",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "zaq12wsxcde3",
    "adminadmin12",
    "administrator",
    "letmein12345",
    "changeme1234",
    "meldpunt1234",
    "integriteit1",
    "integriteit123",
    "voorjaar2026!",
    "zomer2026zomer",
    "correcthorsebatterystaple",
    "trustno1trustno1",
];

/// Why a chosen password is refused, as a message in the user's language.
pub fn password_problem<'s>(password: &str, repeat: &str, s: &'s StaffTexts) -> Option<&'s str> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Some(s.err_password_short)
    } else if COMMON_PASSWORDS.contains(&password.to_lowercase().as_str()) {
        Some(s.err_password_common)
    } else if password != repeat {
        Some(s.err_password_mismatch)
    } else {
        None
    }
}

/// The password and (optional) e-mail checks a new account shares, set-up and invitation
/// alike, added to `errors` under the fields' names.
pub fn check_password_and_email(
    errors: &mut crate::http::form::FieldErrors,
    password: &str,
    repeat: &str,
    email: &str,
    s: &StaffTexts,
) {
    if let Some(problem) = password_problem(password, repeat, s) {
        errors.push(("password", problem.into()));
    }
    if !email.is_empty() && !valid_email(email) {
        errors.push(("email", s.err_email.into()));
    }
}

pub fn valid_username(u: &str) -> bool {
    (3..=40).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// A display name others will read: not empty, at most 100 characters, nothing invisible
/// or direction-changing that could make it look like someone else's.
pub fn valid_display_name(n: &str) -> bool {
    !n.trim().is_empty()
        && n.chars().count() <= 100
        && !n.chars().any(|c| c.is_control() || crate::http::form::is_invisible(c))
}

fn key_context(id: [u8; 16], public: &[u8; 32]) -> Context {
    Context::new(Purpose::CoordinatorKey).recipient(id, keys::key_id(public))
}

/// A new coordinator with a fresh key pair, its private half sealed under the password.
pub async fn new_coordinator(
    kdf: &KdfPool,
    username: &str,
    display_name: &str,
    password: &str,
    status: &str,
    now: i64,
) -> anyhow::Result<(CoordinatorRow, CoordinatorSecret)> {
    let (id, idb) = ids::new_id();
    let secret = CoordinatorSecret::generate();
    let public = secret.public_bytes();
    let header = Argon2Header::new(kdf.params);
    let kek = kdf
        .derive(
            Lane::Staff,
            Zeroizing::new(password.as_bytes().to_vec()),
            header.salt,
            header.params,
        )
        .await?;
    let sealed = keys::seal_under_derived(
        &kek,
        &header,
        &key_context(idb, &public),
        secret.to_zeroizing_bytes().as_ref(),
    );
    let row = CoordinatorRow {
        id,
        username: username.to_string(),
        display_name: display_name.trim().to_string(),
        public_key: public.to_vec(),
        sealed_private_key: sealed,
        status: status.to_string(),
        created_at: now,
        email: None,
        language: "nl".to_string(),
        totp_sealed: None,
        verifying_key: Some(SigningKey::of(&secret).verifying_bytes().to_vec()),
    };
    Ok((row, secret))
}

/// Seals an existing private key under a (new) password.
pub async fn seal_private_key(
    kdf: &KdfPool,
    id: &str,
    secret: &CoordinatorSecret,
    password: &str,
) -> anyhow::Result<Vec<u8>> {
    let idb = ids::parse(id).ok_or_else(|| anyhow::anyhow!("malformed coordinator id"))?;
    let public = secret.public_bytes();
    let header = Argon2Header::new(kdf.params);
    let kek = kdf
        .derive(
            Lane::Staff,
            Zeroizing::new(password.as_bytes().to_vec()),
            header.salt,
            header.params,
        )
        .await?;
    Ok(keys::seal_under_derived(
        &kek,
        &header,
        &key_context(idb, &public),
        secret.to_zeroizing_bytes().as_ref(),
    ))
}

/// Recovery after a lost password: a new key pair for the coordinator, sealed under the new
/// password, and the key of every report they held unwrapped with the recovery key and
/// wrapped to the new key. Returns how many reports the coordinator can read again.
pub async fn recover(
    store: &Store,
    kdf: &KdfPool,
    recovery: &CoordinatorSecret,
    row: &CoordinatorRow,
    new_password: &str,
    pin_file: &std::path::Path,
    now: i64,
) -> anyhow::Result<usize> {
    let recovery_public = recovery.public_bytes();
    if store.recovery_public_key().await?.as_ref() != Some(&recovery_public) {
        anyhow::bail!("this is not the recovery key of this Meldpunt");
    }
    // Checked against the pin too: the database's copy of the recovery key proves nothing.
    let pin = TrustPin::load(pin_file)?;
    if let Some(pin) = &pin {
        if pin.recovery != recovery_public {
            anyhow::bail!(
                "this is not the recovery key pinned in {}; the database's recovery key was changed by hand",
                pin_file.display()
            );
        }
    }
    if row.status != "active" {
        anyhow::bail!("'{}' is not an active coordinator; approve them first", row.username);
    }
    // Back exactly the reports they could read: not reports routed away from them (a
    // conflict of interest) or shared with others only.
    let held = store.reports_of(&row.id).await?;
    let fresh = CoordinatorSecret::generate();
    let public = fresh.public_bytes();
    let sealed = seal_private_key(kdf, &row.id, &fresh, new_password).await?;
    let wraps = crate::domain::keyring::rewrap_from_recovery(store, recovery, &row.id, &public, &held).await?;
    store.replace_coordinator_key(&row.id, &public, &sealed, &wraps).await?;
    // The recovery key vouches for the new keys (it holds the organisation's authority),
    // and becomes a root of the pin if an upgraded installation did not have it as one.
    let verifying = SigningKey::of(&fresh).verifying_bytes();
    store.set_verifying_key(&row.id, &verifying).await?;
    if let Some(mut pin) = pin {
        let recovery_signer = SigningKey::of(recovery);
        if !pin.roots.contains(&recovery_signer.verifying_bytes()) {
            pin.roots.push(recovery_signer.verifying_bytes());
            pin.store(pin_file)?;
        }
        let e = crate::domain::keyring::endorse(&recovery_signer, &row.id, &public, Some(&verifying))
            .ok_or_else(|| anyhow::anyhow!("malformed coordinator id"))?;
        store.set_endorsement(&e, now).await?;
    }
    Ok(wraps.len())
}

/// Checks a password by unsealing the private key; `Ok(None)` for a wrong password or
/// unknown user, after the same Argon2id cost either way. `Err` only when the pool is too
/// busy to check now ([`CryptoError::Busy`]): that is no wrong guess.
pub async fn unlock(
    kdf: &KdfPool,
    row: Option<&CoordinatorRow>,
    password: &str,
) -> Result<Option<CoordinatorSecret>, CryptoError> {
    let pw = Zeroizing::new(password.as_bytes().to_vec());
    let Some(row) = row else {
        return match kdf.derive(Lane::Staff, pw, random_salt(), kdf.params).await {
            Err(CryptoError::Busy) => Err(CryptoError::Busy),
            _ => Ok(None),
        };
    };
    let checked = async {
        let idb = ids::parse(&row.id)?;
        let public: [u8; 32] = row.public_key.as_slice().try_into().ok()?;
        let header = Argon2Header::parse(&row.sealed_private_key).ok()?;
        let kek = match kdf.derive(Lane::Staff, pw, header.salt, header.params).await {
            Ok(k) => k,
            Err(CryptoError::Busy) => return Some(Err(CryptoError::Busy)),
            Err(_) => return None,
        };
        let raw = keys::open_under_derived(&kek, &key_context(idb, &public), &row.sealed_private_key).ok()?;
        let secret = CoordinatorSecret::from_slice(&raw).ok()?;
        (secret.public_bytes() == public).then_some(Ok(secret))
    };
    checked.await.transpose()
}

/// A fresh one-time set-up token; only its hash is stored.
pub fn setup_token() -> (Zeroizing<String>, Vec<u8>) {
    let mut raw = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(raw.as_mut());
    let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()));
    let hash = setup_token_hash(&token);
    (token, hash)
}

pub fn setup_token_hash(token: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"meldpunt/v1/setup");
    h.update(token.as_bytes());
    h.finalize().to_vec()
}

/// Starts (or restarts) set-up and returns the one-time URL, or `None` when set-up is done.
pub async fn begin_setup(
    store: &Store,
    public_url: &str,
    now: i64,
    valid_hours: i64,
    replace_valid: bool,
) -> anyhow::Result<SetupLink> {
    if let Some(org) = store.organisation().await? {
        if org.recovery_public_key.is_some() {
            return Ok(SetupLink::Done);
        }
        // A restart must not silently void a link somebody is about to open.
        if !replace_valid && org.setup_expires_at.is_some_and(|e| e > now) {
            return Ok(SetupLink::StillValid);
        }
    }
    let (token, hash) = setup_token();
    if !store.start_setup(&hash, now + valid_hours * 3600, now).await? {
        return Ok(SetupLink::Done);
    }
    let base = public_url.trim_end_matches('/');
    Ok(SetupLink::New(Zeroizing::new(format!(
        "{base}{}{}",
        crate::http::paths::SETUP_PREFIX,
        token.as_str()
    ))))
}

/// Where set-up stands.
pub enum SetupLink {
    /// Set-up is complete.
    Done,
    /// A link issued earlier is still valid (its token is not stored, so it cannot be shown).
    StillValid,
    /// A fresh one-time link (to print, never to log).
    New(Zeroizing<String>),
}

/// A plausible e-mail address (one @, something on both sides, no spaces); the mail server
/// has the last word.
pub fn valid_email(e: &str) -> bool {
    e.len() <= 254 && e.parse::<lettre::Address>().is_ok()
}
