//! The sealed-record envelope: fixed-width contexts used as HKDF `info` and AEAD associated
//! data, versioned headers, Padmé padding and XChaCha20-Poly1305 sealing under HKDF
//! subkeys of a report key. Never decides who may open what; callers do.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{AeadCore, KeyInit, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::rngs::OsRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CryptoError, Key32};

pub const FORMAT_V1: u8 = 1;
pub const ALG_XCHACHA20POLY1305: u8 = 1;
pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;

/// How the key of a sealed blob was obtained; the third header byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeySource {
    /// HKDF subkey of a report key (or of a session token).
    Subkey = 0,
    /// Argon2id of a password or meldcode secret; parameters and salt follow in the header.
    Argon2id = 1,
    /// Ephemeral-static X25519 to a recipient; the ephemeral public key follows.
    X25519 = 2,
}

/// What a sealed value is. Part of every context, so a value cannot pass for another kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Purpose {
    ReportField = 1,
    Message = 2,
    WrapCoordinator = 3,
    WrapRecovery = 4,
    WrapCode = 5,
    CoordinatorKey = 6,
    Session = 7,
    Commitment = 8,
    Csrf = 9,
    FormCode = 10,
    Totp = 11,
    FileBody = 12,
    FileMeta = 13,
    /// An organisation's own secret, sealed under the installation's pepper.
    OrganisationKey = 14,
    /// An organisation written to a file by `organisation export`, under its export key.
    OrganisationExport = 15,
    /// A coordinator's secret at one organisation, wrapped to their key at another (one
    /// login for a person who coordinates for several organisations).
    CoordinatorLink = 16,
}

/// Who wrote a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    None = 0,
    Reporter = 1,
    Coordinator = 2,
    System = 3,
}

/// Binds a sealed value to where it belongs. Encoded at fixed width (never by joining
/// strings), so no two different contexts share an encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub purpose: Purpose,
    pub report_id: [u8; 16],
    pub record_id: [u8; 16],
    pub role: Role,
    pub field: u16,
    pub recipient_id: [u8; 16],
    pub key_id: [u8; 8],
}

pub const CONTEXT_LEN: usize = 8 + 1 + 1 + 16 + 16 + 1 + 2 + 16 + 8;

impl Context {
    pub fn new(purpose: Purpose) -> Self {
        Context {
            purpose,
            report_id: [0; 16],
            record_id: [0; 16],
            role: Role::None,
            field: 0,
            recipient_id: [0; 16],
            key_id: [0; 8],
        }
    }
    pub fn report(mut self, id: [u8; 16]) -> Self {
        self.report_id = id;
        self
    }
    pub fn record(mut self, id: [u8; 16]) -> Self {
        self.record_id = id;
        self
    }
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }
    pub fn field(mut self, field: u16) -> Self {
        self.field = field;
        self
    }
    pub fn recipient(mut self, id: [u8; 16], key_id: [u8; 8]) -> Self {
        self.recipient_id = id;
        self.key_id = key_id;
        self
    }

    pub fn encode(&self) -> [u8; CONTEXT_LEN] {
        let mut out = [0u8; CONTEXT_LEN];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(b"MELDPUNT");
        put(&[FORMAT_V1, self.purpose as u8]);
        put(&self.report_id);
        put(&self.record_id);
        put(&[self.role as u8]);
        put(&self.field.to_be_bytes());
        put(&self.recipient_id);
        put(&self.key_id);
        out
    }
}

/// HKDF-SHA256 expansion of `ikm` for `ctx`, with an optional salt.
pub fn derive(ikm: &[u8], salt: Option<&[u8]>, ctx: &Context) -> Key32 {
    let hk = Hkdf::<Sha256>::new(salt, ikm);
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit, so expand cannot fail.
    let _ = hk.expand(&ctx.encode(), &mut out);
    Key32::from_bytes(out)
}

fn aad(header: &[u8], ctx: &Context) -> Vec<u8> {
    let mut ad = Vec::with_capacity(header.len() + CONTEXT_LEN);
    ad.extend_from_slice(header);
    ad.extend_from_slice(&ctx.encode());
    ad
}

/// Seals `plaintext` under `key`; output is `header ‖ nonce ‖ ciphertext+tag`. The header
/// is authenticated together with the context.
pub fn seal_raw(key: &Key32, header: &[u8], ctx: &Context, plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ad = aad(header, ctx);
    // Encryption with an in-memory buffer only fails on absurd lengths (> 256 GiB).
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(header.len() + NONCE_LEN + ct.len());
    out.extend_from_slice(header);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens what [`seal_raw`] made; `header_len` says where the nonce starts.
pub fn open_raw(key: &Key32, blob: &[u8], header_len: usize, ctx: &Context) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if blob.len() < header_len + NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Format);
    }
    let (header, rest) = blob.split_at(header_len);
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
    let ad = aad(header, ctx);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &ad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Open)
}

/// Checks the first three header bytes.
pub fn check_header(blob: &[u8], source: KeySource) -> Result<(), CryptoError> {
    match blob {
        [FORMAT_V1, ALG_XCHACHA20POLY1305, s, ..] if *s == source as u8 => Ok(()),
        _ => Err(CryptoError::Format),
    }
}

const SUBKEY_HEADER: [u8; 3] = [FORMAT_V1, ALG_XCHACHA20POLY1305, KeySource::Subkey as u8];

/// Seals content (report fields, messages) under an HKDF subkey of `root` for `ctx`,
/// padded so the ciphertext size does not tell a short tip from a long one.
pub fn seal_content(root: &Key32, ctx: &Context, plaintext: &[u8]) -> Vec<u8> {
    let subkey = derive(root.as_bytes(), None, ctx);
    let padded = pad(plaintext);
    seal_raw(&subkey, &SUBKEY_HEADER, ctx, &padded)
}

pub fn open_content(root: &Key32, ctx: &Context, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    check_header(blob, KeySource::Subkey)?;
    let subkey = derive(root.as_bytes(), None, ctx);
    let padded = open_raw(&subkey, blob, SUBKEY_HEADER.len(), ctx)?;
    unpad(&padded)
}

/// Smallest padded size: every short answer looks the same.
const MIN_PADDED: usize = 256;

/// Padmé (Nikitin et al., 2019): leaks O(log log n) bits of the length.
pub fn padme_len(len: usize) -> usize {
    if len <= MIN_PADDED {
        return MIN_PADDED;
    }
    let l = len as u64;
    let e = 63 - l.leading_zeros() as u64; // floor(log2 l)
    let s = 64 - e.leading_zeros() as u64; // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1u64 << last_bits) - 1;
    ((l + mask) & !mask) as usize
}

/// 4-byte big-endian length, the data, zeros up to the Padmé size.
pub fn pad(data: &[u8]) -> Zeroizing<Vec<u8>> {
    let total = padme_len(data.len() + 4);
    let mut out = Zeroizing::new(Vec::with_capacity(total));
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out.resize(total, 0);
    out
}

pub fn unpad(padded: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (len, rest) = padded.split_at_checked(4).ok_or(CryptoError::Format)?;
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    rest.get(..len)
        .map(|d| Zeroizing::new(d.to_vec()))
        .ok_or(CryptoError::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::new(Purpose::ReportField)
            .report([7; 16])
            .role(Role::Reporter)
            .field(1)
    }

    #[test]
    fn content_round_trips_and_is_padded() {
        let key = Key32::random();
        let blob = seal_content(&key, &ctx(), b"de wethouder");
        assert_eq!(&open_content(&key, &ctx(), &blob).unwrap()[..], b"de wethouder");
        let long = seal_content(&key, &ctx(), &[b'x'; 200]);
        assert_eq!(blob.len(), long.len(), "short texts share one size");
    }

    #[test]
    fn a_flipped_byte_anywhere_fails() {
        let key = Key32::random();
        let blob = seal_content(&key, &ctx(), b"geheim");
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 0x01;
            assert!(open_content(&key, &ctx(), &b).is_err(), "byte {i}");
        }
    }

    #[test]
    fn a_value_moved_to_another_report_field_or_author_fails() {
        let key = Key32::random();
        let blob = seal_content(&key, &ctx(), b"geheim");
        for other in [
            ctx().report([8; 16]),
            ctx().field(2),
            ctx().role(Role::Coordinator),
            ctx().record([1; 16]),
            Context {
                purpose: Purpose::Message,
                ..ctx()
            },
        ] {
            assert_eq!(open_content(&key, &other, &blob), Err(CryptoError::Open));
        }
        assert!(open_content(&Key32::random(), &ctx(), &blob).is_err());
    }

    #[test]
    fn contexts_encode_distinctly_at_fixed_width() {
        let a = ctx().field(0x0102).encode();
        let b = ctx().field(0x0201).encode();
        assert_ne!(a, b);
        assert_eq!(a.len(), CONTEXT_LEN);
    }

    #[test]
    fn padme_grows_slowly_and_never_shrinks() {
        let mut last = 0;
        for n in [0, 1, 255, 256, 257, 1000, 5000, 20_000, 80_004, 1 << 20] {
            let p = padme_len(n);
            assert!(p >= n && p >= last, "{n} -> {p}");
            assert!(p - n <= n / 8 + MIN_PADDED, "overhead for {n}: {p}");
            last = p;
        }
        assert_eq!(unpad(&pad(b"abc")).unwrap().as_slice(), b"abc");
        assert!(unpad(&[0, 0, 0, 9, 1]).is_err());
    }
}
