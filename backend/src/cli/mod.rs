//! The console command menu. Stdin is read on a dedicated thread (tokio's stdin cannot be
//! cancelled) and each line is handled without ever waiting on the network: `get` and `push`
//! run in the background and report progress and their outcome as lines of their own.

mod command;
mod show;

pub use command::{parse, Command, COMMANDS};
pub use show::{human, Console};

use crate::peer::{short, Peer};
use shared::{ServerEvent, TransferKind, TransferStateDto};
use show::{files_table, peers_table, progress_line};
use std::io::BufRead;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Reads stdin lines on a thread; the channel closes at EOF.
pub fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    lines_of(|| std::io::stdin().lock())
}

/// Reads the lines of the input that `open` gives, on a thread of their own; the channel
/// closes at its end. A line that is not UTF-8 (a path typed in another encoding) is read with
/// its bad bytes replaced, not taken for the end.
fn lines_of<R: BufRead>(
    open: impl FnOnce() -> R + Send + 'static,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in open().split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line);
            if tx.send(line.trim_end_matches('\r').to_string()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs the menu until `exit` (which cancels `stop`) or until `stop` fires. At the end of
/// input the menu says it closed, and the peer keeps running.
pub async fn run(peer: Peer, mut lines: mpsc::UnboundedReceiver<String>, stop: CancellationToken) {
    let out = Console::stdout();
    out.say(
        "commands: list | peers | get <file_id> | push <path> | delete <file_id> | help | exit",
    );
    loop {
        let line = tokio::select! {
            _ = stop.cancelled() => return,
            line = lines.recv() => match line {
                Some(line) => line,
                None => {
                    out.say("console closed (end of input); the peer runs on until Ctrl-C or SIGTERM");
                    return;
                }
            },
        };
        match parse(&line) {
            Ok(None) => {}
            Ok(Some(Command::Exit)) => {
                stop.cancel();
                return;
            }
            Ok(Some(command)) => execute(&peer, command, &out),
            Err(e) => out.say(e),
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
        many => {
            const SHOWN: usize = 5;
            let shown: Vec<String> = many
                .iter()
                .take(SHOWN)
                .map(|id| match peer.file(id) {
                    Some(file) => format!("{} ({})", short(id), file.file_name),
                    None => short(id).to_string(),
                })
                .collect();
            let more = match many.len() > SHOWN {
                true => format!(" and {} more", many.len() - SHOWN),
                false => String::new(),
            };
            Err(format!(
                "{prefix:?} matches {} files: {}{more}; type more of the id",
                many.len(),
                shown.join(", ")
            ))
        }
    }
}

/// Carries out one command; its output, now or later, goes to `out`.
pub fn execute(peer: &Peer, command: Command, out: &Console) {
    match command {
        Command::List => out.say_rows(files_table(&peer.files())),
        Command::Peers => out.say_rows(peers_table(&peer.peers(), crate::peer::unix_ms())),
        Command::Get(prefix) => match resolve(peer, &prefix) {
            // Its progress and outcome are already being printed: say so once, not twice.
            Ok(id) => match peer.running_download(&id) {
                Some(running) => out.say(format!(
                    "get {}: already running ({})",
                    running.file_name,
                    human(running.bytes_done)
                )),
                None => {
                    // Subscribed before the get starts, so that even an at-once end is seen.
                    let events = peer.subscribe();
                    match peer.start_fetch(&id, TransferKind::Get) {
                        Ok(transfer) => {
                            out.say(format!(
                                "get {}: fetching in the background",
                                transfer.file_name
                            ));
                            let follower = follow(peer.clone(), events, transfer.id, out.clone());
                            peer.spawn(follower);
                        }
                        Err(e) => out.say(format!("get: {e}")),
                    }
                }
            },
            Err(e) => out.say(format!("get: {e}")),
        },
        Command::Push(path) => {
            let (peer, out) = (peer.clone(), out.clone());
            // Subscribed before the push starts, so that even a send over at once is seen.
            let events = peer.subscribe();
            peer.clone().spawn(async move {
                match peer.push_path_to(&path).await {
                    Ok((meta, Some(sending))) => {
                        out.say(format!(
                            "push: added {} as {}; sending it to {}",
                            meta.file_name, meta.file_id, sending.to
                        ));
                        follow(peer, events, sending.transfer, out).await;
                    }
                    Ok((meta, None)) => out.say(format!(
                        "push: added {} as {}; no peer tracked to send it to yet (peers \
                         will learn of it from our file list)",
                        meta.file_name, meta.file_id
                    )),
                    Err(e) => out.say(format!("push failed: {e}")),
                }
            });
        }
        Command::Delete(prefix) => match resolve(peer, &prefix) {
            Ok(id) => {
                let (peer, out) = (peer.clone(), out.clone());
                // The delete returns once it is saved: not on the console's thread.
                peer.clone().spawn(async move {
                    match peer.delete(&id).await {
                        Ok(meta) => out.say(format!(
                            "delete: removed {} here and asked every peer to remove it",
                            meta.file_name
                        )),
                        Err(e) => out.say(format!("delete: {e}")),
                    }
                });
            }
            Err(e) => out.say(format!("delete: {e}")),
        },
        Command::Help => out.say_rows(COMMANDS.lines().map(str::to_string).collect()),
        Command::Exit => {}
    }
}

/// Prints the progress (at most every 10%) and the outcome of transfer `id`, naming the peer,
/// from `events` subscribed before it started.
async fn follow(
    peer: Peer,
    mut events: tokio::sync::broadcast::Receiver<ServerEvent>,
    id: u64,
    out: Console,
) {
    let mut last_decile = 0;
    loop {
        let t = match events.recv().await {
            Ok(ServerEvent::Transfer(t)) if t.id == id => t,
            Ok(_) => continue,
            // Its last event may be among those missed: the transfer as it stands now.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                match peer.transfers().into_iter().find(|t| t.id == id) {
                    Some(t) => t,
                    None => return,
                }
            }
            Err(_) => return,
        };
        if let Some(line) = progress_line(&t, &mut last_decile) {
            out.say(line);
        }
        if t.state != TransferStateDto::Running {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_that_is_not_utf8_is_read_and_the_next_ones_too() {
        let typed = b"push /tmp/caf\xe9.txt\r\nlist\nexit".to_vec();
        let mut lines = lines_of(|| std::io::Cursor::new(typed));
        let mut read = Vec::new();
        while let Some(line) = lines.recv().await {
            read.push(line);
        }
        assert_eq!(read, ["push /tmp/caf\u{fffd}.txt", "list", "exit"]);
    }
}
