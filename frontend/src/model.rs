//! The dashboard's decisions over plain data: merging events into lists, transfer speed, the
//! files table's filter and sort, and the peers table's sort.
//!
//! Nothing here touches the DOM or the network, and the only signal is each [`Row`]'s copy of
//! its item for the view; `state` wraps these functions in signals. Times are passed in
//! (`now_ms`), so every rule is testable with plain numbers.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::OnceLock;

use leptos::prelude::{ArcRwSignal, Set};
use shared::{
    FileDto, LogEntry, PeerDto, PeerHealthDto, PeerStateDto, StatusDto, TransferDto, TransferKind,
    TransferStateDto,
};

/// How many event-log lines the dashboard keeps.
pub const LOG_CAP: usize = 200;

/// An item of a table, and the signal its row on screen reads.
///
/// The row keeps its key and its signal for as long as the item stays in the list, so a
/// changed item updates its row's cells in place; an item removed and added again is a new
/// row. The signal is made the first time the row is shown (a page of 10,000 files shows 100).
#[derive(Debug)]
pub struct Row<T> {
    /// The item as last received; sorting and filtering read this one.
    pub item: T,
    key: u64,
    shown: OnceLock<ArcRwSignal<T>>,
}

/// What a table renders for one row: its key, and the signal its cells read.
#[derive(Clone, Debug, PartialEq)]
pub struct Shown<T> {
    /// Never the key of another row, even of one removed.
    pub key: u64,
    /// Always equal to the row's item.
    pub signal: ArcRwSignal<T>,
}

/// Row keys. Not a signal's address: `ArcRwSignal`'s `Hash` hashes the address of a temporary,
/// so two handles of one signal need not hash alike, and a keyed list cannot use it.
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

impl<T: Clone + Send + Sync + 'static> Row<T> {
    /// A row not shown yet.
    pub fn new(item: T) -> Self {
        Row {
            item,
            key: NEXT_KEY.fetch_add(1, AtomicOrdering::Relaxed),
            shown: OnceLock::new(),
        }
    }

    /// The row as a table shows it.
    pub fn shown(&self) -> Shown<T> {
        let signal = self
            .shown
            .get_or_init(|| ArcRwSignal::new(self.item.clone()))
            .clone();
        Shown {
            key: self.key,
            signal,
        }
    }

    /// Replaces the item, and the value of a row on screen.
    pub fn set(&mut self, item: T) {
        if let Some(shown) = self.shown.get() {
            shown.set(item.clone());
        }
        self.item = item;
    }
}

/// Replaces the item of the row with the same key as `item`, or appends a new row.
pub fn upsert<T, K>(rows: &mut Vec<Row<T>>, item: T, key: impl Fn(&T) -> K)
where
    T: Clone + Send + Sync + 'static,
    K: PartialEq,
{
    let k = key(&item);
    match rows.iter_mut().find(|row| key(&row.item) == k) {
        Some(row) => row.set(item),
        None => rows.push(Row::new(item)),
    }
}

/// The positions `0..len` in the order `compare` gives them.
///
/// Every table sorts through here, so the wasm holds one copy of the sort.
pub fn sorted(len: usize, compare: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&a, &b| compare(a, b));
    order
}

/// `text` in lower case, for comparing without case. ASCII stays in Rust; other text goes to
/// the browser's `toLowerCase`, the same Unicode mapping as `str::to_lowercase`, whose tables
/// would add some 18 KiB to the wasm.
pub fn fold_case(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        unicode_lowercase(text)
    }
}

#[cfg(target_arch = "wasm32")]
fn unicode_lowercase(text: &str) -> String {
    js_sys::JsString::from(text).to_lower_case().into()
}

#[cfg(not(target_arch = "wasm32"))]
fn unicode_lowercase(text: &str) -> String {
    text.to_lowercase()
}

/// A known file, with its name and owner case-folded once when it arrives, for the filter and
/// the name sort.
#[derive(Clone, Debug, PartialEq)]
pub struct KnownFile {
    /// The file as last received.
    pub dto: FileDto,
    name: String,
    owner: String,
}

impl KnownFile {
    /// Folds the text the filter and the sort compare.
    pub fn new(dto: FileDto) -> Self {
        KnownFile {
            name: fold_case(&dto.file_name),
            owner: fold_case(&dto.file_owner),
            dto,
        }
    }
}

/// A transfer with the client-side speed estimate built from its successive updates.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferRow {
    /// The transfer as last received.
    pub dto: TransferDto,
    /// Smoothed bytes per second while running; the average over its life once finished.
    pub speed: Option<f64>,
    /// Our clock (ms) and `bytes_done` at the last update the speed was measured against.
    pub sample: (f64, u64),
    /// Our clock (ms) when this row last changed, to spot a stalled transfer.
    pub updated_ms: f64,
    /// The last [`HISTORY`] speed measurements, oldest first, for the sparkline.
    pub history: Vec<f64>,
}

/// How many speed measurements a transfer keeps for its sparkline.
pub const HISTORY: usize = 30;

/// Updates closer together than this are folded into the next measurement, so bursts of small
/// progress events do not make the speed jump around.
const MIN_SAMPLE_MS: f64 = 250.0;
/// Weight of the newest measurement in the smoothed speed.
const SMOOTHING: f64 = 0.3;
/// A running transfer silent for this long shows no speed or ETA.
pub const STALL_MS: f64 = 5000.0;

/// Builds the row for `dto`, continuing the speed estimate of `prev` (the same transfer's row).
pub fn track_transfer(prev: Option<&TransferRow>, dto: TransferDto, now_ms: f64) -> TransferRow {
    let done = dto.bytes_done;
    if dto.state != TransferStateDto::Running {
        // The peer's own start and end times give an exact average; no clock skew involved.
        let speed = dto.finished_ms.and_then(|end| {
            let ms = end.saturating_sub(dto.started_ms);
            (ms > 0 && done > 0).then(|| done as f64 * 1000.0 / ms as f64)
        });
        return TransferRow {
            dto,
            speed,
            sample: (now_ms, done),
            updated_ms: now_ms,
            history: prev.map(|p| p.history.clone()).unwrap_or_default(),
        };
    }
    let Some(prev) = prev else {
        return TransferRow {
            dto,
            speed: None,
            sample: (now_ms, done),
            updated_ms: now_ms,
            history: Vec::new(),
        };
    };
    let (t0, b0) = prev.sample;
    let elapsed = now_ms - t0;
    if done < b0 {
        // The next source, starting again from zero: forget the old estimate.
        return TransferRow {
            dto,
            speed: None,
            sample: (now_ms, done),
            updated_ms: now_ms,
            history: Vec::new(),
        };
    }
    if elapsed < MIN_SAMPLE_MS {
        return TransferRow {
            dto,
            speed: prev.speed,
            sample: prev.sample,
            updated_ms: now_ms,
            history: prev.history.clone(),
        };
    }
    let measured = (done - b0) as f64 * 1000.0 / elapsed;
    let speed = match prev.speed {
        Some(old) => old + SMOOTHING * (measured - old),
        None => measured,
    };
    let mut history = prev.history.clone();
    if history.len() == HISTORY {
        history.remove(0);
    }
    history.push(measured);
    TransferRow {
        dto,
        speed: Some(speed),
        sample: (now_ms, done),
        updated_ms: now_ms,
        history,
    }
}

/// Whether `dto` is an older copy of the transfer `prev` already shows, to be ignored.
///
/// Events and the reply to the request that started a get race each other, so a copy can
/// arrive after a newer one. A transfer never runs again once it has finished, and a running
/// one only gains bytes from its peer: the peer it names is set once bytes move and never
/// cleared, and fewer bytes are new only under another peer's name (the next source, which
/// starts from zero).
fn is_stale(prev: &TransferDto, dto: &TransferDto) -> bool {
    let running = |t: &TransferDto| t.state == TransferStateDto::Running;
    if !running(dto) {
        return false;
    }
    !running(prev)
        || (dto.peer.is_none() && prev.peer.is_some())
        || (dto.peer == prev.peer && dto.bytes_done < prev.bytes_done)
}

impl TransferRow {
    /// The speed worth showing at `now_ms`: none for a running transfer that went quiet.
    pub fn shown_speed(&self, now_ms: f64) -> Option<f64> {
        let running = self.dto.state == TransferStateDto::Running;
        if running && now_ms - self.updated_ms > STALL_MS {
            None
        } else {
            self.speed
        }
    }

    /// Seconds left for a running transfer of known size, at the shown speed.
    pub fn eta_secs(&self, now_ms: f64) -> Option<f64> {
        if self.dto.state != TransferStateDto::Running {
            return None;
        }
        let total = self.dto.bytes_total?;
        let speed = self.shown_speed(now_ms).filter(|s| *s > 0.0)?;
        Some(total.saturating_sub(self.dto.bytes_done) as f64 / speed)
    }
}

/// Whether a transfer is a download (a get or an automatic fetch) that failed: one that Retry
/// could start again.
pub fn is_failed_download(t: &TransferDto) -> bool {
    matches!(t.kind, TransferKind::Get | TransferKind::AutoFetch)
        && matches!(t.state, TransferStateDto::Failed { .. })
}

/// Whether a get of `file_id` can start: the file is still known and we hold no copy (the peer
/// refuses a get of anything else).
pub fn can_get(files: &[Row<KnownFile>], file_id: &str) -> bool {
    files
        .iter()
        .any(|r| r.item.dto.file_id == file_id && !r.item.dto.has_copy)
}

/// The most transfers shown, as the peer keeps: beyond it, the oldest finished ones go.
pub const KEPT_TRANSFERS: usize = 100;

/// Replaces or appends the transfer with the same id, carrying its speed estimate along; keeps
/// at most [`KEPT_TRANSFERS`] rows, dropping the oldest finished ones.
///
/// Returns the bytes it moved since the copy shown before (all of them for a new transfer),
/// for the throughput chart: zero for a stale copy, which is ignored, and for the first update
/// from the next source, which starts again from zero.
pub fn upsert_transfer(rows: &mut Vec<Row<TransferRow>>, dto: TransferDto, now_ms: f64) -> u64 {
    let prev = rows
        .iter()
        .find(|r| r.item.dto.id == dto.id)
        .map(|r| &r.item);
    if prev.is_some_and(|p| is_stale(&p.dto, &dto)) {
        return 0;
    }
    let moved = dto
        .bytes_done
        .saturating_sub(prev.map_or(0, |p| p.dto.bytes_done));
    let row = track_transfer(prev, dto, now_ms);
    upsert(rows, row, |r| r.dto.id);
    while rows.len() > KEPT_TRANSFERS {
        let oldest_finished = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.item.dto.state != TransferStateDto::Running)
            .min_by_key(|(_, r)| r.item.dto.id)
            .map(|(i, _)| i);
        match oldest_finished {
            Some(i) => drop(rows.remove(i)),
            None => break,
        }
    }
    moved
}

/// Why an upload of a file named `name` of `size` bytes would be refused by a peer whose status
/// is `status`, said before sending it: an upload too large is answered 413 before its body is
/// read, which a browser may report as a network failure with no reason, and one with a
/// refused name is answered 400 only once the whole file has been sent. The name rule is the peer's own
/// ([`shared::name_refusal`]), on the name trimmed.
pub fn upload_refusal(name: &str, size: f64, status: Option<&StatusDto>) -> Option<String> {
    let max_name = status.and_then(|s| s.max_name_len);
    shared::name_refusal(
        name.trim(),
        max_name.unwrap_or(shared::DEFAULT_MAX_NAME_LEN),
    )
    .map(|refusal| refusal.to_string())
    .or_else(|| size_refusal(size, status?))
}

fn size_refusal(size: f64, status: &StatusDto) -> Option<String> {
    let max = status.max_file_size?;
    (size > max as f64).then(|| {
        format!(
            "larger than the peer's limit of {}",
            crate::format::human_size(max)
        )
    })
}

/// The peer's clock minus ours (`now_ms`, when its status arrived), in ms: add it to our clock
/// to compare with the peer's times. 0 when the status does not say (an older peer). Off by
/// the time the status took to arrive, a few milliseconds.
pub fn clock_offset_ms(status: &StatusDto, now_ms: f64) -> f64 {
    status.now_ms.map_or(0.0, |peer| peer as f64 - now_ms)
}

/// One event-log line with a sequence number to key it by (two lines may be identical).
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// Grows by one per line received.
    pub seq: u64,
    /// The line.
    pub entry: LogEntry,
}

/// Puts `entry` at the front (newest first) and keeps at most [`LOG_CAP`] lines.
pub fn push_log(log: &mut VecDeque<LogLine>, entry: LogEntry, seq: u64) {
    log.push_front(LogLine { seq, entry });
    log.truncate(LOG_CAP);
}

/// The column the files table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// File name, case-insensitive.
    Name,
    /// Size in bytes; unknown sizes sort first.
    Size,
    /// Owner id.
    Owner,
    /// Number of holders.
    Holders,
    /// Announced timestamp.
    Time,
    /// Whether we hold a copy.
    Held,
}

/// A sort column and direction; `K` names the columns of one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort<K = SortKey> {
    /// The column.
    pub key: K,
    /// Ascending when true.
    pub ascending: bool,
}

impl<K: PartialEq> Sort<K> {
    /// The sort after a click on `key`'s header: the same column flips, a new one starts ascending.
    pub fn clicked(self, key: K) -> Sort<K> {
        if self.key == key {
            Sort {
                key,
                ascending: !self.ascending,
            }
        } else {
            Sort {
                key,
                ascending: true,
            }
        }
    }
}

/// Whether `file` matches `needle`, a filter already trimmed and passed through [`fold_case`]
/// (name, owner or id, case-insensitive; empty matches).
pub fn file_matches(file: &KnownFile, needle: &str) -> bool {
    needle.is_empty()
        || file.name.contains(needle)
        || file.owner.contains(needle)
        || fold_case(&file.dto.file_id).starts_with(needle)
}

/// Orders two files for `sort`; ties fall back to name (case-insensitive), then id, so the
/// order is stable.
pub fn compare_files(a: &KnownFile, b: &KnownFile, sort: Sort) -> Ordering {
    let by_name = |a: &KnownFile, b: &KnownFile| a.name.cmp(&b.name);
    let (a_file, b_file) = (a, b);
    let (a, b) = (&a.dto, &b.dto);
    let primary = match sort.key {
        SortKey::Name => by_name(a_file, b_file),
        SortKey::Size => a.size_bytes.cmp(&b.size_bytes),
        SortKey::Owner => a.file_owner.cmp(&b.file_owner),
        SortKey::Holders => a.holders.len().cmp(&b.holders.len()),
        SortKey::Time => compare_time(a, b),
        SortKey::Held => a.has_copy.cmp(&b.has_copy),
    };
    let primary = if sort.ascending {
        primary
    } else {
        primary.reverse()
    };
    primary
        .then_with(|| by_name(a_file, b_file))
        .then_with(|| a.file_id.cmp(&b.file_id))
}

/// Numeric timestamps in time order, before the ones that are only text (compared as text).
fn compare_time(a: &FileDto, b: &FileDto) -> Ordering {
    match (a.timestamp_secs, b.timestamp_secs) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.file_timestamp.cmp(&b.file_timestamp),
    }
}

/// The positions in `rows` of the rows to show: those matching `filter`, in `sort` order.
pub fn visible_files(rows: &[Row<KnownFile>], filter: &str, sort: Sort) -> Vec<usize> {
    let needle = fold_case(filter.trim());
    let matching: Vec<usize> = (0..rows.len())
        .filter(|&i| file_matches(&rows[i].item, &needle))
        .collect();
    sorted(matching.len(), &|a, b| {
        compare_files(&rows[matching[a]].item, &rows[matching[b]].item, sort)
    })
    .into_iter()
    .map(|i| matching[i])
    .collect()
}

/// The column the peers table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerSortKey {
    /// Peer id.
    Id,
    /// Advertised host, then port.
    Address,
    /// Time since we last heard from it: the most recent first when ascending.
    LastSeen,
    /// Alive before quiet.
    State,
    /// Messages received from it.
    Messages,
    /// First-byte latency of its last GET_FILE reply; never measured sorts first.
    FirstByte,
    /// Failed gets, then successful ones.
    Gets,
    /// Bad copies, truncated replies and stalls together.
    Problems,
}

/// Bad copies, truncated replies and stalls: everything a peer did wrong when serving us.
pub fn peer_problems(health: &PeerHealthDto) -> u64 {
    health.bad_copies + health.truncated + health.stalls
}

/// Whether a peer earns the warning badge: it sent a copy that did not verify, or stalled.
pub fn peer_warned(peer: &PeerDto) -> bool {
    peer.health
        .as_ref()
        .is_some_and(|h| h.bad_copies > 0 || h.stalls > 0)
}

/// Orders two peers for `sort`; ties fall back to the peer id (ascending either way), so the
/// order is stable. A peer without a health record sorts as if every count were zero and no
/// latency was measured.
pub fn compare_peers(a: &PeerDto, b: &PeerDto, sort: Sort<PeerSortKey>) -> Ordering {
    let none = PeerHealthDto::default();
    let (ha, hb) = (
        a.health.as_ref().unwrap_or(&none),
        b.health.as_ref().unwrap_or(&none),
    );
    let state = |p: &PeerDto| match p.state {
        PeerStateDto::Alive => 0,
        PeerStateDto::Quiet => 1,
    };
    let primary = match sort.key {
        PeerSortKey::Id => a.peer_id.cmp(&b.peer_id),
        PeerSortKey::Address => (&a.host, a.port).cmp(&(&b.host, b.port)),
        PeerSortKey::LastSeen => b.last_seen_ms.cmp(&a.last_seen_ms),
        PeerSortKey::State => state(a).cmp(&state(b)),
        PeerSortKey::Messages => ha.messages_received.cmp(&hb.messages_received),
        PeerSortKey::FirstByte => ha.first_byte_ms.cmp(&hb.first_byte_ms),
        PeerSortKey::Gets => (ha.gets_failed, ha.gets_ok).cmp(&(hb.gets_failed, hb.gets_ok)),
        PeerSortKey::Problems => peer_problems(ha).cmp(&peer_problems(hb)),
    };
    let primary = if sort.ascending {
        primary
    } else {
        primary.reverse()
    };
    primary.then_with(|| a.peer_id.cmp(&b.peer_id))
}

/// How many rows a page of the files table shows.
pub const PAGE_ROWS: usize = 100;

/// The number of pages for `shown` rows; one even when there are none.
pub fn page_count(shown: usize) -> usize {
    shown.div_ceil(PAGE_ROWS).max(1)
}

/// The range of positions on page `page` (from 0; past the end means the last page).
pub fn page_range(shown: usize, page: usize) -> std::ops::Range<usize> {
    let page = page.min(page_count(shown) - 1);
    let start = page * PAGE_ROWS;
    start..(start + PAGE_ROWS).min(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leptos::prelude::GetUntracked;
    use shared::LogLevel;

    fn peer(id: &str, last_seen_ms: u64, health: Option<PeerHealthDto>) -> PeerDto {
        PeerDto {
            peer_id: id.into(),
            host: "127.0.0.1".into(),
            port: 9000,
            last_seen_ms,
            state: PeerStateDto::Alive,
            health,
        }
    }

    fn health(messages: u64, first_byte_ms: Option<u64>, problems: [u64; 3]) -> PeerHealthDto {
        let [bad_copies, truncated, stalls] = problems;
        PeerHealthDto {
            messages_received: messages,
            first_byte_ms,
            bad_copies,
            truncated,
            stalls,
            ..PeerHealthDto::default()
        }
    }

    /// The peer ids of `peers` in `sort` order.
    fn peer_order(peers: &[PeerDto], key: PeerSortKey, ascending: bool) -> Vec<&str> {
        let mut peers: Vec<&PeerDto> = peers.iter().collect();
        peers.sort_by(|a, b| compare_peers(a, b, Sort { key, ascending }));
        peers.iter().map(|p| p.peer_id.as_str()).collect()
    }

    fn file(id: &str, name: &str, size: Option<u64>, ts: Option<f64>) -> FileDto {
        FileDto {
            file_id: id.into(),
            file_name: name.into(),
            size_bytes: size,
            file_owner: "owner".into(),
            file_timestamp: ts.map_or("later".into(), |t| t.to_string()),
            timestamp_secs: ts,
            holders: vec![],
            has_copy: false,
            owned: false,
        }
    }

    fn transfer(id: u64, done: u64, state: TransferStateDto) -> TransferDto {
        TransferDto {
            id,
            kind: TransferKind::Get,
            file_id: "f".into(),
            file_name: "a.txt".into(),
            peer: None,
            bytes_done: done,
            bytes_total: Some(10_000),
            started_ms: 1_000,
            finished_ms: (state != TransferStateDto::Running).then_some(3_000),
            state,
        }
    }

    #[test]
    fn only_the_newest_finished_transfers_are_kept_and_every_running_one() {
        let mut rows = vec![];
        upsert_transfer(&mut rows, transfer(0, 5, TransferStateDto::Running), 0.0);
        for id in 1..=KEPT_TRANSFERS as u64 + 10 {
            upsert_transfer(&mut rows, transfer(id, 10_000, TransferStateDto::Done), 0.0);
        }
        assert_eq!(rows.len(), KEPT_TRANSFERS);
        let ids: Vec<u64> = rows.iter().map(|r| r.item.dto.id).collect();
        assert_eq!(ids[0], 0, "the running one stays");
        assert_eq!(ids[1], 12, "the oldest finished went first");
        assert_eq!(*ids.last().unwrap(), KEPT_TRANSFERS as u64 + 10);
    }

    fn status(max_file_size: Option<u64>) -> StatusDto {
        StatusDto {
            peer_id: "me".into(),
            host: "h".into(),
            p2p_port: 1,
            http_port: 2,
            version: "v".into(),
            uptime_secs: 0,
            peer_count: 0,
            file_count: 0,
            held_count: 0,
            max_file_size,
            max_name_len: Some(255),
            now_ms: None,
        }
    }

    #[test]
    fn the_peers_clock_is_read_from_its_status() {
        let hour = 3_600_000.0;
        let ahead = StatusDto {
            now_ms: Some(1_000_000 + hour as u64),
            ..status(None)
        };
        assert_eq!(clock_offset_ms(&ahead, 1_000_000.0), hour);
        let behind = StatusDto {
            now_ms: Some(1_000),
            ..status(None)
        };
        assert_eq!(clock_offset_ms(&behind, 5_000.0), -4_000.0);
        // A peer's time taken as the status was made reads "0 s ago" on our clock.
        let now = 2_000_000.0;
        let seen = 1_000_000 + hour as u64;
        assert_eq!(
            crate::format::ago(now + clock_offset_ms(&ahead, now), seen),
            "0 s ago"
        );
        assert_eq!(clock_offset_ms(&status(None), now), 0.0, "an older peer");
    }

    #[test]
    fn an_upload_over_the_peers_limit_is_refused_before_it_is_sent() {
        let limited = status(Some(1 << 20));
        assert_eq!(upload_refusal("a", (1 << 20) as f64, Some(&limited)), None);
        let refused = upload_refusal("a", (1 << 20) as f64 + 1.0, Some(&limited)).unwrap();
        assert!(refused.contains("limit of 1"), "{refused}");
        // An older peer does not say; nor is anything known before the first snapshot.
        assert_eq!(upload_refusal("a", 1e12, Some(&status(None))), None);
        assert_eq!(upload_refusal("a", 1e12, None), None);
    }

    #[test]
    fn an_upload_under_a_name_the_peer_refuses_is_refused_before_it_is_sent() {
        let check = |name: &str, refused: Option<&str>| {
            let why = upload_refusal(name, 1.0, None);
            match refused {
                None => assert_eq!(why, None, "{name:?}"),
                Some(part) => assert!(
                    why.as_deref().is_some_and(|w| w.contains(part)),
                    "{name:?}: {why:?}"
                ),
            }
        };
        check("say \"hi\".txt", None);
        check("  padded.txt ", None);
        check("été.txt", None);
        check("...", None);
        check(" ", Some("no name"));
        check("", Some("no name"));
        check(" .. ", Some("'.' or '..'"));
        check(".", Some("'.' or '..'"));
        check("a/b", Some("'/'"));
        check("a\\b", Some("'/'"));
        check("line\nbreak", Some("control"));
        check("tab\there", Some("control"));
        check("del\u{7f}", Some("control"));
        check(&"n".repeat(shared::DEFAULT_MAX_NAME_LEN), None);
        check(
            &"n".repeat(shared::DEFAULT_MAX_NAME_LEN + 1),
            Some("longer than 255 bytes"),
        );
        // Bytes, not characters: 128 two-byte letters are 256 bytes.
        check(&"é".repeat(128), Some("longer than 255 bytes"));
        // The name is checked before the size.
        let why = upload_refusal("a/b", 1e12, Some(&status(Some(1)))).unwrap();
        assert!(why.contains("'/'"), "{why}");
        // The peer's own limit, once its status says it.
        let short = StatusDto {
            max_name_len: Some(8),
            ..status(None)
        };
        assert_eq!(upload_refusal("12345678", 1.0, Some(&short)), None);
        let why = upload_refusal("123456789", 1.0, Some(&short)).unwrap();
        assert!(why.contains("longer than 8 bytes"), "{why}");
    }

    #[test]
    fn upsert_replaces_by_key_and_appends_new() {
        let mut rows = vec![];
        upsert(&mut rows, ("a", 1), |x| x.0);
        upsert(&mut rows, ("b", 1), |x| x.0);
        upsert(&mut rows, ("a", 2), |x| x.0);
        let items: Vec<_> = rows.iter().map(|r| r.item).collect();
        assert_eq!(items, [("a", 2), ("b", 1)]);
    }

    #[test]
    fn a_shown_row_keeps_its_signal_and_gets_the_new_item() {
        let mut rows = vec![];
        upsert(&mut rows, ("a", 1), |x| x.0);
        let shown = rows[0].shown();
        upsert(&mut rows, ("a", 2), |x| x.0);
        assert_eq!(rows[0].shown(), shown);
        assert_eq!(shown.signal.get_untracked(), ("a", 2));
        rows.clear();
        upsert(&mut rows, ("a", 3), |x| x.0);
        assert_ne!(rows[0].shown().key, shown.key, "added again: a new row");
    }

    #[test]
    fn folding_lowers_ascii_and_other_scripts() {
        assert_eq!(fold_case("ÉTÉ Zeta"), "été zeta");
        assert_eq!(fold_case("ABC-1"), "abc-1");
    }

    #[test]
    fn a_finished_transfer_is_not_overwritten_by_a_stale_running_copy() {
        let mut rows = vec![];
        upsert_transfer(&mut rows, transfer(1, 10_000, TransferStateDto::Done), 0.0);
        upsert_transfer(&mut rows, transfer(1, 0, TransferStateDto::Running), 1.0);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].item.dto.state, TransferStateDto::Done);
        assert_eq!(rows[0].item.dto.bytes_done, 10_000);
    }

    #[test]
    fn speed_comes_from_successive_updates() {
        let running = TransferStateDto::Running;
        let first = track_transfer(None, transfer(1, 0, running.clone()), 0.0);
        assert_eq!(first.speed, None);
        let second = track_transfer(Some(&first), transfer(1, 1000, running.clone()), 1000.0);
        assert_eq!(second.speed, Some(1000.0));
        assert_eq!(second.history, [1000.0]);
        // Too soon after the last sample: the estimate is kept, the sample too.
        let burst = track_transfer(Some(&second), transfer(1, 1100, running.clone()), 1100.0);
        assert_eq!((burst.speed, burst.sample), (Some(1000.0), (1000.0, 1000)));
        // 2000 B/s measured, smoothed towards it.
        let third = track_transfer(Some(&burst), transfer(1, 3000, running), 2000.0);
        assert_eq!(third.speed, Some(1300.0));
        assert_eq!(third.eta_secs(2000.0), Some(7000.0 / 1300.0));
        assert_eq!(third.shown_speed(2000.0 + STALL_MS + 1.0), None);
        assert_eq!(third.eta_secs(2000.0 + STALL_MS + 1.0), None);
    }

    fn from(peer: &str, mut t: TransferDto) -> TransferDto {
        t.peer = Some(peer.into());
        t
    }

    #[test]
    fn bytes_moved_counts_progress_since_the_last_update_only() {
        let running = || TransferStateDto::Running;
        let mut rows = vec![];
        assert_eq!(
            upsert_transfer(&mut rows, from("b", transfer(1, 400, running())), 0.0),
            400
        );
        assert_eq!(
            upsert_transfer(&mut rows, from("b", transfer(1, 1000, running())), 1.0),
            600
        );
        assert_eq!(
            upsert_transfer(&mut rows, from("b", transfer(1, 1000, running())), 2.0),
            0
        );
        assert_eq!(
            upsert_transfer(
                &mut rows,
                from("b", transfer(1, 10_000, TransferStateDto::Done)),
                3.0
            ),
            9000
        );
    }

    #[test]
    fn the_reply_to_get_does_not_undo_progress_its_events_already_showed() {
        let running = || TransferStateDto::Running;
        let mut rows = vec![];
        upsert_transfer(&mut rows, from("b", transfer(1, 4000, running())), 0.0);
        // The reply: the transfer as it started, before any source was tried.
        assert_eq!(
            upsert_transfer(&mut rows, transfer(1, 0, running()), 1.0),
            0
        );
        assert_eq!(rows[0].item.dto, from("b", transfer(1, 4000, running())));
        // Counted once: the next event adds only what moved since 4000.
        assert_eq!(
            upsert_transfer(&mut rows, from("b", transfer(1, 5000, running())), 2.0),
            1000
        );
    }

    #[test]
    fn a_running_copy_with_fewer_bytes_from_the_same_peer_is_stale() {
        let running = || TransferStateDto::Running;
        let mut rows = vec![];
        upsert_transfer(&mut rows, from("b", transfer(1, 4000, running())), 0.0);
        assert_eq!(
            upsert_transfer(&mut rows, from("b", transfer(1, 3000, running())), 1.0),
            0
        );
        assert_eq!(rows[0].item.dto.bytes_done, 4000);
    }

    #[test]
    fn the_next_source_starts_again_from_zero() {
        let running = || TransferStateDto::Running;
        let mut rows = vec![];
        upsert_transfer(&mut rows, from("b", transfer(1, 4000, running())), 0.0);
        assert_eq!(
            upsert_transfer(&mut rows, from("c", transfer(1, 0, running())), 1.0),
            0
        );
        assert_eq!(rows[0].item.dto, from("c", transfer(1, 0, running())));
        assert_eq!(rows[0].item.speed, None, "the old estimate is forgotten");
        assert_eq!(
            upsert_transfer(&mut rows, from("c", transfer(1, 700, running())), 2.0),
            700
        );
    }

    #[test]
    fn retry_is_offered_for_a_failed_download_only() {
        let failed = || TransferStateDto::Failed { reason: "x".into() };
        let kind = |kind, state| TransferDto {
            kind,
            ..transfer(1, 0, state)
        };
        assert!(is_failed_download(&kind(TransferKind::Get, failed())));
        assert!(is_failed_download(&kind(TransferKind::AutoFetch, failed())));
        assert!(!is_failed_download(&kind(TransferKind::Push, failed())));
        assert!(!is_failed_download(&kind(TransferKind::Incoming, failed())));
        assert!(!is_failed_download(&kind(
            TransferKind::Get,
            TransferStateDto::Running
        )));
        assert!(!is_failed_download(&kind(
            TransferKind::Get,
            TransferStateDto::Done
        )));
    }

    #[test]
    fn a_get_can_start_only_for_a_known_file_we_do_not_hold() {
        let held = FileDto {
            has_copy: true,
            ..file("held", "a", None, None)
        };
        let rows: Vec<Row<KnownFile>> = [held, file("missing", "b", None, None)]
            .into_iter()
            .map(|dto| Row::new(KnownFile::new(dto)))
            .collect();
        assert!(can_get(&rows, "missing"));
        assert!(!can_get(&rows, "held"));
        assert!(!can_get(&rows, "forgotten"));
    }

    #[test]
    fn finished_transfers_show_their_average() {
        let done = track_transfer(None, transfer(1, 10_000, TransferStateDto::Done), 0.0);
        assert_eq!(done.speed, Some(5000.0));
        assert_eq!(done.eta_secs(0.0), None);
    }

    #[test]
    fn log_is_newest_first_and_capped() {
        let mut log = VecDeque::new();
        for seq in 0..(LOG_CAP as u64 + 5) {
            let entry = LogEntry {
                at_ms: seq,
                level: LogLevel::Info,
                message: seq.to_string(),
            };
            push_log(&mut log, entry, seq);
        }
        assert_eq!(log.len(), LOG_CAP);
        assert_eq!(log.front().map(|l| l.seq), Some(LOG_CAP as u64 + 4));
    }

    #[test]
    fn pages_cover_every_row_once_and_clamp_past_the_end() {
        assert_eq!((page_count(0), page_range(0, 0)), (1, 0..0));
        assert_eq!((page_count(250), page_range(250, 1)), (3, 100..200));
        assert_eq!(page_range(250, 2), 200..250);
        assert_eq!(page_range(250, 9), 200..250);
        assert_eq!(page_range(100, 1), 0..100);
    }

    #[test]
    fn names_compare_case_insensitively() {
        let by_name = |a, b| {
            let f = |name| KnownFile::new(file("x", name, None, None));
            compare_files(
                &f(a),
                &f(b),
                Sort {
                    key: SortKey::Name,
                    ascending: true,
                },
            )
        };
        assert_eq!(by_name("Zeta", "alpha"), Ordering::Greater);
        assert_eq!(by_name("ÉTÉ", "été"), Ordering::Equal);
        assert_eq!(by_name("ab", "abc"), Ordering::Less);
    }

    #[test]
    fn filter_and_sort() {
        let rows: Vec<Row<KnownFile>> = [
            file("c1", "Zeta.txt", Some(5), Some(30.0)),
            file("a1", "alpha.bin", None, None),
            file("b1", "beta.md", Some(900), Some(10.0)),
        ]
        .into_iter()
        .map(|dto| Row::new(KnownFile::new(dto)))
        .collect();
        let names = |sort, filter| -> Vec<String> {
            visible_files(&rows, filter, sort)
                .into_iter()
                .map(|i| rows[i].item.dto.file_name.clone())
                .collect()
        };
        let by = |key, ascending| Sort { key, ascending };
        assert_eq!(
            names(by(SortKey::Name, true), ""),
            ["alpha.bin", "beta.md", "Zeta.txt"]
        );
        assert_eq!(
            names(by(SortKey::Size, false), ""),
            ["beta.md", "Zeta.txt", "alpha.bin"]
        );
        assert_eq!(
            names(by(SortKey::Time, true), ""),
            ["beta.md", "Zeta.txt", "alpha.bin"]
        );
        assert_eq!(names(by(SortKey::Name, true), "ZET"), ["Zeta.txt"]);
        assert_eq!(names(by(SortKey::Name, true), "b1"), ["beta.md"]);
        assert_eq!(
            by(SortKey::Name, true).clicked(SortKey::Name),
            by(SortKey::Name, false)
        );
        assert_eq!(
            by(SortKey::Name, false).clicked(SortKey::Size),
            by(SortKey::Size, true)
        );
    }

    #[test]
    fn peers_sort_by_each_health_column_with_unknown_health_first() {
        let peers = [
            peer("c", 30, Some(health(5, Some(900), [0, 0, 2]))),
            peer("a", 10, None),
            peer("b", 20, Some(health(40, Some(15), [1, 0, 0]))),
        ];
        assert_eq!(peer_order(&peers, PeerSortKey::Id, false), ["c", "b", "a"]);
        assert_eq!(
            peer_order(&peers, PeerSortKey::Messages, true),
            ["a", "c", "b"]
        );
        assert_eq!(
            peer_order(&peers, PeerSortKey::Messages, false),
            ["b", "c", "a"]
        );
        assert_eq!(
            peer_order(&peers, PeerSortKey::FirstByte, true),
            ["a", "b", "c"]
        );
        assert_eq!(
            peer_order(&peers, PeerSortKey::Problems, false),
            ["c", "b", "a"]
        );
        assert_eq!(
            peer_order(&peers, PeerSortKey::LastSeen, true),
            ["c", "b", "a"]
        );
    }

    #[test]
    fn peers_sort_by_failed_gets_before_successful_ones() {
        let gets = |ok, failed| PeerHealthDto {
            gets_ok: ok,
            gets_failed: failed,
            ..PeerHealthDto::default()
        };
        let peers = [
            peer("many-ok", 0, Some(gets(9, 1))),
            peer("failing", 0, Some(gets(0, 3))),
            peer("few-ok", 0, Some(gets(2, 1))),
        ];
        assert_eq!(
            peer_order(&peers, PeerSortKey::Gets, true),
            ["few-ok", "many-ok", "failing"]
        );
    }

    #[test]
    fn peers_tied_on_a_column_keep_id_order_in_either_direction() {
        let peers = [peer("b", 0, None), peer("a", 0, None)];
        assert_eq!(peer_order(&peers, PeerSortKey::State, true), ["a", "b"]);
        assert_eq!(peer_order(&peers, PeerSortKey::State, false), ["a", "b"]);
    }

    #[test]
    fn only_bad_copies_or_stalls_warn() {
        let warned = |problems| peer_warned(&peer("p", 0, Some(health(0, None, problems))));
        assert!(warned([1, 0, 0]));
        assert!(warned([0, 0, 1]));
        assert!(!warned([0, 4, 0]));
        assert!(!peer_warned(&peer("p", 0, None)));
    }
}
