//! The meldcode: locator (8 symbols) + secret (16 symbols, 80 bits) + a Luhn check symbol.
//! Parsing catches a mistyped code before any lookup. A meldcode is never stored, never
//! logged, and its `Debug` is redacted.

use rand::rngs::OsRng;
use rand::Rng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::crockford::{luhn_check, normalize, symbol};
use crate::crypto::kdf::KdfPool;

/// The stored locator: an unkeyed locator digest keyed by the pepper. Defined over the old
/// digest so rows stored before the index was keyed can be converted without their codes.
pub fn keyed_locator(kdf: &KdfPool, unkeyed: &[u8]) -> Vec<u8> {
    kdf.keyed_digest(b"meldpunt/v2/locator", unkeyed).to_vec()
}

pub const LOCATOR_LEN: usize = 8;
pub const SECRET_LEN: usize = 16;
pub const CODE_LEN: usize = LOCATOR_LEN + SECRET_LEN + 1;

#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Meldcode {
    locator: [u8; LOCATOR_LEN],
    secret: [u8; SECRET_LEN],
}

impl std::fmt::Debug for Meldcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meldcode(***)")
    }
}

/// Why a typed code was not accepted. Both are caught without touching the database.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeError {
    /// Wrong length or characters that are not in the code alphabet.
    Malformed,
    /// The right shape, but the check symbol does not match: a typo.
    Mistyped,
}

impl Meldcode {
    pub fn generate() -> Self {
        let mut rng = OsRng;
        let mut code = Meldcode {
            locator: [0; LOCATOR_LEN],
            secret: [0; SECRET_LEN],
        };
        code.locator.iter_mut().for_each(|v| *v = rng.gen_range(0..32));
        code.secret.iter_mut().for_each(|v| *v = rng.gen_range(0..32));
        code
    }

    /// A fresh locator, for the rare collision; the secret stays.
    pub fn with_new_locator(&self) -> Self {
        let mut next = Meldcode::generate();
        next.secret = self.secret;
        next
    }

    pub fn parse(typed: &str) -> Result<Self, CodeError> {
        let values = Zeroizing::new(normalize(typed).ok_or(CodeError::Malformed)?);
        if values.len() != CODE_LEN {
            return Err(CodeError::Malformed);
        }
        let (body, check) = values.split_at(CODE_LEN - 1);
        if luhn_check(body) != check[0] {
            return Err(CodeError::Mistyped);
        }
        let mut code = Meldcode {
            locator: [0; LOCATOR_LEN],
            secret: [0; SECRET_LEN],
        };
        code.locator.copy_from_slice(&body[..LOCATOR_LEN]);
        code.secret.copy_from_slice(&body[LOCATOR_LEN..]);
        Ok(code)
    }

    fn symbols(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(CODE_LEN));
        v.extend_from_slice(&self.locator);
        v.extend_from_slice(&self.secret);
        let check = luhn_check(&v);
        v.push(check);
        v
    }

    /// For showing once: five groups of five, e.g. `7K3QD-M2XWA-...`.
    pub fn display(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(CODE_LEN + 4));
        for (i, v) in self.symbols().iter().enumerate() {
            if i > 0 && i % 5 == 0 {
                s.push('-');
            }
            s.push(symbol(*v));
        }
        s
    }

    /// The lookup column: the unkeyed digest keyed by the pepper ([`keyed_locator`]), so a
    /// stolen database alone cannot run through the 2^40 locators to find every report's.
    pub fn locator_hash(&self, kdf: &KdfPool) -> Vec<u8> {
        keyed_locator(kdf, &self.unkeyed_locator())
    }

    /// `SHA-256("meldpunt/v1/locator" ‖ L)`: what versions before the keyed index stored.
    /// Reveals nothing of S, but anyone can compute it for every L.
    pub fn unkeyed_locator(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(b"meldpunt/v1/locator");
        h.update(self.locator.map(symbol).iter().collect::<String>().as_bytes());
        h.finalize().to_vec()
    }

    /// The secret as Argon2id input.
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.iter().map(|&v| symbol(v) as u8).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back_in_any_case_and_grouping() {
        let code = Meldcode::generate();
        let shown = code.display();
        assert_eq!(shown.len(), CODE_LEN + 4);
        let typed = shown.to_lowercase().replace('-', " ");
        let back = Meldcode::parse(&typed).unwrap();
        assert_eq!(back.unkeyed_locator(), code.unkeyed_locator());
        assert_eq!(*back.secret_bytes(), *code.secret_bytes());
    }

    #[test]
    fn a_typo_is_caught_by_the_check_symbol() {
        let shown = Meldcode::generate().display().to_string();
        let mut chars: Vec<char> = shown.chars().collect();
        chars[3] = if chars[3] == '7' { '8' } else { '7' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(Meldcode::parse(&typo).unwrap_err(), CodeError::Mistyped);
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        for bad in [
            "",
            "ABCDE",
            "ABCDE-FGHJK-MNPQR-STVWX-YZ01U",
            "ABCDE-FGHJK-MNPQR-STVWX-YZ0123",
            "<script>",
        ] {
            assert_eq!(Meldcode::parse(bad).unwrap_err(), CodeError::Malformed, "{bad}");
        }
    }

    #[test]
    fn a_new_locator_keeps_the_secret() {
        let a = Meldcode::generate();
        let b = a.with_new_locator();
        assert_eq!(*a.secret_bytes(), *b.secret_bytes());
        assert_eq!(format!("{a:?}"), "Meldcode(***)");
    }
}
