//! Building and running the web application: storage, pepper, Argon2id pool, routes and
//! middleware. Binds the listener first so tests can ask for port 0 and read the real port.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::crypto::kdf::{KdfPool, Pepper};
use crate::domain::keyring;
use crate::features::coordinator::account::SetupLink;
use crate::features::coordinator::overview::OverviewCache;
use crate::features::coordinator::{self, account};
use crate::features::intake::form_snapshot::FormCache;
use crate::features::notify::{self, Mailer};
use crate::features::{followup, intake, public, routing};
use crate::http::tenants::{Organisation, Organisations, Standing};
use crate::http::{self, paths, AppState};
use crate::settings::Settings;
use crate::storage::Store;

pub mod lifecycle;
pub mod organisations;

pub struct Application {
    port: u16,
    server: Server,
    /// The first organisation's state (the only one of a single-organisation installation).
    state: web::Data<AppState>,
    orgs: web::Data<Organisations>,
    installation: Arc<organisations::Installation>,
    /// Where set-up stands; holds the path of a fresh one-time link if one was made.
    pub setup: SetupLink,
    /// This instance's claim on the database, released when it stops serving (dropped with
    /// the rest of `self` at the end of [`Application::run_until_stopped`]).
    _claim: crate::storage::serving::ServingClaim,
}

/// The settings for a command: file and environment ([`Settings::load`]), then the
/// sections each feature owns, checked by that feature.
pub fn load_settings(file: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    let settings = Settings::load(file)?;
    check_feature_settings(&settings)?;
    Ok(settings)
}

fn check_feature_settings(settings: &Settings) -> anyhow::Result<()> {
    routing::validate_rules(&settings.routing)?;
    notify::digest_slots(&settings.notify.digest_times)?;
    Ok(())
}

/// For the administrative commands: the store and key derivation of an installation that
/// exists and is set up. Creates nothing (no database, no pepper) where there is none.
/// With an organisation chosen (`--organisation`), that organisation's, and `settings`
/// become its own.
pub async fn open_installation(settings: &mut Settings) -> anyhow::Result<(Store, KdfPool)> {
    let store = Store::connect_existing(&settings.database.url, settings.database.max_connections).await?;
    let chosen = match settings.chosen_organisation.clone() {
        Some(choice) => Some(organisations::find(&store, &choice).await?),
        None => None,
    };
    if let Some(entry) = chosen.filter(|e| e.id != 1) {
        let pepper = Pepper::load_or_create(&settings.security.pepper_file, false)?;
        let kdf = KdfPool::new(
            Pepper::random(),
            settings.kdf_params(),
            kdf_threads(settings),
            settings.security.kdf_queue,
        );
        let (own, org_store, org_kdf) = organisations::open_for_command(settings, &pepper, &kdf, &entry).await?;
        if org_store.coordinators().await?.is_empty() {
            anyhow::bail!(
                "organisation {} is not set up yet: finish its set-up in the browser (`meldpunt organisation add` printed a link)",
                entry.id
            );
        }
        *settings = own;
        return Ok((org_store, org_kdf));
    }
    if store.coordinators().await?.is_empty() {
        anyhow::bail!(
            "this Meldpunt is not set up yet: finish the set-up in the browser (`meldpunt init` prints a link)"
        );
    }
    let pepper = checked_pepper(&store, settings, false).await?;
    Ok((
        store,
        KdfPool::new(
            pepper,
            settings.kdf_params(),
            kdf_threads(settings),
            settings.security.kdf_queue,
        ),
    ))
}

/// For `organisation ...`: the installation's store (its registry) and pepper. Creates
/// nothing.
pub async fn open_registry(settings: &Settings) -> anyhow::Result<(Store, Pepper)> {
    let store = Store::connect_existing(&settings.database.url, settings.database.max_connections).await?;
    let fresh = store.coordinators().await?.is_empty() && store.pepper_check().await?.is_none();
    let pepper = checked_pepper(&store, settings, fresh).await?;
    Ok((store, pepper))
}

/// The pepper file, loaded (created only for a new installation) and checked against the
/// value the database keeps: a wrong file would otherwise start silently, every meldcode
/// and password would fail, and codes shown meanwhile would be lost for good.
async fn checked_pepper(store: &Store, settings: &Settings, fresh: bool) -> anyhow::Result<Pepper> {
    use subtle::ConstantTimeEq;
    let path = &settings.security.pepper_file;
    let pepper = Pepper::load_or_create(path, fresh)?;
    let check = pepper.check_value();
    match store.pepper_check().await? {
        Some(stored) if bool::from(stored.as_slice().ct_eq(&check)) => {}
        // Nothing was derived with the old one yet (no account, so no report either).
        Some(_) if fresh => store.set_pepper_check(&check).await?,
        Some(_) => anyhow::bail!(
            "the pepper file {} is not the one this database was used with; restore the right file \
             (kept with the recovery key). If it is lost for good, see README \"Lost pepper\".",
            path.display()
        ),
        // An installation from before the check, with accounts: nothing in it proves the file
        // right without a secret, and keying the meldcode locators with a wrong pepper would
        // lose every meldcode for good (and then refuse the right file). A coordinator's
        // password proves it, once.
        None if !fresh => anyhow::bail!(
            "this installation was made by a version that did not record which pepper it uses, so \
             this start cannot tell whether {} is the right one (a wrong one would make every \
             meldcode and password fail for good). Confirm it once, with the service stopped: \
             `meldpunt pepper confirm --username <a coordinator>` (asks their password; or \
             --password-file FILE). See README \"Upgrade\".",
            path.display()
        ),
        // A new installation.
        None => store.set_pepper_check(&check).await?,
    }
    Ok(pepper)
}

/// Refuses a start whose recipient keys were changed behind the service's back: a recovery
/// key in the database other than the pinned one, or a missing pin where keys were vouched
/// for. Other keys that fail (a coordinator made active by hand) are named in the log and
/// by `/readyz`, and are never wrapped to.
async fn check_recipient_keys(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let pin_file = keyring::pin_path(settings);
    let verified = keyring::verify(store, &pin_file).await?;
    if verified.recovery.is_none() || verified.recovery_changed {
        anyhow::bail!(
            "refusing to start: {}",
            verified
                .problems
                .first()
                .map(String::as_str)
                .unwrap_or("no recovery key is pinned")
        );
    }
    verified.log_problems();
    if verified.unvouched {
        tracing::warn!(
            pin = %pin_file.display(),
            "recipient keys are not vouched for yet (an installation from before this version): the first coordinator to log in vouches for them"
        );
    }
    Ok(())
}

fn kdf_threads(settings: &Settings) -> usize {
    match settings.security.kdf_threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    }
}

/// Opens storage and the pepper for the server and `init`. The pepper may only be created
/// while no coordinator exists: after that, a missing pepper file is an error.
pub async fn open_store_and_kdf(settings: &Settings) -> anyhow::Result<(Store, KdfPool)> {
    let store = Store::connect(&settings.database.url, settings.database.max_connections).await?;
    let fresh = store.coordinators().await?.is_empty();
    let pepper = checked_pepper(&store, settings, fresh).await?;
    let kdf = KdfPool::new(
        pepper,
        settings.kdf_params(),
        kdf_threads(settings),
        settings.security.kdf_queue,
    );
    let keyed = store
        .key_locators(|unkeyed| crate::domain::meldcode::keyed_locator(&kdf, unkeyed))
        .await?;
    if keyed > 0 {
        tracing::info!(
            reports = keyed,
            "keyed the meldcode locators of earlier reports with the pepper"
        );
    }
    Ok((store, kdf))
}

impl Application {
    pub async fn build(settings: Settings, clock: Clock) -> anyhow::Result<Application> {
        check_feature_settings(&settings)?;
        // What can refuse the start without the disk comes first, so a bad bind address, a
        // port in use or an unreadable logo leaves no database or pepper behind.
        let listener = TcpListener::bind(&settings.http.bind).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on http.bind = {}: {e}; choose another address or port (MELDPUNT_HTTP__BIND), \
                 or stop what is using it",
                settings.http.bind
            )
        })?;
        let mailer = Mailer::from_settings(&settings.smtp)?;
        // Read here only to refuse a bad one before anything is made on disk.
        crate::http::Logo::load(&settings.organisation.logo_file)?;
        let new_files = crate::storage::NewFiles::before_start(&settings.database.url, &settings.security.pepper_file);
        match Self::build_on(listener, mailer, settings, clock).await {
            Ok(app) => Ok(app),
            Err(e) => {
                new_files.remove();
                Err(e)
            }
        }
    }

    async fn build_on(
        listener: TcpListener,
        mailer: Mailer,
        settings: Settings,
        clock: Clock,
    ) -> anyhow::Result<Application> {
        let port = listener.local_addr()?.port();
        // Held while this instance runs: offline commands (restore, pepper replace) refuse
        // meanwhile, and this start is refused while one of them works.
        if let Ok(db) = crate::storage::serving::sqlite_path(&settings.database.url) {
            if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
        }
        let claim = crate::storage::serving::claim_serving(&settings.database.url).await?;
        let (store, kdf) = open_store_and_kdf(&settings).await?;
        let pepper = Pepper::load_or_create(&settings.security.pepper_file, false)?;
        organisations::ensure_first(&store, &settings, clock.now()).await?;
        let entries = store.organisations().await?;
        let single = entries.len() == 1;

        let setup = account::begin_setup(&store, "", clock.now(), settings.security.setup_link_hours, false).await?;
        let mut first_fails = None;
        if matches!(setup, SetupLink::Done) {
            // Set up: every routing rule must reach somebody, or reports could go unread.
            let checks = async {
                let first = entries.iter().find(|e| e.id == 1);
                let own = match first {
                    Some(entry) => organisations::organisation_settings(&settings, entry)?,
                    None => settings.clone(),
                };
                routing::check_groups_have_members(&store, &own.routing).await?;
                check_recipient_keys(&store, &own).await
            }
            .await;
            match checks {
                Ok(()) => {}
                // One organisation: it refuses to start, as an installation always did.
                Err(e) if single => return Err(e),
                // Several: the others serve on; this one answers 503 until it is fixed.
                Err(e) => {
                    tracing::error!(organisation = 1, error = %format!("{e:#}"), "the first organisation cannot serve; its pages answer 503 until this is fixed");
                    first_fails = Some(e);
                }
            }
        }
        let inst = Arc::new(organisations::Installation::new(
            settings.clone(),
            pepper,
            kdf,
            store,
            mailer,
            clock,
        ));
        let mut served = Vec::with_capacity(entries.len());
        let mut first_state = None;
        for entry in &entries {
            if entry.id == 1 {
                let state = match organisations::open(&inst, entry).await {
                    Ok(state) => state,
                    Err(e) if single => return Err(e),
                    Err(e) => {
                        tracing::error!(organisation = 1, error = %format!("{e:#}"), "the first organisation cannot serve");
                        served.push(organisations::serve(&inst, entry).await);
                        continue;
                    }
                };
                let standing = match (&first_fails, entry.state.as_str()) {
                    (Some(_), _) => Standing::Broken,
                    (None, "suspended") => Standing::Suspended,
                    _ => Standing::Active,
                };
                first_state = Some(state.clone());
                served.push(Arc::new(Organisation {
                    id: 1,
                    host: entry.host.clone(),
                    standing,
                    state: Some(state),
                    entry: entry.clone(),
                }));
            } else {
                served.push(organisations::serve(&inst, entry).await);
            }
        }
        let state = match first_state {
            Some(s) => s,
            // The first organisation was removed or cannot open: the handle tests and the
            // command line use is a bare state of the installation's own store.
            None => {
                let form = FormCache::new(inst.store.clone(), settings.routing.clone());
                organisations::organisation_state(
                    &inst,
                    1,
                    settings.clone(),
                    inst.store.clone(),
                    inst.kdf.clone(),
                    form,
                )?
            }
        };
        inst.shared
            .store(served.len() > 1, std::sync::atomic::Ordering::Relaxed);
        let orgs = web::Data::new(Organisations::new(served));
        let server = build_server(listener, orgs.clone())?;
        Ok(Application {
            port,
            server,
            state,
            orgs,
            installation: inst,
            setup,
            _claim: claim,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server (tests stop an instance before an offline command).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The chain overview's cache of the first organisation, for tests that compare it with
    /// a recount.
    pub fn overview(&self) -> Arc<OverviewCache> {
        self.state.features.get::<OverviewCache>().unwrap_or_default()
    }

    /// The organisations this process serves.
    pub fn organisations(&self) -> web::Data<Organisations> {
        self.orgs.clone()
    }

    /// A handle on the registry of organisations, for tests and embedding.
    pub fn registry(&self) -> RegistryHandle {
        RegistryHandle {
            inst: self.installation.clone(),
            orgs: self.orgs.clone(),
        }
    }

    /// Serves until stopped, with every organisation's background work: expired sessions
    /// and abandoned uploads once a minute, mail, retention, and following the registry.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let orgs = self.orgs.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                for state in orgs.serving() {
                    sweep(&state).await;
                }
            }
        });
        let inst = self.installation.clone();
        let orgs = self.orgs.clone();
        // A server quiet for a minute gives its Argon2 working memory back (shared by the
        // organisations) and its database page caches.
        let kdf_memory = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tick.tick().await;
                if inst.kdf.release_idle_memory(Duration::from_secs(60)) > 0 {
                    for state in orgs.serving() {
                        state.store.release_memory().await;
                    }
                }
            }
        });
        let orgs = self.orgs.clone();
        let inst = self.installation.clone();
        let worker = tokio::spawn(async move {
            let worker = crate::ids::new_id().0;
            let mut tick = tokio::time::interval(Duration::from_secs(inst.settings.notify.poll_seconds));
            loop {
                tick.tick().await;
                // In turn: one organisation's outbox holds up another's by at most one pass.
                for state in orgs.serving() {
                    if let Err(e) = notify::run_once(&state, &inst.mailer, &worker).await {
                        tracing::warn!(organisation = state.org_id, error = %format!("{e:#}"), "notification worker pass failed");
                    }
                }
            }
        });
        let orgs = self.orgs.clone();
        let form_codes = tokio::spawn(async move {
            let mut sweeps = std::collections::HashMap::<i64, crate::features::intake::FormCodeSweep>::new();
            let mut tick = tokio::time::interval(crate::features::intake::FormCodeSweep::EVERY);
            loop {
                tick.tick().await;
                for state in orgs.serving() {
                    let sweep = sweeps.entry(state.org_id).or_default();
                    if let Err(e) = sweep.sweep(&state.store).await {
                        tracing::warn!(error = %e, "could not forget the meldcodes of sent forms");
                    }
                }
            }
        });
        let orgs = self.orgs.clone();
        let inst = self.installation.clone();
        let retention = tokio::spawn(async move {
            let every = Duration::from_secs(inst.settings.retention.check_minutes.saturating_mul(60));
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                for state in orgs.serving() {
                    keep_up(&state).await;
                }
            }
        });
        let orgs = self.orgs.clone();
        let inst = self.installation.clone();
        let registry = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                if let Err(e) = organisations::sync(&inst, &orgs).await {
                    tracing::warn!(error = %format!("{e:#}"), "could not read the registry of organisations");
                }
            }
        });
        let result = self.server.await;
        sweeper.abort();
        kdf_memory.abort();
        worker.abort();
        form_codes.abort();
        retention.abort();
        registry.abort();
        result
    }
}

/// The registry of a running application.
#[derive(Clone)]
pub struct RegistryHandle {
    inst: Arc<organisations::Installation>,
    orgs: web::Data<Organisations>,
}

impl RegistryHandle {
    /// Reads the registry now (the server does so every two seconds), so an organisation
    /// added, suspended or removed from the command line is followed at once.
    pub async fn sync(&self) -> anyhow::Result<()> {
        organisations::sync(&self.inst, &self.orgs).await
    }

    /// `organisation add`, then [`RegistryHandle::sync`]: the organisation's id and set-up link.
    pub async fn add(&self, name: &str, url: &str) -> anyhow::Result<(i64, SetupLink)> {
        let added = self.inst.add(name, url).await?;
        self.sync().await?;
        Ok(added)
    }

    /// The state an organisation is served with.
    pub fn state_of(&self, id: i64) -> Option<web::Data<AppState>> {
        self.orgs.get(id).and_then(|o| o.state.clone())
    }
}

/// An organisation's minute: abandoned uploads, yesterday's form codes, stale sessions.
async fn sweep(state: &AppState) {
    let yesterday = state
        .clock
        .today()
        .pred_opt()
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    if let Err(e) = state.store.sweep_pending_files(state.clock.now()).await {
        tracing::warn!(error = %e, "could not sweep abandoned uploads");
    }
    if let Err(e) = state.store.forget_form_codes(&yesterday).await {
        tracing::warn!(error = %e, "could not forget old form codes");
    }
    let s = &state.settings.sessions;
    if let Err(e) = state
        .store
        .delete_stale_sessions(state.clock.now(), s.coordinator_idle_minutes * 60)
        .await
    {
        tracing::warn!(error = %e, "could not delete stale sessions");
    }
}

/// An organisation's hour: retention, orphaned evidence, planner statistics, and the
/// overview's overdue counts moved to a new day.
async fn keep_up(state: &AppState) {
    match crate::features::retention::purge(&state.store, &state.settings.retention, &state.clock, false).await {
        Ok(p) if !p.reports.is_empty() => {
            tracing::info!(
                organisation = state.org_id,
                reports = p.reports.len(),
                "destroyed the content of reports past retention"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not destroy reports past retention; will try again"),
    }
    if let Err(e) = state.store.sweep_orphan_segments().await {
        tracing::warn!(error = %e, "could not delete evidence left without its file row");
    }
    if let Err(e) = state.store.refresh_statistics().await {
        tracing::warn!(error = %e, "could not refresh the database's statistics");
    }
    // So the first coordinator to open the overview after midnight does not wait for it.
    if let Err(e) = state.store.recount_overdue(&state.clock.today_string()).await {
        tracing::warn!(error = %e, "could not recount the overdue reports for today");
    }
}

fn build_server(listener: TcpListener, orgs: web::Data<Organisations>) -> anyhow::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(orgs.clone())
            .wrap(from_fn(http::same_origin_posts))
            .wrap(from_fn(http::known_methods))
            .wrap(from_fn(http::refuse_nul_in_url))
            .wrap(from_fn(http::tenants::pick_organisation))
            .wrap(http::security_headers())
            .wrap(from_fn(http::access_log))
            // One resource per path with all its methods: the router then answers a method
            // the path lacks with 405 and the methods it has (`http::known_methods`).
            .service(web::resource(paths::HOME).route(web::get().to(public::home)))
            .service(
                web::resource(paths::REPORT)
                    .route(web::get().to(intake::form_page))
                    .route(web::post().to(intake::submit)),
            )
            .service(web::resource(paths::REPORT_LANGUAGE).route(web::post().to(intake::switch_language)))
            .service(
                web::resource(paths::FOLLOW_UP)
                    .route(web::get().to(followup::show))
                    .route(web::post().to(followup::enter_code)),
            )
            .service(web::resource(paths::FOLLOW_UP_REPLY).route(web::post().to(followup::reply)))
            .service(web::resource(paths::FOLLOW_UP_CLOSE).route(web::post().to(followup::close)))
            .service(web::resource("/opvolgen/bestanden/{file}").route(web::get().to(followup::download)))
            .service(web::resource(paths::ACCESSIBILITY).route(web::get().to(public::accessibility)))
            .service(web::resource(paths::PRIVACY).route(web::get().to(public::privacy)))
            .service(web::resource("/.well-known/security.txt").route(web::get().to(public::security_txt)))
            .service(web::resource(paths::STYLE).route(web::get().to(public::style)))
            .service(web::resource(paths::POW_SCRIPT).route(web::get().to(public::pow_script)))
            .service(web::resource(paths::LOGO).route(web::get().to(public::logo)))
            .service(web::resource("/healthz").route(web::get().to(public::healthz)))
            .service(web::resource("/readyz").route(web::get().to(public::readyz)))
            .service(web::resource(paths::ADMIN).route(web::get().to(coordinator::inbox::inbox)))
            .service(
                web::resource(paths::LOGIN)
                    .route(web::get().to(coordinator::login::login_page))
                    .route(web::post().to(coordinator::login::login)),
            )
            .service(web::resource(paths::LOGOUT).route(web::post().to(coordinator::login::logout)))
            .service(
                web::resource(paths::SECOND_FACTOR)
                    .route(web::get().to(coordinator::second_factor::show))
                    .route(web::post().to(coordinator::second_factor::verify)),
            )
            .service(
                web::resource("/beheer/coordinatoren/{id}/tweede-factor")
                    .route(web::post().to(coordinator::second_factor::reset)),
            )
            .service(
                web::resource("/beheer/inrichten/{token}")
                    .route(web::get().to(coordinator::setup::setup_page))
                    .route(web::post().to(coordinator::setup::setup_submit)),
            )
            .service(web::resource("/beheer/melding/{id}").route(web::get().to(coordinator::report::show_report)))
            .service(
                web::resource("/beheer/melding/{id}/ontvangst").route(web::post().to(coordinator::report::acknowledge)),
            )
            .service(web::resource("/beheer/melding/{id}/bericht").route(web::post().to(coordinator::report::reply)))
            .service(
                web::resource("/beheer/melding/{id}/bestanden/{file}")
                    .route(web::get().to(coordinator::report::download)),
            )
            .service(web::resource(paths::COORDINATORS).route(web::get().to(coordinator::coordinators::coordinators)))
            .service(
                web::resource("/beheer/coordinatoren/{id}/goedkeuren")
                    .route(web::post().to(coordinator::coordinators::approve)),
            )
            .service(web::resource(paths::GROUPS).route(web::get().to(coordinator::admin::groups)))
            .service(
                web::resource("/beheer/groepen/lid-toevoegen").route(web::post().to(coordinator::admin::add_member)),
            )
            .service(
                web::resource("/beheer/groepen/lid-verwijderen")
                    .route(web::post().to(coordinator::admin::remove_member)),
            )
            .service(web::resource(paths::OUTBOX).route(web::get().to(coordinator::admin::outbox)))
            .service(web::resource(paths::AUDIT).route(web::get().to(coordinator::triage::audit_trail)))
            .service(
                web::resource("/beheer/melding/{id}/status").route(web::post().to(coordinator::triage::change_status)),
            )
            .service(
                web::resource("/beheer/melding/{id}/ketenschakel")
                    .route(web::post().to(coordinator::triage::relabel_chain)),
            )
            .service(web::resource("/beheer/melding/{id}/bewaren").route(web::post().to(coordinator::register::extend)))
            .service(
                web::resource("/beheer/melding/{id}/soort")
                    .route(web::post().to(coordinator::triage::relabel_category)),
            )
            .service(web::resource("/beheer/melding/{id}/notitie").route(web::post().to(coordinator::triage::add_note)))
            .service(
                web::resource("/beheer/melding/{id}/afdrukken").route(web::get().to(coordinator::triage::print_view)),
            )
            .service(web::resource("/beheer/melding/{id}/toegang").route(web::post().to(coordinator::access::grant)))
            .service(
                web::resource("/beheer/melding/{id}/toegang-intrekken")
                    .route(web::post().to(coordinator::access::revoke)),
            )
            .service(
                web::resource(paths::PASSWORD)
                    .route(web::get().to(coordinator::password::show))
                    .route(web::post().to(coordinator::password::change)),
            )
            .service(web::resource(paths::OVERVIEW).route(web::get().to(coordinator::overview::show)))
            .service(web::resource("/beheer/overzicht.csv").route(web::get().to(coordinator::overview::download)))
            .service(web::resource(paths::REGISTER).route(web::get().to(coordinator::register::show)))
            .service(web::resource("/beheer/register.csv").route(web::get().to(coordinator::register::download)))
            .service(
                web::resource(paths::ORAL)
                    .route(web::get().to(coordinator::oral::form))
                    .route(web::post().to(coordinator::oral::record)),
            )
            .service(
                web::resource(paths::ORG_SETTINGS)
                    .route(web::get().to(coordinator::org_settings::show))
                    .route(web::post().to(coordinator::org_settings::save)),
            )
            .service(web::resource(paths::CONFIRM_MINUTES).route(web::post().to(followup::confirm_minutes)))
            .service(
                web::resource("/beheer/coordinatoren/uitnodigen").route(web::post().to(coordinator::invite::create)),
            )
            .service(web::resource(paths::ELSEWHERE).route(web::get().to(coordinator::elsewhere::show)))
            .service(web::resource("/beheer/organisaties/koppelen").route(web::post().to(coordinator::elsewhere::link)))
            .service(
                web::resource("/beheer/organisaties/overstappen").route(web::post().to(coordinator::elsewhere::switch)),
            )
            .service(web::resource("/beheer/overstappen/{token}").route(web::get().to(coordinator::elsewhere::arrive)))
            .service(
                web::resource("/beheer/uitnodiging/{token}")
                    .route(web::get().to(coordinator::invite::show))
                    .route(web::post().to(coordinator::invite::accept)),
            )
            .default_service(web::to(http::not_found))
    })
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}
