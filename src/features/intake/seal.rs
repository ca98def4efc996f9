//! Sealing a valid report under a fresh report key, wrapping that key to a new meldcode,
//! the pinned recovery key and the routed coordinators, and storing it all in one
//! transaction, so a code is only ever shown for a report that can be opened with it.

use sha2::{Digest, Sha256};

use super::{open_code_for_form, seal_code_for_form, ValidReport};
use crate::crypto::envelope::{Context, Purpose, Role};
use crate::crypto::keys::{Argon2Header, ReportKey};
use crate::domain::keyring;
use crate::domain::meldcode::Meldcode;
use crate::domain::report::field;
use crate::features::notify;
use crate::http::State;
use crate::ids;
use crate::storage::{NewReport, ReportInsert};

/// The new report's id and key, made before its form is read, and its pending files.
pub struct Sealing {
    pub id: String,
    pub rid: [u8; 16],
    pub key: ReportKey,
    pub files: Vec<String>,
    /// Coordinators the reporter excluded (and was allowed to), kept sealed with the report
    /// so nobody can give them access later.
    pub excluded: Vec<String>,
}

impl Sealing {
    pub fn fresh() -> Sealing {
        let (id, rid) = ids::new_id();
        Sealing {
            id,
            rid,
            key: ReportKey::generate(),
            files: vec![],
            excluded: vec![],
        }
    }
}

/// How storing a valid report went.
pub enum Stored {
    /// Stored; the meldcode to show once.
    Code(Meldcode),
    /// The same form was sent before; its code, shown again.
    Again(String),
    /// The same form was sent before and its code is no longer kept.
    Duplicate,
    /// The database refused; nothing was kept.
    Failed,
}

/// Seals `report` under a fresh report key, wraps that key to a new meldcode, the recovery
/// key and `coordinators`, and stores it all (with the notifications) in one transaction,
/// so a code is only ever shown for a report that can be opened with it.
pub async fn seal_and_store(
    state: &State,
    report: &ValidReport,
    recovery: [u8; 32],
    coordinators: &[(String, Vec<u8>)],
    token: &[u8],
    origin: &str,
    sealing: Sealing,
) -> anyhow::Result<Stored> {
    let notices = notify::notices(
        state,
        coordinators.iter().map(|(id, _)| id.clone()),
        notify::Event::NewReport,
    );

    let Sealing {
        id: report_id,
        rid,
        key,
        files,
        excluded,
    } = sealing;
    let mut code = Meldcode::generate();

    let header = Argon2Header::new(state.kdf.params);
    let kek = state
        .kdf
        .derive(
            crate::crypto::kdf::Lane::Report,
            code.secret_bytes(),
            header.salt,
            header.params,
        )
        .await?;
    let mut wraps = vec![
        (
            "code".to_string(),
            "reporter".to_string(),
            keyring::wrap_to_code(&kek, &header, rid, &key),
        ),
        (
            "recovery".into(),
            "recovery".into(),
            keyring::wrap_to_recovery(&key, rid, &recovery)?,
        ),
    ];
    for (cid, public) in coordinators {
        if let Some(wrapped) = keyring::wrap_to_coordinator(&key, rid, cid, public)? {
            wraps.push(("coordinator".into(), cid.clone(), wrapped));
        }
    }

    let seal = |f: u16, text: &str| {
        (
            i64::from(f),
            key.seal(
                &Context::new(Purpose::ReportField)
                    .report(rid)
                    .role(Role::Reporter)
                    .field(f),
                text.as_bytes(),
            ),
        )
    };
    let mut fields = vec![
        seal(field::WHAT, &report.what),
        seal(field::WHEN, &report.when),
        seal(field::WHERE, &report.place),
        seal(field::HOW_KNOWN, report.how_known.code()),
        seal(field::ANONYMITY, report.anonymity.code()),
        seal(field::CONTACT, &report.contact),
    ];
    if !excluded.is_empty() {
        fields.push(seal(field::EXCLUDED, &excluded.join("\n")));
    }
    if let Some(body) = report.body() {
        fields.push(seal(field::BODY, body));
    }
    let new = NewReport {
        id: report_id,
        key_commitment: key.commitment(rid).to_vec(),
        staff_commitment: key.staff_commitment(rid).map(|c| c.to_vec()),
        received_on: state.clock.today_string(),
        chain_label: report.about.code().into(),
        category: report.category.code().into(),
        subject_role: report.subject.code().into(),
        fields,
        wraps,
        form_token_hash: Sha256::digest(token).to_vec(),
        files,
        notices,
        next_due_on: crate::domain::deadlines::next_due_string(&state.clock.today_string(), None, None, "nieuw"),
        origin: origin.to_string(),
    };
    let stored = state
        .store
        .insert_report(&new, |collided| {
            if collided {
                code = code.with_new_locator();
            }
            (code.locator_hash(&state.kdf), seal_code_for_form(token, &code))
        })
        .await;
    Ok(match stored {
        Ok(ReportInsert::Stored) => Stored::Code(code),
        Ok(ReportInsert::DuplicateForm(Some(sealed))) => match open_code_for_form(token, &sealed) {
            Some(shown) => Stored::Again(shown),
            None => Stored::Duplicate,
        },
        Ok(ReportInsert::DuplicateForm(None)) => Stored::Duplicate,
        Err(e) => {
            tracing::error!(error = %e, "storing a report failed; nothing was kept");
            Stored::Failed
        }
    })
}
