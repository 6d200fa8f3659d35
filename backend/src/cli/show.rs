//! What the console prints: one escaped line per message, the tables of `list` and `peers`,
//! and the lines that follow a get or a push.

use crate::peer::short;
use shared::{FileDto, PeerDto, TransferDto, TransferKind, TransferStateDto};
use std::sync::Arc;

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

    pub(super) fn say(&self, text: impl std::fmt::Display) {
        (self.0)(console_safe(&text.to_string()))
    }

    pub(super) fn say_rows(&self, rows: Vec<String>) {
        for row in rows {
            self.say(row);
        }
    }
}

/// `text` as one line, with control characters (line breaks included) escaped.
fn console_safe(text: &str) -> String {
    crate::terminal::escape(text).into_owned()
}

/// The console line for a change of a get or a push: every 10% of a large file, then its
/// outcome.
pub(super) fn progress_line(t: &TransferDto, last_decile: &mut u64) -> Option<String> {
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
pub(super) fn files_table(files: &[FileDto]) -> Vec<String> {
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
pub(super) fn peers_table(peers: &[PeerDto], now_ms: u64) -> Vec<String> {
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
