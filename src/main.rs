//! The `meldpunt` binary: parse the command line and hand over to `cli`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = meldpunt::cli::Cli::parse();
    match meldpunt::cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meldpunt: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
