//! Signatures that bind a recipient key to a person: Ed25519 (`ed25519-dalek`) over
//! fixed-width statements. A coordinator's signing key is derived from their X25519 secret
//! (HKDF-SHA256, its own label), the recovery key's from the recovery secret, so nothing new
//! is stored sealed and whoever can open a coordinator's wraps can also sign as them.

use ed25519_dalek::{Signature, Signer, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::keys::CoordinatorSecret;

/// What a signature says. Each kind has its own tag and a fixed layout, so a signature for
/// one statement never verifies as another.
pub enum Statement<'a> {
    /// "This coordinator's keys are theirs": the account id, its X25519 public key (what
    /// reports are wrapped to) and its verifying key (what it signs with).
    Endorse {
        coordinator_id: [u8; 16],
        public: [u8; 32],
        verifying: [u8; 32],
    },
    /// "This coordinator is a member of this group" (their keys are vouched for apart).
    Member { group: &'a str, coordinator_id: [u8; 16] },
    /// "This is the report's staff key": its commitment.
    StaffKey { report_id: [u8; 16], commitment: [u8; 32] },
}

impl Statement<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut out = b"meldpunt/v1/statement\0".to_vec();
        match self {
            Statement::Endorse {
                coordinator_id,
                public,
                verifying,
            } => {
                out.extend_from_slice(&1u16.to_be_bytes());
                out.extend_from_slice(coordinator_id);
                out.extend_from_slice(public);
                out.extend_from_slice(verifying);
            }
            Statement::Member { group, coordinator_id } => {
                out.extend_from_slice(&2u16.to_be_bytes());
                out.extend_from_slice(coordinator_id);
                // Last and length-prefixed: the one field of variable width.
                out.extend_from_slice(&(group.len() as u32).to_be_bytes());
                out.extend_from_slice(group.as_bytes());
            }
            Statement::StaffKey { report_id, commitment } => {
                out.extend_from_slice(&3u16.to_be_bytes());
                out.extend_from_slice(report_id);
                out.extend_from_slice(commitment);
            }
        }
        out
    }
}

/// An Ed25519 signing key; zeroized on drop (dalek's own), redacted in `Debug`.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// The signing key that belongs to an X25519 secret (a coordinator's or the recovery
    /// key's): derived, so it needs no storage of its own.
    pub fn of(secret: &CoordinatorSecret) -> SigningKey {
        let ikm = secret.to_zeroizing_bytes();
        let hk = Hkdf::<Sha256>::new(Some(b"meldpunt/v1/signing-key"), ikm.as_ref());
        let mut seed = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit of 8160: this cannot fail.
        if hk.expand(b"ed25519 seed", seed.as_mut()).is_err() {
            unreachable!("HKDF output of 32 bytes");
        }
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn verifying_bytes(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    pub fn sign(&self, statement: &Statement<'_>) -> [u8; 64] {
        self.0.sign(&statement.encode()).to_bytes()
    }
}

/// Whether `signature` is `verifying`'s signature over `statement` (strict verification:
/// no malleable or small-order keys).
pub fn verify(verifying: &[u8], statement: &Statement<'_>, signature: &[u8]) -> bool {
    let (Ok(vk), Ok(sig)) = (<[u8; 32]>::try_from(verifying), <[u8; 64]>::try_from(signature)) else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(&vk) else {
        return false;
    };
    vk.verify_strict(&statement.encode(), &Signature::from_bytes(&sig))
        .is_ok()
}

/// The fingerprint people compare before approving a coordinator: over both the key
/// reports are wrapped to and the key they sign with, so neither can be swapped unseen.
/// An account from before signatures (no verifying key yet) shows its public key's.
pub fn coordinator_fingerprint(public: &[u8], verifying: Option<&[u8]>) -> String {
    use sha2::Digest;
    let Ok(public) = <[u8; 32]>::try_from(public) else {
        return String::new();
    };
    match verifying {
        Some(v) => {
            let both: [u8; 32] = sha2::Sha256::new()
                .chain_update(b"meldpunt/v1/coordinator-fingerprint")
                .chain_update(public)
                .chain_update(v)
                .finalize()
                .into();
            super::recovery::fingerprint(&both)
        }
        None => super::recovery::fingerprint(&public),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_statement_only() {
        let secret = CoordinatorSecret::generate();
        let key = SigningKey::of(&secret);
        assert_eq!(
            key.verifying_bytes(),
            SigningKey::of(&secret).verifying_bytes(),
            "derived, stable"
        );
        let s = Statement::Endorse {
            coordinator_id: [1; 16],
            public: [2; 32],
            verifying: key.verifying_bytes(),
        };
        let sig = key.sign(&s);
        assert!(verify(&key.verifying_bytes(), &s, &sig));
        let other = Statement::Endorse {
            coordinator_id: [1; 16],
            public: [3; 32],
            verifying: key.verifying_bytes(),
        };
        assert!(!verify(&key.verifying_bytes(), &other, &sig), "another key");
        let member = Statement::Member {
            group: "integriteit",
            coordinator_id: [1; 16],
        };
        assert!(!verify(&key.verifying_bytes(), &member, &sig), "another kind");
        let stranger = SigningKey::of(&CoordinatorSecret::generate());
        assert!(!verify(&stranger.verifying_bytes(), &s, &sig), "another signer");
        assert!(!verify(&key.verifying_bytes(), &s, &sig[..63]), "cut short");
        assert!(!verify(&[0u8; 5], &s, &sig), "malformed key");
        assert_eq!(format!("{key:?}"), "SigningKey(***)");
    }

    #[test]
    fn group_names_cannot_run_into_each_other() {
        let key = SigningKey::of(&CoordinatorSecret::generate());
        let a = Statement::Member {
            group: "ab",
            coordinator_id: [1; 16],
        };
        let b = Statement::Member {
            group: "a",
            coordinator_id: [1; 16],
        };
        assert!(!verify(&key.verifying_bytes(), &b, &key.sign(&a)));
    }
}
