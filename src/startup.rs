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
use crate::http::{self, paths, AppState};
use crate::settings::Settings;
use crate::storage::Store;
use crate::throttle::Throttle;

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    features: Features,
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
pub async fn open_installation(settings: &Settings) -> anyhow::Result<(Store, KdfPool)> {
    let store = Store::connect_existing(&settings.database.url, settings.database.max_connections).await?;
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
        let logo = crate::http::Logo::load(&settings.organisation.logo_file)?;
        let new_files = crate::storage::NewFiles::before_start(&settings.database.url, &settings.security.pepper_file);
        match Self::build_on(listener, mailer, logo, settings, clock).await {
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
        logo: Option<crate::http::Logo>,
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

        let setup = account::begin_setup(&store, "", clock.now(), settings.security.setup_link_hours, false).await?;
        if matches!(setup, SetupLink::Done) {
            // Set up: every routing rule must reach somebody, or reports could go unread.
            routing::check_groups_have_members(&store, &settings.routing).await?;
            check_recipient_keys(&store, &settings).await?;
        }
        let form = FormCache::new(store.clone(), settings.routing.clone());
        form.load().await?;
        let settings_budget = settings.limits.anonymous_mib_per_hour.saturating_mul(1024 * 1024);
        let style = crate::http::stylesheet(&settings.organisation.colour);
        // Keyed by the pepper: every instance on the database accepts the others' challenges,
        // and forms open during a restart stay valid. Challenges live ten minutes.
        let pow = crate::pow::ProofOfWork::new(
            kdf.keyed_digest(b"meldpunt/v1/proof-of-work", b""),
            settings.security.pow_bits,
            600,
        );
        let state = web::Data::new(AppState {
            store,
            kdf,
            settings: Arc::new(settings),
            clock,
            // Ten wrong codes per locator (or logins per username) per quarter of an hour. No global
            // limit: it would let anyone lock every reporter out; the bounded Argon2id pool
            // already caps the guessing rate.
            code_throttle: Throttle::new(10, u32::MAX, 900),
            login_throttle: Throttle::new(10, u32::MAX, 900),
            mailer,
            background: tokio::runtime::Handle::current(),
            logo,
            style,
            evidence_budget: crate::throttle::Budget::new(settings_budget),
            pow,
        });
        let features = Features {
            form: web::Data::new(form),
            overview: web::Data::new(OverviewCache::default()),
        };
        let server = build_server(listener, state.clone(), features.clone())?;
        Ok(Application {
            port,
            server,
            state,
            features,
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

    /// The chain overview's cache of this server, for tests that compare it with a recount.
    pub fn overview(&self) -> web::Data<OverviewCache> {
        self.features.overview.clone()
    }

    /// Serves until stopped, deleting expired sessions once a minute.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let state = self.state.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
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
        });
        let state = self.state.clone();
        // A server quiet for a minute gives its Argon2 working memory back.
        let kdf_memory = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tick.tick().await;
                if state.kdf.release_idle_memory(Duration::from_secs(60)) > 0 {
                    state.store.release_memory().await;
                }
            }
        });
        let worker = tokio::spawn(notify::worker_loop(self.state.clone(), self.state.mailer.clone()));
        let state = self.state.clone();
        let form_codes = tokio::spawn(async move {
            let mut sweep = crate::features::intake::FormCodeSweep::default();
            let mut tick = tokio::time::interval(crate::features::intake::FormCodeSweep::EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = sweep.sweep(&state.store).await {
                    tracing::warn!(error = %e, "could not forget the meldcodes of sent forms");
                }
            }
        });
        let state = self.state.clone();
        let retention = tokio::spawn(async move {
            let every = Duration::from_secs(state.settings.retention.check_minutes.saturating_mul(60));
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match crate::features::retention::purge(&state.store, &state.settings.retention, &state.clock, false)
                    .await
                {
                    Ok(p) if !p.reports.is_empty() => {
                        tracing::info!(
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
                // The same hourly beat keeps the planner's statistics fresh.
                if let Err(e) = state.store.refresh_statistics().await {
                    tracing::warn!(error = %e, "could not refresh the database's statistics");
                }
                // And moves the overview's overdue counts to a new day, so the first
                // coordinator to open the overview after midnight does not wait for it.
                if let Err(e) = state.store.recount_overdue(&state.clock.today_string()).await {
                    tracing::warn!(error = %e, "could not recount the overdue reports for today");
                }
            }
        });
        let result = self.server.await;
        sweeper.abort();
        kdf_memory.abort();
        worker.abort();
        form_codes.abort();
        retention.abort();
        result
    }
}

/// What features keep for themselves, each handed to its handlers as its own `web::Data`,
/// so the shared state in [`AppState`] names no feature.
#[derive(Clone)]
struct Features {
    form: web::Data<FormCache>,
    overview: web::Data<OverviewCache>,
}

fn build_server(listener: TcpListener, state: web::Data<AppState>, features: Features) -> anyhow::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(features.form.clone())
            .app_data(features.overview.clone())
            .wrap(from_fn(http::same_origin_posts))
            .wrap(from_fn(http::known_methods))
            .wrap(from_fn(http::refuse_nul_in_url))
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
            .service(web::resource(paths::CONFIRM_MINUTES).route(web::post().to(followup::confirm_minutes)))
            .service(
                web::resource("/beheer/coordinatoren/uitnodigen").route(web::post().to(coordinator::invite::create)),
            )
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
