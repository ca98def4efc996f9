//! The command line: `serve` (the default), `init`, `coordinator add|list|remove`,
//! `group ...`, `recover`, `recovery verify`, `backup` and `restore`. Passwords come from a
//! prompt or standard input, never from arguments, and are never echoed or logged.

use std::io::{BufRead, Read};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::crypto::recovery;
use crate::features::coordinator::account::{self, SetupLink};
use crate::features::routing;
use crate::i18n::Lang;
use crate::settings::Settings;
use crate::startup::{open_installation, open_store_and_kdf, Application};
use crate::storage::Store;

#[derive(Parser, Debug)]
#[command(
    name = "meldpunt",
    version,
    about = "Anonymous integrity-reporting service (meldpunt integriteit)"
)]
pub struct Cli {
    /// Configuration file (TOML); MELDPUNT_<SECTION>__<KEY> variables override it.
    #[arg(long, global = true, env = "MELDPUNT_CONFIG")]
    pub config: Option<PathBuf>,
    /// In a shared installation: the organisation a command works on (its id or the host
    /// of its URL). Without it, the first organisation.
    #[arg(long, global = true, env = "MELDPUNT_ORGANISATION")]
    pub organisation: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web service (the default).
    Serve,
    /// Create the organisation and print a one-time set-up link.
    Init,
    /// Manage coordinators.
    #[command(subcommand)]
    Coordinator(CoordinatorCommand),
    /// The organisations a shared installation serves: add, list, suspend, resume, export,
    /// import, remove.
    #[command(subcommand)]
    Organisation(OrganisationCommand),
    /// Manage the coordinator groups that routing rules send reports to.
    #[command(subcommand)]
    Group(GroupCommand),
    /// A coordinator lost their password: with the recovery key on standard input, give them
    /// a new key pair and password, and access to every report. Their second factor is reset.
    Recover {
        #[arg(long)]
        username: String,
        /// Read the new password from this file (first line) instead of a prompt.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Work with the organisation's recovery key.
    #[command(subcommand)]
    Recovery(RecoveryCommand),
    /// The pepper file is lost for good: with the recovery key on standard input, make a new
    /// one. Every coordinator then needs `recover`; reporters' meldcodes stop working.
    #[command(subcommand)]
    Pepper(PepperCommand),
    /// Write a consistent copy of the database to a new file while the service runs
    /// (SQLite: an online copy; PostgreSQL: pg_dump's custom format). The pepper file is not
    /// in it: keep that apart, with the recovery key.
    Backup {
        /// The file to write; it must not exist yet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Destroy the content of every report whose retention period ended (see
    /// `[retention]`): its text, messages, notes, files and keys. The register entry stays.
    /// `serve` does this on its own every `retention.check_minutes`.
    Purge {
        /// List what would be destroyed, and destroy nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// SQLite: put a backup in place as the database of `database.url`, with the service
    /// stopped. Checks the copy first and refuses to overwrite a database unless --replace.
    /// (PostgreSQL: use pg_restore; see README.)
    Restore {
        /// The backup file written by `meldpunt backup`.
        #[arg(long)]
        from: PathBuf,
        /// Overwrite the database that is there now.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum CoordinatorCommand {
    /// Add a coordinator. It stays pending (receives no reports) until an active
    /// coordinator approves it in the browser.
    Add {
        #[arg(long)]
        username: String,
        /// Name shown to other coordinators.
        #[arg(long)]
        name: String,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
        /// Where notification mails go (they never name a report).
        #[arg(long)]
        email: Option<String>,
        /// Language of notification mails: nl or en.
        #[arg(long, default_value = "nl")]
        language: String,
    },
    /// Set the e-mail address and mail language of a coordinator.
    Email {
        #[arg(long)]
        username: String,
        /// The address; leave out to stop mails to this coordinator.
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "nl")]
        language: String,
    },
    /// List coordinators and their status.
    List,
    /// Remove a coordinator with their access to reports and their sessions.
    Remove {
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrganisationCommand {
    /// Add an organisation and print its one-time set-up link (the same set-up the first
    /// organisation gets). Requests for the host of its URL reach it.
    Add {
        /// Its name, as reporters see it.
        #[arg(long)]
        name: String,
        /// Where it is reached (https://meldpunt.gemeente.example); its host must point at
        /// this installation's proxy.
        #[arg(long)]
        url: String,
    },
    /// Each organisation with its id, URL, state and whether it is set up.
    List,
    /// Stop serving an organisation: its pages answer 503, nothing is read or written.
    /// Its data and keys stay. Logged.
    Suspend { organisation: String },
    /// Serve a suspended organisation again. Logged.
    Resume { organisation: String },
    /// A one-time set-up link for an organisation whose set-up was not finished.
    SetupLink { organisation: String },
    /// Set an organisation's own settings from a TOML file with any of the sections
    /// organisation, routing, retention and notify (config/organisation.example.toml).
    Configure {
        organisation: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// What was done to organisations, oldest first.
    Log,
    /// Write one organisation to a new file, sealed under a one-time export key printed
    /// here (the pepper alone does not open it), with an integrity check. Runs beside a
    /// serving instance.
    Export {
        organisation: String,
        /// The file to write; it must not exist yet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Add the organisation in an export file to this installation (the export key on
    /// standard input). Its meldcodes, logins and files keep working; it gets a new id.
    Import {
        /// The file `organisation export` wrote.
        #[arg(long)]
        from: PathBuf,
        /// Where it is reached here (its host must be free); without it, its URL as exported.
        #[arg(long)]
        url: Option<String>,
        /// Its name here; without it, its name as exported.
        #[arg(long)]
        name: Option<String>,
    },
    /// Destroy an organisation: its keys first, then its content. Prints a certificate of
    /// what was destroyed and when, and logs it. Cannot be undone.
    Remove {
        organisation: String,
        /// The organisation's name, exactly, so a mistyped id removes nothing.
        #[arg(long)]
        confirm: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List groups and their members.
    List,
    /// Create a group.
    Add {
        #[arg(long)]
        name: String,
        /// Name shown in the admin pages.
        #[arg(long)]
        label: Option<String>,
    },
    /// Delete a group that no routing rule names.
    Remove {
        #[arg(long)]
        name: String,
    },
    /// Manage members.
    #[command(subcommand)]
    Member(MemberCommand),
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Put a coordinator in a group.
    Add {
        #[arg(long)]
        group: String,
        #[arg(long)]
        username: String,
    },
    /// Take a coordinator out of a group (refused if a routing rule would reach nobody).
    Remove {
        #[arg(long)]
        group: String,
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PepperCommand {
    /// Make a new pepper file where the lost one was (refused while a file is there, and
    /// while an instance serves the database).
    Replace,
    /// Once, for an installation made before Meldpunt recorded which pepper it uses: check
    /// that the pepper file is the right one by opening a coordinator's key with their
    /// password. The service refuses to start until this is done.
    Confirm {
        #[arg(long)]
        username: String,
        /// Read the password from this file (first line) instead of a prompt.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RecoveryCommand {
    /// Check a recovery key (typed on standard input) against the stored public key.
    Verify,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = crate::startup::load_settings(cli.config.as_deref())?;
    settings.chosen_organisation = cli.organisation.clone();
    crate::telemetry::init(&settings.log.filter);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Init => init(settings).await,
        Command::Coordinator(c) => coordinator(settings, c).await,
        Command::Group(g) => group(settings, g).await,
        Command::Organisation(o) => organisation(settings, o).await,
        Command::Recovery(RecoveryCommand::Verify) => verify_recovery(settings).await,
        Command::Recover {
            username,
            password_file,
        } => recover(settings, &username, password_file).await,
        Command::Pepper(PepperCommand::Replace) => replace_pepper(settings).await,
        Command::Pepper(PepperCommand::Confirm {
            username,
            password_file,
        }) => confirm_pepper(settings, &username, password_file).await,
        Command::Backup { out } => crate::features::backup::backup(&settings, &out).await,
        Command::Restore { from, replace } => crate::features::backup::restore(&settings, &from, replace).await,
        Command::Purge { dry_run } => purge(settings, dry_run).await,
    }
}

async fn purge(mut settings: Settings, dry_run: bool) -> anyhow::Result<()> {
    let (store, _) = open_installation(&mut settings).await?;
    let clock = Clock::system();
    let done = crate::features::retention::purge(&store, &settings.retention, &clock, dry_run).await?;
    let verb = if dry_run { "would destroy" } else { "destroyed" };
    for r in &done.reports {
        println!("{verb}\t{}\tclosed {}", r.id, r.closed_on);
    }
    println!("{}", purge_summary(done.reports.len(), dry_run));
    Ok(())
}

/// The last line of `purge`, as a person would say it.
fn purge_summary(n: usize, dry_run: bool) -> String {
    match (n, dry_run) {
        (0, true) => "No report is due for destruction; nothing would be destroyed.".into(),
        (0, false) => "No report was due for destruction; nothing was destroyed.".into(),
        (1, true) => "1 report would be destroyed; its register entry would stay.".into(),
        (1, false) => "1 report destroyed; its register entry stays.".into(),
        (n, true) => format!("{n} reports would be destroyed; their register entries would stay."),
        (n, false) => format!("{n} reports destroyed; their register entries stay."),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let public_url = settings.http.public_url.trim_end_matches('/').to_string();
    let checked = settings.clone();
    let app = Application::build(settings, Clock::system()).await?;
    // Said before the set-up link, which a wrong public URL makes point elsewhere.
    for warning in checked.start_warnings(app.port()) {
        tracing::warn!("{warning}");
    }
    match &app.setup {
        // Printed, not logged: the link is a one-time credential for the first coordinator.
        SetupLink::New(path) => println!(
            "Meldpunt is not set up yet. Open this one-time link to set it up:\n\n    {public_url}{}\n",
            path.as_str()
        ),
        SetupLink::StillValid => println!(
            "Meldpunt is not set up yet. The one-time set-up link printed earlier is still valid;\n\
             run `meldpunt init` for a new one (that makes the earlier link invalid).\n"
        ),
        SetupLink::Done => {}
    }
    tracing::info!(port = app.port(), "meldpunt is listening");
    app.run_until_stopped().await?;
    Ok(())
}

async fn init(settings: Settings) -> anyhow::Result<()> {
    let (store, _kdf) = open_store_and_kdf(&settings).await?;
    let url = account::begin_setup(
        &store,
        &settings.http.public_url,
        Clock::system().now(),
        settings.security.setup_link_hours,
        true,
    )
    .await?;
    match url {
        SetupLink::New(url) => {
            println!(
                "Open this one-time link to set up Meldpunt (valid {} hours):\n\n    {}\n",
                settings.security.setup_link_hours,
                url.as_str()
            );
            println!("The recovery key is shown in the browser, once, at the end of set-up.");
            Ok(())
        }
        _ => anyhow::bail!("this Meldpunt is already set up"),
    }
}

/// A password typed at the terminal (never echoed). Without a terminal (a script, cron,
/// `ssh host cmd`) says which option gives it otherwise, instead of the system's "No such
/// device or address".
fn prompt(label: &str, alternative: &str) -> anyhow::Result<Zeroizing<String>> {
    rpassword::prompt_password(label).map(Zeroizing::new).map_err(|e| {
        anyhow::anyhow!(
            "cannot ask for the password: there is no terminal to type it on ({e}); give it with {alternative}"
        )
    })
}

/// `from_stdin`: the first line of standard input; otherwise asked twice at the terminal,
/// where `alternative` names the option to use without one.
fn read_password(from_stdin: bool, alternative: &str) -> anyhow::Result<Zeroizing<String>> {
    let s = Lang::En.staff();
    let (pw, repeat) = if from_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
        (pw.clone(), pw)
    } else {
        let pw = prompt("Password: ", alternative)?;
        let repeat = prompt("Password again: ", alternative)?;
        (pw, repeat)
    };
    if let Some(problem) = account::password_problem(&pw, &repeat, s) {
        anyhow::bail!("{problem}");
    }
    Ok(pw)
}

async fn coordinator(mut settings: Settings, cmd: CoordinatorCommand) -> anyhow::Result<()> {
    let (store, kdf) = open_installation(&mut settings).await?;
    match cmd {
        CoordinatorCommand::Add {
            username,
            name,
            password_stdin,
            email,
            language,
        } => {
            check_email_language(email.as_deref(), &language)?;
            if !account::valid_username(&username) {
                anyhow::bail!("{}", Lang::En.staff().err_username);
            }
            if !account::valid_display_name(&name) {
                anyhow::bail!("{}", Lang::En.staff().err_display_name);
            }
            if store.coordinator_by_username(&username).await?.is_some() {
                anyhow::bail!("a coordinator named '{username}' exists already");
            }
            let pw = read_password(password_stdin, "--password-stdin (the first line of standard input)")?;
            let now = Clock::system().now();
            let (mut row, _) = account::new_coordinator(&kdf, &username, &name, &pw, "pending", now).await?;
            row.email = email;
            row.language = language;
            store.insert_coordinator(&row).await?;
            store
                .audit_detail(now, None, "coordinator_added_cli", None, Some(&username))
                .await?;
            // Over both keys, as the approval page shows it (crypto::sign).
            let fingerprint =
                crate::crypto::sign::coordinator_fingerprint(&row.public_key, row.verifying_key.as_deref());
            println!(
                "Added '{username}' as pending, with key fingerprint {fingerprint}.\n\
                 An active coordinator approves it on /beheer/coordinatoren before it receives reports; \
                 tell them this fingerprint (by phone or in person), so they can check that the page \
                 shows the same one."
            );
        }
        CoordinatorCommand::List => {
            for c in store.coordinators().await? {
                println!("{}\t{}\t{}", c.username, c.status, c.display_name);
            }
        }
        CoordinatorCommand::Email {
            username,
            email,
            language,
        } => {
            check_email_language(email.as_deref(), &language)?;
            if !store
                .set_coordinator_email(&username, email.as_deref(), &language)
                .await?
            {
                anyhow::bail!("no coordinator named '{username}'");
            }
            println!(
                "Notification mails for '{username}' now go to {}.",
                email.as_deref().unwrap_or("nobody")
            );
        }
        CoordinatorCommand::Remove { username } => {
            if let Some(c) = store.coordinator_by_username(&username).await? {
                if let Err(why) = routing::check_removal(&store, &settings.routing, None, &c.id).await? {
                    anyhow::bail!("refused: {why}; add someone else to that group first");
                }
            }
            if !store.remove_coordinator(&username).await? {
                anyhow::bail!("no coordinator named '{username}'");
            }
            store
                .audit_detail(
                    Clock::system().now(),
                    None,
                    "coordinator_removed_cli",
                    None,
                    Some(&username),
                )
                .await?;
            println!("Removed '{username}', with their access to reports and their sessions.");
        }
    }
    store.close().await;
    Ok(())
}

fn check_email_language(email: Option<&str>, language: &str) -> anyhow::Result<()> {
    if email.is_some_and(|e| !account::valid_email(e)) {
        anyhow::bail!("{}", Lang::En.staff().err_email);
    }
    if !matches!(language, "nl" | "en") {
        anyhow::bail!("--language must be nl or en");
    }
    Ok(())
}

async fn group(mut settings: Settings, cmd: GroupCommand) -> anyhow::Result<()> {
    let (store, _) = open_installation(&mut settings).await?;
    let now = Clock::system().now();
    let coordinator_id = |username: String| {
        let store = store.clone();
        async move {
            store
                .coordinator_by_username(&username)
                .await?
                .map(|c| c.id)
                .ok_or_else(|| anyhow::anyhow!("no coordinator named '{username}'"))
        }
    };
    match cmd {
        GroupCommand::List => {
            let members = store.group_members().await?;
            for (name, label) in store.groups().await? {
                let names: Vec<String> = members
                    .iter()
                    .filter(|m| m.group_name == name)
                    .map(|m| format!("{} ({})", m.username, m.status))
                    .collect();
                println!("{name}\t{label}\t{}", names.join(", "));
            }
        }
        GroupCommand::Add { name, label } => {
            if !valid_group_name(&name) {
                anyhow::bail!("a group name has 2 to 40 lower-case letters, digits or hyphens");
            }
            store.ensure_group(&name, label.as_deref().unwrap_or(&name)).await?;
            println!("Group '{name}' exists.");
        }
        GroupCommand::Remove { name } => {
            if routing::named_groups(&settings.routing).contains(&name) {
                anyhow::bail!("refused: a routing rule names group '{name}'; change the configuration first");
            }
            if !store.delete_group(&name).await? {
                anyhow::bail!("no group named '{name}'");
            }
            println!("Removed group '{name}'.");
        }
        GroupCommand::Member(MemberCommand::Add { group, username }) => {
            if !store.groups().await?.iter().any(|(n, _)| *n == group) {
                anyhow::bail!("no group named '{group}'; create it with `meldpunt group add --name {group}`");
            }
            let id = coordinator_id(username.clone()).await?;
            store.add_member(&group, &id).await?;
            let detail = format!("{group}: {username}");
            store
                .audit_detail(now, None, "group_member_added_cli", None, Some(&detail))
                .await?;
            println!(
                "'{username}' is in group '{group}'. New reports reach them through it once a coordinator confirms \
                 the membership on the groups page (/beheer/groepen): the command line cannot vouch for who reads reports."
            );
        }
        GroupCommand::Member(MemberCommand::Remove { group, username }) => {
            let id = coordinator_id(username.clone()).await?;
            if let Err(why) = routing::check_removal(&store, &settings.routing, Some(&group), &id).await? {
                anyhow::bail!("refused: {why}");
            }
            if !store.remove_member(&group, &id).await? {
                anyhow::bail!("'{username}' is not in group '{group}'");
            }
            let detail = format!("{group}: {username}");
            store
                .audit_detail(now, None, "group_member_removed_cli", None, Some(&detail))
                .await?;
            println!("'{username}' is no longer in group '{group}'.");
        }
    }
    store.close().await;
    Ok(())
}

pub fn valid_group_name(n: &str) -> bool {
    (2..=40).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

async fn recover(mut settings: Settings, username: &str, password_file: Option<PathBuf>) -> anyhow::Result<()> {
    let (store, kdf) = open_installation(&mut settings).await?;
    let row = store
        .coordinator_by_username(username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no coordinator named '{username}'"))?;
    let password = match password_file {
        Some(path) => {
            let pw = password_from_file(&path)?;
            if let Some(problem) = account::password_problem(&pw, &pw, Lang::En.staff()) {
                anyhow::bail!("{problem}");
            }
            pw
        }
        None => read_password(
            false,
            "--password-file FILE (its first line; the recovery key stays on standard input)",
        )?,
    };
    let key = read_recovery_key()?;
    let pin_file = crate::domain::keyring::pin_path(&settings);
    let n = account::recover(&store, &kdf, &key, &row, &password, &pin_file, Clock::system().now()).await?;
    store
        .audit(
            Clock::system().now(),
            Some(&row.id),
            "recovered_with_recovery_key",
            None,
        )
        .await?;
    println!("'{username}' has a new password and access to all {n} reports. They set up the second step again at their next login.");
    store.close().await;
    Ok(())
}

/// The first line of `path`: a password given without a terminal.
fn password_from_file(path: &std::path::Path) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the password file {}: {e}", path.display()))?,
    );
    Ok(Zeroizing::new(text.lines().next().unwrap_or_default().to_string()))
}

/// An installation from before the pepper check records nothing the pepper can be checked
/// against without a secret. A coordinator's password is one: their private key opens only
/// under Argon2id of the password with the right pepper. Once it does, the check value is
/// stored and the meldcode locators are keyed, both with the pepper now known to be right.
async fn confirm_pepper(settings: Settings, username: &str, password_file: Option<PathBuf>) -> anyhow::Result<()> {
    let path = settings.security.pepper_file.clone();
    let _claim = crate::storage::serving::claim_offline(&settings.database.url, "pepper confirm").await?;
    let store = Store::connect_existing(&settings.database.url, 2).await?;
    if store.pepper_check().await?.is_some() {
        println!("Nothing to confirm: this installation records which pepper it uses, and every start checks it.");
        store.close().await;
        return Ok(());
    }
    let row = store
        .coordinator_by_username(username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no coordinator named '{username}'"))?;
    let pepper = crate::crypto::kdf::Pepper::load_or_create(&path, false)?;
    let check = pepper.check_value();
    let password = match password_file {
        Some(file) => password_from_file(&file)?,
        None => prompt(
            &format!("Password of {username}: "),
            "--password-file FILE (its first line)",
        )?,
    };
    let kdf = crate::crypto::kdf::KdfPool::new(pepper, settings.kdf_params(), 1, 4);
    match account::unlock(&kdf, Some(&row), &password).await {
        Ok(Some(_)) => {}
        Ok(None) => anyhow::bail!(
            "the password of '{username}' does not open their key with the pepper file {}: either \
             the password is mistyped, or the file is not this installation's pepper (find the copy \
             kept with the recovery key). Nothing was changed.",
            path.display()
        ),
        Err(e) => anyhow::bail!("could not check the password: {e}"),
    }
    let keyed = store
        .key_locators(|unkeyed| crate::domain::meldcode::keyed_locator(&kdf, unkeyed))
        .await?;
    store.set_pepper_check(&check).await?;
    store
        .audit(Clock::system().now(), Some(&row.id), "pepper_confirmed", None)
        .await?;
    println!(
        "The pepper file {} is the right one: the password of '{username}' opens their key with it. \
         Its check is now stored ({}) and every start checks it. Start the service.",
        path.display(),
        crate::features::backup::counted(
            i64::try_from(keyed).unwrap_or(i64::MAX),
            "meldcode locator keyed",
            "meldcode locators keyed"
        )
    );
    store.close().await;
    Ok(())
}

/// The recovery key, typed or pasted on standard input.
fn read_recovery_key() -> anyhow::Result<crate::crypto::keys::CoordinatorSecret> {
    eprintln!("Type or paste the recovery key, then end with Ctrl-D:");
    let mut typed = Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut typed)?;
    recovery::decode(&typed).map_err(|e| anyhow::anyhow!("{}", paper_error_text(&e)))
}

/// The export key of `organisation import`, typed or pasted on standard input.
fn read_export_key() -> anyhow::Result<crate::startup::lifecycle::ExportKey> {
    eprintln!("Type or paste the export key, then end with Ctrl-D:");
    let mut typed = Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut typed)?;
    crate::startup::lifecycle::ExportKey::from_paper(&typed).map_err(|e| match e {
        recovery::PaperError::Line(n) => anyhow::anyhow!(
            "line {n} of the export key has a typing error (its last character, the check, does not match): \
             compare that line with what `organisation export` printed; nothing was imported"
        ),
        recovery::PaperError::Length => anyhow::anyhow!(
            "the export key is too short or too long: it has four lines, the first three of 17 characters \
             and the last of 6 (hyphens and spaces do not count); nothing was imported"
        ),
        recovery::PaperError::Characters => anyhow::anyhow!(
            "the export key holds a character that is not in it: it has only digits and the letters A \
             to Z without U; nothing was imported"
        ),
        recovery::PaperError::Version if recovery::decode(&typed).is_ok() => anyhow::anyhow!(
            "this is a recovery key, not an export key: give the key `organisation export` printed; \
             nothing was imported"
        ),
        recovery::PaperError::Version => {
            anyhow::anyhow!("this is not an export key of a version Meldpunt knows; nothing was imported")
        }
    })
}

/// What a person typing the recovery key from paper should check.
fn paper_error_text(e: &recovery::PaperError) -> String {
    match e {
        recovery::PaperError::Line(n) => format!(
            "line {n} of the recovery key has a typing error (its last character, the check, does not \
             match): compare that line with the paper copy"
        ),
        recovery::PaperError::Length => "the recovery key is too short or too long: it has four lines, the \
             first three of 17 characters and the last of 6 (hyphens and spaces do not count)"
            .into(),
        recovery::PaperError::Characters => "the recovery key holds a character that is not in it: it has \
             only digits and the letters A to Z without U"
            .into(),
        recovery::PaperError::Version => "this is not a recovery key of a version Meldpunt knows: check that \
             it is the organisation's recovery key"
            .into(),
    }
}

/// A new pepper for an installation whose pepper file is lost: only with the recovery key
/// (whoever holds it can already give every coordinator a new password), and only where no
/// file is, so a pepper that may be the right one is never overwritten.
async fn replace_pepper(settings: Settings) -> anyhow::Result<()> {
    let path = settings.security.pepper_file.clone();
    // A running instance keeps the old pepper in memory: every meldcode it hands out after
    // this would be keyed with it, and lost at its next start.
    let _claim = crate::storage::serving::claim_offline(&settings.database.url, "pepper replace").await?;
    let store = Store::connect_existing(&settings.database.url, 2).await?;
    if store.coordinators().await?.is_empty() {
        anyhow::bail!("this Meldpunt is not set up yet: nothing depends on the pepper; start it and it makes one");
    }
    if path.exists() {
        // A rerun after a replacement that finished (or stopped after putting the file in
        // place): the file there is the one the database's check value was made with.
        let there = crate::crypto::kdf::Pepper::load_or_create(&path, false)?;
        if store.pepper_check().await?.as_deref() == Some(&there.check_value()[..]) {
            println!(
                "The pepper at {} is already the one this database uses: nothing to replace.",
                path.display()
            );
            store.close().await;
            return Ok(());
        }
        anyhow::bail!(
            "a file is at {}: if it is the right pepper, nothing needs replacing; if not, move it away first",
            path.display()
        );
    }
    let stored = store
        .recovery_public_key()
        .await?
        .ok_or_else(|| anyhow::anyhow!("this Meldpunt has no recovery key"))?;
    let key = read_recovery_key()?;
    if key.public_bytes() != stored {
        anyhow::bail!("this is not the recovery key of this Meldpunt; nothing was changed");
    }
    // Made under a name of its own, its check value stored, and only then put in place: a
    // stop at any point leaves either no pepper file (a rerun makes a new one; the one left
    // beside it was never used) or the right one (a rerun says so), never a file the
    // database refuses.
    let fresh = path.with_extension("key.new");
    match std::fs::remove_file(&fresh) {
        Ok(()) => tracing::info!(path = %fresh.display(), "removed a pepper left by a replacement that did not finish"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot remove {}: {e}", fresh.display()),
    }
    let pepper = crate::crypto::kdf::Pepper::load_or_create(&fresh, true)?;
    store.set_pepper_check(&pepper.check_value()).await?;
    std::fs::rename(&fresh, &path)
        .map_err(|e| anyhow::anyhow!("cannot put the new pepper at {}: {e}", path.display()))?;
    crate::crypto::kdf::sync_folder_of(&path)?;
    store
        .audit(Clock::system().now(), None, "pepper_replaced", None)
        .await?;
    let names: Vec<String> = store.coordinators().await?.into_iter().map(|c| c.username).collect();
    println!(
        "A new pepper is at {}; keep a copy with the recovery key.\n\
         No password works now. Give each coordinator a new one with the recovery key:\n",
        path.display()
    );
    for name in names {
        println!("    meldpunt recover --username {name} < recovery-key.txt");
    }
    println!(
        "\nReporters' meldcodes no longer open their reports: the reports stay readable for \
         coordinators, who can no longer reach the reporters through the meldpunt."
    );
    store.close().await;
    Ok(())
}

async fn verify_recovery(mut settings: Settings) -> anyhow::Result<()> {
    let (store, _) = open_installation(&mut settings).await?;
    let stored = store
        .recovery_public_key()
        .await?
        .ok_or_else(|| anyhow::anyhow!("this Meldpunt has no recovery key yet"))?;
    let key = read_recovery_key()?;
    if key.public_bytes() == stored {
        println!(
            "OK: this recovery key matches (fingerprint {}).",
            recovery::fingerprint(&stored)
        );
        Ok(())
    } else {
        anyhow::bail!("this is a valid recovery key, but not the one of this Meldpunt")
    }
}

async fn organisation(settings: Settings, cmd: OrganisationCommand) -> anyhow::Result<()> {
    use crate::startup::organisations;
    let (store, pepper) = crate::startup::open_registry(&settings).await?;
    let now = Clock::system().now();
    organisations::ensure_first(&store, &settings, now).await?;
    match cmd {
        OrganisationCommand::Add { name, url } => {
            let (id, link) = organisations::add(&settings, &store, &pepper, &name, &url, now).await?;
            match link {
                SetupLink::New(link) => println!(
                    "Added organisation {id}, {}. Open this one-time link to set it up (valid {} hours):\n\n    {}\n\n\
                     The recovery key is shown in the browser, once, at the end of set-up. A running\n\
                     service serves the organisation within two seconds.",
                    name.trim(),
                    settings.security.setup_link_hours,
                    link.as_str()
                ),
                _ => println!("Added organisation {id}, {}.", name.trim()),
            }
        }
        OrganisationCommand::List => {
            println!("id\tstate\tset up\turl\tname");
            for e in store.organisations().await? {
                let set_up = organisations::is_set_up(&settings, &store, &e).await;
                println!("{}\t{}\t{}\t{}\t{}", e.id, e.state, set_up, e.url, e.name);
            }
        }
        OrganisationCommand::Suspend { organisation } => {
            let e = organisations::find(&store, &organisation).await?;
            store.set_organisation_state(e.id, "suspended", now).await?;
            println!(
                "Suspended organisation {}, {}: its pages answer 503 until `meldpunt organisation resume {}`.",
                e.id, e.name, e.id
            );
        }
        OrganisationCommand::Resume { organisation } => {
            let e = organisations::find(&store, &organisation).await?;
            store.set_organisation_state(e.id, "active", now).await?;
            println!("Organisation {}, {}, is served again.", e.id, e.name);
        }
        OrganisationCommand::SetupLink { organisation } => {
            let e = organisations::find(&store, &organisation).await?;
            match organisations::setup_link(&settings, &store, &pepper, &e, now).await? {
                SetupLink::New(link) => println!(
                    "Open this one-time link to set up {} (valid {} hours; earlier links no longer work):\n\n    {}\n",
                    e.name,
                    settings.security.setup_link_hours,
                    link.as_str()
                ),
                _ => anyhow::bail!("organisation {} is already set up", e.id),
            }
        }
        OrganisationCommand::Configure { organisation, file } => {
            let e = organisations::find(&store, &organisation).await?;
            let own = std::fs::read_to_string(&file)
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", file.display()))?;
            // Checked as the service will read them, before they are stored.
            let mut probe = e.clone();
            probe.settings = own.clone();
            organisations::organisation_settings(&settings, &probe)?;
            let sections = organisations::sections_of(&own);
            store.set_organisation_settings(e.id, &own, &sections, now).await?;
            // The registry's name is the one shown (and matched by `list`): a name in the
            // file becomes it.
            let named = settings.for_organisation(&own)?.organisation.name;
            if named != settings.organisation.name && named != e.name {
                store.set_organisation_identity(e.id, &named, &e.url, &e.host).await?;
            }
            println!(
                "Set the own settings of organisation {}, {} ({}); a running service uses them within two seconds.",
                e.id,
                e.name,
                if sections.is_empty() {
                    "none: the installation's apply".to_string()
                } else {
                    sections
                }
            );
        }
        OrganisationCommand::Export { organisation, out } => {
            let e = organisations::find(&store, &organisation).await?;
            let done = crate::startup::lifecycle::export(&settings, &store, &pepper, &e, &out, now).await?;
            println!(
                "Wrote organisation {}, {}, to {} ({}, {} bytes; read back and checked).\n\n\
                 Export key (shown only now; the file opens with nothing else, not with the pepper):\n",
                e.id,
                e.name,
                out.display(),
                done.source.counts.describe(),
                done.bytes
            );
            for line in done.key.paper().iter() {
                println!("    {line}");
            }
            println!(
                "\nGive the key to whoever imports the file by another way than the file (on paper, by \
                 phone); whoever has both can read everything the organisation's meldcodes and \
                 passwords open. Import: `meldpunt organisation import --from FILE` with the key on \
                 standard input."
            );
        }
        OrganisationCommand::Import { from, url, name } => {
            let key = read_export_key()?;
            let done = crate::startup::lifecycle::import(
                &settings,
                &store,
                &pepper,
                &from,
                &key,
                url.as_deref(),
                name.as_deref(),
                now,
            )
            .await?;
            println!(
                "Imported {} (organisation {} of {}) as organisation {}, {}, at {}: {}.\n\
                 A running service serves it within two seconds, once its host points at this \
                 installation's proxy. Its meldcodes, logins and files work as before.",
                done.source.name,
                done.source.id,
                done.source.installation,
                done.id,
                done.name,
                done.url,
                done.counts.describe()
            );
        }
        OrganisationCommand::Remove { organisation, confirm } => {
            let e = organisations::find(&store, &organisation).await?;
            let certificate = crate::startup::lifecycle::remove(&settings, &store, &e, &confirm, now).await?;
            println!("{certificate}");
            println!("Give this certificate to the organisation to file; `meldpunt organisation log` keeps it too.");
        }
        OrganisationCommand::Log => {
            for e in store.organisation_log().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    crate::clock::local_time(e.at),
                    e.org_id,
                    e.event,
                    e.org_name,
                    e.detail
                );
            }
        }
    }
    Ok(())
}
