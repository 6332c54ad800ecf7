//! `weir`: a live-streaming media server in one binary.
//!
//! The app crate is the only place where components meet: it parses the
//! command line and config, builds the [`weir_hub::Hub`], starts each
//! protocol adapter with a handle to it, and shuts everything down on
//! SIGINT/SIGTERM. Subcommands `publish` and `play` are small RTMP clients
//! built on the same sans-IO protocol crates as the server.

mod api;
mod chat;
mod cli;
mod cluster;
mod config;
mod logging;
mod recordings;
mod serve;
mod sign;
mod tls;
mod tools;
mod vod;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    logging::init(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(args) => serve::run(args).await,
            cli::Command::Publish(args) => tools::publish(args).await,
            cli::Command::Play(args) => tools::play(args).await,
            cli::Command::Passwd => tools::passwd(),
            cli::Command::Sign(args) => sign::run(args),
            cli::Command::ChatToken(args) => chat::token_command(args),
            cli::Command::CheckConfig { config } => config::check_command(&config),
        }
    })
}
