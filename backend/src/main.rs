//! `peer`: parse the command line, set up logging, start the node, run the console, and stop
//! gracefully on `exit`, Ctrl-C or SIGTERM.

use backend::config::Cli;
use backend::node::{Node, NodeConfig};
use backend::terminal::EscapingWriter;
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
                println!("warning: {}", backend::terminal::escape(&warning));
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

/// The shared log file, locked for each line.
struct LockedFile(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for LockedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    // Every line is escaped on its way out: log lines carry strangers' names and ids.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    if args.log_stderr {
        builder
            .with_writer(|| EscapingWriter(std::io::stderr()))
            .init();
    } else {
        std::fs::create_dir_all(&config.storage)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.storage.join(store::LOG_FILE))?;
        let file = std::sync::Arc::new(std::sync::Mutex::new(file));
        builder
            .with_writer(move || EscapingWriter(LockedFile(file.clone())))
            .init();
    }
    Ok(())
}
