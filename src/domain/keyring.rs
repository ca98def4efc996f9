//! A report's keys, from wrap to upgrade: the report key wrapped to its coordinators, to the
//! organisation's recovery key and to the reporter's meldcode; unlocking it for a holder;
//! giving an older report its staff key; and moving wraps after a recovery. Every wrap the
//! service makes is made here. Never logs a key.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::crypto::envelope::{Context, Purpose, Role};
use crate::crypto::keys::{self, unwrap_with_secret, Argon2Header};
use crate::crypto::pin::{self, TrustPin};
use crate::crypto::sign::{self, SigningKey, Statement};
use crate::crypto::{CoordinatorSecret, Key32, ReportKey};
use crate::domain::thread;
use crate::ids;
use crate::settings::Settings;
use crate::storage::{CoordinatorRow, Endorsement, ReportRow, Store};

/// The recipient id the recovery key's wraps are bound to (it is no coordinator).
const RECOVERY_RECIPIENT: [u8; 16] = [0xFF; 16];

fn coordinator_context(rid: [u8; 16], cid: [u8; 16], public: &[u8; 32]) -> Context {
    Context::new(Purpose::WrapCoordinator)
        .report(rid)
        .recipient(cid, keys::key_id(public))
}

fn recovery_context(rid: [u8; 16], public: &[u8; 32]) -> Context {
    Context::new(Purpose::WrapRecovery)
        .report(rid)
        .recipient(RECOVERY_RECIPIENT, keys::key_id(public))
}

fn code_context(rid: [u8; 16]) -> Context {
    Context::new(Purpose::WrapCode).report(rid).role(Role::Reporter)
}

/// The report key (and staff key, if any) wrapped to a coordinator's public key. `None`
/// for a malformed id or key (a row no wrap can be made for).
pub fn wrap_to_coordinator(
    key: &ReportKey,
    rid: [u8; 16],
    coordinator_id: &str,
    public: &[u8],
) -> anyhow::Result<Option<Vec<u8>>> {
    let (Some(cid), Ok(public)) = (ids::parse(coordinator_id), <[u8; 32]>::try_from(public)) else {
        return Ok(None);
    };
    Ok(Some(keys::wrap_to_public(
        key,
        &public,
        &coordinator_context(rid, cid, &public),
    )?))
}

/// A coordinator's secret at one organisation (`coordinator_id` there) sealed to their own
/// public key at another (`home_public`): with one login at the home organisation they
/// may work at this one too. Bound to both, so it opens for no other pair.
pub fn link_secret(
    secret: &CoordinatorSecret,
    coordinator_id: &str,
    home_public: &[u8; 32],
) -> anyhow::Result<Vec<u8>> {
    let cid = ids::parse(coordinator_id).ok_or_else(|| anyhow::anyhow!("malformed coordinator id"))?;
    let bytes = secret.to_zeroizing_bytes();
    Ok(keys::seal_to_public(
        bytes.as_ref(),
        home_public,
        &link_context(cid, home_public),
    )?)
}

/// Opens what [`link_secret`] sealed, with the home account's secret.
pub fn open_link(blob: &[u8], coordinator_id: &str, home: &CoordinatorSecret) -> anyhow::Result<CoordinatorSecret> {
    let cid = ids::parse(coordinator_id).ok_or_else(|| anyhow::anyhow!("malformed coordinator id"))?;
    let raw = keys::open_with_secret(blob, home, &link_context(cid, &home.public_bytes()))?;
    Ok(CoordinatorSecret::from_slice(&raw)?)
}

fn link_context(cid: [u8; 16], home_public: &[u8; 32]) -> Context {
    Context::new(Purpose::CoordinatorLink)
        .record(cid)
        .recipient([0; 16], keys::key_id(home_public))
}

/// The report key (and staff key, if any) wrapped to the organisation's recovery key.
pub fn wrap_to_recovery(key: &ReportKey, rid: [u8; 16], recovery: &[u8; 32]) -> anyhow::Result<Vec<u8>> {
    Ok(keys::wrap_to_public(key, recovery, &recovery_context(rid, recovery))?)
}

/// The report key (never the staff key) sealed under the key derived from a meldcode.
pub fn wrap_to_code(kek: &Key32, header: &Argon2Header, rid: [u8; 16], key: &ReportKey) -> Vec<u8> {
    keys::seal_under_derived(kek, header, &code_context(rid), key.key().as_bytes())
}

/// The report key a meldcode's derived key opens, checked against the report's commitment.
pub fn open_with_code(kek: &Key32, rid: [u8; 16], wrapped: &[u8], commitment: &[u8]) -> Option<ReportKey> {
    let raw = keys::open_under_derived(kek, &code_context(rid), wrapped).ok()?;
    let key = ReportKey::from_key(Key32::from_slice(&raw).ok()?);
    key.check_commitment(rid, commitment).ok()?;
    Some(key)
}

/// The report key (with its staff key), if this coordinator holds a wrap for the report
/// and is a verified recipient. A report without a staff key whose signature counts (a new
/// one, one from before staff keys, or one whose staff key was planted) gets a fresh one,
/// signed by this coordinator, before anything can be sealed under it.
pub async fn unlock(
    store: &Store,
    verified: &Verified,
    secret: &CoordinatorSecret,
    coordinator_id: &str,
    id: &str,
) -> anyhow::Result<Option<(ReportKey, ReportRow)>> {
    if verified.coordinator(coordinator_id) != Some(secret.public_bytes()) {
        tracing::warn!("a coordinator whose key is not vouched for tried to open a report");
        return Ok(None);
    }
    let Some(rid) = ids::parse(id) else {
        return Ok(None);
    };
    // Twice at most: if another coordinator gave the report its staff key between our read
    // and our upgrade, read our (now re-wrapped) wrap again.
    for _ in 0..2 {
        let Some((mut key, row)) = unwrap(store, secret, coordinator_id, id).await? else {
            return Ok(None);
        };
        if let (true, Some(commitment)) = (key.has_staff_key(), row.staff_commitment.as_deref()) {
            let signed = store.staff_signature(id).await?;
            if verified.staff_key_signed(rid, commitment, signed.as_ref()) {
                return Ok(Some((key, row)));
            }
            tracing::warn!("a report's staff key has no signature that counts; giving it a new one");
        }
        if let Some(commitment) = give_staff_key(store, verified, secret, &mut key, &row).await? {
            let row = ReportRow {
                staff_commitment: Some(commitment.to_vec()),
                ..row
            };
            return Ok(Some((key, row)));
        }
    }
    anyhow::bail!(
        "report {id}: its staff key could not be made: it kept changing, or a note does not open with the key the wraps hold (changed by hand?)"
    )
}

async fn unwrap(
    store: &Store,
    secret: &CoordinatorSecret,
    coordinator_id: &str,
    id: &str,
) -> anyhow::Result<Option<(ReportKey, ReportRow)>> {
    let (Some(rid), Some(cid)) = (ids::parse(id), ids::parse(coordinator_id)) else {
        return Ok(None);
    };
    let Some(wrapped) = store.wrap(id, "coordinator", coordinator_id).await? else {
        return Ok(None);
    };
    let Some(row) = store.report(id).await? else {
        return Ok(None);
    };
    let public = secret.public_bytes();
    let key = unwrap_with_secret(&wrapped, secret, &coordinator_context(rid, cid, &public))?;
    key.check_commitment(rid, &row.key_commitment)?;
    key.check_staff_commitment(rid, row.staff_commitment.as_deref())?;
    Ok(Some((key, row)))
}

/// Gives a report a fresh staff key signed by `secret`'s owner: wraps report and staff key
/// to every verified holder (a wrap held by anyone else is removed: no verified recipient
/// could have been given it) and to the pinned recovery key, and re-seals its notes under
/// the new staff key, in one transaction. The new commitment, or `None` if the holders or
/// notes changed meanwhile (or a note did not open with the old key).
async fn give_staff_key(
    store: &Store,
    verified: &Verified,
    secret: &CoordinatorSecret,
    key: &mut ReportKey,
    row: &ReportRow,
) -> anyhow::Result<Option<[u8; 32]>> {
    let rid = ids::parse(&row.id).ok_or_else(|| anyhow::anyhow!("malformed report id"))?;
    let old = key.replace_staff_key();
    let commitment = key
        .staff_commitment(rid)
        .ok_or_else(|| anyhow::anyhow!("no staff key to give"))?;
    let signer = SigningKey::of(secret);
    let signature = signer.sign(&Statement::StaffKey {
        report_id: rid,
        commitment,
    });
    let mut wraps = Vec::new();
    let mut dropped = Vec::new();
    for (kind, recipient, before) in store.staff_wrap_holders(&row.id).await? {
        let public = if kind == "recovery" {
            verified.recovery
        } else {
            verified.coordinator(&recipient)
        };
        let Some(public) = public else {
            tracing::warn!(kind, "removing a wrap held by a recipient whose key is not vouched for");
            dropped.push((kind, recipient));
            continue;
        };
        let wrapped = if kind == "recovery" {
            wrap_to_recovery(key, rid, &public)?
        } else {
            wrap_to_coordinator(key, rid, &recipient, &public)?
                .ok_or_else(|| anyhow::anyhow!("malformed coordinator id"))?
        };
        wraps.push((kind, recipient, before, wrapped));
    }
    let mut notes = Vec::new();
    for m in store.messages(&row.id).await? {
        if m.kind != thread::NOTE {
            continue;
        }
        let (Some(role), Some(mid)) = (thread::role_of(&m.author_role), ids::parse(&m.id)) else {
            anyhow::bail!("malformed note {}", m.seq);
        };
        let ctx = thread::message_context(rid, mid, role, &m.kind);
        // Sealed under the old staff key (or the report key, before staff keys): open with
        // that, seal with the new one. One that does not open was re-sealed by a colleague
        // meanwhile, or the old key was planted.
        let Ok(plain) = key.open_staff_with(old.as_ref(), &ctx, &m.sealed) else {
            return Ok(None);
        };
        notes.push((m.id, key.seal_staff(&ctx, &plain)?));
    }
    let stored = store
        .add_staff_key(
            &row.id,
            row.staff_commitment.as_deref(),
            &commitment,
            (&signer.verifying_bytes(), &signature),
            &wraps,
            &dropped,
            &notes,
        )
        .await?;
    Ok(stored.then_some(commitment))
}

/// After a lost password: the key of every report in `held` that has a recovery wrap,
/// opened with the recovery key and wrapped to the coordinator's new public key, as
/// (report id, new wrap, the recovery wrap it came from).
pub async fn rewrap_from_recovery(
    store: &Store,
    recovery: &CoordinatorSecret,
    coordinator_id: &str,
    new_public: &[u8; 32],
    held: &[String],
) -> anyhow::Result<Vec<(String, Vec<u8>, Vec<u8>)>> {
    let recovery_public = recovery.public_bytes();
    let cid = ids::parse(coordinator_id).ok_or_else(|| anyhow::anyhow!("malformed coordinator id"))?;
    let mut wraps = Vec::new();
    for (report_id, commitment, staff_commitment, wrapped) in store
        .recovery_wraps()
        .await?
        .into_iter()
        .filter(|(id, ..)| held.contains(id))
    {
        let rid = ids::parse(&report_id).ok_or_else(|| anyhow::anyhow!("malformed report id"))?;
        let key = unwrap_with_secret(&wrapped, recovery, &recovery_context(rid, &recovery_public))
            .map_err(|e| anyhow::anyhow!("report {report_id}: {e}"))?;
        key.check_commitment(rid, &commitment)
            .map_err(|e| anyhow::anyhow!("report {report_id}: {e}"))?;
        // The staff key too: a forged one passed on would make the report unreadable.
        key.check_staff_commitment(rid, staff_commitment.as_deref())
            .map_err(|e| anyhow::anyhow!("report {report_id}: the staff key in its recovery wrap: {e}"))?;
        let to = keys::wrap_to_public(&key, new_public, &coordinator_context(rid, cid, new_public))?;
        wraps.push((report_id, to, wrapped));
    }
    Ok(wraps)
}

// ---- who may be wrapped to ------------------------------------------------------------

/// The recipient keys the service may wrap to, verified against the trust pin (a file
/// beside the pepper) and a chain of signatures, never against the database alone.
#[derive(Debug, Default)]
pub struct Verified {
    /// The recovery key to wrap to: the pinned one. `None` before set-up, or when the pin
    /// is missing although keys were vouched for (then nothing is wrapped at all).
    pub recovery: Option<[u8; 32]>,
    /// Verified coordinators: id → the X25519 key reports are wrapped to.
    coordinators: HashMap<String, [u8; 32]>,
    /// Verifying keys whose signatures count: the pin's roots and verified coordinators'.
    signers: HashSet<[u8; 32]>,
    /// Verified memberships: (group, coordinator id).
    members: HashSet<(String, String)>,
    /// The database's recovery key is not the pinned one: changed by hand.
    pub recovery_changed: bool,
    /// No pin yet: an installation from before verification, until the first coordinator
    /// who logs in vouches for its keys. Until then the database is trusted, as before.
    pub unvouched: bool,
    /// What failed verification: for the log, `/readyz` and the coordinators' banner.
    /// Names accounts and files, never a report.
    pub problems: Vec<String>,
}

impl Verified {
    /// The verified X25519 key of a coordinator, if they are one.
    pub fn coordinator(&self, id: &str) -> Option<[u8; 32]> {
        self.coordinators.get(id).copied()
    }

    /// Whether a coordinator is verified and their own signing key counts (not a
    /// recipient-only endorsement from the upgrade).
    pub fn vouched_signer(&self, c: &CoordinatorRow) -> bool {
        self.unvouched
            || (self.coordinator(&c.id).is_some() && c.verifying_key.as_deref().is_some_and(|v| self.is_signer(v)))
    }

    pub fn is_signer(&self, verifying: &[u8]) -> bool {
        <[u8; 32]>::try_from(verifying).is_ok_and(|v| self.signers.contains(&v))
    }

    /// Whether a verified coordinator is a verified member of `group`.
    pub fn routes_to(&self, group: &str, coordinator_id: &str) -> bool {
        self.coordinators.contains_key(coordinator_id)
            && self.members.contains(&(group.to_string(), coordinator_id.to_string()))
    }

    /// Says in the log what failed verification: the operator's first place to look.
    pub fn log_problems(&self) {
        for p in &self.problems {
            tracing::error!(problem = %p, "a recipient key failed verification");
        }
    }

    /// Whether a report's staff key carries a signature that counts.
    fn staff_key_signed(&self, rid: [u8; 16], commitment: &[u8], signed: Option<&(Vec<u8>, Vec<u8>)>) -> bool {
        let Some((signer, signature)) = signed else {
            return false;
        };
        let Ok(commitment) = <[u8; 32]>::try_from(commitment) else {
            return false;
        };
        (self.unvouched || self.is_signer(signer))
            && sign::verify(
                signer,
                &Statement::StaffKey {
                    report_id: rid,
                    commitment,
                },
                signature,
            )
    }
}

/// The trust pin of this organisation: beside the pepper file for the installation's first
/// organisation, in its own folder for every later one.
pub fn pin_path(settings: &Settings) -> PathBuf {
    match &settings.security.organisation_pin {
        Some(path) => path.clone(),
        None => pin::path_beside(&settings.security.pepper_file),
    }
}

/// [`verify`] against this installation's pin.
pub async fn verify_installation(store: &Store, settings: &Settings) -> anyhow::Result<Verified> {
    verify(store, &pin_path(settings)).await
}

/// Verifies every recipient key against the pin. Errors only when storage or the pin file
/// cannot be read; a key that fails is left out and named in `problems`.
pub async fn verify(store: &Store, pin_file: &Path) -> anyhow::Result<Verified> {
    let pin = TrustPin::load(pin_file)?;
    let stored_recovery = store.recovery_public_key().await?;
    let endorsements = store.endorsements().await?;
    let retired = store.retired_endorsements().await?;
    let coordinators = store.coordinators().await?;
    let members = store.signed_members().await?;
    let mut v = Verified::default();
    let Some(pin) = pin else {
        if !endorsements.is_empty() {
            v.problems.push(format!(
                "the trust pin {} is missing, though keys were vouched for: restore it from the copy kept with the pepper",
                pin_file.display()
            ));
            return Ok(v);
        }
        // From before verification: the database decides, as it did, until vouched for.
        v.unvouched = true;
        v.recovery = stored_recovery;
        for c in coordinators.iter().filter(|c| c.status == "active") {
            if let Ok(public) = <[u8; 32]>::try_from(c.public_key.as_slice()) {
                v.coordinators.insert(c.id.clone(), public);
            }
        }
        v.members = members.into_iter().map(|m| (m.group_name, m.coordinator_id)).collect();
        return Ok(v);
    };
    v.recovery = Some(pin.recovery);
    if stored_recovery.is_some_and(|r| r != pin.recovery) {
        v.recovery_changed = true;
        v.problems.push(format!(
            "the recovery public key in the database is not the one pinned in {}: it was changed by hand; new reports are wrapped to the pinned key only",
            pin_file.display()
        ));
    }
    v.signers.extend(pin.roots.iter().copied());
    // Follow the chain of signatures from the roots until nothing new is vouched for.
    let active: HashMap<&str, &CoordinatorRow> = coordinators
        .iter()
        .filter(|c| c.status == "active")
        .map(|c| (c.id.as_str(), c))
        .collect();
    loop {
        let mut grew = false;
        for e in &endorsements {
            if v.coordinators.contains_key(&e.coordinator_id) || !v.is_signer(&e.signer) {
                continue;
            }
            let Some(c) = active.get(e.coordinator_id.as_str()) else {
                continue;
            };
            // The row must carry the very keys that were vouched for.
            let Some((public, verifying)) = signed_keys(e).filter(|_| c.public_key == e.public_key) else {
                continue;
            };
            v.coordinators.insert(e.coordinator_id.clone(), public);
            // A receive-only endorsement (an account from before signatures, whose signing
            // key was not known when it was vouched for) signs nothing.
            if verifying != [0; 32] && c.verifying_key.as_deref() == Some(&verifying[..]) {
                v.signers.insert(verifying);
            }
            grew = true;
        }
        // A retired endorsement (keys replaced, or the coordinator removed) vouches for no
        // recipient, but what its key signed while it counted keeps counting.
        for e in &retired {
            if !v.is_signer(&e.signer) {
                continue;
            }
            if let Some((_, verifying)) = signed_keys(e) {
                if verifying != [0; 32] && v.signers.insert(verifying) {
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }
    for c in active.values() {
        if !v.coordinators.contains_key(&c.id) {
            v.problems.push(format!(
                "coordinator '{}' is active, but no colleague vouched for their key: they get no reports until approved in the browser",
                c.username
            ));
        }
    }
    for m in members {
        let statement = |cid| Statement::Member {
            group: &m.group_name,
            coordinator_id: cid,
        };
        match (&m.signer, &m.signature, ids::parse(&m.coordinator_id)) {
            (Some(signer), Some(sig), Some(cid))
                if v.is_signer(signer) && sign::verify(signer, &statement(cid), sig) =>
            {
                v.members.insert((m.group_name, m.coordinator_id));
            }
            // Added without a person (the command line): waits for a colleague to confirm.
            (None, None, _) => {}
            _ => v.problems.push(format!(
                "the membership of group '{}' for coordinator {} has no valid signature: it was changed by hand",
                m.group_name, m.coordinator_id
            )),
        }
    }
    Ok(v)
}

/// The keys an endorsement vouches for (public, verifying), if its signature over them
/// holds; whether its signer counts is the caller's to check.
fn signed_keys(e: &Endorsement) -> Option<([u8; 32], [u8; 32])> {
    let cid = ids::parse(&e.coordinator_id)?;
    let public = <[u8; 32]>::try_from(e.public_key.as_slice()).ok()?;
    let verifying = <[u8; 32]>::try_from(e.verifying_key.as_slice()).ok()?;
    let statement = Statement::Endorse {
        coordinator_id: cid,
        public,
        verifying,
    };
    sign::verify(&e.signer, &statement, &e.signature).then_some((public, verifying))
}

/// A coordinator's endorsement, signed by `signer`: the keys the row carries now.
pub fn endorse(
    signer: &SigningKey,
    coordinator_id: &str,
    public: &[u8],
    verifying: Option<&[u8]>,
) -> Option<Endorsement> {
    let cid = ids::parse(coordinator_id)?;
    let public_a = <[u8; 32]>::try_from(public).ok()?;
    // Without a known signing key the endorsement is receive-only (all zero).
    let verifying = match verifying {
        Some(v) => <[u8; 32]>::try_from(v).ok()?,
        None => [0; 32],
    };
    let signature = signer.sign(&Statement::Endorse {
        coordinator_id: cid,
        public: public_a,
        verifying,
    });
    Some(Endorsement {
        coordinator_id: coordinator_id.to_string(),
        public_key: public.to_vec(),
        verifying_key: verifying.to_vec(),
        signer: signer.verifying_bytes().to_vec(),
        signature: signature.to_vec(),
    })
}

/// A membership signature: (signer, signature).
pub fn sign_membership(signer: &SigningKey, group: &str, coordinator_id: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let cid = ids::parse(coordinator_id)?;
    let sig = signer.sign(&Statement::Member {
        group,
        coordinator_id: cid,
    });
    Some((signer.verifying_bytes().to_vec(), sig.to_vec()))
}

/// Vouching for the keys of an installation from before verification, by the first
/// coordinator who logs in after the upgrade: pins the recovery key as the database has it
/// and the coordinator's own signing key as the root, endorses every active colleague's
/// keys and signs every membership. Returns the fingerprints vouched for (username,
/// fingerprint), to show. Does nothing (an empty list) when a pin exists already.
pub async fn vouch_for_installation(
    store: &Store,
    pin_file: &Path,
    me: &CoordinatorSecret,
    now: i64,
) -> anyhow::Result<Vec<(String, String)>> {
    if TrustPin::load(pin_file)?.is_some() || !store.endorsements().await?.is_empty() {
        return Ok(vec![]);
    }
    let Some(recovery) = store.recovery_public_key().await? else {
        return Ok(vec![]);
    };
    let signer = SigningKey::of(me);
    let mut vouched = vec![("recovery".to_string(), crate::crypto::recovery::fingerprint(&recovery))];
    let mine = signer.verifying_bytes();
    for c in store.coordinators().await?.into_iter().filter(|c| c.status == "active") {
        // Colleagues are vouched for as recipients only: the signing key a row claims could
        // have been put there by hand. A colleague approves them again to make it count.
        let own = c.public_key == me.public_bytes();
        let verifying = own.then_some(&mine[..]);
        let Some(e) = endorse(&signer, &c.id, &c.public_key, verifying) else {
            continue;
        };
        store.set_endorsement(&e, now).await?;
        vouched.push((
            c.username.clone(),
            crate::crypto::sign::coordinator_fingerprint(&c.public_key, c.verifying_key.as_deref()),
        ));
    }
    let mut signed = Vec::new();
    for m in store.signed_members().await? {
        if let Some((s, sig)) = sign_membership(&signer, &m.group_name, &m.coordinator_id) {
            signed.push((m.group_name, m.coordinator_id, s, sig));
        }
    }
    store.sign_members(&signed).await?;
    TrustPin {
        recovery,
        roots: vec![signer.verifying_bytes()],
    }
    .store(pin_file)?;
    Ok(vouched)
}
