//! Opening the organisations of an installation: each its own store (a file of its own on
//! SQLite; its rows under row-level security on PostgreSQL), its own secret (locators,
//! passwords, throttles and proofs are keyed by it), its own trust pin, settings, limits
//! and caches, sharing only the Argon2 threads, the mail transport and the clock. Also
//! what the command line does to them: add, suspend, resume.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::web;

use crate::clock::Clock;
use crate::crypto::kdf::{KdfPool, Pepper};
use crate::features::coordinator::account::{self, SetupLink};
use crate::features::coordinator::overview::OverviewCache;
use crate::features::intake::form_snapshot::FormCache;
use crate::features::notify::Mailer;
use crate::features::routing;
use crate::http::tenants::{host_of_url, FeatureMap, Organisation, Organisations, Standing};
use crate::http::AppState;
use crate::settings::Settings;
use crate::storage::{Backend, OrganisationEntry, Store};
use crate::throttle::Throttle;

/// What every organisation of the process shares.
pub struct Installation {
    /// The configuration file's settings (each organisation's are these with its own over them).
    pub settings: Settings,
    /// The installation's pepper: the first organisation's secret, and the key every later
    /// organisation's secret is sealed under.
    pepper: Pepper,
    /// The first organisation's derivations; every other organisation's pool shares its
    /// threads and memory.
    pub kdf: KdfPool,
    /// The installation's database: the registry, and the first organisation's data.
    pub store: Store,
    pub mailer: Mailer,
    pub clock: Clock,
    /// Whether the installation serves more than one organisation (the coordinators'
    /// navigation then offers the switch between them); every organisation's state shares it.
    pub shared: Arc<std::sync::atomic::AtomicBool>,
    /// Held while the served set follows the registry: a sync asked for (after `add`) and
    /// the two-second loop must not interleave, or the slower could put back an older set.
    syncing: tokio::sync::Mutex<()>,
}

impl Installation {
    /// `organisation add` on this installation.
    pub async fn add(&self, name: &str, url: &str) -> anyhow::Result<(i64, SetupLink)> {
        add(&self.settings, &self.store, &self.pepper, name, url, self.clock.now()).await
    }

    pub fn new(settings: Settings, pepper: Pepper, kdf: KdfPool, store: Store, mailer: Mailer, clock: Clock) -> Self {
        Installation {
            settings,
            pepper,
            kdf,
            store,
            mailer,
            clock,
            shared: Arc::default(),
            syncing: tokio::sync::Mutex::new(()),
        }
    }
}

/// The folder of a later organisation's files: its SQLite database (beside the
/// installation's) and its trust pin (beside the pepper).
pub(super) fn organisation_folder(beside: &std::path::Path, id: i64) -> PathBuf {
    beside
        .parent()
        .unwrap_or(std::path::Path::new(""))
        .join("organisations")
        .join(id.to_string())
}

/// An organisation's settings: the installation's, its own over them, its name and URL.
/// For every organisation but the first, its database (SQLite) and trust pin are its own.
pub fn organisation_settings(base: &Settings, entry: &OrganisationEntry) -> anyhow::Result<Settings> {
    let mut s = base.for_organisation(&entry.settings)?;
    s.organisation.name = entry.name.clone();
    s.http.public_url = entry.url.clone();
    if entry.id != 1 {
        s.security.organisation_pin =
            Some(organisation_folder(&base.security.pepper_file, entry.id).join(crate::crypto::pin::FILE_NAME));
        if let Ok(db) = crate::storage::serving::sqlite_path(&base.database.url) {
            let own = organisation_folder(&db, entry.id).join("meldpunt.db");
            s.database.url = format!("sqlite://{}", own.display());
        }
    }
    routing::validate_rules(&s.routing)?;
    crate::features::notify::digest_slots(&s.notify.digest_times)?;
    Ok(s)
}

/// Registers the first organisation of an installation that has none yet (a new one, or
/// one from before organisations existed), from the configuration file: its data is the
/// installation database's, its secret the pepper.
pub async fn ensure_first(store: &Store, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let host = host_of_url(&settings.http.public_url).map_err(|e| anyhow::anyhow!("http.public_url: {e}"))?;
    let known = store.organisations().await?;
    match known.as_slice() {
        [] => {
            store
                .add_organisation(
                    1,
                    &settings.organisation.name,
                    &settings.http.public_url,
                    &host,
                    None,
                    "",
                    now,
                )
                .await?;
        }
        // A single organisation is configured by the file, as before there were several;
        // a name its coordinators gave it (on the settings page, in its own settings) stays.
        [only] if only.id == 1 => {
            let name = settings
                .for_organisation(&only.settings)
                .map(|own| own.organisation.name)
                .unwrap_or_else(|_| settings.organisation.name.clone());
            if only.name != name || only.url != settings.http.public_url {
                store
                    .set_organisation_identity(1, &name, &settings.http.public_url, &host)
                    .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A later organisation's store: created (file and schema) on SQLite when `create`.
pub(super) async fn open_store(settings: &Settings, id: i64, create: bool) -> anyhow::Result<Store> {
    let url = &settings.database.url;
    let max = settings.database.max_connections;
    match Backend::from_url(url)? {
        Backend::Sqlite => {
            if create {
                if let Ok(db) = crate::storage::serving::sqlite_path(url) {
                    if let Some(dir) = db.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                }
            }
            Store::open_organisation_file(url, max, create).await
        }
        Backend::Postgres => Store::connect_organisation(url, max, id).await,
    }
}

/// The organisation's own secret; `pepper`: the installation's.
pub(super) fn organisation_pepper(pepper: &Pepper, entry: &OrganisationEntry) -> anyhow::Result<Pepper> {
    match &entry.sealed_key {
        None if entry.id == 1 => Ok(Pepper::from_key(crate::crypto::Key32::from_bytes(*pepper.expose()))),
        None => anyhow::bail!("organisation {} has no key of its own", entry.id),
        Some(sealed) => pepper.open_organisation_key(entry.id, sealed).map_err(|_| {
            anyhow::anyhow!(
                "organisation {}'s key does not open with this pepper file: the registry was copied from \
                 another installation, or the pepper file is not this installation's",
                entry.id
            )
        }),
    }
}

/// Checks `pepper` against what the organisation's database recorded at its creation.
pub(super) async fn check_pepper(store: &Store, pepper: &Pepper) -> anyhow::Result<()> {
    use subtle::ConstantTimeEq;
    let check = pepper.check_value();
    match store.pepper_check().await? {
        Some(stored) if bool::from(stored.as_slice().ct_eq(&check)) => Ok(()),
        Some(_) => anyhow::bail!("the organisation's key is not the one its database was made with"),
        None => Ok(store.set_pepper_check(&check).await?),
    }
}

/// The state one organisation is served with.
pub fn organisation_state(
    inst: &Installation,
    id: i64,
    settings: Settings,
    store: Store,
    kdf: KdfPool,
    form: FormCache,
) -> anyhow::Result<web::Data<AppState>> {
    let logo = crate::http::Logo::load(&settings.organisation.logo_file)?;
    let budget = settings.limits.anonymous_mib_per_hour.saturating_mul(1024 * 1024);
    let style = crate::http::stylesheet(&settings.organisation.colour);
    // Keyed by the organisation's secret: every instance accepts the others' challenges,
    // forms open during a restart stay valid, and one organisation's proof buys nothing at
    // another. Challenges live ten minutes.
    let pow = crate::pow::ProofOfWork::new(
        kdf.keyed_digest(b"meldpunt/v1/proof-of-work", b""),
        settings.security.pow_bits,
        600,
    );
    let mut features = FeatureMap::default();
    features.insert(form);
    features.insert(OverviewCache::default());
    Ok(web::Data::new(AppState {
        store,
        kdf,
        settings: Arc::new(settings),
        clock: inst.clock.clone(),
        // Ten wrong codes per locator (or logins per username) per quarter of an hour. No
        // global limit: it would let anyone lock every reporter out; the bounded Argon2id
        // pool already caps the guessing rate.
        code_throttle: Throttle::new(10, u32::MAX, 900),
        login_throttle: Throttle::new(10, u32::MAX, 900),
        mailer: inst.mailer.clone(),
        background: tokio::runtime::Handle::current(),
        logo,
        style,
        evidence_budget: crate::throttle::Budget::new(budget),
        pow,
        org_id: id,
        registry: inst.store.clone(),
        shared: inst.shared.clone(),
        features,
    }))
}

/// Opens an organisation: the first with the installation's store and derivations
/// (checked by start-up), every later one with its own.
pub async fn open(inst: &Installation, entry: &OrganisationEntry) -> anyhow::Result<web::Data<AppState>> {
    let settings = organisation_settings(&inst.settings, entry)?;
    let (store, kdf) = if entry.id == 1 {
        (inst.store.clone(), inst.kdf.clone())
    } else {
        let store = open_store(&settings, entry.id, true).await?;
        let pepper = organisation_pepper(&inst.pepper, entry)?;
        check_pepper(&store, &pepper).await?;
        if store
            .organisation()
            .await?
            .is_some_and(|o| o.recovery_public_key.is_some())
        {
            routing::check_groups_have_members(&store, &settings.routing).await?;
            super::check_recipient_keys(&store, &settings).await?;
        }
        (store, inst.kdf.for_organisation(pepper))
    };
    let form = FormCache::new(store.clone(), settings.routing.clone());
    form.load().await?;
    organisation_state(inst, entry.id, settings, store, kdf, form)
}

fn standing_of(entry: &OrganisationEntry) -> Standing {
    if entry.state == "suspended" {
        Standing::Suspended
    } else {
        Standing::Active
    }
}

/// An organisation as served: open, or broken (its error logged, the others serve on).
pub async fn serve(inst: &Installation, entry: &OrganisationEntry) -> Arc<Organisation> {
    let (standing, state) = match open(inst, entry).await {
        Ok(state) => (standing_of(entry), Some(state)),
        Err(e) => {
            tracing::error!(organisation = entry.id, error = %format!("{e:#}"), "cannot open an organisation; its pages answer 503 until this is fixed");
            (Standing::Broken, None)
        }
    };
    Arc::new(Organisation {
        id: entry.id,
        host: entry.host.clone(),
        standing,
        state,
        entry: entry.clone(),
    })
}

/// Brings the served set in line with the registry: opens organisations added since,
/// follows suspensions, resumptions and changed settings, and drops removed ones.
pub async fn sync(inst: &Installation, orgs: &Organisations) -> anyhow::Result<()> {
    let _one_at_a_time = inst.syncing.lock().await;
    let entries = inst.store.organisations().await?;
    let current = orgs.all();
    let mut next = Vec::with_capacity(entries.len());
    let mut changed = entries.len() != current.len();
    for entry in &entries {
        let known = current.iter().find(|o| o.id == entry.id);
        let same = known.filter(|o| {
            o.state.is_some()
                && o.entry.name == entry.name
                && o.entry.url == entry.url
                && o.entry.settings == entry.settings
                && o.entry.sealed_key == entry.sealed_key
        });
        match same {
            Some(o) if o.entry.state == entry.state => next.push(o.clone()),
            Some(o) => {
                changed = true;
                next.push(Arc::new(Organisation {
                    id: o.id,
                    host: entry.host.clone(),
                    standing: standing_of(entry),
                    state: o.state.clone(),
                    entry: entry.clone(),
                }));
            }
            None => {
                changed = true;
                next.push(serve(inst, entry).await);
            }
        }
    }
    inst.shared
        .store(entries.len() > 1, std::sync::atomic::Ordering::Relaxed);
    if changed {
        for gone in current.iter().filter(|o| !entries.iter().any(|e| e.id == o.id)) {
            if let (Some(state), true) = (&gone.state, gone.id != 1) {
                state.store.close().await;
            }
        }
        orgs.replace(next);
    }
    Ok(())
}

/// `organisation add`: registers an organisation, creates its store and makes its
/// one-time set-up link (the same set-up the first organisation gets).
pub async fn add(
    settings: &Settings,
    store: &Store,
    pepper: &Pepper,
    name: &str,
    url: &str,
    now: i64,
) -> anyhow::Result<(i64, SetupLink)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        anyhow::bail!("--name: give the organisation's name (at most 200 characters)");
    }
    let host = host_of_url(url).map_err(|e| anyhow::anyhow!("--url: {e}"))?;
    ensure_first(store, settings, now).await?;
    let secret = Pepper::random();
    let id = store.next_organisation_id().await?;
    let sealed = pepper.seal_organisation_key(id, &secret);
    store
        .add_organisation(id, name, url, &host, Some(&sealed), "", now)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "could not add the organisation ({e}); if another was added at the same moment, run the command again"
            )
        })?
        .ok_or_else(|| anyhow::anyhow!("--url: another organisation already answers on {host}"))?;
    let entry = store
        .organisations()
        .await?
        .into_iter()
        .find(|o| o.id == id)
        .ok_or_else(|| anyhow::anyhow!("the new organisation disappeared from the registry"))?;
    let made = async {
        let own = organisation_settings(settings, &entry)?;
        let org_store = open_store(&own, id, true).await?;
        check_pepper(&org_store, &secret).await?;
        let link = account::begin_setup(&org_store, url, now, settings.security.setup_link_hours, true).await?;
        org_store.close().await;
        anyhow::Ok(link)
    }
    .await;
    match made {
        Ok(link) => Ok((id, link)),
        Err(e) => {
            store
                .remove_organisation(id, "its database could not be made", now)
                .await?;
            Err(e)
        }
    }
}

/// The organisation a command names: its id, or the host of its URL (or the URL).
pub async fn find(store: &Store, choice: &str) -> anyhow::Result<OrganisationEntry> {
    let entries = store.organisations().await?;
    let host = host_of_url(choice).unwrap_or_else(|_| crate::http::tenants::normal_host(choice.trim()));
    entries
        .into_iter()
        .find(|e| choice.trim().parse::<i64>().ok() == Some(e.id) || e.host == host)
        .ok_or_else(|| {
            anyhow::anyhow!("no organisation '{choice}' in this installation; `meldpunt organisation list` shows them")
        })
}

/// For a command run against a later organisation (`--organisation`): its settings, store
/// and derivations. Creates nothing. `store` and `pepper` are the installation's.
pub async fn open_for_command(
    settings: &Settings,
    pepper: &Pepper,
    kdf: &KdfPool,
    entry: &OrganisationEntry,
) -> anyhow::Result<(Settings, Store, KdfPool)> {
    let own = organisation_settings(settings, entry)?;
    let org_store = open_store(&own, entry.id, false).await?;
    let secret = organisation_pepper(pepper, entry)?;
    check_pepper(&org_store, &secret).await?;
    Ok((own, org_store, kdf.for_organisation(secret)))
}

/// Whether an organisation finished its set-up ("yes", "no", or why it cannot be told).
pub async fn is_set_up(settings: &Settings, store: &Store, entry: &OrganisationEntry) -> String {
    let answer = async {
        let org_store = if entry.id == 1 {
            store.clone()
        } else {
            let own = organisation_settings(settings, entry)?;
            open_store(&own, entry.id, false).await?
        };
        let done = org_store
            .organisation()
            .await?
            .is_some_and(|o| o.recovery_public_key.is_some());
        if entry.id != 1 {
            org_store.close().await;
        }
        anyhow::Ok(if done { "yes" } else { "no" })
    }
    .await;
    match answer {
        Ok(a) => a.to_string(),
        Err(e) => format!("cannot tell ({e})"),
    }
}

/// A new one-time set-up link for an organisation not set up yet (earlier links stop
/// working).
pub async fn setup_link(
    settings: &Settings,
    store: &Store,
    pepper: &Pepper,
    entry: &OrganisationEntry,
    now: i64,
) -> anyhow::Result<SetupLink> {
    let org_store = if entry.id == 1 {
        store.clone()
    } else {
        let own = organisation_settings(settings, entry)?;
        let s = open_store(&own, entry.id, false).await?;
        check_pepper(&s, &organisation_pepper(pepper, entry)?).await?;
        s
    };
    let link = account::begin_setup(&org_store, &entry.url, now, settings.security.setup_link_hours, true).await;
    if entry.id != 1 {
        org_store.close().await;
    }
    link
}

/// The sections a TOML text of own settings sets, for the log ("organisation, routing").
pub fn sections_of(own: &str) -> String {
    own.lines()
        .filter_map(|l| l.trim().strip_prefix('['))
        .filter_map(|l| l.split([']', '.']).next())
        .map(|l| l.trim_start_matches('[').trim().to_string())
        .fold(Vec::<String>::new(), |mut v, x| {
            if !v.contains(&x) {
                v.push(x);
            }
            v
        })
        .join(", ")
}
