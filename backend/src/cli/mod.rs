//! The console command menu. Stdin is read on a dedicated thread (tokio's stdin cannot be
//! cancelled) and each line is handled without ever waiting on the network: `get` and `push`
//! run in the background and report progress and their outcome as lines of their own.

use crate::peer::{short, Peer};
use shared::{FileDto, PeerDto, ServerEvent, TransferDto, TransferKind, TransferStateDto};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    let alone = |command| {
        if arg.is_empty() {
            Ok(command)
        } else {
            Err(format!("{word} takes no argument"))
        }
    };
    // A file id is one word: a second one is a mistake, not part of it.
    let id = || {
        let id = need("file_id")?;
        match id.contains(char::is_whitespace) {
            true => Err(format!("usage: {word} <file_id> (one id)")),
            false => Ok(id),
        }
    };
    Ok(Some(match word.to_ascii_lowercase().as_str() {
        "" => return Ok(None),
        "list" | "ls" => alone(Command::List)?,
        "peers" => alone(Command::Peers)?,
        "get" => Command::Get(id()?),
        "push" => Command::Push(PathBuf::from(unquote(&need("path")?))),
        "delete" | "rm" => Command::Delete(id()?),
        "help" | "?" => Command::Help,
        "exit" | "quit" => alone(Command::Exit)?,
        other => return Err(format!("unknown command {other:?}; type `help`")),
    }))
}

/// A path as a terminal pastes it: within a pair of quotes, or with its spaces escaped; a
/// leading `~/` (unquoted) is the home folder, as a shell would take it.
fn unquote(path: &str) -> String {
    for quote in ['"', '\''] {
        if let Some(inner) = path
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner.to_string();
        }
    }
    let path = path.replace("\\ ", " ");
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).to_string_lossy().into_owned(),
        _ => path,
    }
}

/// Where console lines go: stdout in the binary, a buffer in tests. Every line is escaped on
/// its way (control characters shown as escapes): file names, peer ids, owners and error
/// details come from strangers, and an ESC sequence in one must not reach the operator's
/// terminal, nor a line break start a line that seems ours. So one message is one line, and
/// a table is said a row at a time.
#[derive(Clone)]
pub struct Console(Arc<dyn Fn(String) + Send + Sync>);

impl Console {
    /// Lines to stdout. A closed stdout (`peer ... | head`) loses the lines, not the peer.
    pub fn stdout() -> Self {
        Console(Arc::new(|line| {
            use std::io::Write;
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }))
    }

    /// Lines to `sink`.
    pub fn to(sink: impl Fn(String) + Send + Sync + 'static) -> Self {
        Console(Arc::new(sink))
    }

    fn say(&self, text: impl std::fmt::Display) {
        (self.0)(console_safe(&text.to_string()))
    }

    fn say_rows(&self, rows: Vec<String>) {
        for row in rows {
            self.say(row);
        }
    }
}

/// `text` as one line, with control characters (line breaks included) escaped.
fn console_safe(text: &str) -> String {
    crate::terminal::escape(text).into_owned()
}

/// The commands, as `help` and `peer --help` list them.
pub const COMMANDS: &str = "\
  list, ls             files known on the network; * marks the ones we hold
  peers                tracked peers and when they were last heard from
  get <file_id>        fetch a file in the background
  push <path>          add a local file as ours, send it to a peer, announce it
  delete, rm <file_id> delete a file we own, here and on every peer
  help, ?              this list
  exit, quit           save and stop (so do Ctrl-C and SIGTERM)
A unique prefix of a file id is enough.";

/// Runs the menu until `exit` (which cancels `stop`) or until `stop` fires. At EOF the menu
/// ends quietly and the peer keeps running.
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
        Command::Delete(prefix) => match resolve(peer, &prefix)
            .and_then(|id| peer.delete(&id).map_err(|e| e.to_string()))
        {
            Ok(meta) => out.say(format!(
                "delete: removed {} here and asked every peer to remove it",
                meta.file_name
            )),
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

/// The console line for a change of a get or a push: every 10% of a large file, then its
/// outcome.
fn progress_line(t: &TransferDto, last_decile: &mut u64) -> Option<String> {
    let peer = t.peer.as_deref().unwrap_or("?");
    let (verb, from) = match t.kind {
        TransferKind::Push => ("push", "to"),
        _ => ("get", "from"),
    };
    match &t.state {
        TransferStateDto::Running => {
            let total = t.bytes_total.filter(|total| *total >= 1 << 20)?;
            let decile = (t.bytes_done * 10 / total.max(1)).min(10);
            if decile <= *last_decile {
                return None;
            }
            *last_decile = decile;
            Some(format!(
                "{verb} {}: {}% ({} of {}) {from} {peer}",
                t.file_name,
                decile * 10,
                human(t.bytes_done),
                human(total)
            ))
        }
        TransferStateDto::Done if t.kind == TransferKind::Push => Some(format!(
            "push {}: done, {} sent to {peer}",
            t.file_name,
            human(t.bytes_done),
        )),
        TransferStateDto::Done => Some(format!(
            "get {}: done, {} from {peer}, verified ({})",
            t.file_name,
            human(t.bytes_done),
            short(&t.file_id)
        )),
        TransferStateDto::Failed { reason } => {
            Some(format!("{verb} {}: FAILED: {reason}", t.file_name))
        }
    }
}

/// `list`'s table, a row a line.
fn files_table(files: &[FileDto]) -> Vec<String> {
    if files.is_empty() {
        return vec!["no files known yet".into()];
    }
    let mut out = vec![format!(
        "  {:<12}  {:<32}  {:>10}  {:<14}  holders",
        "id", "name", "size", "owner"
    )];
    for f in files {
        let size = f.size_bytes.map(human).unwrap_or_else(|| "?".into());
        out.push(format!(
            "{} {:<12}  {:<32}  {:>10}  {:<14}  {}",
            if f.has_copy { '*' } else { ' ' },
            short(&f.file_id),
            clip(&f.file_name, 32),
            size,
            clip(&f.file_owner, 14),
            f.holders.join(", ")
        ));
    }
    out
}

/// `peers`' table, as of `now_ms`, a peer a line.
fn peers_table(peers: &[PeerDto], now_ms: u64) -> Vec<String> {
    if peers.is_empty() {
        return vec!["no peers tracked yet".into()];
    }
    peers
        .iter()
        .map(|p| {
            let ago = now_ms.saturating_sub(p.last_seen_ms) as f64 / 1000.0;
            format!(
                "{:<20} {}:{:<6} last seen {ago:.1} s ago",
                p.peer_id, p.host, p.port
            )
        })
        .collect()
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

    #[test]
    fn commands() {
        assert_eq!(parse("  list "), Ok(Some(Command::List)));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("get 4771"), Ok(Some(Command::Get("4771".into()))));
        assert_eq!(
            parse("push /tmp/a b.txt"),
            Ok(Some(Command::Push("/tmp/a b.txt".into())))
        );
        for pasted in [
            r#"push "/tmp/a b.txt""#,
            "push '/tmp/a b.txt'",
            r"push /tmp/a\ b.txt",
        ] {
            assert_eq!(
                parse(pasted),
                Ok(Some(Command::Push("/tmp/a b.txt".into()))),
                "{pasted}"
            );
        }
        assert!(parse("get").is_err());
        assert!(parse("frobnicate").is_err());
        assert_eq!(parse("EXIT"), Ok(Some(Command::Exit)));
    }

    #[test]
    fn words_a_command_does_not_take_are_refused() {
        assert_eq!(parse("peers bob"), Err("peers takes no argument".into()));
        assert_eq!(parse("exit now"), Err("exit takes no argument".into()));
        assert_eq!(
            parse("get 4771 aaf3"),
            Err("usage: get <file_id> (one id)".into())
        );
        assert_eq!(
            parse("rm 4771 aaf3"),
            Err("usage: rm <file_id> (one id)".into())
        );
    }

    #[test]
    fn a_pushed_path_may_start_at_the_home_folder() {
        let home = std::env::var("HOME").expect("HOME is set");
        let expected = std::path::Path::new(&home).join("notes.txt");
        assert_eq!(parse("push ~/notes.txt"), Ok(Some(Command::Push(expected))));
        // Quoted, it is taken as written, as a shell would.
        assert_eq!(
            parse("push '~/notes.txt'"),
            Ok(Some(Command::Push("~/notes.txt".into())))
        );
    }

    #[test]
    fn a_push_reports_its_peer_and_outcome() {
        let mut t = TransferDto {
            id: 1,
            kind: TransferKind::Push,
            file_id: "ab".into(),
            file_name: "big".into(),
            peer: Some("bob".into()),
            bytes_done: 5 << 20,
            bytes_total: Some(10 << 20),
            started_ms: 0,
            finished_ms: None,
            state: TransferStateDto::Running,
        };
        assert_eq!(
            progress_line(&t, &mut 0).as_deref(),
            Some("push big: 50% (5.0 MiB of 10.0 MiB) to bob")
        );
        t.bytes_done = 10 << 20;
        t.state = TransferStateDto::Done;
        assert_eq!(
            progress_line(&t, &mut 0).as_deref(),
            Some("push big: done, 10.0 MiB sent to bob")
        );
    }

    fn hostile_file(name: &str, owner: &str) -> FileDto {
        FileDto {
            file_id: "4771828\x1b[2J23f9d5d5158".into(),
            file_name: name.into(),
            size_bytes: Some(1483),
            file_owner: owner.into(),
            file_timestamp: "1749713836".into(),
            timestamp_secs: Some(1749713836.0),
            holders: vec!["eve\x07".into()],
            has_copy: false,
            owned: false,
        }
    }

    #[test]
    fn list_escapes_names_owners_ids_and_holders() {
        let table = files_table(&[hostile_file("\x1b]0;pwned\x07notes", "\x1b[31mPROF")]);
        let shown: Vec<String> = table.iter().map(|row| console_safe(row)).collect();
        let shown = shown.join("\n");
        assert!(
            !shown.contains('\x1b') && !shown.contains('\x07'),
            "{shown}"
        );
        assert!(shown.contains("\\x1b]0;pwned\\x07notes"), "{shown}");
        assert!(shown.contains("\\x1b[31mPROF"), "{shown}");
        assert_eq!(table.len(), 2, "a header and a row");
    }

    #[test]
    fn a_line_break_from_a_stranger_cannot_start_a_line() {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let out = Console::to(move |line| sink.lock().unwrap().push(line));
        let forged = "x\nget abc: done, 1.0 MiB from PROF, verified (abc)";
        out.say_rows(files_table(&[hostile_file(forged, "PROF")]));
        out.say(format!("get {forged}: fetching in the background"));
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines.iter().all(|l| !l.contains('\n')), "{lines:?}");
        assert!(lines[2].starts_with("get x\\x0aget abc"), "{lines:?}");
    }

    #[test]
    fn peers_escapes_ids_and_hosts() {
        let peer = PeerDto {
            peer_id: "mallory\x1b[2J".into(),
            host: "evil\rhost".into(),
            port: 8999,
            last_seen_ms: 1_000,
            state: shared::PeerStateDto::Alive,
            health: None,
        };
        let shown = console_safe(&peers_table(&[peer], 3_500).join(" "));
        assert!(!shown.contains('\x1b') && !shown.contains('\r'), "{shown}");
        assert!(shown.contains("mallory\\x1b[2J"), "{shown}");
        assert!(shown.contains("last seen 2.5 s ago"), "{shown}");
    }

    #[test]
    fn get_failure_lines_escape_names_and_reasons() {
        let t = TransferDto {
            id: 1,
            kind: TransferKind::Get,
            file_id: "ab".into(),
            file_name: "a\x1b[1Ab".into(),
            peer: Some("p\x1b".into()),
            bytes_done: 0,
            bytes_total: None,
            started_ms: 0,
            finished_ms: Some(1),
            state: TransferStateDto::Failed {
                reason: "p\x1b: bad reply".into(),
            },
        };
        let line = console_safe(&progress_line(&t, &mut 0).expect("a line"));
        assert_eq!(line, "get a\\x1b[1Ab: FAILED: p\\x1b: bad reply");
    }

    #[test]
    fn progress_is_printed_once_per_decile() {
        let mut t = TransferDto {
            id: 1,
            kind: TransferKind::Get,
            file_id: "ab".into(),
            file_name: "big".into(),
            peer: Some("p".into()),
            bytes_done: 0,
            bytes_total: Some(10 << 20),
            started_ms: 0,
            finished_ms: None,
            state: TransferStateDto::Running,
        };
        let mut decile = 0;
        let mut lines = Vec::new();
        for done in [1 << 19, 1 << 20, 3 << 19, 2 << 20, 10 << 20] {
            t.bytes_done = done;
            lines.extend(progress_line(&t, &mut decile));
        }
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[2].starts_with("get big: 100%"), "{lines:?}");
    }

    #[test]
    fn sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(256 << 20), "256.0 MiB");
    }
}
