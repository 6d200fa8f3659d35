//! `peer`: parse the command line, set up logging, start the node (or the three of `peer
//! demo`), run the console, and stop gracefully on `exit`, Ctrl-C or SIGTERM.

use anyhow::Context;
use backend::config::{Cli, DemoCli};
use backend::node::{Node, NodeConfig};
use backend::peer::Peer;
use backend::terminal::EscapingWriter;
use backend::{cli, demo, store};
use clap::Parser;
use std::path::Path;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// `println!` for a stdout that may be closed (`peer ... | head`): the line is lost, and the
/// peer still stops cleanly and saves its index.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn main() -> ExitCode {
    one_heap();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async_main())
}

/// Makes every thread allocate from one heap. glibc gives threads heaps of their own, and
/// memory freed into one is not reused from another: a receiving peer's peak RSS grew from
/// 11.6 to 14.3 MiB over ten 1 GiB transfers, and stayed at 12.5 MiB or below with one heap,
/// at the same speed. (musl has no per-thread heaps.) Called before any thread starts.
fn one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

async fn async_main() -> ExitCode {
    let outcome = if std::env::args_os()
        .nth(1)
        .is_some_and(|first| first == "demo")
    {
        run_demo(DemoCli::parse_from(std::env::args_os().skip(1))).await
    } else {
        run(Cli::parse_checked()).await
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Cli) -> anyhow::Result<()> {
    let config = NodeConfig::from_cli(&args);
    // The log lives in the storage folder: a path that cannot be one is named as such.
    let new_folder = !config.storage.exists();
    std::fs::create_dir_all(&config.storage)
        .with_context(|| format!("cannot open storage folder {}", config.storage.display()))?;
    let log = config.storage.join(store::LOG_FILE);
    init_logging(&args.log_level, (!args.log_stderr).then_some(log.as_path()))?;
    let mut node = match Node::start(config.clone()).await {
        Ok(node) => node,
        Err(e) => {
            if new_folder {
                remove_if_only_log(&config.storage);
            }
            return Err(e);
        }
    };
    // Only now: until the node has started, Ctrl-C ends the process as it would any other.
    let mut signals = Signals::listen()?;
    say!(
        "peer {} listening for peers on {} (advertised as {}:{})",
        args.peer_id,
        node.p2p_addr,
        args.host,
        node.p2p_addr.port()
    );
    say!("dashboard: {}", dashboard_url(node.http_addr));
    for warning in args.warnings() {
        say!("warning: {warning}");
    }
    say!("storage: {}", config.storage.display());
    if !args.log_stderr {
        say!("log: {}", log.display());
    }

    if let Some(mut warnings) = node.bootstrap_warnings.take() {
        tokio::spawn(async move {
            while let Some(warning) = warnings.recv().await {
                say!("warning: {}", backend::terminal::escape(&warning));
            }
        });
    }

    console_until_stopped(&node.peer, &mut signals).await;
    or_at_once(node.shutdown(), &mut signals)
        .await
        .context("stopped, but metadata.json was not saved")?;
    say!("stopped; metadata saved");
    Ok(())
}

/// Removes a storage folder that a refused start created, if it holds nothing but our log:
/// the error went to stderr, and a folder left behind would look like a peer's.
fn remove_if_only_log(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    let names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    if names.iter().all(|name| name == store::LOG_FILE) {
        let _ = std::fs::remove_file(folder.join(store::LOG_FILE));
        let _ = std::fs::remove_dir(folder);
    }
}

/// Waits for `shutdown`, unless another Ctrl-C or SIGTERM asks to stop at once: the process
/// then exits without saving, with code 130 or 143 as the shell gives a process killed by
/// either. Nothing stored is lost that way either: files that landed since the last save are
/// found again from their journals at the next start.
async fn or_at_once<T>(shutdown: impl std::future::Future<Output = T>, signals: &mut Signals) -> T {
    tokio::select! {
        done = shutdown => done,
        code = signals.next() => {
            say!("stopped at once, without saving; the next start recovers the index");
            std::process::exit(code);
        }
    }
}

/// Where a browser on this machine finds the dashboard bound to `addr`.
fn dashboard_url(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}/ (listening on {addr})", addr.port())
    } else {
        format!("http://{addr}/")
    }
}

async fn run_demo(args: DemoCli) -> anyhow::Result<()> {
    let log = args.dir.join("demo.log");
    init_logging("info", Some(&log))?;
    let demo = demo::start(&args.dir, args.http_port).await?;
    let mut signals = Signals::listen()?;
    say!("demo: three peers on 127.0.0.1 with sample files, gossiping every second");
    for node in &demo.nodes {
        let config = node.peer.config();
        say!(
            "  {:<6} dashboard http://{}/  peers on {}  storage {}",
            config.peer_id,
            node.http_addr,
            node.p2p_addr,
            args.dir.join(&config.peer_id).display()
        );
    }
    say!(
        "open http://{}/ to see alice's dashboard; the console below acts on alice",
        demo.nodes[0].http_addr
    );
    say!("log: {}; `exit` or Ctrl-C stops all three", log.display());
    console_until_stopped(&demo.nodes[0].peer, &mut signals).await;
    or_at_once(demo.shutdown(), &mut signals)
        .await
        .context("stopped, but a metadata.json was not saved")?;
    say!("stopped; metadata saved");
    Ok(())
}

/// Runs the console menu on `peer` until `exit`, Ctrl-C or SIGTERM.
async fn console_until_stopped(peer: &Peer, signals: &mut Signals) {
    let stop = CancellationToken::new();
    tokio::spawn(cli::run(peer.clone(), cli::stdin_lines(), stop.clone()));
    tokio::select! {
        _ = stop.cancelled() => say!("stopping (Ctrl-C stops at once)"),
        _ = signals.next() => say!("stopping (Ctrl-C again stops at once)"),
    }
    stop.cancel();
}

/// The shared log file, locked for each line.
struct LockedFile(std::sync::Arc<std::sync::Mutex<LogFile>>);

struct LogFile {
    file: std::fs::File,
    /// A line was cut short by a failed write: the next line starts on a line of its own.
    cut: bool,
}

impl LogFile {
    /// Appends `line`, whole or as far as the disk lets it; whether it is there whole.
    fn append(&mut self, line: &[u8]) -> bool {
        use std::io::Write;
        if self.cut && self.file.write_all(b"\n").is_err() {
            return false;
        }
        self.cut = false;
        let mut written = 0;
        while written < line.len() {
            match self.file.write(&line[written..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(0) | Err(_) => {
                    self.cut = written > 0;
                    return false;
                }
                Ok(n) => written += n,
            }
        }
        true
    }
}

impl std::io::Write for LockedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let appended = self.0.lock().unwrap_or_else(|e| e.into_inner()).append(buf);
        if !appended {
            // The log lives on the storage folder's disk: when that is full, its warnings
            // are the ones to see, so they go to stderr rather than nowhere (with the file
            // unlocked: a stderr that blocks must not stop every thread that logs).
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Ctrl-C and SIGTERM, listened to once the node has started. One listener for the rest of
/// the run: each signal is then seen once (a listener made afresh could see the first one
/// again).
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    /// The next Ctrl-C or SIGTERM, as the exit code of a process it ended: 128 + its number.
    async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.interrupt.recv() => 128 + libc::SIGINT,
            _ = self.terminate.recv() => 128 + libc::SIGTERM,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn listen() -> anyhow::Result<Self> {
        Ok(Signals)
    }

    /// The next Ctrl-C, as an exit code.
    async fn next(&mut self) -> i32 {
        let _ = tokio::signal::ctrl_c().await;
        130
    }
}

/// Logs go to `file` (the storage folder's `.peer.log` for a peer), or to stderr without one,
/// so the console stays readable.
fn init_logging(level: &str, file: Option<&Path>) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(level).map_err(|e| anyhow::anyhow!("bad --log-level {level:?}: {e}"))?;
    // Every line is escaped on its way out: log lines carry strangers' names and ids.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    match file {
        None => builder
            .with_writer(|| EscapingWriter(std::io::stderr()))
            .init(),
        Some(path) => {
            let cannot =
                |e: std::io::Error| anyhow::anyhow!("cannot write {}: {e}", path.display());
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder).map_err(cannot)?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(cannot)?;
            let file = std::sync::Arc::new(std::sync::Mutex::new(LogFile { file, cut: false }));
            builder
                .with_writer(move || EscapingWriter(LockedFile(file.clone())))
                .init();
        }
    }
    Ok(())
}
