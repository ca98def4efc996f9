//! Settings: the embedded `config/default.toml`, an optional file, then
//! `MELDPUNT_<SECTION>__<KEY>` environment variables; and the start-up checks that refuse
//! weak or unusable values. Holds no secret itself (the pepper lives in its own file).

use std::path::PathBuf;

use serde::Deserialize;

use crate::crypto::kdf::KdfParams;

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub security: SecuritySettings,
    pub organisation: OrganisationSettings,
    pub limits: LimitSettings,
    pub sessions: SessionSettings,
    pub log: LogSettings,
    pub routing: RoutingSettings,
    pub smtp: SmtpSettings,
    pub notify: NotifySettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoutingSettings {
    pub default_groups: Vec<String>,
    #[serde(default)]
    pub excludable: Vec<String>,
    #[serde(default)]
    pub rule: Vec<RoutingRule>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoutingRule {
    pub name: String,
    #[serde(default)]
    pub chain_labels: Vec<String>,
    #[serde(default)]
    pub subject_roles: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Clone, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: String,
    pub username: String,
    pub password: String,
    pub from: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &"***")
            .field("from", &self.from)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotifySettings {
    pub digest_times: Vec<String>,
    pub poll_seconds: u64,
    pub max_backoff_minutes: i64,
    pub give_up_hours: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub bind: String,
    pub public_url: String,
    pub secure_cookies: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecuritySettings {
    pub pepper_file: PathBuf,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub kdf_threads: usize,
    pub setup_link_hours: i64,
    pub require_totp: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrganisationSettings {
    pub name: String,
    pub security_contact: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub field_chars: usize,
    /// Largest evidence file, in MiB.
    pub file_mib: u64,
    /// Most files in one report or message.
    pub files_per_message: usize,
    /// Most evidence per report over all its messages, in MiB.
    pub report_mib: u64,
    /// Remove identifying metadata from evidence files unless the reporter asks not to.
    pub clean_metadata: bool,
}

impl LimitSettings {
    pub fn file_bytes(&self) -> u64 {
        self.file_mib.saturating_mul(1024 * 1024)
    }
    pub fn report_bytes(&self) -> u64 {
        self.report_mib.saturating_mul(1024 * 1024)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    pub coordinator_idle_minutes: i64,
    pub coordinator_max_hours: i64,
    pub reporter_idle_minutes: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub filter: String,
}

impl Settings {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Settings> {
        use config::{Config, Environment, File, FileFormat};
        let mut builder = Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        let settings: Settings = builder
            .add_source(
                Environment::with_prefix("MELDPUNT")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The defaults alone, for tests and tools that adjust a few fields.
    pub fn defaults() -> anyhow::Result<Settings> {
        use config::{Config, File, FileFormat};
        Ok(Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .build()?
            .try_deserialize()?)
    }

    /// Refuses values that would make the service unsafe or unusable, saying which key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.kdf_params().meets_floor() {
            anyhow::bail!(
                "security.argon2_*: Argon2id parameters are below the floor of {} KiB and {} iterations (or absurdly high)",
                KdfParams::FLOOR.memory_kib,
                KdfParams::FLOOR.iterations
            );
        }
        let url =
            url::Url::parse(&self.http.public_url).map_err(|e| anyhow::anyhow!("http.public_url is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("http.public_url must start with http:// or https://");
        }
        if self.limits.field_chars == 0 || self.limits.field_chars > 1_000_000 {
            anyhow::bail!("limits.field_chars must be between 1 and 1000000");
        }
        if self.limits.file_mib == 0 || self.limits.report_mib < self.limits.file_mib {
            anyhow::bail!("limits.file_mib must be at least 1 and limits.report_mib at least limits.file_mib");
        }
        if self.limits.files_per_message == 0 || self.limits.files_per_message > 100 {
            anyhow::bail!("limits.files_per_message must be between 1 and 100");
        }
        if self.sessions.coordinator_idle_minutes <= 0
            || self.sessions.coordinator_max_hours <= 0
            || self.sessions.reporter_idle_minutes <= 0
        {
            anyhow::bail!("sessions.*: durations must be positive");
        }
        crate::storage::Backend::from_url(&self.database.url)?;
        crate::routing::validate_rules(&self.routing)?;
        if !matches!(self.smtp.tls.as_str(), "starttls" | "implicit" | "none") {
            anyhow::bail!("smtp.tls must be starttls, implicit or none, not '{}'", self.smtp.tls);
        }
        if !self.smtp.host.is_empty() {
            self.smtp
                .from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| anyhow::anyhow!("smtp.from is not a mail address: {e}"))?;
        }
        crate::notify::digest_slots(&self.notify.digest_times)?;
        if self.notify.poll_seconds == 0 || self.notify.give_up_hours <= 0 || self.notify.max_backoff_minutes <= 0 {
            anyhow::bail!("notify.*: poll_seconds, max_backoff_minutes and give_up_hours must be positive");
        }
        Ok(())
    }

    pub fn kdf_params(&self) -> KdfParams {
        KdfParams {
            memory_kib: self.security.argon2_memory_kib,
            iterations: self.security.argon2_iterations,
            parallelism: self.security.argon2_parallelism,
        }
    }

    /// `scheme://host[:port]` of the public URL, as browsers send it in `Origin`.
    pub fn public_origin(&self) -> String {
        url::Url::parse(&self.http.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_are_valid() {
        let s = Settings::defaults().unwrap();
        s.validate().unwrap();
        assert_eq!(s.http.bind, "127.0.0.1:8080");
        assert_eq!(s.database.url, "sqlite://data/meldpunt.db");
    }

    #[test]
    fn weak_argon2_is_refused() {
        let mut s = Settings::defaults().unwrap();
        s.security.argon2_memory_kib = 4096;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("security.argon2"), "{err}");
    }

    #[test]
    fn unknown_database_scheme_is_refused() {
        let mut s = Settings::defaults().unwrap();
        s.database.url = "mysql://x".into();
        assert!(s.validate().unwrap_err().to_string().contains("mysql"));
    }
}
