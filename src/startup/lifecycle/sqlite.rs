//! SQLite: an organisation is a database file with its evidence file beside it. Its export
//! is the consistent one-file copy `meldpunt backup` makes; its import puts that copy in
//! the organisation's new folder and opens it as the service will.

use std::io::Write;
use std::path::Path;

use super::files::{write_private, Places};
use super::sealed::{ExportKey, ExportWriter, Kind};
use super::{blocking, check_placed, walk, write_head, Contents, Counts};
use crate::crypto::kdf::Pepper;
use crate::crypto::Key32;
use crate::features::backup;
use crate::settings::Settings;
use crate::storage::{create_private_new, sibling, Store};

/// SQLite: a consistent copy of the organisation's database with its evidence in it (what
/// `meldpunt backup` writes), made beside the database, sealed into `out`, then deleted.
pub(super) async fn export(own: &Settings, contents: &Contents, key: &ExportKey, out: &Path) -> anyhow::Result<()> {
    let url = own.database.url.clone();
    let db = crate::storage::serving::sqlite_path(&url)?;
    let copy = sibling(&db, &format!("exporting-{}", crate::ids::new_id().0));
    let made = async {
        let mut conn = backup::open_sqlite_as_is(&url).await?;
        create_private_new(&copy)?;
        let written = backup::write_sqlite_copy(&mut conn, &url, &copy).await;
        sqlx::Connection::close(conn).await.ok();
        written?;
        // The first organisation's database is also the registry, with every other
        // organisation's sealed secret: none of it leaves with this one, nor any link to
        // another organisation of this installation.
        backup::empty_tables_in_copy(&copy, &installation_tables()).await?;
        backup::check_sqlite_copy(&copy).await?;
        anyhow::Ok(())
    }
    .await;
    let sealed = match made {
        Ok(()) => {
            let head = Contents {
                source: contents.source.clone(),
                settings: contents.settings.clone(),
                secret: Pepper::from_key(Key32::from_bytes(*contents.secret.expose())),
                pin: contents.pin.clone(),
            };
            let (key_copy, copy_path, out) = (key.duplicate(), copy.clone(), out.to_path_buf());
            blocking(move || {
                let file = std::fs::OpenOptions::new().write(true).open(&out)?;
                let mut w = ExportWriter::new(std::io::BufWriter::with_capacity(1 << 20, file), &key_copy)?;
                write_head(&mut w, &head)?;
                let mut data = std::fs::File::open(&copy_path)?;
                let len = data.metadata()?.len();
                w.begin(Kind::SqliteDatabase, len)?;
                std::io::copy(&mut data, &mut BodyWriter(&mut w))?;
                let file = w.finish()?.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                anyhow::Ok(())
            })
            .await
        }
        Err(e) => Err(e),
    };
    for leftover in [copy.clone(), sibling(&copy, "-journal")] {
        let _ = std::fs::remove_file(leftover);
    }
    sealed
}

/// Lets `std::io::copy` write into the record begun.
struct BodyWriter<'a, W: Write>(&'a mut ExportWriter<W>);

impl<W: Write> Write for BodyWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.body(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SQLite: the database from the export put in the organisation's new folder (checked, its
/// copy of any registry emptied), its pin beside the pepper, and the whole opened as the
/// service will open it. Returns what it holds.
pub(super) async fn place(
    own: &Settings,
    places: &Places,
    from: &Path,
    key: &ExportKey,
    contents: &Contents,
) -> anyhow::Result<Counts> {
    let db = places
        .database
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no place for the database"))?;
    let dir = db
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow::anyhow!("{} has no folder", db.display()))?;
    let staging = sibling(&db, "importing");
    let (from_path, key_copy, staging_path) = (from.to_path_buf(), key.duplicate(), staging.clone());
    blocking(move || {
        std::fs::create_dir_all(&dir)?;
        create_private_new(&staging_path)?;
        let mut file = std::fs::OpenOptions::new().write(true).open(&staging_path)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        let shown = from_path.display().to_string();
        walk(&from_path, &key_copy, &mut |_, len, r| r.copy_to(len, &mut out))
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        out.flush()?;
        drop(out);
        file.sync_all()?;
        anyhow::Ok(())
    })
    .await?;
    // An export of a first organisation carried no registry (export empties it); one made
    // by hand might: this installation's registry is the only one that counts, and links to
    // organisations of the exporting installation mean nothing here.
    backup::empty_tables_in_copy(&staging, &installation_tables()).await?;
    backup::check_sqlite_copy(&staging)
        .await
        .map_err(|e| e.context("the database in the export is not usable"))?;
    std::fs::rename(&staging, &db)?;
    crate::crypto::kdf::sync_folder_of(&db)?;
    if let Some(pin) = &contents.pin {
        write_private(&places.pin, pin)?;
    }
    // Opened as the service will: the schema brought up to date and the evidence moved
    // into its own file, then checked.
    let org_store = Store::open_organisation_file(&own.database.url, 2, false).await?;
    let opened = check_placed(&org_store, own, &contents.secret).await;
    org_store.close().await;
    opened
}

/// What an organisation's file may hold that is not the organisation's to take along: the
/// installation's registry and links to the installation's other organisations.
fn installation_tables() -> Vec<&'static str> {
    Store::REGISTRY_TABLES
        .iter()
        .chain(Store::NOT_CARRIED)
        .copied()
        .collect()
}
