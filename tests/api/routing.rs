//! Routing decided on the server: the default rules, the reporter's exclusion (honoured,
//! or refused before anything is stored when it would leave nobody), forged recipient
//! fields ignored, and a configuration that routes to an empty group refused at start-up.

use meldpunt::settings::RoutingRule;
use meldpunt::startup::Application;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{hidden, report_fields, spawn_app_with, test_settings, Backend, TestApp};

both_backends!(
    groups_are_managed_in_the_browser,
    exclusion_is_honoured_or_refused_when_it_leaves_nobody,
    forged_recipient_fields_are_ignored,
    a_rule_to_an_empty_group_is_refused_at_start_up
);

async fn active(app: &TestApp, username: &str, groups: &[&str]) -> String {
    app.add_coordinator(username, &format!("{username} (naam)"), "active", groups)
        .await
        .id
}

async fn wrapped_to(app: &TestApp, coordinator_id: &str) -> usize {
    app.state.store.inbox(coordinator_id).await.expect("inbox").len()
}

async fn exclusion_is_honoured_or_refused_when_it_leaves_nobody(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.routing.excludable = vec!["bert".into(), "anna".into()]).await;
    let (anna_b, _) = app.setup("anna").await;
    let anna = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna")
        .id;
    let bert = active(&app, "bert", &["integriteit"]).await;

    // The form offers the excludable coordinators by name.
    let b = app.browser();
    let form = b.get("/melden").await;
    assert!(form.body.contains("bert (naam)") && form.body.contains("Anna de Vries"));
    let token = hidden(&form.body, "form_token").expect("token");
    let mut fields = report_fields("niet voor Bert", &token);
    fields.push(("exclude", bert.as_str()));
    let res = b.post("/melden", &fields).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        (wrapped_to(&app, &anna).await, wrapped_to(&app, &bert).await),
        (1, 0),
        "Bert excluded, Anna reads it"
    );
    // The exclusion outlives intake: Anna cannot give Bert access (he is not offered, and a
    // forged grant is answered as for nobody), while Carol, not excluded, can be given it.
    let carol = active(&app, "carol", &[]).await;
    let inbox = anna_b.get("/beheer").await;
    let href = crate::helpers::between(&inbox.body, "<td><a href=\"", "\"").expect("report link");
    let page = anna_b.get(&href).await;
    let grant_list = crate::helpers::between(&page.body, "<select id=\"grant-to\"", "</select>").expect("grant list");
    assert!(grant_list.contains(&carol), "{grant_list}");
    assert!(
        !grant_list.contains(&bert) && !grant_list.contains("bert (naam)"),
        "{grant_list}"
    );
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = anna_b
        .post(
            &format!("{href}/toegang"),
            &[("csrf", csrf.as_str()), ("coordinator", bert.as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(wrapped_to(&app, &bert).await, 0, "Bert was not given access");
    let res = anna_b
        .post(
            &format!("{href}/toegang"),
            &[("csrf", csrf.as_str()), ("coordinator", carol.as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(wrapped_to(&app, &carol).await, 1, "Carol was given access");

    // Excluding both members of the group would leave nobody: refused before storing.
    let form = b.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let mut fields = report_fields("voor niemand", &token);
    fields.push(("exclude", bert.as_str()));
    fields.push(("exclude", anna.as_str()));
    let res = b.post("/melden", &fields).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("niemand meer die haar kan lezen"));
    assert!(res.body.contains("Huis voor Klokkenluiders"), "external channels shown");
    assert!(res.body.contains("voor niemand"), "typed text kept");
    for id in [&bert, &anna] {
        assert!(
            res.body.contains(&format!("name=\"exclude\" value=\"{id}\" checked>")),
            "ticked boxes kept"
        );
    }
    assert_eq!(app.count("reports").await, 1);
}

async fn forged_recipient_fields_are_ignored(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.routing.excludable = vec![]).await;
    app.setup("anna").await;
    let anna = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna")
        .id;
    let carla = active(&app, "carla", &["griffier"]).await;
    let b = app.browser();
    let form = b.get("/melden").await;
    assert!(!form.body.contains("name=\"exclude\""), "nobody is excludable");
    let token = hidden(&form.body, "form_token").expect("token");
    let mut fields = report_fields("over een ambtenaar", &token);
    fields.extend([
        ("recipient", carla.as_str()),
        ("coordinator", carla.as_str()),
        ("groups", "griffier"),
        ("exclude", anna.as_str()),
    ]);
    let res = b.post("/melden", &fields).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(wrapped_to(&app, &carla).await, 0, "a forged recipient is not added");
    assert_eq!(
        wrapped_to(&app, &anna).await,
        1,
        "a non-excludable coordinator cannot be excluded"
    );
}

async fn a_rule_to_an_empty_group_is_refused_at_start_up(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.setup("anna").await;
    let dir = app.pepper_file.parent().expect("dir").to_path_buf();
    let mut settings = test_settings(&dir, &app.db_url);
    settings.routing.rule.insert(
        0,
        RoutingRule {
            name: "nazorg".into(),
            chain_labels: vec!["nazorg".into()],
            subject_roles: vec![],
            categories: vec![],
            bodies: vec![],
            groups: vec!["vertrouwenspersonen".into()],
        },
    );
    let err = Application::build(settings, app.clock.clone())
        .await
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("routing rule 'nazorg'") && msg.contains("'vertrouwenspersonen'"),
        "{msg}"
    );
}

async fn groups_are_managed_in_the_browser(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (anna, _) = app.setup("anna").await;
    let anna_id = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna")
        .id;
    let bert = active(&app, "bert", &[]).await;
    let page = anna.get("/beheer/groepen").await;
    assert!(page.body.contains("id=\"groep-griffier\""));
    let csrf = hidden(&page.body, "csrf").expect("csrf");

    // Anna is the only member of the burgemeester group: taking her out is refused.
    let res = anna
        .post(
            "/beheer/groepen/lid-verwijderen",
            &[
                ("csrf", csrf.as_str()),
                ("group", "burgemeester"),
                ("coordinator", anna_id.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.body.contains("Niet gedaan") && res.body.contains("bestuurders"));

    // Bert joins the griffier group; then Anna may leave it.
    let res = anna
        .post(
            "/beheer/groepen/lid-toevoegen",
            &[
                ("csrf", csrf.as_str()),
                ("group", "griffier"),
                ("coordinator", bert.as_str()),
            ],
        )
        .await;
    assert!(res.body.contains("Het lid is toegevoegd"), "{}", res.body);
    let audit = anna.get("/beheer/logboek").await;
    assert!(
        audit.body.contains("<td>griffier: bert</td>"),
        "the audit row names group and member"
    );
    let res = anna
        .post(
            "/beheer/groepen/lid-verwijderen",
            &[
                ("csrf", csrf.as_str()),
                ("group", "griffier"),
                ("coordinator", anna_id.as_str()),
            ],
        )
        .await;
    assert!(res.body.contains("uit de groep gehaald"));
    let members = app.state.store.group_members().await.expect("members");
    let griffier: Vec<&str> = members
        .iter()
        .filter(|m| m.group_name == "griffier")
        .map(|m| m.username.as_str())
        .collect();
    assert_eq!(griffier, vec!["bert"]);

    // Unknown groups or coordinators, or no token, change nothing.
    let res = anna
        .post(
            "/beheer/groepen/lid-toevoegen",
            &[
                ("csrf", csrf.as_str()),
                ("group", "bestaat-niet"),
                ("coordinator", bert.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = anna
        .post(
            "/beheer/groepen/lid-toevoegen",
            &[("group", "integriteit"), ("coordinator", bert.as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.state.store.group_members().await.expect("members").len(),
        members.len()
    );
}
