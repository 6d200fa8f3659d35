//! The console command menu. Stdin is read on a dedicated thread (tokio's stdin cannot be
//! cancelled) and each line is handled without ever waiting on the network: `get` and `push`
//! run in the background and report progress and their outcome as lines of their own.

use crate::peer::{short, Peer};
use shared::{ServerEvent, TransferDto, TransferKind, TransferStateDto};
use std::io::BufRead;
use std::path::PathBuf;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Reads stdin lines on a thread; the channel closes at EOF.
pub fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A parsed console command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// `list`.
    List,
    /// `peers`.
    Peers,
    /// `get <id or prefix>`.
    Get(String),
    /// `push <path>`.
    Push(PathBuf),
    /// `delete <id or prefix>`.
    Delete(String),
    /// `help`.
    Help,
    /// `exit`.
    Exit,
}

/// Parses one line; `Ok(None)` for a blank line.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim();
    let (word, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let arg = arg.trim();
    let need = |what: &str| {
        if arg.is_empty() {
            Err(format!("usage: {word} <{what}>"))
        } else {
            Ok(arg.to_string())
        }
    };
    Ok(Some(match word.to_ascii_lowercase().as_str() {
        "" => return Ok(None),
        "list" | "ls" => Command::List,
        "peers" => Command::Peers,
        "get" => Command::Get(need("file_id")?),
        "push" => Command::Push(PathBuf::from(need("path")?)),
        "delete" | "rm" => Command::Delete(need("file_id")?),
        "help" | "?" => Command::Help,
        "exit" | "quit" => Command::Exit,
        other => return Err(format!("unknown command {other:?}; type `help`")),
    }))
}

const HELP: &str =
    "commands: list | peers | get <file_id> | push <path> | delete <file_id> | help | exit";

/// Runs the menu until `exit` (which cancels `stop`) or until `stop` fires. At EOF the menu
/// ends quietly and the peer keeps running.
pub async fn run(peer: Peer, mut lines: mpsc::UnboundedReceiver<String>, stop: CancellationToken) {
    println!("{HELP}");
    loop {
        let line = tokio::select! {
            _ = stop.cancelled() => return,
            line = lines.recv() => match line {
                Some(line) => line,
                None => return,
            },
        };
        match parse(&line) {
            Ok(None) => {}
            Ok(Some(Command::Exit)) => {
                stop.cancel();
                return;
            }
            Ok(Some(command)) => execute(&peer, command),
            Err(e) => println!("{e}"),
        }
    }
}

/// Resolves an id or unique prefix.
fn resolve(peer: &Peer, prefix: &str) -> Result<String, String> {
    match peer.resolve(prefix).as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(format!(
            "no known file id starts with {prefix:?}; `list` shows them"
        )),
        many => Err(format!(
            "{prefix:?} matches {} files; type more of the id",
            many.len()
        )),
    }
}

fn execute(peer: &Peer, command: Command) {
    match command {
        Command::List => print_files(peer),
        Command::Peers => print_peers(peer),
        Command::Get(prefix) => match resolve(peer, &prefix) {
            Ok(id) => match peer.start_fetch(&id, TransferKind::Get) {
                Ok(transfer) => {
                    println!("get {}: fetching in the background", transfer.file_name);
                    peer.spawn(follow(peer.clone(), transfer));
                }
                Err(e) => println!("get: {e}"),
            },
            Err(e) => println!("get: {e}"),
        },
        Command::Push(path) => {
            let peer = peer.clone();
            peer.clone().spawn(async move {
                match peer.push_path(&path).await {
                    Ok(meta) => println!(
                        "push: added {} as {}; sending it to a peer",
                        meta.file_name, meta.file_id
                    ),
                    Err(e) => println!("push failed: {e}"),
                }
            });
        }
        Command::Delete(prefix) => match resolve(peer, &prefix)
            .and_then(|id| peer.delete(&id).map_err(|e| e.to_string()))
        {
            Ok(meta) => println!(
                "delete: removed {} here and asked every peer to remove it",
                meta.file_name
            ),
            Err(e) => println!("delete: {e}"),
        },
        Command::Help => println!("{HELP}"),
        Command::Exit => {}
    }
}

/// Prints progress of a get (at most every 10%) and its outcome, naming the peer.
async fn follow(peer: Peer, transfer: TransferDto) {
    let mut events = peer.subscribe();
    let mut last_decile = 0;
    loop {
        let t = match events.recv().await {
            Ok(ServerEvent::Transfer(t)) if t.id == transfer.id => t,
            Ok(_) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        let from = t.peer.clone().unwrap_or_else(|| "?".into());
        match &t.state {
            TransferStateDto::Running => {
                if let Some(total) = t.bytes_total.filter(|total| *total >= 1 << 20) {
                    let decile = (t.bytes_done * 10 / total.max(1)).min(10);
                    if decile > last_decile {
                        last_decile = decile;
                        println!(
                            "get {}: {}% ({} of {}) from {from}",
                            t.file_name,
                            decile * 10,
                            human(t.bytes_done),
                            human(total)
                        );
                    }
                }
            }
            TransferStateDto::Done => {
                println!(
                    "get {}: done, {} from {from}, verified ({})",
                    t.file_name,
                    human(t.bytes_done),
                    short(&t.file_id)
                );
                return;
            }
            TransferStateDto::Failed { reason } => {
                println!("get {}: FAILED: {reason}", t.file_name);
                return;
            }
        }
    }
}

fn print_files(peer: &Peer) {
    let files = peer.files();
    if files.is_empty() {
        println!("no files known yet");
        return;
    }
    println!(
        "  {:<12}  {:<32}  {:>10}  {:<14}  holders",
        "id", "name", "size", "owner"
    );
    for f in files {
        let size = f.size_bytes.map(human).unwrap_or_else(|| "?".into());
        println!(
            "{} {:<12}  {:<32}  {:>10}  {:<14}  {}",
            if f.has_copy { '*' } else { ' ' },
            short(&f.file_id),
            clip(&f.file_name, 32),
            size,
            clip(&f.file_owner, 14),
            f.holders.join(", ")
        );
    }
}

fn print_peers(peer: &Peer) {
    let peers = peer.peers();
    if peers.is_empty() {
        println!("no peers tracked yet");
        return;
    }
    let now = crate::peer::unix_ms();
    for p in peers {
        let ago = now.saturating_sub(p.last_seen_ms) as f64 / 1000.0;
        println!(
            "{:<20} {}:{:<6} last seen {ago:.1} s ago",
            p.peer_id, p.host, p.port
        );
    }
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// `1.5 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse("  list "), Ok(Some(Command::List)));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("get 4771"), Ok(Some(Command::Get("4771".into()))));
        assert_eq!(
            parse("push /tmp/a b.txt"),
            Ok(Some(Command::Push("/tmp/a b.txt".into())))
        );
        assert!(parse("get").is_err());
        assert!(parse("frobnicate").is_err());
        assert_eq!(parse("EXIT"), Ok(Some(Command::Exit)));
    }

    #[test]
    fn sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(256 << 20), "256.0 MiB");
    }
}
