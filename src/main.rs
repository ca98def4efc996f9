//! The `meldpunt` binary: parse the command line and hand over to `cli`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // No core dumps: a dump of this process could hold report text, keys and passwords.
    #[cfg(unix)]
    if let Err(e) = rlimit::setrlimit(rlimit::Resource::CORE, 0, 0) {
        eprintln!("meldpunt: could not turn off core dumps: {e}");
    }
    let args = meldpunt::cli::Cli::parse();
    match meldpunt::cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meldpunt: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
