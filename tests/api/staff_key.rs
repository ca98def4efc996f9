//! Internal notes and triage reasons are out of reach of the meldcode: someone holding a
//! report's code and the whole database opens the report but none of the notes about it. A
//! report stored before staff keys gets one on a coordinator's first look, its notes
//! re-sealed, and stays readable for every holder.

use meldpunt::crypto::envelope::{Context, Purpose, Role};
use meldpunt::crypto::keys::{self, ReportKey};
use meldpunt::domain::report::field;
use meldpunt::domain::thread::{message_context, role_of, NOTE};
use meldpunt::features::followup::open_with_code;
use meldpunt::storage::NewMessage;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, exec, hidden, marker, spawn_app, Backend, Browser, TestApp};

both_backends!(
    notes_are_out_of_reach_of_the_meldcode,
    a_report_from_before_staff_keys_gets_one_on_first_look
);

async fn open_first_report(coord: &Browser) -> (String, String) {
    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = coord.get(&href).await;
    assert_eq!(page.status, StatusCode::OK);
    (href, hidden(&page.body, "csrf").expect("csrf"))
}

/// Each note of the report, and whether the given key opens it (either way it could try).
async fn notes_opened_by(app: &TestApp, id: &str, key: &ReportKey) -> Vec<bool> {
    let rid = meldpunt::ids::parse(id).expect("id");
    let mut out = Vec::new();
    for m in app.state.store.messages(id).await.expect("messages") {
        if m.kind != NOTE {
            continue;
        }
        let ctx = message_context(
            rid,
            meldpunt::ids::parse(&m.id).expect("message id"),
            role_of(&m.author_role).expect("role"),
            &m.kind,
        );
        out.push(key.open(&ctx, &m.sealed).is_ok() || key.open_staff(&ctx, &m.sealed).is_ok());
    }
    out
}

async fn notes_are_out_of_reach_of_the_meldcode(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let what = marker("what");
    let code = app.submit_report(&app.browser(), &what).await;
    let (href, csrf) = open_first_report(&anna).await;
    let reason = marker("reason");
    let res = anna
        .post(
            &format!("{href}/ketenschakel"),
            &[
                ("csrf", csrf.as_str()),
                ("code", "preventie"),
                ("reason", reason.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let note = marker("note");
    anna.post(
        &format!("{href}/notitie"),
        &[("csrf", csrf.as_str()), ("note", note.as_str())],
    )
    .await;
    let page = anna.get(&href).await;
    assert!(
        page.body.contains(&note) && page.body.contains(&reason),
        "coordinators read notes and reasons"
    );

    // Someone with the meldcode and the database: the report opens, its notes do not.
    let (id, key) = open_with_code(&app.state, &code)
        .await
        .expect("the code opens the report");
    let rid = meldpunt::ids::parse(&id).expect("id");
    let sealed = app
        .state
        .store
        .report_field(&id, i64::from(field::WHAT))
        .await
        .expect("db")
        .expect("field");
    let ctx = Context::new(Purpose::ReportField)
        .report(rid)
        .role(Role::Reporter)
        .field(field::WHAT);
    assert_eq!(
        key.open(&ctx, &sealed).expect("the code's key opens the report"),
        what.as_bytes().to_vec().into()
    );
    let opened = notes_opened_by(&app, &id, &key).await;
    assert_eq!(opened.len(), 2, "the reason and the note");
    assert!(
        opened.iter().all(|o| !o),
        "no note opens with the meldcode's key: {opened:?}"
    );
}

async fn a_report_from_before_staff_keys_gets_one_on_first_look(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let what = marker("what");
    let code = app.submit_report(&app.browser(), &what).await;
    let (id, key) = open_with_code(&app.state, &code).await.expect("code opens");
    let rid = meldpunt::ids::parse(&id).expect("id");

    // Make it what an earlier version stored: wraps carrying the report key alone, no staff
    // commitment, and a note sealed under the report key.
    let store = &app.state.store;
    let anna_row = store.coordinator_by_username("anna").await.expect("db").expect("anna");
    let anna_public: [u8; 32] = anna_row.public_key.as_slice().try_into().expect("key");
    let anna_ctx = Context::new(Purpose::WrapCoordinator).report(rid).recipient(
        meldpunt::ids::parse(&anna_row.id).expect("id"),
        keys::key_id(&anna_public),
    );
    let old_wrap = keys::wrap_to_public(&key, &anna_public, &anna_ctx).expect("wrap");
    exec(
        store,
        "UPDATE report_wraps SET wrapped = $1 WHERE report_id = $2 AND recipient_kind = 'coordinator' AND recipient_id = $3",
        Some(&old_wrap),
        &[&id, &anna_row.id],
    )
    .await;
    let recovery_public = store.recovery_public_key().await.expect("db").expect("recovery");
    let recovery_ctx = Context::new(Purpose::WrapRecovery)
        .report(rid)
        .recipient([0xFF; 16], keys::key_id(&recovery_public));
    let old_recovery = keys::wrap_to_public(&key, &recovery_public, &recovery_ctx).expect("wrap");
    exec(
        store,
        "UPDATE report_wraps SET wrapped = $1 WHERE report_id = $2 AND recipient_kind = 'recovery'",
        Some(&old_recovery),
        &[&id],
    )
    .await;
    exec(
        store,
        "UPDATE reports SET staff_commitment = NULL WHERE id = $1",
        None,
        &[&id],
    )
    .await;
    let old_note = marker("oldnote");
    let (mid_text, mid) = meldpunt::ids::new_id();
    let sealed = key.seal(&message_context(rid, mid, Role::Coordinator, NOTE), old_note.as_bytes());
    store
        .insert_message(
            &NewMessage {
                id: mid_text,
                report_id: id.clone(),
                author_role: "coordinator".into(),
                author_id: Some(anna_row.id.clone()),
                kind: NOTE.into(),
                created_on: "2026-11-30".into(),
                sealed,
            },
            &[],
        )
        .await
        .expect("note");
    assert_eq!(
        notes_opened_by(&app, &id, &key).await,
        vec![true],
        "a note of the old kind"
    );

    // Anna's first look gives the report a staff key: she reads the old note, which the
    // meldcode's key no longer opens.
    let (href, csrf) = open_first_report(&anna).await;
    let page = anna.get(&href).await;
    assert!(
        page.body.contains(&what) && page.body.contains(&old_note),
        "{}",
        page.body
    );
    assert_eq!(
        notes_opened_by(&app, &id, &key).await,
        vec![false],
        "the old note was re-sealed"
    );
    let row = store.report(&id).await.expect("db").expect("report");
    assert!(row.staff_commitment.is_some());
    let new_note = marker("newnote");
    anna.post(
        &format!("{href}/notitie"),
        &[("csrf", csrf.as_str()), ("note", new_note.as_str())],
    )
    .await;
    let page = anna.get(&href).await;
    assert!(page.body.contains(&old_note) && page.body.contains(&new_note));
    assert_eq!(notes_opened_by(&app, &id, &key).await, vec![false, false]);

    // The re-wrapped recovery wrap carries the staff key too, and the reporter still reads.
    let recovery_wrap = store
        .wrap(&id, "recovery", "recovery")
        .await
        .expect("db")
        .expect("wrap");
    assert_ne!(recovery_wrap, old_recovery, "the recovery wrap was replaced");
    let thread = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
    assert_eq!(thread.status, StatusCode::OK);
    assert!(thread.body.contains(&what) && !thread.body.contains(&old_note));
}
