//! Settings: the embedded `config/default.toml`, an optional file, then
//! `MELDPUNT_<SECTION>__<KEY>` environment variables; and the start-up checks that refuse
//! weak or unusable values. Holds no secret itself (the pepper lives in its own file).

use std::path::PathBuf;

use serde::Deserialize;

use crate::crypto::kdf::KdfParams;

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// The sections an organisation of a shared installation sets for itself.
pub const ORGANISATION_SECTIONS: [&str; 4] = ["organisation", "routing", "retention", "notify"];

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
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
    pub retention: RetentionSettings,
    /// The organisation a command works on (`--organisation`); never in a file.
    #[serde(skip)]
    pub chosen_organisation: Option<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days after a report is completed or closed until its content is destroyed.
    pub keep_days_after_closing: i64,
    /// Days one extension by a coordinator adds.
    pub extend_days: i64,
    /// How often `serve` looks for reports due for destruction, in minutes.
    pub check_minutes: u64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    pub default_groups: Vec<String>,
    #[serde(default)]
    pub excludable: Vec<String>,
    #[serde(default)]
    pub rule: Vec<RoutingRule>,
    /// A shared intake: the bodies one form takes reports for (a werkorganisatie's
    /// gemeenten). The reporter picks one; rules send each body's reports to its groups.
    #[serde(default)]
    pub bodies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    pub name: String,
    #[serde(default)]
    pub chain_labels: Vec<String>,
    #[serde(default)]
    pub subject_roles: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    /// For a shared intake: the bodies (of `routing.bodies`) this rule is for.
    #[serde(default)]
    pub bodies: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: String,
    pub username: String,
    pub password: String,
    pub from: String,
    pub timeout_seconds: u64,
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
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// Empty: a mail right after each event. `default`: an empty list is left out when the
    /// installation's settings are carried under an organisation's own
    /// ([`Settings::for_organisation`]), and must read back as empty, not as missing.
    #[serde(default)]
    pub digest_times: Vec<String>,
    pub poll_seconds: u64,
    pub max_backoff_minutes: i64,
    pub give_up_hours: i64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub bind: String,
    pub public_url: String,
    pub secure_cookies: bool,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub pepper_file: PathBuf,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub kdf_threads: usize,
    pub kdf_queue: usize,
    /// Leading zero bits of the proof of work that buys the priority lane ([`crate::pow`]).
    pub pow_bits: u8,
    pub setup_link_hours: i64,
    pub require_totp: bool,
    /// Where this organisation's trust pin is, when it is not the installation's first
    /// organisation (whose pin is beside the pepper). Set by start-up, never in a file.
    #[serde(skip)]
    pub organisation_pin: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationSettings {
    pub name: String,
    pub security_contact: String,
    /// How to ask for an oral report (phone number, person), shown on the home page.
    pub oral_contact: String,
    /// The organisation's colour (`#rrggbb`) for links, buttons and the header line; it must
    /// keep 4.5:1 contrast on white, so text in it stays readable.
    pub colour: String,
    /// A PNG or SVG logo shown in the header, served from memory; empty for none.
    pub logo_file: String,
    /// The privacy statement: how to reach the data protection officer (FG); empty: through
    /// the organisation.
    #[serde(default)]
    pub privacy_officer: String,
    /// The privacy statement: the legal basis, when it is not the shipped one (the legal
    /// duty to have a reporting procedure).
    #[serde(default)]
    pub privacy_legal_basis: String,
    /// The privacy statement: processors (who runs the server), named.
    #[serde(default)]
    pub privacy_processors: String,
    /// The accessibility statement: the date of the organisation's own examination.
    #[serde(default)]
    pub accessibility_examined_on: String,
    /// The accessibility statement: how it was examined, and by whom.
    #[serde(default)]
    pub accessibility_method: String,
    /// The accessibility statement: where the examination's report can be read.
    #[serde(default)]
    pub accessibility_report_url: String,
    /// The accessibility statement: whom to contact about accessibility (besides the form).
    #[serde(default)]
    pub accessibility_contact: String,
}

impl OrganisationSettings {
    /// The colour as red, green, blue, if it is written `#rrggbb`.
    pub fn colour_rgb(&self) -> Option<[u8; 3]> {
        let hex = self.colour.strip_prefix('#').filter(|h| h.len() == 6)?;
        let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
        Some([byte(0)?, byte(2)?, byte(4)?])
    }
}

/// WCAG 2.1 contrast ratio of a colour against white.
pub fn contrast_on_white([r, g, b]: [u8; 3]) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    1.05 / (luminance + 0.05)
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
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
    /// Evidence reporters may upload per hour, server-wide, in MiB.
    pub anonymous_mib_per_hour: u64,
    /// New reports per clock hour, server-wide, whose form carried no proof of work.
    pub reports_per_hour: u32,
    /// New reports per clock hour, server-wide, whose form carried a proof of work: counted
    /// apart, so a flood without proofs cannot use them up.
    pub proven_reports_per_hour: u32,
}

impl LimitSettings {
    pub fn file_bytes(&self) -> u64 {
        self.file_mib.saturating_mul(1024 * 1024)
    }
    pub fn report_bytes(&self) -> u64 {
        self.report_mib.saturating_mul(1024 * 1024)
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub coordinator_idle_minutes: i64,
    pub coordinator_max_hours: i64,
    pub reporter_idle_minutes: i64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub filter: String,
}

/// Variables read by the command line itself, not settings.
const NOT_SETTINGS: &[&str] = &["MELDPUNT_CONFIG"];

/// The `MELDPUNT_<SECTION>__<KEY>` variables as overrides, each checked against the keys the
/// shipped defaults hold. Values stay text (the settings' types parse them, so a password
/// such as `0012` keeps its zeros); a key whose default is a list takes comma-separated
/// values. Routing rules are tables and only come from the file.
fn env_overrides(
    env: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    defaults: &config::Config,
) -> anyhow::Result<Vec<(String, config::Value)>> {
    let mut out = Vec::new();
    for (name, value) in env {
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix("MELDPUNT_") else {
            continue;
        };
        if NOT_SETTINGS.contains(&name) {
            continue;
        }
        let value = value
            .into_string()
            .map_err(|_| anyhow::anyhow!("{name} holds bytes that are not UTF-8"))?;
        let key = rest.to_lowercase().replacen("__", ".", 1);
        let known = match key.split_once('.') {
            Some(("routing", "rule")) => None,
            Some((_, field)) if !field.contains('.') => defaults.get::<config::Value>(&key).ok(),
            _ => None,
        };
        let Some(known) = known else {
            anyhow::bail!(
                "{name} is not a setting (settings are MELDPUNT_<SECTION>__<KEY> with a key from config/default.toml, \
                 for example MELDPUNT_HTTP__BIND; routing rules can only be set in the file)"
            );
        };
        let value = match known.kind {
            config::ValueKind::Array(_) => config::Value::from(
                value
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect::<Vec<String>>(),
            ),
            _ => config::Value::from(value),
        };
        out.push((key, value));
    }
    Ok(out)
}

impl Settings {
    /// Defaults, then `file` if given, then the environment. A key this version does not
    /// know, in the file or as a `MELDPUNT_*` variable, is refused: a misspelt key would
    /// otherwise leave its default in force without anyone noticing.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Settings> {
        Self::load_from(file, std::env::vars_os())
    }

    /// [`Settings::load`] with the environment given, so tests need not change the process's.
    pub fn load_from(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> anyhow::Result<Settings> {
        use config::{Config, File, FileFormat};
        let defaults = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .build()?;
        let mut builder = Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        for (key, value) in env_overrides(env, &defaults)? {
            builder = builder.set_override(key, value)?;
        }
        let mut settings: Settings = builder.build()?.try_deserialize().map_err(|e| match file {
            Some(path) => anyhow::anyhow!("configuration ({}): {e}", path.display()),
            None => anyhow::anyhow!("configuration: {e}"),
        })?;
        for list in [
            &mut settings.notify.digest_times,
            &mut settings.routing.default_groups,
            &mut settings.routing.excludable,
        ] {
            list.iter_mut().for_each(|v| *v = v.trim().to_string());
            list.retain(|v| !v.is_empty());
        }
        settings.security.pepper_file = settings.pepper_path()?;
        settings.validate()?;
        Ok(settings)
    }

    /// `security.pepper_file`; left empty (the default), `pepper.key` in the SQLite database's
    /// folder, so the pepper is found beside its database whichever folder a command is run
    /// from. A PostgreSQL database has no folder: there the path must be given.
    fn pepper_path(&self) -> anyhow::Result<PathBuf> {
        if !self.security.pepper_file.as_os_str().is_empty() {
            return Ok(self.security.pepper_file.clone());
        }
        match crate::storage::serving::sqlite_path(&self.database.url) {
            Ok(db) => Ok(db.parent().unwrap_or(std::path::Path::new("")).join("pepper.key")),
            Err(_) => anyhow::bail!(
                "security.pepper_file: with a PostgreSQL database, say where the pepper file is \
                 (MELDPUNT_SECURITY__PEPPER_FILE=/etc/meldpunt/pepper.key, for example); every \
                 instance reads the same file"
            ),
        }
    }

    /// What a start says about settings that work but are probably not meant: a public URL
    /// on another port than the one the service listens on (the set-up link would point
    /// there), and the shipped example values still in force. `port`: the port listened on.
    pub fn start_warnings(&self, port: u16) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(url) = url::Url::parse(&self.http.public_url) {
            let bind_host = self
                .http
                .bind
                .rsplit_once(':')
                .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
                .unwrap_or_default();
            let host = url
                .host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']');
            let local = matches!(host, "127.0.0.1" | "localhost" | "::1") || host == bind_host;
            if local && url.port_or_known_default() != Some(port) {
                out.push(format!(
                    "http.public_url is {}, but the service listens on port {port} (http.bind = {}): \
                     the set-up link and the check of where forms come from use http.public_url. \
                     Set MELDPUNT_HTTP__PUBLIC_URL={}://{}:{port}, or to the address of your proxy",
                    self.http.public_url,
                    self.http.bind,
                    url.scheme(),
                    url.host_str().unwrap_or("127.0.0.1"),
                ));
            }
        }
        let Ok(example) = Settings::defaults() else {
            return out;
        };
        if self.organisation.name == example.organisation.name {
            out.push(format!(
                "organisation.name is still the example '{}', shown on every page: set your organisation's name",
                example.organisation.name
            ));
        }
        if self.organisation.security_contact == example.organisation.security_contact {
            out.push(format!(
                "organisation.security_contact is still the example '{}', served at /.well-known/security.txt: \
                 set the address where your organisation takes security reports",
                example.organisation.security_contact
            ));
        }
        if self.smtp.host.is_empty() {
            out.push(
                "no mail server is set (smtp.host): notification mails are written to the log instead of \
                 sent. Fine for a trial; set [smtp] before coordinators rely on them"
                    .into(),
            );
        } else if self.smtp.from == example.smtp.from {
            out.push(format!(
                "smtp.from is still the example sender '{}': set an address of your own domain, or mail \
                 servers will refuse or junk the notifications",
                example.smtp.from
            ));
        }
        out
    }

    /// The defaults alone, for tests and tools that adjust a few fields.
    pub fn defaults() -> anyhow::Result<Settings> {
        use config::{Config, File, FileFormat};
        Ok(Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .build()?
            .try_deserialize()?)
    }

    /// The sections an organisation sets for itself (`organisation`, `routing`, `retention`,
    /// `notify`), given as TOML, over this installation's settings. Any other section is
    /// the installation's and refused here, naming it.
    pub fn for_organisation(&self, own: &str) -> anyhow::Result<Settings> {
        use config::{Config, File, FileFormat};
        if own.trim().is_empty() {
            return Ok(self.clone());
        }
        let parsed = Config::builder()
            .add_source(File::from_str(own, FileFormat::Toml))
            .build()
            .map_err(|e| anyhow::anyhow!("the organisation's settings: {e}"))?;
        let table: std::collections::HashMap<String, config::Value> = parsed
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("the organisation's settings: {e}"))?;
        for key in table.keys() {
            if !ORGANISATION_SECTIONS.contains(&key.as_str()) {
                anyhow::bail!(
                    "the organisation's settings: [{key}] belongs to the installation (its configuration                      file), not to one organisation; an organisation sets only {}",
                    ORGANISATION_SECTIONS.join(", ")
                );
            }
        }
        let base = Config::try_from(self).map_err(|e| anyhow::anyhow!("settings: {e}"))?;
        let mut merged: Settings = Config::builder()
            .add_source(base)
            .add_source(File::from_str(own, FileFormat::Toml))
            .build()?
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("the organisation's settings: {e}"))?;
        // Not serialised (it is not a setting): carried over by hand.
        merged.security.organisation_pin = self.security.organisation_pin.clone();
        merged.validate()?;
        Ok(merged)
    }

    /// Refuses values that would make the service unsafe or unusable, saying which key.
    /// Checks the installation's own keys. The sections a feature owns (routing rules, digest
    /// times) are checked by that feature, from start-up ([`crate::startup::load_settings`]).
    pub fn validate(&self) -> anyhow::Result<()> {
        match self.organisation.colour_rgb() {
            None => anyhow::bail!(
                "organisation.colour must be written #rrggbb, not '{}'",
                self.organisation.colour
            ),
            Some(rgb) if contrast_on_white(rgb) < 4.5 => anyhow::bail!(
                "organisation.colour {} has {:.1}:1 contrast on white; links and buttons need at least 4.5:1, choose a darker shade",
                self.organisation.colour,
                contrast_on_white(rgb)
            ),
            Some(_) => {}
        }
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
        if !(1..=100_000).contains(&self.security.kdf_queue) {
            anyhow::bail!("security.kdf_queue must be between 1 and 100000");
        }
        if !(8..=28).contains(&self.security.pow_bits) {
            anyhow::bail!("security.pow_bits must be between 8 and 28");
        }
        if self.limits.reports_per_hour == 0 {
            anyhow::bail!("limits.reports_per_hour must be at least 1");
        }
        if self.limits.field_chars == 0 || self.limits.field_chars > 1_000_000 {
            anyhow::bail!("limits.field_chars must be between 1 and 1000000");
        }
        if self.limits.file_mib == 0 || self.limits.report_mib < self.limits.file_mib {
            anyhow::bail!("limits.file_mib must be at least 1 and limits.report_mib at least limits.file_mib");
        }
        if self.limits.anonymous_mib_per_hour < self.limits.file_mib {
            anyhow::bail!("limits.anonymous_mib_per_hour must be at least limits.file_mib");
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
        if !matches!(self.smtp.tls.as_str(), "starttls" | "implicit" | "none") {
            anyhow::bail!("smtp.tls must be starttls, implicit or none, not '{}'", self.smtp.tls);
        }
        if !self.smtp.host.is_empty() {
            self.smtp
                .from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| anyhow::anyhow!("smtp.from is not a mail address: {e}"))?;
        }
        if !(1..=36_500).contains(&self.retention.keep_days_after_closing) {
            anyhow::bail!("retention.keep_days_after_closing must be between 1 and 36500 days");
        }
        if !(1..=3_650).contains(&self.retention.extend_days) {
            anyhow::bail!("retention.extend_days must be between 1 and 3650 days");
        }
        if !(1..=1_440).contains(&self.retention.check_minutes) {
            anyhow::bail!("retention.check_minutes must be between 1 and 1440");
        }
        if !(1..=600).contains(&self.smtp.timeout_seconds) {
            anyhow::bail!("smtp.timeout_seconds must be between 1 and 600");
        }
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
    fn the_pepper_lives_beside_the_database_unless_given() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.security.pepper_file, PathBuf::from("data/pepper.key"));
        let s = Settings::load_from(None, env(&[("MELDPUNT_DATABASE__URL", "sqlite:///srv/meldpunt/m.db")])).unwrap();
        assert_eq!(s.security.pepper_file, PathBuf::from("/srv/meldpunt/pepper.key"));
        let s = Settings::load_from(
            None,
            env(&[
                ("MELDPUNT_DATABASE__URL", "sqlite:///srv/meldpunt/m.db"),
                ("MELDPUNT_SECURITY__PEPPER_FILE", "/etc/meldpunt/pepper.key"),
            ]),
        )
        .unwrap();
        assert_eq!(s.security.pepper_file, PathBuf::from("/etc/meldpunt/pepper.key"));
        let err = Settings::load_from(None, env(&[("MELDPUNT_DATABASE__URL", "postgres://db/meldpunt")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MELDPUNT_SECURITY__PEPPER_FILE"), "{err}");
    }

    #[test]
    fn the_start_warns_about_a_public_url_on_another_port_and_example_values() {
        let mut s = Settings::load_from(None, env(&[("MELDPUNT_HTTP__BIND", "127.0.0.1:9000")])).unwrap();
        let said = s.start_warnings(9000).join("\n");
        assert!(
            said.contains("listens on port 9000") && said.contains("http://127.0.0.1:9000"),
            "{said}"
        );
        assert!(
            said.contains("Gemeente Voorbeeldstad") && said.contains("security_contact"),
            "{said}"
        );
        assert!(said.contains("written to the log"), "{said}");
        s.http.bind = "127.0.0.1:8080".into();
        s.http.public_url = "https://meldpunt.example.nl".into();
        s.organisation.name = "Gemeente Ergens".into();
        s.organisation.security_contact = "mailto:security@ergens.nl".into();
        s.smtp.host = "mail.ergens.nl".into();
        let said = s.start_warnings(8080).join("\n");
        assert!(said.contains("smtp.from"), "{said}");
        s.smtp.from = "Meldpunt <meldpunt@ergens.nl>".into();
        assert!(
            s.start_warnings(8080).is_empty(),
            "a proxy's public URL on another port is normal"
        );
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

    fn env(vars: &[(&str, &str)]) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn environment_sets_lists_and_keeps_text_as_typed() {
        let s = Settings::load_from(
            None,
            env(&[
                ("MELDPUNT_NOTIFY__DIGEST_TIMES", "08:00, 16:30"),
                ("MELDPUNT_ROUTING__EXCLUDABLE", "anna,bert"),
                ("MELDPUNT_SMTP__PASSWORD", "0012"),
                ("MELDPUNT_HTTP__SECURE_COOKIES", "false"),
                ("MELDPUNT_LIMITS__FILE_MIB", "30"),
                ("MELDPUNT_CONFIG", "ignored: read by the command line"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(s.notify.digest_times, ["08:00", "16:30"]);
        assert_eq!(s.routing.excludable, ["anna", "bert"]);
        assert_eq!(s.smtp.password, "0012");
        assert!(!s.http.secure_cookies);
        assert_eq!(s.limits.file_mib, 30);

        let s = Settings::load_from(None, env(&[("MELDPUNT_NOTIFY__DIGEST_TIMES", "")])).unwrap();
        assert!(s.notify.digest_times.is_empty(), "an empty value is an empty list");
    }

    #[test]
    fn unknown_variables_are_refused_by_name() {
        for name in [
            "MELDPUNT_HTTP__BINDD",
            "MELDPUNT_HTTP_BIND",
            "MELDPUNT_NOSECTION__BIND",
            "MELDPUNT_HTTP__BIND__X",
            "MELDPUNT_ROUTING__RULE",
            "MELDPUNT_HTTP",
        ] {
            let err = Settings::load_from(None, env(&[(name, "x")])).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("not a setting"), "{name}: {err}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (toml, key) in [
            ("[http]\nbindd = \"0.0.0.0:80\"\n", "bindd"),
            ("[mail]\nhost = \"x\"\n", "mail"),
            (
                "[[routing.rule]]\nname = \"x\"\ngroup = [\"integriteit\"]\ngroups = [\"integriteit\"]\n",
                "group",
            ),
        ] {
            let path = dir.path().join("meldpunt.toml");
            std::fs::write(&path, toml).unwrap();
            let err = Settings::load_from(Some(&path), env(&[])).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("meldpunt.toml"), "{toml}: {err}");
        }
    }

    #[test]
    fn an_organisation_sets_its_own_sections_over_the_installation_and_nothing_else() {
        let base = Settings::defaults().unwrap();
        let own = base
            .for_organisation(include_str!("../config/organisation.example.toml"))
            .unwrap();
        assert_eq!(own.organisation.name, "Waterschap Beekdal");
        assert_eq!(own.retention.keep_days_after_closing, 1825);
        assert_eq!(own.notify.digest_times, vec!["08:00", "13:00"]);
        // A list given replaces the installation's as a whole.
        assert_eq!(own.routing.rule.len(), 1);
        assert_eq!(own.routing.rule[0].groups, vec!["dijkgraaf"]);
        // What the organisation leaves out is the installation's.
        assert_eq!(own.notify.poll_seconds, base.notify.poll_seconds);
        assert_eq!(own.database.url, base.database.url);
        // The installation's sections are refused, named.
        let err = base
            .for_organisation("[database]\nurl = \"sqlite://elders.db\"\n")
            .unwrap_err();
        assert!(
            err.to_string().contains("[database] belongs to the installation"),
            "{err}"
        );
        let err = base
            .for_organisation("[organisation]\ncolour = \"#ffff00\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        assert!(base.for_organisation("[organisation\n").is_err());
    }

    #[test]
    fn an_installation_without_digest_times_takes_an_organisations_own_settings() {
        let mut base = Settings::defaults().unwrap();
        base.notify.digest_times = vec![];
        let own = base
            .for_organisation("[organisation]\nname = \"Waterschap Beekdal\"\n")
            .unwrap();
        assert!(own.notify.digest_times.is_empty());
        let own = base.for_organisation("[notify]\ndigest_times = [\"08:00\"]\n").unwrap();
        assert_eq!(own.notify.digest_times, ["08:00"]);
        let cleared = own.for_organisation("[notify]\ndigest_times = []\n").unwrap();
        assert!(cleared.notify.digest_times.is_empty(), "an empty list given replaces");
    }
}
