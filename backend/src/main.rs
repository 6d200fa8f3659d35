//! `peer`: parse the command line, set up logging, start the node, run the console, and stop
//! gracefully on `exit`, Ctrl-C or SIGTERM.

use backend::config::Cli;
use backend::node::{Node, NodeConfig};
use backend::{cli, store};
use clap::Parser;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Cli) -> anyhow::Result<()> {
    let config = NodeConfig::from_cli(&args);
    init_logging(&args, &config)?;
    let mut node = Node::start(config.clone()).await?;
    println!(
        "peer {} listening for peers on {} (advertised as {}:{})",
        args.peer_id,
        node.p2p_addr,
        args.host,
        node.p2p_addr.port()
    );
    println!("dashboard: http://{}/", node.http_addr);
    println!("storage: {}", config.storage.display());
    if !args.log_stderr {
        println!("log: {}", config.storage.join(store::LOG_FILE).display());
    }

    if let Some(mut warnings) = node.bootstrap_warnings.take() {
        tokio::spawn(async move {
            while let Some(warning) = warnings.recv().await {
                println!("warning: {warning}");
            }
        });
    }

    let stop = CancellationToken::new();
    tokio::spawn(cli::run(
        node.peer.clone(),
        cli::stdin_lines(),
        stop.clone(),
    ));
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = signal() => println!("stopping"),
    }
    stop.cancel();
    node.shutdown().await;
    println!("stopped; metadata saved");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Logs go to the storage folder's `.peer.log`, or to stderr, so the console stays readable.
fn init_logging(args: &Cli, config: &NodeConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&args.log_level)
        .map_err(|e| anyhow::anyhow!("bad --log-level {:?}: {e}", args.log_level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if args.log_stderr {
        builder.with_writer(std::io::stderr).init();
    } else {
        std::fs::create_dir_all(&config.storage)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.storage.join(store::LOG_FILE))?;
        builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .init();
    }
    Ok(())
}
