//! Where a later organisation's files are, and how they are written and destroyed: new
//! files private to the service's user, and every file overwritten with zeros (synced)
//! before it is deleted.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::pin_file;
use crate::settings::Settings;
use crate::startup::organisations::organisation_folder;
use crate::storage::{create_private_new, Backend};

/// A file's bytes; `None` when there is none.
pub(super) fn read_optional(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Where a later organisation's files are: its SQLite database (and the files beside it)
/// in a folder beside the installation's database, its trust pin in one beside the pepper.
pub(super) struct Places {
    /// SQLite only.
    pub database: Option<PathBuf>,
    pub pin: PathBuf,
}

impl Places {
    pub fn of(settings: &Settings, own: &Settings, id: i64) -> anyhow::Result<Places> {
        if id == 1 {
            anyhow::bail!("organisation 1's files are the installation's");
        }
        let database = match Backend::from_url(&settings.database.url)? {
            Backend::Sqlite => {
                let db = crate::storage::serving::sqlite_path(&own.database.url)?;
                let installation = crate::storage::serving::sqlite_path(&settings.database.url)?;
                // Never the installation's own files, whatever the settings say.
                if db.parent() != Some(organisation_folder(&installation, id).as_path()) {
                    anyhow::bail!(
                        "organisation {id}'s database is not in its own folder ({})",
                        db.display()
                    );
                }
                Some(db)
            }
            Backend::Postgres => None,
        };
        let pin = pin_file(own);
        if pin.parent() != Some(organisation_folder(&settings.security.pepper_file, id).as_path()) {
            anyhow::bail!(
                "organisation {id}'s trust pin is not in its own folder ({})",
                pin.display()
            );
        }
        Ok(Places { database, pin })
    }

    /// The organisation's own folders (one, when the database and the pepper share one).
    pub fn folders(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for file in self.database.iter().chain([&self.pin]) {
            if let Some(dir) = file.parent() {
                if !dirs.iter().any(|d| d == dir) {
                    dirs.push(dir.to_path_buf());
                }
            }
        }
        dirs
    }
}

/// Writes a new file readable by the service's user only, synced with its folder.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    create_private_new(path)?;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    crate::crypto::kdf::sync_folder_of(path)?;
    Ok(())
}

/// Overwrites a file with zeros (synced to disk) before deleting it; its size.
pub(super) fn shred_file(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        std::fs::remove_file(path)?;
        return Ok(0);
    }
    let len = meta.len();
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        let zeros = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        f.sync_all()?;
    }
    std::fs::remove_file(path)?;
    Ok(len)
}

/// Every file under `dir` overwritten with zeros and deleted, then the folders; how many
/// files and bytes. A folder that is not there is nothing to do.
pub(super) fn shred_folder(dir: &Path) -> std::io::Result<(u64, u64)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let (mut files, mut bytes) = (0, 0);
    for entry in entries {
        let path = entry?.path();
        if std::fs::symlink_metadata(&path)?.is_dir() {
            let (f, b) = shred_folder(&path)?;
            files += f;
            bytes += b;
        } else {
            bytes += shred_file(&path)?;
            files += 1;
        }
    }
    std::fs::remove_dir(dir)?;
    crate::crypto::kdf::sync_folder_of(dir)?;
    Ok((files, bytes))
}

/// "1.2 MiB".
pub(super) fn size(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}
