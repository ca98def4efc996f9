//! A small proof of work that buys a place in a priority lane (SECURITY.md, "Floods"): the
//! server hands each form a challenge it signed (HMAC-SHA256 under a key derived from the
//! pepper, with the time it was issued); the same-origin script `web/static/pow.js` finds a
//! nonce whose SHA-256 starts with enough zero bits; the server checks the signature, the
//! age and the hash (two hashes: cheap next to the Argon2id it gates) and accepts each
//! challenge once. Without the script a form simply goes to the ordinary lane. Nothing about
//! the client is looked at, kept or logged: a challenge names no one.

use std::collections::HashSet;
use std::sync::Mutex;

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// What a proof is for: a challenge of one form does not count on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Entering a meldcode (`/opvolgen`).
    Code = 1,
    /// Sending a new report (`/melden`).
    Report = 2,
}

/// Challenges spent in the current and the previous window, at most this many each: a
/// flooder who solves more than this in one lifetime gets the ordinary lane (memory stays
/// bounded, about 10 MB at worst).
const MAX_SPENT: usize = 200_000;
/// The most zero bits a challenge may ask (the script reads one 32-bit word).
pub const MAX_BITS: u8 = 32;

pub struct ProofOfWork {
    key: Zeroizing<[u8; 32]>,
    /// Leading zero bits a proof needs: about 2^bits hashes of work on average.
    pub bits: u8,
    /// How long a challenge stays valid, in seconds.
    lifetime: i64,
    spent: Mutex<Spent>,
}

/// Challenges already used: a window of `lifetime` seconds and the one before, so a challenge
/// is remembered for at least as long as it is valid.
#[derive(Default)]
struct Spent {
    window: i64,
    current: HashSet<[u8; 16]>,
    previous: HashSet<[u8; 16]>,
}

impl std::fmt::Debug for ProofOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProofOfWork(bits = {}, ***)", self.bits)
    }
}

impl ProofOfWork {
    /// `key` signs the challenges (derive it from the pepper, so every instance on one
    /// database accepts the others' challenges and a restart keeps open forms valid).
    pub fn new(key: [u8; 32], bits: u8, lifetime: i64) -> ProofOfWork {
        ProofOfWork {
            key: Zeroizing::new(key),
            bits: bits.clamp(1, MAX_BITS),
            lifetime: lifetime.max(60),
            spent: Mutex::new(Spent::default()),
        }
    }

    /// A fresh challenge for a form: `1.<purpose>.<bits>.<issued>.<random>.<tag>`.
    pub fn challenge(&self, purpose: Purpose, now: i64) -> String {
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let body = format!("1.{}.{}.{now}.{}", purpose as u8, self.bits, hex::encode(nonce));
        let tag = self.tag(&body);
        format!("{body}.{}", hex::encode(tag))
    }

    fn tag(&self, body: &str) -> [u8; 16] {
        // HKDF-Extract is HMAC-SHA256 with the salt as its key.
        let (mac, _) = hkdf::Hkdf::<Sha256>::extract(Some(self.key.as_slice()), body.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&mac[..16]);
        out
    }

    /// Whether `nonce` is a proof for `challenge`, a challenge of ours for `purpose` that is
    /// not too old and not used before. A proof is accepted once: a second use is refused.
    pub fn verify(&self, purpose: Purpose, challenge: &str, nonce: &str, now: i64) -> bool {
        let Some(parsed) = Parsed::read(challenge) else {
            return false;
        };
        let Some(body) = challenge.rsplit_once('.').map(|(b, _)| b) else {
            return false;
        };
        let fresh = now - parsed.issued <= self.lifetime && parsed.issued - now <= 60;
        if parsed.purpose != purpose as u8 || parsed.bits < self.bits || !fresh {
            return false;
        }
        if !bool::from(self.tag(body).ct_eq(&parsed.tag)) {
            return false;
        }
        let Some(nonce) = parse_nonce(nonce) else {
            return false;
        };
        if leading_zero_bits(&digest(challenge, nonce)) < u32::from(parsed.bits) {
            return false;
        }
        self.spend(parsed.id, now)
    }

    /// Marks a challenge used; false if it was used before (or too many were, this window).
    fn spend(&self, id: [u8; 16], now: i64) -> bool {
        let mut s = self.spent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = now.div_euclid(self.lifetime);
        if window != s.window {
            s.previous = if window == s.window + 1 {
                std::mem::take(&mut s.current)
            } else {
                HashSet::new()
            };
            s.current.clear();
            s.window = window;
        }
        if s.previous.contains(&id) || s.current.len() >= MAX_SPENT {
            return false;
        }
        s.current.insert(id)
    }
}

/// The fields of a challenge, as far as their form goes (the tag is checked by the caller).
struct Parsed {
    purpose: u8,
    bits: u8,
    issued: i64,
    id: [u8; 16],
    tag: [u8; 16],
}

impl Parsed {
    fn read(challenge: &str) -> Option<Parsed> {
        if challenge.len() > 128 {
            return None;
        }
        let parts: Vec<&str> = challenge.split('.').collect();
        let [version, purpose, bits, issued, id, tag] = parts.as_slice() else {
            return None;
        };
        if *version != "1" {
            return None;
        }
        let bits: u8 = bits.parse().ok()?;
        if !(1..=MAX_BITS).contains(&bits) {
            return None;
        }
        Some(Parsed {
            purpose: purpose.parse().ok()?,
            bits,
            issued: issued.parse().ok()?,
            id: hex::decode(id).ok()?.try_into().ok()?,
            tag: hex::decode(tag).ok()?.try_into().ok()?,
        })
    }
}

/// A nonce as the script sends it: decimal digits only.
fn parse_nonce(nonce: &str) -> Option<u64> {
    if nonce.is_empty() || nonce.len() > 20 || !nonce.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    nonce.parse().ok()
}

/// SHA-256 of `<challenge>:<nonce>`, the nonce in decimal: what the script hashes.
fn digest(challenge: &str, nonce: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(challenge.as_bytes());
    h.update(b":");
    h.update(nonce.to_string().as_bytes());
    h.finalize().into()
}

pub fn leading_zero_bits(hash: &[u8; 32]) -> u32 {
    let mut n = 0;
    for b in hash {
        if *b == 0 {
            n += 8;
        } else {
            return n + b.leading_zeros();
        }
    }
    n
}

/// Finds a nonce for `challenge`, as the script does (for tests and the load bench, which
/// measures what a proof costs a flooder in native code). `None` for a malformed challenge.
pub fn solve(challenge: &str) -> Option<u64> {
    let bits = u32::from(Parsed::read(challenge)?.bits);
    (0..u64::MAX).find(|n| leading_zero_bits(&digest(challenge, *n)) >= bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pow() -> ProofOfWork {
        ProofOfWork::new([7; 32], 8, 600)
    }

    #[test]
    fn a_solved_challenge_is_accepted_once() {
        let p = pow();
        let c = p.challenge(Purpose::Code, 1000);
        let n = solve(&c).unwrap().to_string();
        assert!(p.verify(Purpose::Code, &c, &n, 1010));
        assert!(!p.verify(Purpose::Code, &c, &n, 1011), "used once");
        // Still refused in the next window, when the first one has moved to "previous".
        assert!(!p.verify(Purpose::Code, &c, &n, 1300));
    }

    #[test]
    fn wrong_nonce_purpose_age_key_or_bits_is_refused() {
        let p = pow();
        let c = p.challenge(Purpose::Code, 1000);
        let n = solve(&c).unwrap();
        let wrong = (0..).find(|m| leading_zero_bits(&digest(&c, *m)) < 8).unwrap();
        assert!(!p.verify(Purpose::Code, &c, &wrong.to_string(), 1000));
        assert!(!p.verify(Purpose::Report, &c, &n.to_string(), 1000));
        assert!(!p.verify(Purpose::Code, &c, &n.to_string(), 1000 + 601));
        assert!(!p.verify(Purpose::Code, &c, &n.to_string(), 1000 - 61));
        assert!(!ProofOfWork::new([8; 32], 8, 600).verify(Purpose::Code, &c, &n.to_string(), 1000));
        assert!(!ProofOfWork::new([7; 32], 9, 600).verify(Purpose::Code, &c, &n.to_string(), 1000));
        // A challenge whose bits were lowered by the client no longer carries our tag.
        let easier = c.replacen(".8.", ".1.", 1);
        assert!(!p.verify(Purpose::Code, &easier, "0", 1000));
        for junk in ["", "1", "1.1.8.x.y.z", &"9".repeat(200)] {
            assert!(!p.verify(Purpose::Code, junk, "1", 1000));
        }
        assert!(!p.verify(Purpose::Code, &c, "-1", 1000));
        assert!(p.verify(Purpose::Code, &c, &n.to_string(), 1000));
    }

    #[test]
    fn counts_leading_zero_bits() {
        let mut h = [0u8; 32];
        assert_eq!(leading_zero_bits(&h), 256);
        h[1] = 0x10;
        assert_eq!(leading_zero_bits(&h), 11);
    }
}
