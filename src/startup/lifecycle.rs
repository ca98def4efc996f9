//! An organisation's lifecycle beyond add and suspend: `export` (one organisation to a file
//! the pepper alone cannot open, under a one-time export key), `import` (such a file into
//! this installation, as a new organisation whose every meldcode, login and file works) and
//! `remove` (its keys, then its content destroyed, and a certificate of what and when).

use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::organisations::{check_pepper, open_store, organisation_pepper, organisation_settings};
use crate::crypto::kdf::Pepper;
use crate::crypto::Key32;
use crate::features::backup::counted;
use crate::http::tenants::host_of_url;
use crate::settings::Settings;
use crate::storage::{create_private_new, Backend, OrganisationEntry, Store};

mod files;
mod postgres;
mod sealed;
mod sqlite;

use files::{read_optional, shred_file, shred_folder, size, Places};
pub use sealed::ExportKey;
use sealed::{ExportReader, ExportWriter, Kind, OpenError};

/// What an organisation holds, as its export and its certificate name it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub reports: i64,
    pub files: i64,
    pub coordinators: i64,
    pub messages: i64,
}

impl Counts {
    async fn of(store: &Store) -> anyhow::Result<Counts> {
        let (reports, files, coordinators, messages) = store.content_counts().await?;
        Ok(Counts {
            reports,
            files,
            coordinators,
            messages,
        })
    }

    /// "3 reports, 2 files, 1 coordinator, 5 messages".
    pub fn describe(&self) -> String {
        [
            counted(self.reports, "report", "reports"),
            counted(self.files, "evidence file", "evidence files"),
            counted(self.coordinators, "coordinator", "coordinators"),
            counted(self.messages, "message", "messages"),
        ]
        .join(", ")
    }
}

/// Where an exported organisation comes from: the export's first record.
#[derive(Debug, Clone)]
pub struct Source {
    pub backend: Backend,
    pub id: i64,
    pub name: String,
    pub url: String,
    pub created_at: i64,
    pub exported_at: i64,
    /// The public URL of the exporting installation's first organisation.
    pub installation: String,
    /// The newest migration the exporting version knew.
    pub schema: i64,
    pub counts: Counts,
}

impl Source {
    fn encode(&self) -> Vec<u8> {
        let backend = match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let numbers = [
            self.id,
            self.created_at,
            self.exported_at,
            self.schema,
            self.counts.reports,
            self.counts.files,
            self.counts.coordinators,
            self.counts.messages,
        ]
        .map(|n| n.to_string());
        sealed::fields(&[
            ("backend", backend),
            ("id", &numbers[0]),
            ("name", &self.name),
            ("url", &self.url),
            ("created_at", &numbers[1]),
            ("exported_at", &numbers[2]),
            ("installation", &self.installation),
            ("schema", &numbers[3]),
            ("reports", &numbers[4]),
            ("files", &numbers[5]),
            ("coordinators", &numbers[6]),
            ("messages", &numbers[7]),
        ])
    }

    fn decode(bytes: &[u8]) -> Result<Source, OpenError> {
        let fields = sealed::parse_fields(bytes)?;
        let text = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or(OpenError::Malformed("its header lacks a field"))
        };
        let number = |name: &str| {
            text(name)?
                .parse::<i64>()
                .map_err(|_| OpenError::Malformed("a header field is not a number"))
        };
        Ok(Source {
            backend: match text("backend")?.as_str() {
                "sqlite" => Backend::Sqlite,
                "postgres" => Backend::Postgres,
                _ => return Err(OpenError::Malformed("it names a database this version does not know")),
            },
            id: number("id")?,
            name: text("name")?,
            url: text("url")?,
            created_at: number("created_at")?,
            exported_at: number("exported_at")?,
            installation: text("installation")?,
            schema: number("schema")?,
            counts: Counts {
                reports: number("reports")?,
                files: number("files")?,
                coordinators: number("coordinators")?,
                messages: number("messages")?,
            },
        })
    }
}

/// The newest migration this version knows, for `backend`.
fn schema_of(backend: Backend) -> i64 {
    Store::migration_versions(backend)
        .last()
        .map(|(v, _)| *v)
        .unwrap_or_default()
}

/// The public URL of the installation: its first organisation's.
async fn installation_url(settings: &Settings, store: &Store) -> anyhow::Result<String> {
    Ok(store
        .organisations()
        .await?
        .into_iter()
        .find(|e| e.id == 1)
        .map(|e| e.url)
        .unwrap_or_else(|| settings.http.public_url.clone()))
}

/// The trust pin file an organisation's settings name.
fn pin_file(own: &Settings) -> PathBuf {
    crate::domain::keyring::pin_path(own)
}

/// Runs blocking file work (reading or writing a whole export) off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| anyhow::anyhow!("the work stopped: {e}"))?
}

/// What `export` wrote.
#[derive(Debug)]
pub struct Exported {
    pub source: Source,
    /// The file's size.
    pub bytes: u64,
    /// Shown once to the operator; the file opens with nothing else.
    pub key: ExportKey,
}

/// `organisation export`: the organisation `entry` of this installation (`store`, `pepper`:
/// the installation's) written to `out`, a new file, and read back once to check it.
pub async fn export(
    settings: &Settings,
    store: &Store,
    pepper: &Pepper,
    entry: &OrganisationEntry,
    out: &Path,
    now: i64,
) -> anyhow::Result<Exported> {
    if out.exists() {
        anyhow::bail!("{} exists already; give a new file name", out.display());
    }
    let own = organisation_settings(settings, entry)?;
    let backend = Backend::from_url(&own.database.url)?;
    let secret = organisation_pepper(pepper, entry)?;
    let org_store = if entry.id == 1 {
        store.clone()
    } else {
        open_store(&own, entry.id, false).await?
    };
    let counted = async {
        check_pepper(&org_store, &secret).await?;
        Counts::of(&org_store).await
    }
    .await;
    if counted.is_err() && entry.id != 1 {
        org_store.close().await;
    }
    let source = Source {
        backend,
        id: entry.id,
        name: entry.name.clone(),
        url: entry.url.clone(),
        created_at: entry.created_at,
        exported_at: now,
        installation: installation_url(settings, store).await?,
        schema: schema_of(backend),
        counts: counted?,
    };
    let contents = Contents {
        source,
        settings: entry.settings.clone(),
        secret,
        pin: read_optional(&pin_file(&own))?.map(Zeroizing::new),
    };
    let key = ExportKey::random();
    // Private from the start: sealed, but nobody else has any business with it.
    create_private_new(out)?;
    let written = match backend {
        Backend::Sqlite => sqlite::export(&own, &contents, &key, out).await,
        Backend::Postgres => postgres::export(&org_store, &contents, &key, out).await,
    };
    if entry.id != 1 {
        org_store.close().await;
    }
    let checked = match written {
        Ok(()) => read_whole(out, &key).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        let _ = std::fs::remove_file(out);
        return Err(e.context(format!("the export to {} failed; nothing was kept", out.display())));
    }
    Ok(Exported {
        source: contents.source,
        bytes: std::fs::metadata(out)?.len(),
        key,
    })
}

/// The small records of an export, as read back.
struct Contents {
    source: Source,
    settings: String,
    secret: Pepper,
    pin: Option<Zeroizing<Vec<u8>>>,
}

/// Writes the records every export starts with.
fn write_head<W: Write>(w: &mut ExportWriter<W>, contents: &Contents) -> std::io::Result<()> {
    w.record(Kind::Header, &contents.source.encode())?;
    w.record(Kind::Settings, contents.settings.as_bytes())?;
    w.record(Kind::Secret, contents.secret.expose())?;
    if let Some(pin) = &contents.pin {
        w.record(Kind::Pin, pin)?;
    }
    Ok(())
}

/// Reads a whole export, every chunk checked: its small records, and how many bytes of data
/// it holds. Nothing is written anywhere.
async fn read_whole(path: &Path, key: &ExportKey) -> anyhow::Result<(Contents, u64)> {
    let (path, key) = (path.to_path_buf(), key.duplicate());
    blocking(move || {
        let shown = path.display().to_string();
        walk(&path, &key, &mut |_, len, r| r.copy_to(len, &mut std::io::sink()))
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))
    })
    .await
}

/// Takes a data record's bytes from the reader: its kind, its length, the reader.
type DataSink<'a> = dyn FnMut(Kind, u64, &mut ExportReader<std::fs::File>) -> Result<(), OpenError> + 'a;

/// Reads the export at `path` from start to end. Every data record's bytes go to `data`
/// (its kind, its length, the reader to take them from); the small records are returned.
fn walk(path: &Path, key: &ExportKey, data: &mut DataSink<'_>) -> Result<(Contents, u64), OpenError> {
    let mut r = ExportReader::open(std::fs::File::open(path)?, key)?;
    let (kind, len) = r.next_record()?;
    if kind != Kind::Header {
        return Err(OpenError::Malformed("it does not start with its header"));
    }
    let source = Source::decode(&r.small(len)?)?;
    let (mut settings, mut secret, mut pin, mut bytes) = (None, None, None, 0u64);
    loop {
        let (kind, len) = r.next_record()?;
        match kind {
            Kind::End => break,
            Kind::Header => return Err(OpenError::Malformed("it has two headers")),
            Kind::Settings => {
                let text = String::from_utf8(r.small(len)?.to_vec())
                    .map_err(|_| OpenError::Malformed("its settings are not text"))?;
                settings = Some(text);
            }
            Kind::Secret => {
                let bytes = r.small(len)?;
                let key = Key32::from_slice(&bytes).map_err(|_| OpenError::Malformed("its secret is not 32 bytes"))?;
                secret = Some(Pepper::from_key(key));
            }
            Kind::Pin => pin = Some(r.small(len)?),
            Kind::SqliteDatabase | Kind::Rows => {
                let wanted = match source.backend {
                    Backend::Sqlite => Kind::SqliteDatabase,
                    Backend::Postgres => Kind::Rows,
                };
                if kind != wanted {
                    return Err(OpenError::Malformed("its data is not of the database its header names"));
                }
                bytes += len;
                data(kind, len, &mut r)?;
            }
        }
    }
    r.finish()?;
    let contents = Contents {
        source,
        settings: settings.ok_or(OpenError::Malformed("it has no settings record"))?,
        secret: secret.ok_or(OpenError::Malformed("it holds no secret"))?,
        pin,
    };
    Ok((contents, bytes))
}

/// What `import` added.
#[derive(Debug)]
pub struct Imported {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub counts: Counts,
    pub source: Source,
}

/// `organisation import`: the export at `from`, opened with `key`, added to this
/// installation (`store`, `pepper`: its own) as a new organisation, under its own name and
/// URL or the ones given. The whole file is checked before anything is written; whatever
/// fails after that takes away what was written.
#[allow(clippy::too_many_arguments)]
pub async fn import(
    settings: &Settings,
    store: &Store,
    pepper: &Pepper,
    from: &Path,
    key: &ExportKey,
    url: Option<&str>,
    name: Option<&str>,
    now: i64,
) -> anyhow::Result<Imported> {
    let (contents, _) = read_whole(from, key)
        .await
        .map_err(|e| e.context("nothing was imported"))?;
    let source = contents.source.clone();
    let backend = Backend::from_url(&settings.database.url)?;
    if source.backend != backend {
        anyhow::bail!(
            "{} holds an organisation of an installation on {}, and this one is on {}: an export \
             goes to an installation on the same database; nothing was imported",
            from.display(),
            backend_name(source.backend),
            backend_name(backend)
        );
    }
    if source.schema > schema_of(backend) {
        anyhow::bail!(
            "{} was written by a newer Meldpunt (its database is at version {}, this one knows up \
             to {}): upgrade this installation first; nothing was imported",
            from.display(),
            source.schema,
            schema_of(backend)
        );
    }
    let name = name.unwrap_or(&source.name).trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        anyhow::bail!("--name: give the organisation's name (at most 200 characters)");
    }
    let url = url.unwrap_or(&source.url).to_string();
    let host = host_of_url(&url).map_err(|e| anyhow::anyhow!("--url: {e}"))?;
    super::organisations::ensure_first(store, settings, now).await?;
    let known = store.organisations().await?;
    if let Some(other) = known.iter().find(|e| e.host == host) {
        anyhow::bail!(
            "organisation {} ({}) already answers on {host} in this installation: give the imported \
             one another address with --url; nothing was imported",
            other.id,
            other.name
        );
    }
    let id = store.next_organisation_id().await?;
    let entry = OrganisationEntry {
        id,
        name: name.clone(),
        url: url.clone(),
        host: host.clone(),
        state: "active".into(),
        sealed_key: None,
        settings: contents.settings.clone(),
        created_at: now,
    };
    // Checked as the service will read them, before anything is written.
    let own = organisation_settings(settings, &entry)
        .map_err(|e| e.context("the organisation's own settings do not fit this installation; nothing was imported"))?;
    // An export carries no logo file: one its settings name must be here already, or the
    // organisation could not be opened.
    crate::http::Logo::load(&own.organisation.logo_file).map_err(|e| {
        e.context(
            "its own settings name a logo this installation cannot read: put the file at that path \
             first; nothing was imported",
        )
    })?;
    let places = Places::of(settings, &own, id)?;
    for dir in places.folders() {
        if dir.exists() {
            anyhow::bail!(
                "{} exists already (left by an earlier attempt?): move it away; nothing was imported",
                dir.display()
            );
        }
    }
    let placed = match backend {
        Backend::Sqlite => sqlite::place(&own, &places, from, key, &contents).await,
        Backend::Postgres => postgres::place(&own, id, &places, from, key, &contents).await,
    };
    let registered = match placed {
        Ok(counts) => {
            let sealed = pepper.seal_organisation_key(id, &contents.secret);
            match store
                .add_organisation(id, &name, &url, &host, Some(&sealed), &contents.settings, now)
                .await
            {
                Ok(Some(_)) => Ok(counts),
                Ok(None) => Err(anyhow::anyhow!(
                    "--url: another organisation took {host} while this one was imported"
                )),
                Err(e) => Err(anyhow::anyhow!(
                    "could not add the organisation to the registry ({e}); if another was added at the same \
                     moment, run the command again"
                )),
            }
        }
        Err(e) => Err(e),
    };
    let counts = match registered {
        Ok(counts) => counts,
        Err(e) => {
            take_away(&places, &own, id).await;
            return Err(e.context("nothing was imported"));
        }
    };
    let detail = format!(
        "from {} ({}), organisation {} of {}, exported {}",
        source.name,
        source.url,
        source.id,
        source.installation,
        crate::clock::local_time(source.exported_at)
    );
    store
        .log_organisation_event(id, &name, "imported", &detail, now)
        .await?;
    Ok(Imported {
        id,
        name,
        url,
        counts,
        source,
    })
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

/// `organisation remove`: destroys the organisation `entry`'s keys (its sealed secret in
/// the registry, its trust pin), then its content, takes it out of the registry and logs
/// the certificate, which is returned for the operator to hand to the organisation.
/// `confirm` must be its name, exactly.
pub async fn remove(
    settings: &Settings,
    store: &Store,
    entry: &OrganisationEntry,
    confirm: &str,
    now: i64,
) -> anyhow::Result<String> {
    if confirm != entry.name {
        anyhow::bail!(
            "--confirm must be the organisation's name exactly as `meldpunt organisation list` shows it \
             (\"{}\" for organisation {}); nothing was removed",
            entry.name,
            entry.id
        );
    }
    let backend = Backend::from_url(&settings.database.url)?;
    if entry.id == 1 {
        let others = store.organisations().await?.len().saturating_sub(1);
        anyhow::bail!("{}", first_organisation_refusal(backend, others));
    }
    let own = organisation_settings(settings, entry)?;
    let places = Places::of(settings, &own, entry.id)?;
    // What it holds, counted before anything goes. After a removal that was cut short its
    // database may be gone or half overwritten: then the certificate says it is unknown.
    let counts = match open_store(&own, entry.id, false).await {
        Ok(org_store) => {
            let c = Counts::of(&org_store).await;
            org_store.close().await;
            c.ok()
        }
        Err(_) => None,
    };
    // An instance serving the installation follows the registry every two seconds; holding
    // the offline claim meanwhile keeps one from starting.
    let claim = crate::storage::serving::claim_offline(&settings.database.url, "organisation remove").await;

    // Keys first: without its secret no copy of its data left anywhere (a backup, a disk
    // block not yet overwritten) opens a meldcode or a password, even with the pepper.
    store.destroy_organisation_key(entry.id, now).await?;
    let mut destroyed_pin = false;
    for pin in [places.pin.clone(), places.pin.with_extension("pin.new")] {
        match shred_file(&pin) {
            Ok(_) => destroyed_pin |= pin == places.pin,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("cannot destroy the trust pin {}: {e}", pin.display()),
        }
    }
    if claim.is_err() {
        // A running service drops the organisation at its next look at the registry, and
        // with it its connections to the files about to be overwritten.
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    }

    let rows = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let org_store = open_store(&own, entry.id, false).await?;
            let deleted = org_store.delete_organisation_rows().await;
            org_store.close().await;
            Some(deleted.map_err(|e| {
                anyhow::anyhow!("cannot delete its rows ({e:#}); its keys are destroyed already: run the command again")
            })?)
        }
    };
    let (mut files, mut bytes) = (0, 0);
    for dir in places.folders() {
        let (f, b) = shred_folder(&dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot destroy {} ({e}); its keys are destroyed already: run the command again",
                dir.display()
            )
        })?;
        files += f;
        bytes += b;
    }
    let files = format!(
        "{} overwritten with zeros and deleted ({}), then its folder{}",
        counted(files as i64, "file", "files"),
        size(bytes),
        if places.folders().len() > 1 { "s" } else { "" }
    );
    let content = match rows {
        Some(n) => format!(
            "{} deleted from the shared tables through its own store (row-level security), in one \
             transaction; {files}",
            counted(i64::try_from(n).unwrap_or(i64::MAX), "row", "rows")
        ),
        None => files,
    };
    drop(claim);
    let installation = installation_url(settings, store).await?;
    let certificate = certificate(entry, &installation, counts, destroyed_pin, &content, now);
    store.remove_organisation(entry.id, &certificate, now).await?;
    Ok(certificate)
}

/// After a failed import: whatever was written, overwritten and deleted; on PostgreSQL
/// also its rows (written in one transaction, so only a failure after it leaves any).
async fn take_away(places: &Places, own: &Settings, id: i64) {
    if Backend::from_url(&own.database.url).ok() == Some(Backend::Postgres) {
        let deleted = async {
            let org_store = open_store(own, id, false).await?;
            let deleted = org_store.delete_organisation_rows().await;
            org_store.close().await;
            deleted
        }
        .await;
        if let Err(e) = deleted {
            tracing::warn!(organisation = id, error = %format!("{e:#}"), "could not delete the rows of a failed import");
        }
    }
    for dir in places.folders() {
        if let Err(e) = shred_folder(&dir) {
            tracing::warn!(folder = %dir.display(), error = %e, "could not take away what a failed import wrote");
        }
    }
}

/// Opens an organisation just placed as the service will: its secret checked against the
/// one its database was made with, and (once set up) every routing rule reaching someone
/// and every recipient key vouched for by its pin. What it holds.
async fn check_placed(org_store: &Store, own: &Settings, secret: &Pepper) -> anyhow::Result<Counts> {
    check_pepper(org_store, secret).await?;
    if org_store
        .organisation()
        .await?
        .is_some_and(|o| o.recovery_public_key.is_some())
    {
        crate::features::routing::check_groups_have_members(org_store, &own.routing).await?;
        super::check_recipient_keys(org_store, own).await?;
    }
    Counts::of(org_store).await
}

/// Why the first organisation is not removed, and what to do instead.
fn first_organisation_refusal(backend: Backend, others: usize) -> String {
    let why = match backend {
        Backend::Sqlite => {
            "its data is the installation's own database file, which also holds the registry of every \
             organisation, and its secret is the installation's pepper, under which every other \
             organisation's secret is sealed"
        }
        Backend::Postgres => {
            "its secret is the installation's pepper, under which every other organisation's secret is \
             sealed: it cannot be destroyed while the installation serves"
        }
    };
    let what = if others > 0 {
        format!(
            "To move it away, `meldpunt organisation export 1 --out FILE` and import that elsewhere; to \
             stop serving it, `meldpunt organisation suspend 1`. To end it for good, move the {others} other \
             organisation(s) to another installation (export, import, remove here), then stop the service \
             and destroy this installation's database, pepper file and trust pin."
        )
    } else {
        "It is the only organisation here: to end it for good, stop the service and destroy the \
         installation's database (with the files beside it), pepper file and trust pin."
            .to_string()
    };
    format!("organisation 1 is not removed by this command: {why}. {what} Nothing was removed.")
}

/// The certificate of removal: what was destroyed, when and where, and a SHA-256 over that
/// text, so a copy filed by the organisation can be told from a changed one.
fn certificate(
    entry: &OrganisationEntry,
    installation: &str,
    counts: Option<Counts>,
    pin: bool,
    content: &str,
    now: i64,
) -> String {
    use sha2::{Digest, Sha256};
    let held = match counts {
        Some(c) => c.describe(),
        None => "not known (its database could not be read: a removal cut short earlier)".into(),
    };
    let keys = if pin {
        "its own secret (the copy sealed in the registry) and its trust pin file"
    } else {
        "its own secret (the copy sealed in the registry); it had no trust pin file"
    };
    let text = format!(
        "Certificate of removal\n\
         Organisation: {}\n\
         Id: {} (never given to another organisation of this installation)\n\
         URL: {}\n\
         Installation: {installation}\n\
         Removed: {} (Europe/Amsterdam; {} seconds since 1970 UTC)\n\
         Keys destroyed first: {keys}\n\
         Content destroyed: {held}\n\
         How: {content}\n",
        entry.name,
        entry.id,
        entry.url,
        crate::clock::local_time(now),
        now
    );
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    format!("{text}SHA-256 of the lines above: {digest}\n")
}
