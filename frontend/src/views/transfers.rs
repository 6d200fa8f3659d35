//! The transfers table: every get, automatic fetch, push and incoming file, newest first, with
//! progress, a client-side speed (with a sparkline of its recent values) and ETA, and a retry
//! for a failed download of a file that is still known and not held.

use leptos::prelude::*;
use shared::{TransferDto, TransferKind, TransferStateDto};

use super::badge::badge_class;
use super::table::{Column, Table};
use super::throughput::Sparkline;
use crate::format;
use crate::model::{self, TransferRow};
use crate::state::{dispatch_once, use_dashboard, FileRef};

/// Transfers, newest first.
#[component]
pub fn TransfersPanel() -> impl IntoView {
    let dash = use_dashboard();
    let rows = Memo::new(move |_| {
        dash.transfers.with(|rows| {
            model::sorted(rows.len(), &|a, b| {
                rows[b].item.dto.id.cmp(&rows[a].item.dto.id)
            })
            .into_iter()
            .map(|i| rows[i].shown())
            .collect::<Vec<_>>()
        })
    });
    let running = move || {
        dash.transfers.with(|t| {
            t.iter()
                .filter(|r| r.item.dto.state == TransferStateDto::Running)
                .count()
        })
    };
    view! {
        <section class="panel transfers">
            <h2>
                "Transfers"
                <span class="count">{move || dash.transfers.with(Vec::len)}</span>
                <Show when=move || running() != 0>
                    <span class=badge_class("running")>{running} " running"</span>
                </Show>
            </h2>
            <Table
                testid="transfers-table"
                columns=COLUMNS
                rows=rows
                row={|row| view! { <TransferLine row /> }}
                empty="No transfers yet."
            />
        </section>
    }
}

const COLUMNS: &[Column] = &[
    Column::new("File"),
    Column::new("Kind"),
    Column::new("Peer"),
    Column::new("Progress").class("progress-col"),
    Column::new("Speed"),
    Column::new("ETA"),
    Column::new("State"),
    Column::new("").class("actions"),
];

/// The state word of a transfer, and why it failed.
fn state_of(t: &TransferDto) -> (&'static str, Option<String>) {
    match &t.state {
        TransferStateDto::Running => ("running", None),
        TransferStateDto::Done => ("done", None),
        TransferStateDto::Failed { reason } => ("failed", Some(reason.clone())),
    }
}

/// One transfer's row, built once per transfer; the cells that move (peer, progress, speed,
/// ETA, state) follow the transfer's signal.
#[component]
fn TransferLine(row: ArcRwSignal<TransferRow>) -> impl IntoView {
    let dash = use_dashboard();
    let row = RwSignal::from(row);
    // What never changes for one transfer. (An incoming file's id and name do: they are known
    // only once its message has been read.)
    let (id, kind) = row.with_untracked(|r| (r.dto.id, r.dto.kind));
    let kind = match kind {
        TransferKind::Get => "get",
        TransferKind::AutoFetch => "auto-fetch",
        TransferKind::Push => "push",
        TransferKind::Incoming => "incoming",
    };
    let dto = move |f: fn(&TransferDto) -> String| move || row.with(|r| f(&r.dto));
    let state = move || row.with(|r| state_of(&r.dto).0);
    let reason = Memo::new(move |_| row.with(|r| state_of(&r.dto).1));

    let amount = dto(|t| {
        let done = format::human_size(t.bytes_done);
        let pct = format::percent(t.bytes_done, t.bytes_total);
        match (t.bytes_total, pct) {
            (Some(total), Some(p)) => {
                format!("{done} of {} · {p:.0}%", format::human_size(total))
            }
            _ => done,
        }
    });
    // A progress bar with no value is indeterminate: right for a running transfer of unknown
    // size. A finished one of unknown size shows full, and so does one of zero bytes, which is
    // complete (as `format::percent` says).
    let bar = move || {
        row.with(|r| match (r.dto.bytes_total, state_of(&r.dto).0) {
            (Some(total), _) if total > 0 => (
                Some(r.dto.bytes_done.min(total).to_string()),
                total.to_string(),
            ),
            (None, "running") => (None, "1".to_string()),
            _ => (Some("1".to_string()), "1".to_string()),
        })
    };
    // An incoming file's name is empty until its message has been read.
    let bar_label = move || {
        row.with(|r| match r.dto.file_name.as_str() {
            "" => format!("Progress of transfer {id}"),
            name => format!("Progress of {name}"),
        })
    };
    let speed = move || {
        row.with(|r| r.shown_speed(dash.now_ms.get()))
            .map_or_else(|| "—".to_string(), format::human_rate)
    };
    let eta = move || {
        row.with(|r| r.eta_secs(dash.now_ms.get()))
            .map_or_else(|| "—".to_string(), format::human_duration)
    };
    let file = move || {
        row.with_untracked(|r| FileRef {
            id: r.dto.file_id.clone(),
            name: r.dto.file_name.clone(),
        })
    };
    // Offered while a get could start again: not once the file is held (another get brought
    // it) or no longer known (deleted, or its holders dropped).
    let retry_offered = Memo::new(move |_| {
        row.with(|r| {
            model::is_failed_download(&r.dto)
                && dash
                    .files
                    .with(|files| model::can_get(files, &r.dto.file_id))
        })
    });
    let retry = move || {
        retry_offered.get().then(|| {
            let action = dash.get_action();
            let pending = action.pending();
            view! {
                <button
                    data-testid="retry-button"
                    disabled=move || pending.get()
                    on:click=move |_| dispatch_once(action, file())
                >
                    "Retry"
                </button>
            }
        })
    };

    view! {
        <tr
            data-testid="transfer-row"
            data-transfer-id=id.to_string()
            data-file-id=dto(|t| t.file_id.clone())
            data-state=state
            data-kind=kind
        >
            <td class="name" title=dto(|t| t.file_name.clone())>{dto(|t| t.file_name.clone())}</td>
            <td>{kind}</td>
            <td class="mono ellipsis" title=dto(|t| t.peer.clone().unwrap_or_default())>
                {dto(|t| t.peer.clone().unwrap_or_else(|| "—".to_string()))}
            </td>
            <td class="progress-col">
                <progress
                    value=move || bar().0
                    max=move || bar().1
                    aria-label=bar_label
                ></progress>
                <span class="amount">{amount}</span>
            </td>
            <td class="num nowrap">
                <Sparkline values=Signal::derive(move || row.with(|r| r.history.clone())) />
                " "
                {speed}
            </td>
            <td class="num nowrap">{eta}</td>
            <td>
                <span class=move || badge_class(state())>{state}</span>
                {move || {
                    reason
                        .get()
                        .map(|r| view! { <div class="reason" data-testid="failure-reason">{r}</div> })
                }}
            </td>
            <td class="actions">{retry}</td>
        </tr>
    }
}
