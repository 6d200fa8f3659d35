//! The dashboard's state: one set of signals, provided as context by `App` and read by every
//! view, plus the actions the views trigger (get and delete as Leptos actions, upload).
//!
//! Events from the peer come in through [`Dashboard::apply`]; the merging rules live in
//! `model`. The network is reached only through `api`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::Duration;

use leptos::prelude::*;
use shared::{FileDto, LogEntry, LogLevel, PeerDto, ServerEvent, StatusDto, TransferKind};

use crate::api::{self, Link};
use crate::browser;
use crate::model::{self, KnownFile, LogLine, Row, TransferRow};
use crate::throughput::Throughput;

/// How long a notice stays on screen.
const NOTICE_FOR: Duration = Duration::from_secs(8);
/// How many finished uploads stay listed.
const UPLOADS_KEPT: usize = 5;

thread_local! {
    static COUNTER: Cell<u64> = const { Cell::new(0) };
}

/// A number never handed out before: log lines, notices and uploads.
fn next_id() -> u64 {
    COUNTER.with(|c| {
        c.set(c.get() + 1);
        c.get()
    })
}

/// A message for the user about something they did (a failed delete, a finished upload).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// Tells one notice from the next, so an old timer does not clear a newer notice.
    pub id: u64,
    /// What happened.
    pub text: String,
    /// Shown as an error when true.
    pub error: bool,
}

/// Where an upload stands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UploadState {
    /// Bytes are leaving.
    Sending,
    /// The peer stored it.
    Done,
    /// The peer refused it or could not be reached.
    Failed(String),
}

/// A file being uploaded from this browser.
#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    /// Local id.
    pub id: u64,
    /// The file's name.
    pub name: String,
    /// The file's size in bytes.
    pub size: f64,
    /// Share of the request sent so far, from 0 to 1.
    pub fraction: f64,
    /// Where it stands.
    pub state: UploadState,
}

/// Every signal the views read. `Copy`, so handlers capture it freely.
#[derive(Clone, Copy)]
pub struct Dashboard {
    /// The event socket's state. Set through [`Dashboard::set_link`].
    pub link: RwSignal<Link>,
    /// Our clock (Unix ms) when the open event socket last closed; `None` while it is open, and
    /// before it first opens.
    pub link_lost_at_ms: RwSignal<Option<f64>>,
    /// This peer, from the last snapshot.
    pub status: RwSignal<Option<StatusDto>>,
    /// Our clock (ms) when `status` arrived, to keep its uptime ticking.
    pub status_at_ms: RwSignal<f64>,
    /// Tracked peers.
    pub peers: RwSignal<Vec<Row<PeerDto>>>,
    /// Known files.
    pub files: RwSignal<Vec<Row<KnownFile>>>,
    /// Transfers, oldest first, with speed estimates.
    pub transfers: RwSignal<Vec<Row<TransferRow>>>,
    /// Event-log lines, newest first.
    pub log: RwSignal<VecDeque<LogLine>>,
    /// Uploads from this browser, newest first.
    pub uploads: RwSignal<Vec<Upload>>,
    /// The current notice, if any.
    pub notice: RwSignal<Option<Notice>>,
    /// Our clock in Unix ms, advanced every second so that ages and ETAs tick.
    pub now_ms: RwSignal<f64>,
    /// The peer's clock minus ours, in ms, from each snapshot (0 until then, or when the peer
    /// does not say): the peer's own times, such as when it last heard from a peer, are on its
    /// clock.
    pub peer_clock_offset_ms: RwSignal<f64>,
    /// Bytes in and out per second, from the transfer events since the page opened.
    pub throughput: RwSignal<Throughput>,
}

impl Dashboard {
    /// Empty state, as before the first snapshot.
    pub fn empty() -> Self {
        Dashboard {
            link: RwSignal::new(Link::Connecting),
            link_lost_at_ms: RwSignal::new(None),
            status: RwSignal::new(None),
            status_at_ms: RwSignal::new(0.0),
            peers: RwSignal::new(Vec::new()),
            files: RwSignal::new(Vec::new()),
            transfers: RwSignal::new(Vec::new()),
            log: RwSignal::new(VecDeque::new()),
            uploads: RwSignal::new(Vec::new()),
            notice: RwSignal::new(None),
            now_ms: RwSignal::new(browser::now_ms()),
            peer_clock_offset_ms: RwSignal::new(0.0),
            throughput: RwSignal::new(Throughput::default()),
        }
    }

    /// Merges one event from the peer. A snapshot replaces everything.
    pub fn apply(&self, event: ServerEvent) {
        let now = browser::now_ms();
        match event {
            ServerEvent::Snapshot(snap) => {
                // Every snapshot: the peer may have restarted on another machine, or either
                // clock may have been set since.
                self.peer_clock_offset_ms
                    .set(model::clock_offset_ms(&snap.status, now));
                self.status.set(Some(snap.status));
                self.status_at_ms.set(now);
                self.peers
                    .set(snap.peers.into_iter().map(Row::new).collect());
                self.files.set(
                    snap.files
                        .into_iter()
                        .map(|f| Row::new(KnownFile::new(f)))
                        .collect(),
                );
                self.transfers.set(
                    snap.transfers
                        .into_iter()
                        .map(|t| Row::new(model::track_transfer(None, t, now)))
                        .collect(),
                );
                let mut log = VecDeque::new();
                for entry in snap.log {
                    model::push_log(&mut log, entry, next_id());
                }
                self.log.set(log);
            }
            ServerEvent::PeerSeen(peer) => self
                .peers
                .update(|rows| model::upsert(rows, peer, |p| p.peer_id.clone())),
            ServerEvent::PeerDropped { peer_id } => self
                .peers
                .update(|rows| rows.retain(|r| r.item.peer_id != peer_id)),
            ServerEvent::FileChanged(file) => self.upsert_file(file),
            ServerEvent::FileRemoved { file_id } => self
                .files
                .update(|rows| rows.retain(|r| r.item.dto.file_id != file_id)),
            ServerEvent::Transfer(t) => {
                let kind = t.kind;
                let mut moved = 0;
                self.transfers
                    .update(|rows| moved = model::upsert_transfer(rows, t, now));
                if moved > 0 {
                    let sec = (now / 1000.0) as u64;
                    let (bytes_in, bytes_out) = match kind {
                        TransferKind::Push => (0, moved),
                        _ => (moved, 0),
                    };
                    self.throughput
                        .update(|th| th.record(sec, bytes_in, bytes_out));
                }
            }
            ServerEvent::Log(entry) => self
                .log
                .update(|log| model::push_log(log, entry, next_id())),
        }
    }

    /// Records the event socket's state, and when it was lost.
    pub fn set_link(&self, link: Link) {
        let was = self.link.get_untracked();
        if link == Link::Connected {
            self.link_lost_at_ms.set(None);
        } else if was == Link::Connected {
            self.link_lost_at_ms.set(Some(browser::now_ms()));
        }
        self.link.set(link);
    }

    /// Whether events are flowing, so that what the peer told us is current.
    pub fn connected(&self) -> bool {
        self.link.get() == Link::Connected
    }

    /// The last moment (our clock, Unix ms) up to which we know the peer's state: now, ticking
    /// with [`Dashboard::now_ms`], while the link is up; frozen at its loss while it is down,
    /// so that the uptime and the peers' ages stop rather than count on as if live.
    pub fn known_now_ms(&self) -> f64 {
        self.link_lost_at_ms
            .get()
            .unwrap_or_else(|| self.now_ms.get())
    }

    /// A tooltip for what stopped with the link (`As of 2025-06-16 14:03:07, when the link to
    /// the peer was lost`); `None` while it is up.
    pub fn stale_since(&self) -> Option<String> {
        self.link_lost_at_ms.get().map(|ms| {
            format!(
                "As of {}, when the link to the peer was lost",
                browser::local_date_time(ms / 1000.0)
            )
        })
    }

    /// [`Dashboard::known_now_ms`] on the peer's clock.
    pub fn peer_now_ms(&self) -> f64 {
        self.known_now_ms() + self.peer_clock_offset_ms.get()
    }

    fn upsert_file(&self, file: FileDto) {
        self.files
            .update(|rows| model::upsert(rows, KnownFile::new(file), |f| f.dto.file_id.clone()));
    }

    /// Records a problem on the client side (not from the peer) in the event log.
    pub fn log_local(&self, message: String) {
        let entry = LogEntry {
            at_ms: browser::now_ms() as u64,
            level: LogLevel::Warn,
            message,
        };
        self.log
            .update(|log| model::push_log(log, entry, next_id()));
    }

    /// Shows `text` for a few seconds.
    pub fn notify(&self, text: impl Into<String>, error: bool) {
        let id = next_id();
        self.notice.set(Some(Notice {
            id,
            text: text.into(),
            error,
        }));
        let notice = self.notice;
        set_timeout(
            move || {
                if notice.with_untracked(|n| n.as_ref().map(|n| n.id)) == Some(id) {
                    notice.set(None);
                }
            },
            NOTICE_FOR,
        );
    }

    /// `Get`, and `Retry` of a failed download: asks the peer to fetch the file. The reply is
    /// the new transfer, applied at once; a refusal becomes a notice.
    pub fn get_action(self) -> Action<FileRef, ()> {
        Action::new_local(move |file: &FileRef| {
            let file = file.clone();
            async move {
                match api::fetch_file(&file.id).await {
                    Ok(t) => self.apply(ServerEvent::Transfer(t)),
                    Err(e) => self.notify(format!("Could not get {}: {e}", file.name), true),
                }
            }
        })
    }

    /// `Delete` of a file we own. Dispatch it through [`confirm_delete`].
    pub fn delete_action(self) -> Action<FileRef, ()> {
        Action::new_local(move |file: &FileRef| {
            let file = file.clone();
            async move {
                match api::delete_file(&file.id).await {
                    Ok(()) => {
                        self.files
                            .update(|rows| rows.retain(|r| r.item.dto.file_id != file.id));
                        self.notify(format!("Deleted {}", file.name), false);
                    }
                    Err(e) => self.notify(format!("Could not delete {}: {e}", file.name), true),
                }
            }
        })
    }

    /// Uploads (pushes) a file picked or dropped by the user, tracking its progress.
    pub fn upload(&self, file: web_sys::File) {
        let id = next_id();
        let name = file.name();
        let size = file.size();
        let uploads = self.uploads;
        uploads.update(|list| {
            list.insert(
                0,
                Upload {
                    id,
                    name: name.clone(),
                    size,
                    fraction: 0.0,
                    state: UploadState::Sending,
                },
            );
            // Keep every upload in flight, and only the newest finished ones.
            let mut finished = 0;
            list.retain(|u| {
                finished += usize::from(u.state != UploadState::Sending);
                u.state == UploadState::Sending || finished <= UPLOADS_KEPT
            });
        });
        let set = move |f: &dyn Fn(&mut Upload)| {
            uploads.update(|list| list.iter_mut().filter(|u| u.id == id).for_each(f));
        };
        if let Some(reason) = self
            .status
            .with_untracked(|s| model::upload_refusal(&name, size, s.as_ref()))
        {
            set(&|u| u.state = UploadState::Failed(reason.clone()));
            self.notify(format!("Could not upload {name}: {reason}"), true);
            return;
        }
        let this = *self;
        let started = api::upload(
            &file,
            // The request body is the file plus a little multipart framing: show the share sent.
            move |sent, total| set(&|u| u.fraction = if total > 0.0 { sent / total } else { 0.0 }),
            move |result| match result {
                Ok(dto) => {
                    set(&|u| {
                        u.fraction = 1.0;
                        u.state = UploadState::Done;
                    });
                    this.upsert_file(dto);
                    this.notify(format!("Uploaded {name}"), false);
                }
                Err(e) => {
                    set(&|u| u.state = UploadState::Failed(e.clone()));
                    this.notify(format!("Could not upload {name}: {e}"), true);
                }
            },
        );
        if let Err(e) = started {
            set(&|u| u.state = UploadState::Failed(e.clone()));
        }
    }
}

/// The file a mutation is about: its id, and its name for the notices.
#[derive(Clone, Debug, PartialEq)]
pub struct FileRef {
    /// The file's id.
    pub id: String,
    /// The file's name.
    pub name: String,
}

/// Runs `action` unless its last run is still pending: a double click sends one request.
pub fn dispatch_once<I: 'static, O: 'static>(action: Action<I, O>, input: I) {
    if !action.pending().get_untracked() {
        action.dispatch_local(input);
    }
}

/// Asks the user, then deletes the file, unless a delete of it is already pending.
pub fn confirm_delete(action: Action<FileRef, ()>, file: FileRef) {
    if !action.pending().get_untracked()
        && browser::confirm(&format!("Delete {} from the network?", file.name))
    {
        action.dispatch_local(file);
    }
}

/// The dashboard provided by `App`.
pub fn use_dashboard() -> Dashboard {
    expect_context::<Dashboard>()
}
