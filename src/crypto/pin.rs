//! The trust pin: the organisation's recovery public key and the signing keys every
//! recipient key must be vouched for by (a chain of signatures), kept in a file beside the
//! pepper, outside the database. Someone who can write to the database cannot change it,
//! so they cannot make the service wrap a report to a key of their own.

use std::path::{Path, PathBuf};

/// What the pin file holds. Public keys only: not secret, but it must not be changed by
/// anyone who should not decide who reads reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPin {
    /// The recovery key's X25519 public key: every report is wrapped to it, and only to it.
    pub recovery: [u8; 32],
    /// Verifying keys that vouch for coordinators without being vouched for themselves: the
    /// recovery key's own (from set-up), or the first coordinator who vouched for the keys
    /// of an installation from before the pin.
    pub roots: Vec<[u8; 32]>,
}

/// The pin's place: beside the pepper file, whatever folder that is in.
pub fn path_beside(pepper_file: &Path) -> PathBuf {
    pepper_file.with_file_name(FILE_NAME)
}

/// The pin's file name, in whichever folder it is kept.
pub const FILE_NAME: &str = "trust.pin";

impl TrustPin {
    fn render(&self) -> String {
        let mut out = String::from(
            "# Meldpunt trust pin: the recovery public key and the keys that vouch for coordinators.\n\
             # Written at set-up. Keep a copy with the pepper; copy it to every machine that serves\n\
             # this database. A database whose recovery key differs from this one is refused.\n",
        );
        out.push_str(&format!("recovery {}\n", hex::encode(self.recovery)));
        for r in &self.roots {
            out.push_str(&format!("root {}\n", hex::encode(r)));
        }
        out
    }

    fn parse(text: &str) -> Result<TrustPin, String> {
        let mut recovery = None;
        let mut roots = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once(' ').ok_or(format!("line {} has no value", n + 1))?;
            let bytes: [u8; 32] = hex::decode(value.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(format!("line {} is not a 32-byte key in hex", n + 1))?;
            match key {
                "recovery" if recovery.is_none() => recovery = Some(bytes),
                "recovery" => return Err("it names two recovery keys".into()),
                "root" => roots.push(bytes),
                other => return Err(format!("line {} has an unknown key '{other}'", n + 1)),
            }
        }
        Ok(TrustPin {
            recovery: recovery.ok_or("it names no recovery key")?,
            roots,
        })
    }

    /// The pin at `path`: `Ok(None)` when there is no file.
    pub fn load(path: &Path) -> anyhow::Result<Option<TrustPin>> {
        match std::fs::read_to_string(path) {
            Ok(text) => TrustPin::parse(&text)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("the trust pin {} cannot be read: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read the trust pin {}: {e}", path.display())),
        }
    }

    /// Writes the pin whole or not at all: a new file beside it, synced, renamed over it,
    /// then the folder synced, so a crash leaves the old pin or the new one.
    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension("pin.new");
        let _ = std::fs::remove_file(&tmp);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(self.render().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_survives_a_round_trip_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_beside(&dir.path().join("pepper.key"));
        assert_eq!(TrustPin::load(&path).unwrap(), None);
        let pin = TrustPin {
            recovery: [7; 32],
            roots: vec![[1; 32], [2; 32]],
        };
        pin.store(&path).unwrap();
        assert_eq!(TrustPin::load(&path).unwrap(), Some(pin.clone()));
        pin.store(&path).unwrap();
        assert_eq!(TrustPin::load(&path).unwrap(), Some(pin));
        for bad in ["root 0101\n", "recovery zz\n", "# only a comment\n", "recovery \n"] {
            std::fs::write(&path, bad).unwrap();
            assert!(TrustPin::load(&path).is_err(), "{bad:?}");
        }
    }
}
