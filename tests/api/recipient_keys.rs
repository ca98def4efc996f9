//! Recipient keys a database writer cannot redirect (SECURITY.md, "Recipient keys"): a row
//! changed by hand (a coordinator's status, a membership, the recovery key, a staff key)
//! gets no wrap, is named by `/readyz` and on the coordinators' inbox, and a start with a
//! swapped recovery key is refused. And the fresh second-factor code before such actions
//! cannot be guessed.

use meldpunt::crypto::envelope::{Context, Purpose};
use meldpunt::crypto::keys::{self, unwrap_with_secret, CoordinatorSecret, ReportKey};
use meldpunt::crypto::recovery;
use meldpunt::domain::thread::{message_context, role_of, NOTE};
use meldpunt::features::followup::open_with_code;
use meldpunt::storage::Store;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    between, enrol_second_factor, exec, hidden, marker, spawn_app, spawn_app_with, test_settings, Backend, Browser,
    TestApp, T0,
};

both_backends!(
    a_coordinator_made_active_by_hand_gets_no_wrap_and_is_reported,
    a_swapped_recovery_key_is_refused_and_reported,
    a_forged_staff_wrap_is_refused_and_no_note_is_sealed_under_it,
    the_staff_key_upgrade_wraps_to_no_unverified_key,
    step_up_guessing_is_stopped_and_audited,
    what_a_removed_coordinator_signed_keeps_counting,
    an_installation_from_before_the_pin_is_vouched_for_by_its_first_login
);

async fn scalar(store: &Store, sql: &str, text: &str) -> i64 {
    match store {
        Store::Sqlite(p) => sqlx::query_scalar(sql).bind(text).fetch_one(p).await.expect("query"),
        Store::Postgres(p) => sqlx::query_scalar(sql).bind(text).fetch_one(p).await.expect("query"),
    }
}

async fn wraps_for(app: &TestApp, coordinator_id: &str) -> i64 {
    scalar(
        &app.state.store,
        "SELECT COUNT(*) FROM report_wraps WHERE recipient_kind = 'coordinator' AND recipient_id = $1",
        coordinator_id,
    )
    .await
}

/// An attacker's coordinator: a pending account (as `meldpunt coordinator add` makes one)
/// made active and put in every group by writing to the database.
async fn activated_by_hand(app: &TestApp, username: &str) -> (meldpunt::storage::CoordinatorRow, CoordinatorSecret) {
    let row = app.add_coordinator(username, "Mallory", "pending", &[]).await;
    let store = &app.state.store;
    exec(
        store,
        "UPDATE coordinators SET status = 'active' WHERE id = $1",
        None,
        &[&row.id],
    )
    .await;
    for g in ["integriteit", "burgemeester", "griffier"] {
        exec(
            store,
            "INSERT INTO group_members (group_name, coordinator_id) VALUES ($1, $2)",
            None,
            &[g, &row.id],
        )
        .await;
    }
    let secret = meldpunt::features::coordinator::account::unlock(&app.state.kdf, Some(&row), crate::helpers::PASSWORD)
        .await
        .expect("kdf")
        .expect("the attacker knows their own password");
    (row, secret)
}

async fn a_coordinator_made_active_by_hand_gets_no_wrap_and_is_reported(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    assert_eq!(app.browser().get("/readyz").await.status, StatusCode::OK);
    let (mallory, _) = activated_by_hand(&app, "mallory").await;

    app.submit_report(&app.browser(), &marker("what")).await;
    assert_eq!(
        wraps_for(&app, &mallory.id).await,
        0,
        "no wrap for a key nobody vouched for"
    );
    let anna_id = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna")
        .id;
    assert_eq!(
        wraps_for(&app, &anna_id).await,
        1,
        "the routed coordinator still gets the report"
    );

    // The operator is told: /readyz, and a banner on the coordinators' inbox.
    let ready = app.browser().get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.body.contains("recipient key"), "{}", ready.body);
    let inbox = anna.get("/beheer").await;
    assert!(inbox.body.contains("met de hand veranderd"), "{}", inbox.body);
    assert!(inbox.body.contains("mallory"), "the banner names the account");

    // Logged in, the planted account opens nothing either.
    let m = app.browser();
    m.post(
        "/beheer/inloggen",
        &[("username", "mallory"), ("password", crate::helpers::PASSWORD)],
    )
    .await;
    assert!(m.get("/beheer").await.body.contains("Er zijn geen meldingen voor u."));
}

async fn a_swapped_recovery_key_is_refused_and_reported(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_anna, paper) = app.setup("anna").await;
    let real = recovery::decode(&paper).expect("the paper key reads back");
    let theirs = CoordinatorSecret::generate();
    exec(
        &app.state.store,
        "UPDATE organisation SET recovery_public_key = $1",
        Some(&theirs.public_bytes()),
        &[],
    )
    .await;

    let ready = app.browser().get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.body);

    // A report that comes in anyway is wrapped to the pinned key, never to theirs.
    let code = app.submit_report(&app.browser(), &marker("what")).await;
    let (id, _) = open_with_code(&app.state, &code).await.expect("code opens");
    let rid = meldpunt::ids::parse(&id).expect("id");
    let wrapped = app
        .state
        .store
        .wrap(&id, "recovery", "recovery")
        .await
        .expect("db")
        .expect("wrap");
    let ctx = |public: &[u8; 32]| {
        Context::new(Purpose::WrapRecovery)
            .report(rid)
            .recipient([0xFF; 16], keys::key_id(public))
    };
    assert!(unwrap_with_secret(&wrapped, &real, &ctx(&real.public_bytes())).is_ok());
    assert!(unwrap_with_secret(&wrapped, &theirs, &ctx(&theirs.public_bytes())).is_err());

    // A start with the swapped key is refused, naming what changed.
    let dir = app.pepper_file.parent().expect("dir");
    let refused = meldpunt::startup::Application::build(test_settings(dir, &app.db_url), app.clock.clone()).await;
    let err = format!("{:#}", refused.err().expect("the start is refused"));
    assert!(
        err.contains("recovery public key") && err.contains("trust.pin"),
        "{err}"
    );
}

async fn open_first_report(coord: &Browser) -> (String, String) {
    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = coord.get(&href).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    (href, hidden(&page.body, "csrf").expect("csrf"))
}

/// Whether `key`'s staff key opens each note of the report.
async fn notes_open_with(app: &TestApp, id: &str, key: &ReportKey) -> Vec<bool> {
    let rid = meldpunt::ids::parse(id).expect("id");
    let mut out = Vec::new();
    for m in app.state.store.messages(id).await.expect("messages") {
        if m.kind != NOTE {
            continue;
        }
        let mid = meldpunt::ids::parse(&m.id).expect("message id");
        let ctx = message_context(rid, mid, role_of(&m.author_role).expect("role"), &m.kind);
        out.push(key.open_staff(&ctx, &m.sealed).is_ok());
    }
    out
}

/// Plants, as someone who has the meldcode, the pepper and the database, a staff key of
/// their own in `coordinator`'s wrap, with a matching commitment.
async fn plant_staff_key(app: &TestApp, code: &str, coordinator: &meldpunt::storage::CoordinatorRow) -> ReportKey {
    let (id, key) = open_with_code(&app.state, code).await.expect("code opens");
    let rid = meldpunt::ids::parse(&id).expect("id");
    let mut forged = ReportKey::from_key(keys::Key32::from_bytes(*key.key().as_bytes()));
    forged.replace_staff_key();
    let public: [u8; 32] = coordinator.public_key.as_slice().try_into().expect("key");
    let ctx = Context::new(Purpose::WrapCoordinator).report(rid).recipient(
        meldpunt::ids::parse(&coordinator.id).expect("id"),
        keys::key_id(&public),
    );
    let wrap = keys::wrap_to_public(&forged, &public, &ctx).expect("wrap");
    let store = &app.state.store;
    exec(
        store,
        "UPDATE report_wraps SET wrapped = $1 WHERE report_id = $2 AND recipient_kind = 'coordinator' AND recipient_id = $3",
        Some(&wrap),
        &[&id, &coordinator.id],
    )
    .await;
    let commitment = forged.staff_commitment(rid).expect("staff key");
    exec(
        store,
        "UPDATE reports SET staff_commitment = $1 WHERE id = $2",
        Some(&commitment),
        &[&id],
    )
    .await;
    forged
}

async fn a_forged_staff_wrap_is_refused_and_no_note_is_sealed_under_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let anna_row = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna");
    let code = app.submit_report(&app.browser(), &marker("what")).await;
    let (href, _) = open_first_report(&anna).await;
    let first = marker("first");
    let page = anna.get(&href).await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    anna.post(
        &format!("{href}/notitie"),
        &[("csrf", csrf.as_str()), ("note", first.as_str())],
    )
    .await;

    // The forged staff key in Anna's wrap, commitment to match: the note sealed before
    // does not open with it, so the report refuses rather than use it.
    let forged = plant_staff_key(&app, &code, &anna_row).await;
    let (id, _) = open_with_code(&app.state, &code).await.expect("code opens");
    let refused = anna.get(&href).await;
    assert_ne!(refused.status, StatusCode::OK, "a planted staff key is not used");
    assert!(!refused.body.contains(&first));

    // On a report no coordinator has written a note on yet, the planted key is replaced by
    // a fresh one Anna signs, and her note is sealed under that, not under theirs.
    let code2 = app.submit_report(&app.browser(), &marker("second report")).await;
    let forged2 = plant_staff_key(&app, &code2, &anna_row).await;
    let (id2, _) = open_with_code(&app.state, &code2).await.expect("code opens");
    let href2 = format!("/beheer/melding/{id2}");
    let page = anna.get(&href2).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let note = marker("note");
    anna.post(
        &format!("{href2}/notitie"),
        &[("csrf", csrf.as_str()), ("note", note.as_str())],
    )
    .await;
    assert!(anna.get(&href2).await.body.contains(&note), "Anna reads her note");
    assert_eq!(
        notes_open_with(&app, &id2, &forged2).await,
        vec![false],
        "the planted key opens no note"
    );
    assert!(notes_open_with(&app, &id, &forged).await.iter().all(|o| !o));
}

async fn the_staff_key_upgrade_wraps_to_no_unverified_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, paper) = app.setup("anna").await;
    let real = recovery::decode(&paper).expect("paper key");
    let code = app.submit_report(&app.browser(), &marker("what")).await;
    let (id, key) = open_with_code(&app.state, &code).await.expect("code opens");
    let rid = meldpunt::ids::parse(&id).expect("id");

    // Before any coordinator looks: a planted account with a wrap of the report key (known
    // from the meldcode), and the recovery key swapped in the database.
    let (mallory, mallory_secret) = activated_by_hand(&app, "mallory").await;
    let public = mallory_secret.public_bytes();
    let ctx = Context::new(Purpose::WrapCoordinator)
        .report(rid)
        .recipient(meldpunt::ids::parse(&mallory.id).expect("id"), keys::key_id(&public));
    let planted = keys::wrap_to_public(&key, &public, &ctx).expect("wrap");
    exec(
        &app.state.store,
        "INSERT INTO report_wraps (report_id, recipient_kind, recipient_id, wrapped) VALUES ($2, 'coordinator', $3, $1)",
        Some(&planted),
        &[&id, &mallory.id],
    )
    .await;
    let theirs = CoordinatorSecret::generate();
    exec(
        &app.state.store,
        "UPDATE organisation SET recovery_public_key = $1",
        Some(&theirs.public_bytes()),
        &[],
    )
    .await;

    // Anna's first look gives the report its staff key: to her and the pinned recovery key.
    open_first_report(&anna).await;
    assert_eq!(
        wraps_for(&app, &mallory.id).await,
        0,
        "the planted wrap is gone, not upgraded"
    );
    let recovery_wrap = app
        .state
        .store
        .wrap(&id, "recovery", "recovery")
        .await
        .expect("db")
        .expect("wrap");
    let rctx = |p: &[u8; 32]| {
        Context::new(Purpose::WrapRecovery)
            .report(rid)
            .recipient([0xFF; 16], keys::key_id(p))
    };
    let opened = unwrap_with_secret(&recovery_wrap, &real, &rctx(&real.public_bytes())).expect("the real recovery key");
    assert!(opened.has_staff_key(), "the recovery wrap carries the new staff key");
    assert!(unwrap_with_secret(&recovery_wrap, &theirs, &rctx(&theirs.public_bytes())).is_err());
}

async fn step_up_guessing_is_stopped_and_audited(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.security.require_totp = true).await;
    let (anna, _) = app.setup("anna").await;
    let (secret, _) = enrol_second_factor(&anna, T0).await;
    let bert = app.add_coordinator("bert", "Bert", "pending", &[]).await;
    let carla = app.add_coordinator("carla", "Carla", "active", &[]).await;
    let store = &app.state.store;
    let in_group = "SELECT COUNT(*) FROM group_members WHERE group_name = 'integriteit' AND coordinator_id = $1";

    // Adding a group member widens who reads every new report: without a fresh code it is
    // refused; with one it is done.
    let page = anna.get("/beheer/groepen").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let add = [
        ("csrf", csrf.as_str()),
        ("group", "integriteit"),
        ("coordinator", carla.id.as_str()),
    ];
    let res = anna.post("/beheer/groepen/lid-toevoegen", &add).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert_eq!(scalar(store, in_group, &carla.id).await, 0);
    app.clock.set(T0 + 30);
    let code = crate::helpers::totp_code(&secret, T0 + 30);
    let mut with_code = add.to_vec();
    with_code.push(("code", code.as_str()));
    let res = anna.post("/beheer/groepen/lid-toevoegen", &with_code).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(scalar(store, in_group, &carla.id).await, 1);

    // Guessing the code before an approval: each wrong one refused and audited; at the
    // login's limit (ten, the refused one above included) the session ends.
    let page = anna.get("/beheer/coordinatoren").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let approve = format!("/beheer/coordinatoren/{}/goedkeuren", bert.id);
    let mut ended = None;
    for guess in 0..12 {
        let code = format!("{:06}", 100_000 + guess);
        let res = anna
            .post(&approve, &[("csrf", csrf.as_str()), ("code", code.as_str())])
            .await;
        assert_ne!(res.status, StatusCode::OK, "no guess approves: {}", res.body);
        if anna.get("/beheer").await.status == StatusCode::SEE_OTHER {
            ended = Some(guess);
            break;
        }
    }
    assert_eq!(ended, Some(9), "nine more wrong codes, then the session ends");
    let failed = scalar(
        store,
        "SELECT COUNT(*) FROM audit_events WHERE action = $1",
        "step_up_failed",
    )
    .await;
    assert_eq!(failed, 10, "every wrong code is audited");
    let locked = scalar(
        store,
        "SELECT COUNT(*) FROM audit_events WHERE action = $1",
        "step_up_locked_out",
    )
    .await;
    assert_eq!(locked, 1);
    let row = store.coordinator(&bert.id).await.expect("db").expect("bert");
    assert_eq!(row.status, "pending", "nothing was approved");
}

async fn what_a_removed_coordinator_signed_keeps_counting(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_anna, _) = app.setup("anna").await;
    app.add_coordinator("bert", "Bert", "active", &[]).await;
    let carla = app.add_coordinator("carla", "Carla", "pending", &[]).await;

    // Bert approves Carla and puts her in the group, in the browser.
    let bert = app.browser();
    bert.post(
        "/beheer/inloggen",
        &[("username", "bert"), ("password", crate::helpers::PASSWORD)],
    )
    .await;
    let page = bert.get("/beheer/coordinatoren").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = bert
        .post(
            &format!("/beheer/coordinatoren/{}/goedkeuren", carla.id),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert!(res.body.contains("is goedgekeurd"), "{}", res.body);
    let res = bert
        .post(
            "/beheer/groepen/lid-toevoegen",
            &[
                ("csrf", csrf.as_str()),
                ("group", "integriteit"),
                ("coordinator", carla.id.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    // Bert leaves. What he signed while he was a colleague still counts: Carla keeps
    // receiving reports, and nothing is reported as changed by hand.
    assert!(app.state.store.remove_coordinator("bert").await.expect("remove"));
    app.submit_report(&app.browser(), &marker("after bert")).await;
    assert_eq!(wraps_for(&app, &carla.id).await, 1, "Carla still receives new reports");
    assert_eq!(app.browser().get("/readyz").await.status, StatusCode::OK);
}

async fn an_installation_from_before_the_pin_is_vouched_for_by_its_first_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    app.add_coordinator("bert", "Bert", "active", &["integriteit"]).await;
    // What an earlier version left: no pin, no endorsements, unsigned memberships.
    let pin = app.pepper_file.with_file_name("trust.pin");
    std::fs::remove_file(&pin).expect("no pin yet");
    let store = &app.state.store;
    exec(store, "DELETE FROM key_endorsements", None, &[]).await;
    exec(
        store,
        "UPDATE group_members SET signer = NULL, signature = NULL",
        None,
        &[],
    )
    .await;

    // Until someone vouches, it works as it did: reports reach the routed coordinators.
    assert_eq!(app.browser().get("/readyz").await.status, StatusCode::OK);
    app.submit_report(&app.browser(), &marker("before vouching")).await;
    let bert_id = store
        .coordinator_by_username("bert")
        .await
        .expect("db")
        .expect("bert")
        .id;
    assert_eq!(wraps_for(&app, &bert_id).await, 1);

    // Anna's next look at the inbox vouches for the keys as they stand, and says so.
    let inbox = anna.get("/beheer").await;
    assert!(inbox.body.contains("ingestaan voor de sleutels"), "{}", inbox.body);
    assert!(inbox.body.contains("bert: "), "the fingerprints are shown");
    assert!(pin.exists(), "the pin is written");
    assert!(
        !anna.get("/beheer").await.body.contains("ingestaan voor de sleutels"),
        "once"
    );

    // Bert still receives reports, but vouches for nobody until a colleague approves him.
    app.submit_report(&app.browser(), &marker("after vouching")).await;
    assert_eq!(wraps_for(&app, &bert_id).await, 2);
    let page = anna.get("/beheer/coordinatoren").await;
    assert!(page.body.contains("kan pas voor anderen instaan"), "{}", page.body);
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = anna
        .post(
            &format!("/beheer/coordinatoren/{bert_id}/goedkeuren"),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert!(res.body.contains("is goedgekeurd"), "{}", res.body);
    assert!(!res.body.contains("kan pas voor anderen instaan"));
    assert_eq!(app.browser().get("/readyz").await.status, StatusCode::OK);
}
