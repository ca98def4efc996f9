//! Key newtypes (zeroized on drop, redacted in `Debug`, never `Clone`d into logs) and the
//! wraps that let a coordinator, the recovery key or the reporter's meldcode open a report
//! key. Nothing here touches storage.

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::envelope::{self, check_header, Context, KeySource, Purpose, ALG_XCHACHA20POLY1305, FORMAT_V1};
use super::kdf::KdfParams;
use super::CryptoError;

/// 32 bytes of symmetric key material.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Key32([u8; 32]);

impl Key32 {
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        Key32(k)
    }
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key32(bytes)
    }
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Format)?;
        Ok(Key32(arr))
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Key32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key32(***)")
    }
}

/// The random per-report key, and (for staff) the report's staff key. Everything of one
/// report is sealed under subkeys of the report key, except what only staff may read
/// (internal notes, triage reasons): that is sealed under the staff key, which travels only
/// in the wraps to coordinators and the recovery key, never in the meldcode's wrap. So a
/// reporter's code (or whoever has it) opens the report and never the notes about it.
#[derive(Debug)]
pub struct ReportKey {
    key: Key32,
    /// `None` when opened with the meldcode, and for reports stored before staff keys
    /// existed until a coordinator opens them (see `coordinator::unlock_report`).
    staff: Option<Key32>,
}

impl ReportKey {
    /// A new report: a report key. Its staff key is made by the first coordinator who
    /// opens it, who signs the staff key's commitment (`domain::keyring`): made here, at
    /// intake, nobody could vouch for it, and a database writer who knows the report key
    /// could plant one of their own.
    pub fn generate() -> Self {
        ReportKey {
            key: Key32::random(),
            staff: None,
        }
    }
    pub fn key(&self) -> &Key32 {
        &self.key
    }
    /// The report key alone, as the meldcode's wrap holds it.
    pub fn from_key(key: Key32) -> Self {
        ReportKey { key, staff: None }
    }
    /// Gives the report a fresh staff key, returning the one it had (if any): what was
    /// sealed under the old one is opened with [`ReportKey::open_staff_with`] and sealed again.
    pub fn replace_staff_key(&mut self) -> Option<Key32> {
        self.staff.replace(Key32::random())
    }

    /// Opens what was sealed for staff under `old` (a replaced staff key), or under the
    /// report key for a report that had none.
    pub fn open_staff_with(
        &self,
        old: Option<&Key32>,
        ctx: &Context,
        blob: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        envelope::open_content(old.unwrap_or(&self.key), ctx, blob)
    }
    pub fn has_staff_key(&self) -> bool {
        self.staff.is_some()
    }

    /// HKDF(report key, "commit" context): stored with the report, because the AEAD is not
    /// key-committing and a forged wrap could otherwise hand out another key.
    pub fn commitment(&self, report_id: [u8; 16]) -> [u8; 32] {
        let ctx = Context::new(Purpose::Commitment).report(report_id);
        *envelope::derive(self.key.as_bytes(), None, &ctx).as_bytes()
    }

    pub fn check_commitment(&self, report_id: [u8; 16], stored: &[u8]) -> Result<(), CryptoError> {
        if bool::from(self.commitment(report_id).as_slice().ct_eq(stored)) {
            Ok(())
        } else {
            Err(CryptoError::Commitment)
        }
    }

    /// The staff key's commitment (its own context), stored beside the report key's so a
    /// wrap carrying a forged staff key is refused too.
    pub fn staff_commitment(&self, report_id: [u8; 16]) -> Option<[u8; 32]> {
        let ctx = Context::new(Purpose::Commitment)
            .report(report_id)
            .role(envelope::Role::Coordinator);
        self.staff
            .as_ref()
            .map(|s| *envelope::derive(s.as_bytes(), None, &ctx).as_bytes())
    }

    /// Checks a staff-side unwrap: the staff key must be there exactly when the report has a
    /// staff commitment, and match it.
    pub fn check_staff_commitment(&self, report_id: [u8; 16], stored: Option<&[u8]>) -> Result<(), CryptoError> {
        match (self.staff_commitment(report_id), stored) {
            (None, None) => Ok(()),
            (Some(mine), Some(stored)) if bool::from(mine.as_slice().ct_eq(stored)) => Ok(()),
            _ => Err(CryptoError::Commitment),
        }
    }

    pub fn seal(&self, ctx: &Context, plaintext: &[u8]) -> Vec<u8> {
        envelope::seal_content(&self.key, ctx, plaintext)
    }

    pub fn open(&self, ctx: &Context, blob: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        envelope::open_content(&self.key, ctx, blob)
    }

    /// Seals what only staff may read under the staff key. Without one (a key opened with
    /// the meldcode, or a report no coordinator has opened yet) this refuses: sealing a note
    /// under the report key would let the meldcode open it.
    pub fn seal_staff(&self, ctx: &Context, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let staff = self.staff.as_ref().ok_or(CryptoError::Commitment)?;
        Ok(envelope::seal_content(staff, ctx, plaintext))
    }

    /// Opens what [`ReportKey::seal_staff`] sealed. With the meldcode's key alone (no staff
    /// key) this tries the report key, which fails for every note of an upgraded report.
    pub fn open_staff(&self, ctx: &Context, blob: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        envelope::open_content(self.staff.as_ref().unwrap_or(&self.key), ctx, blob)
    }

    /// What a wrap to staff carries: the report key, then the staff key if there is one.
    fn wrap_payload(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(64));
        out.extend_from_slice(self.key.as_bytes());
        if let Some(s) = &self.staff {
            out.extend_from_slice(s.as_bytes());
        }
        out
    }

    fn from_wrap_payload(raw: &[u8]) -> Result<Self, CryptoError> {
        match raw.len() {
            32 => Ok(ReportKey::from_key(Key32::from_slice(raw)?)),
            64 => Ok(ReportKey {
                key: Key32::from_slice(&raw[..32])?,
                staff: Some(Key32::from_slice(&raw[32..])?),
            }),
            _ => Err(CryptoError::Format),
        }
    }
}

/// An X25519 private key (a coordinator's, or the organisation's recovery key while it is
/// being shown once). `Debug` is redacted; the inner secret zeroizes on drop.
pub struct CoordinatorSecret(StaticSecret);

impl std::fmt::Debug for CoordinatorSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoordinatorSecret(***)")
    }
}

impl CoordinatorSecret {
    pub fn generate() -> Self {
        CoordinatorSecret(StaticSecret::random_from_rng(OsRng))
    }
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Format)?;
        let s = StaticSecret::from(arr);
        arr.zeroize();
        Ok(CoordinatorSecret(s))
    }
    pub fn public(&self) -> PublicKey {
        PublicKey::from(&self.0)
    }
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public().to_bytes()
    }
    /// Secret bytes for sealing them; the caller keeps them in a zeroizing buffer.
    pub fn to_zeroizing_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }
}

/// Short id of a public key: the first 8 bytes of its SHA-256. Names a wrap's recipient key
/// and is printed as the recovery key's fingerprint.
pub fn key_id(public: &[u8; 32]) -> [u8; 8] {
    let d = Sha256::digest(public);
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    id
}

const X25519_HEADER_LEN: usize = 3 + 32;

/// Wraps a report key (with its staff key, if it has one) to a recipient's X25519 public key: ephemeral-static DH, HKDF salted
/// with both public keys, XChaCha20-Poly1305. `ctx` names report, recipient and key id.
pub fn wrap_to_public(key: &ReportKey, recipient: &[u8; 32], ctx: &Context) -> Result<Vec<u8>, CryptoError> {
    seal_to_public(&key.wrap_payload(), recipient, ctx)
}

/// Seals `payload` to a recipient's X25519 public key, as [`wrap_to_public`] does a report
/// key: for the other secrets that travel to a key (a coordinator's own secret at another
/// organisation).
pub fn seal_to_public(payload: &[u8], recipient: &[u8; 32], ctx: &Context) -> Result<Vec<u8>, CryptoError> {
    let recipient = PublicKey::from(*recipient);
    let eph = EphemeralSecret::random_from_rng(OsRng);
    let eph_pub = PublicKey::from(&eph);
    let shared = eph.diffie_hellman(&recipient);
    if !shared.was_contributory() {
        return Err(CryptoError::NonContributory);
    }
    let kek = wrap_kek(shared.as_bytes(), eph_pub.as_bytes(), recipient.as_bytes(), ctx);
    let mut header = Vec::with_capacity(X25519_HEADER_LEN);
    header.extend_from_slice(&[FORMAT_V1, ALG_XCHACHA20POLY1305, KeySource::X25519 as u8]);
    header.extend_from_slice(eph_pub.as_bytes());
    Ok(envelope::seal_raw(&kek, &header, ctx, payload))
}

fn wrap_kek(shared: &[u8; 32], eph_pub: &[u8; 32], recipient: &[u8; 32], ctx: &Context) -> Key32 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph_pub);
    salt[32..].copy_from_slice(recipient);
    envelope::derive(shared, Some(&salt), ctx)
}

pub fn unwrap_with_secret(blob: &[u8], secret: &CoordinatorSecret, ctx: &Context) -> Result<ReportKey, CryptoError> {
    let raw = open_with_secret(blob, secret, ctx)?;
    ReportKey::from_wrap_payload(&raw)
}

/// Opens what [`seal_to_public`] sealed to `secret`'s public key.
pub fn open_with_secret(
    blob: &[u8],
    secret: &CoordinatorSecret,
    ctx: &Context,
) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    check_header(blob, KeySource::X25519)?;
    let eph: [u8; 32] = blob
        .get(3..X25519_HEADER_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(CryptoError::Format)?;
    let shared = secret.0.diffie_hellman(&PublicKey::from(eph));
    if !shared.was_contributory() {
        return Err(CryptoError::NonContributory);
    }
    let kek = wrap_kek(shared.as_bytes(), &eph, &secret.public_bytes(), ctx);
    envelope::open_raw(&kek, blob, X25519_HEADER_LEN, ctx)
}

/// Header of a value sealed under an Argon2id-derived key: the parameters and salt travel
/// with the blob so they can be raised later by a re-wrap job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Header {
    pub params: KdfParams,
    pub salt: [u8; 16],
}

const ARGON2_HEADER_LEN: usize = 3 + 12 + 16;

impl Argon2Header {
    pub fn new(params: KdfParams) -> Self {
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        Argon2Header { params, salt }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(ARGON2_HEADER_LEN);
        h.extend_from_slice(&[FORMAT_V1, ALG_XCHACHA20POLY1305, KeySource::Argon2id as u8]);
        h.extend_from_slice(&self.params.memory_kib.to_be_bytes());
        h.extend_from_slice(&self.params.iterations.to_be_bytes());
        h.extend_from_slice(&self.params.parallelism.to_be_bytes());
        h.extend_from_slice(&self.salt);
        h
    }

    pub fn parse(blob: &[u8]) -> Result<Self, CryptoError> {
        check_header(blob, KeySource::Argon2id)?;
        let h = blob.get(..ARGON2_HEADER_LEN).ok_or(CryptoError::Format)?;
        let u = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&h[15..31]);
        Ok(Argon2Header {
            params: KdfParams {
                memory_kib: u(3),
                iterations: u(7),
                parallelism: u(11),
            },
            salt,
        })
    }
}

/// Seals `secret` under a key derived by Argon2id with the parameters in `header`.
pub fn seal_under_derived(kek: &Key32, header: &Argon2Header, ctx: &Context, secret: &[u8]) -> Vec<u8> {
    envelope::seal_raw(kek, &header.encode(), ctx, secret)
}

pub fn open_under_derived(kek: &Key32, ctx: &Context, blob: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    Argon2Header::parse(blob)?;
    envelope::open_raw(kek, blob, ARGON2_HEADER_LEN, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::envelope::Role;

    fn wrap_ctx(recipient: &[u8; 32]) -> Context {
        Context::new(Purpose::WrapCoordinator)
            .report([3; 16])
            .recipient([4; 16], key_id(recipient))
    }

    #[test]
    fn wrap_round_trips_to_the_right_coordinator_only() {
        let alice = CoordinatorSecret::generate();
        let mallory = CoordinatorSecret::generate();
        let key = ReportKey::generate();
        let ctx = wrap_ctx(&alice.public_bytes());
        let blob = wrap_to_public(&key, &alice.public_bytes(), &ctx).unwrap();
        let back = unwrap_with_secret(&blob, &alice, &ctx).unwrap();
        assert_eq!(back.key().as_bytes(), key.key().as_bytes());
        assert_eq!(
            unwrap_with_secret(&blob, &mallory, &ctx).unwrap_err(),
            CryptoError::Open
        );
        let moved = ctx.report([9; 16]);
        assert!(unwrap_with_secret(&blob, &alice, &moved).is_err());
    }

    #[test]
    fn staff_wraps_carry_the_staff_key_and_the_code_key_never_opens_staff_seals() {
        let alice = CoordinatorSecret::generate();
        let mut key = ReportKey::generate();
        let note_ctx0 = Context::new(Purpose::Message).report([3; 16]).field(3);
        assert!(
            key.seal_staff(&note_ctx0, b"x").is_err(),
            "no staff key yet: no staff seal"
        );
        assert_eq!(key.replace_staff_key().map(|_| ()), None);
        let ctx = wrap_ctx(&alice.public_bytes());
        let back = unwrap_with_secret(
            &wrap_to_public(&key, &alice.public_bytes(), &ctx).unwrap(),
            &alice,
            &ctx,
        )
        .unwrap();
        let note_ctx = Context::new(Purpose::Message)
            .report([3; 16])
            .role(Role::Coordinator)
            .field(3);
        let note = key.seal_staff(&note_ctx, b"intern").unwrap();
        assert_eq!(&back.open_staff(&note_ctx, &note).unwrap()[..], b"intern");
        let stored = key.staff_commitment([3; 16]);
        assert!(back
            .check_staff_commitment([3; 16], stored.as_ref().map(|c| c.as_slice()))
            .is_ok());
        // What the meldcode's wrap holds: the report key alone.
        let code_key = ReportKey::from_key(Key32::from_bytes(*key.key().as_bytes()));
        assert!(code_key.open_staff(&note_ctx, &note).is_err());
        assert!(code_key.open(&note_ctx, &note).is_err());
        assert!(code_key
            .check_staff_commitment([3; 16], stored.as_ref().map(|c| c.as_slice()))
            .is_err());
        // A forged staff key beside the right report key is refused by its commitment.
        let mut forged = ReportKey::from_key(Key32::from_bytes(*key.key().as_bytes()));
        forged.replace_staff_key();
        assert!(forged.check_commitment([3; 16], &key.commitment([3; 16])).is_ok());
        assert!(forged
            .check_staff_commitment([3; 16], stored.as_ref().map(|c| c.as_slice()))
            .is_err());
        // Replacing the staff key: the old one still opens what it sealed.
        let mut rekeyed = back;
        let old = rekeyed.replace_staff_key();
        assert!(rekeyed.open_staff(&note_ctx, &note).is_err());
        assert_eq!(
            &rekeyed.open_staff_with(old.as_ref(), &note_ctx, &note).unwrap()[..],
            b"intern"
        );
    }

    #[test]
    fn a_wrap_to_a_low_order_point_is_refused() {
        let key = ReportKey::generate();
        let zero = [0u8; 32];
        assert_eq!(
            wrap_to_public(&key, &zero, &wrap_ctx(&zero)).unwrap_err(),
            CryptoError::NonContributory
        );
    }

    #[test]
    fn commitment_refuses_another_key() {
        let key = ReportKey::generate();
        let c = key.commitment([1; 16]);
        assert!(key.check_commitment([1; 16], &c).is_ok());
        assert!(key.check_commitment([2; 16], &c).is_err());
        assert!(ReportKey::generate().check_commitment([1; 16], &c).is_err());
    }

    #[test]
    fn derived_seal_round_trips_and_header_is_authenticated() {
        let kek = Key32::random();
        let header = Argon2Header::new(KdfParams::FLOOR);
        let ctx = Context::new(Purpose::WrapCode).report([5; 16]).role(Role::Reporter);
        let blob = seal_under_derived(&kek, &header, &ctx, b"0123456789abcdef0123456789abcdef");
        assert_eq!(Argon2Header::parse(&blob).unwrap(), header);
        assert_eq!(open_under_derived(&kek, &ctx, &blob).unwrap().len(), 32);
        let mut lowered = blob.clone();
        lowered[6] ^= 1; // the memory cost
        assert!(open_under_derived(&kek, &ctx, &lowered).is_err());
        assert!(open_under_derived(&Key32::random(), &ctx, &blob).is_err());
    }

    #[test]
    fn debug_output_is_redacted() {
        let k = Key32::from_bytes([0xAB; 32]);
        assert_eq!(format!("{k:?}"), "Key32(***)");
        assert!(!format!("{:?}", ReportKey::from_key(k)).contains("171"));
        assert_eq!(format!("{:?}", CoordinatorSecret::generate()), "CoordinatorSecret(***)");
    }
}
