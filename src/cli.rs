//! The command line: `serve` (the default), `init`, `coordinator add|list|remove` and
//! `recovery verify`. Passwords come from a prompt or standard input, never from arguments,
//! and are never echoed or logged.

use std::io::{BufRead, Read};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::coordinator::account;
use crate::crypto::recovery;
use crate::i18n::Lang;
use crate::settings::Settings;
use crate::startup::{open_store_and_kdf, Application};

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
    /// Work with the organisation's recovery key.
    #[command(subcommand)]
    Recovery(RecoveryCommand),
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
pub enum RecoveryCommand {
    /// Check a recovery key (typed on standard input) against the stored public key.
    Verify,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    crate::telemetry::init(&settings.log.filter);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Init => init(settings).await,
        Command::Coordinator(c) => coordinator(settings, c).await,
        Command::Recovery(RecoveryCommand::Verify) => verify_recovery(settings).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let public_url = settings.http.public_url.trim_end_matches('/').to_string();
    let app = Application::build(settings, Clock::system()).await?;
    if let Some(path) = &app.setup_path {
        // Printed, not logged: the link is a one-time credential for the first coordinator.
        println!(
            "Meldpunt is not set up yet. Open this one-time link to set it up:\n\n    {public_url}{}\n",
            path.as_str()
        );
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
    )
    .await?;
    match url {
        Some(url) => {
            println!(
                "Open this one-time link to set up Meldpunt (valid {} hours):\n\n    {}\n",
                settings.security.setup_link_hours,
                url.as_str()
            );
            println!("The recovery key is shown in the browser, once, at the end of set-up.");
            Ok(())
        }
        None => anyhow::bail!("this Meldpunt is already set up"),
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<Zeroizing<String>> {
    let t = Lang::En.t();
    let (pw, repeat) = if from_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
        (pw.clone(), pw)
    } else {
        let pw = Zeroizing::new(rpassword::prompt_password("Password: ")?);
        let repeat = Zeroizing::new(rpassword::prompt_password("Password again: ")?);
        (pw, repeat)
    };
    if let Some(problem) = account::password_problem(&pw, &repeat, t) {
        anyhow::bail!("{problem}");
    }
    Ok(pw)
}

async fn coordinator(settings: Settings, cmd: CoordinatorCommand) -> anyhow::Result<()> {
    let (store, kdf) = open_store_and_kdf(&settings).await?;
    match cmd {
        CoordinatorCommand::Add {
            username,
            name,
            password_stdin,
        } => {
            if !account::valid_username(&username) {
                anyhow::bail!("{}", Lang::En.t().err_username);
            }
            if !account::valid_display_name(&name) {
                anyhow::bail!("{}", Lang::En.t().err_display_name);
            }
            if store.coordinator_by_username(&username).await?.is_some() {
                anyhow::bail!("a coordinator named '{username}' exists already");
            }
            let pw = read_password(password_stdin)?;
            let now = Clock::system().now();
            let row = account::new_coordinator(&kdf, &username, &name, &pw, "pending", now).await?;
            store.insert_coordinator(&row).await?;
            store.audit(now, None, "coordinator_added_cli", None).await?;
            println!("Added '{username}' as pending. An active coordinator must approve it in the browser before it receives reports.");
        }
        CoordinatorCommand::List => {
            for c in store.coordinators().await? {
                println!("{}\t{}\t{}", c.username, c.status, c.display_name);
            }
        }
        CoordinatorCommand::Remove { username } => {
            if !store.remove_coordinator(&username).await? {
                anyhow::bail!("no coordinator named '{username}'");
            }
            store
                .audit(Clock::system().now(), None, "coordinator_removed_cli", None)
                .await?;
            println!("Removed '{username}', with their access to reports and their sessions.");
        }
    }
    store.close().await;
    Ok(())
}

async fn verify_recovery(settings: Settings) -> anyhow::Result<()> {
    let (store, _) = open_store_and_kdf(&settings).await?;
    let stored = store
        .recovery_public_key()
        .await?
        .ok_or_else(|| anyhow::anyhow!("this Meldpunt has no recovery key yet"))?;
    eprintln!("Type or paste the recovery key, then end with Ctrl-D:");
    let mut typed = Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut typed)?;
    let key = recovery::decode(&typed).map_err(|e| anyhow::anyhow!("the recovery key could not be read: {e:?}"))?;
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
