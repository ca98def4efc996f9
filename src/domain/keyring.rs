//! A report's keys, from wrap to upgrade: the report key wrapped to its coordinators, to the
//! organisation's recovery key and to the reporter's meldcode; unlocking it for a holder;
//! giving an older report its staff key; and moving wraps after a recovery. Every wrap the
//! service makes is made here. Never logs a key.

use crate::crypto::envelope::{Context, Purpose, Role};
use crate::crypto::keys::{self, unwrap_with_secret, Argon2Header};
use crate::crypto::{CoordinatorSecret, Key32, ReportKey};
use crate::domain::thread;
use crate::ids;
use crate::storage::{ReportRow, Store};

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

/// The report key (with its staff key), if this coordinator holds a wrap for the report.
/// A report stored before staff keys gets one on this first look.
pub async fn unlock(
    store: &Store,
    secret: &CoordinatorSecret,
    coordinator_id: &str,
    id: &str,
) -> anyhow::Result<Option<(ReportKey, ReportRow)>> {
    // Twice at most: if another coordinator gave the report its staff key between our read
    // and our upgrade, read our (now re-wrapped) wrap again.
    for _ in 0..2 {
        let Some((mut key, row)) = unwrap(store, secret, coordinator_id, id).await? else {
            return Ok(None);
        };
        if key.has_staff_key() {
            return Ok(Some((key, row)));
        }
        key.add_staff_key();
        if give_staff_key(store, &key, &row).await? {
            // The row as stored now: with the commitment just written.
            let row = ReportRow {
                staff_commitment: ids::parse(id)
                    .and_then(|rid| key.staff_commitment(rid))
                    .map(|c| c.to_vec()),
                ..row
            };
            return Ok(Some((key, row)));
        }
    }
    anyhow::bail!("report {id}: its staff key kept changing while it was given one")
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

/// Upgrades a report stored before staff keys: wraps report and (new) staff key to every
/// coordinator holding it and to the recovery key, and re-seals its notes under the staff
/// key, in one transaction. False if the holders or notes changed meanwhile.
async fn give_staff_key(store: &Store, key: &ReportKey, row: &ReportRow) -> anyhow::Result<bool> {
    let rid = ids::parse(&row.id).ok_or_else(|| anyhow::anyhow!("malformed report id"))?;
    let commitment = key
        .staff_commitment(rid)
        .ok_or_else(|| anyhow::anyhow!("no staff key to give"))?;
    let mut wraps = Vec::new();
    for (kind, recipient, before) in store.staff_wrap_holders(&row.id).await? {
        let wrapped = if kind == "recovery" {
            let public = store
                .recovery_public_key()
                .await?
                .ok_or_else(|| anyhow::anyhow!("no recovery key"))?;
            wrap_to_recovery(key, rid, &public)?
        } else {
            let c = store
                .coordinator(&recipient)
                .await?
                .ok_or_else(|| anyhow::anyhow!("a wrap for an unknown coordinator"))?;
            wrap_to_coordinator(key, rid, &c.id, &c.public_key)?
                .ok_or_else(|| anyhow::anyhow!("malformed coordinator key"))?
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
        // Sealed under the report key before the upgrade: open with that, seal with staff.
        // One that does not open was re-sealed by a colleague's upgrade meanwhile.
        let Ok(plain) = key.open(&ctx, &m.sealed) else {
            return Ok(false);
        };
        notes.push((m.id, key.seal_staff(&ctx, &plain)));
    }
    Ok(store.add_staff_key(&row.id, &commitment, &wraps, &notes).await?)
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
    for (report_id, commitment, wrapped) in store
        .recovery_wraps()
        .await?
        .into_iter()
        .filter(|(id, _, _)| held.contains(id))
    {
        let rid = ids::parse(&report_id).ok_or_else(|| anyhow::anyhow!("malformed report id"))?;
        let key = unwrap_with_secret(&wrapped, recovery, &recovery_context(rid, &recovery_public))
            .map_err(|e| anyhow::anyhow!("report {report_id}: {e}"))?;
        key.check_commitment(rid, &commitment)
            .map_err(|e| anyhow::anyhow!("report {report_id}: {e}"))?;
        let to = keys::wrap_to_public(&key, new_public, &coordinator_context(rid, cid, new_public))?;
        wraps.push((report_id, to, wrapped));
    }
    Ok(wraps)
}
