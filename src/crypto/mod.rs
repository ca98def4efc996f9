//! Cryptography for Meldpunt: the sealed-record envelope, key types and wraps, Argon2id on a
//! bounded pool, the paper encoding of the recovery key, signatures over recipient keys and
//! the trust pin. Composes audited primitives only (XChaCha20-Poly1305, X25519, Ed25519,
//! HKDF-SHA256, Argon2id); never logs key material.

pub mod crockford;
pub mod envelope;
pub mod kdf;
pub mod keys;
pub mod pin;
pub mod recovery;
pub mod sign;

pub use envelope::{Context, Purpose, Role};
pub use keys::{CoordinatorSecret, Key32, ReportKey};

/// Every way opening a sealed value can fail. Deliberately coarse: which check failed is
/// nobody's business but the log's, and even there it tells nothing about content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("sealed value has an unknown format or is truncated")]
    Format,
    #[error("authentication failed: wrong key, or the value was changed or moved")]
    Open,
    #[error("key agreement produced a non-contributory secret")]
    NonContributory,
    #[error("the key does not match its commitment")]
    Commitment,
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// Too many derivations of this kind are waiting: try again shortly.
    #[error("too many key derivations are waiting")]
    Busy,
}
