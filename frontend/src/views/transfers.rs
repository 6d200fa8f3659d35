//! The transfers table: every get, automatic fetch, push and incoming file, newest first, with
//! progress, a client-side speed (with a sparkline of its recent values) and ETA, and a retry for failed downloads.

use leptos::prelude::*;
use shared::{TransferKind, TransferStateDto};

use super::badge::{badge_class, Badge};
use super::table::{Column, Table};
use super::throughput::Sparkline;
use crate::format;
use crate::model::{Row, TransferRow};
use crate::state::{dispatch_once, use_dashboard, FileRef};

/// Transfers, newest first.
#[component]
pub fn TransfersPanel() -> impl IntoView {
    let dash = use_dashboard();
    let rows = move || {
        let mut rows = dash.transfers.get();
        rows.sort_by_key(|r| std::cmp::Reverse(r.item.dto.id));
        rows
    };
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
                rows=Signal::derive(rows)
                key={|row: &Row<TransferRow>| (row.item.dto.id, row.rev)}
                row={|row: Row<TransferRow>| view! { <TransferLine row=row.item /> }}
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

#[component]
fn TransferLine(row: TransferRow) -> impl IntoView {
    let dash = use_dashboard();
    let t = row.dto.clone();
    let kind = match t.kind {
        TransferKind::Get => "get",
        TransferKind::AutoFetch => "auto-fetch",
        TransferKind::Push => "push",
        TransferKind::Incoming => "incoming",
    };
    let is_download = matches!(t.kind, TransferKind::Get | TransferKind::AutoFetch);
    let (state, reason) = match &t.state {
        TransferStateDto::Running => ("running", None),
        TransferStateDto::Done => ("done", None),
        TransferStateDto::Failed { reason } => ("failed", Some(reason.clone())),
    };
    let pct = format::percent(t.bytes_done, t.bytes_total);
    let amount = match t.bytes_total {
        Some(total) => format!(
            "{} of {}",
            format::human_size(t.bytes_done),
            format::human_size(total)
        ),
        None => format::human_size(t.bytes_done),
    };
    // A progress bar with no value is indeterminate: right for a running transfer of unknown
    // size; a finished one shows full.
    let (bar_value, bar_max) = match (t.bytes_total, state) {
        (Some(total), _) => (
            Some(t.bytes_done.min(total).to_string()),
            total.max(1).to_string(),
        ),
        (None, "running") => (None, "1".to_string()),
        (None, _) => (Some("1".to_string()), "1".to_string()),
    };

    let history = row.history.clone();
    let speed_row = row.clone();
    let speed = move || {
        speed_row
            .shown_speed(dash.now_ms.get())
            .map_or_else(|| "—".to_string(), format::human_rate)
    };
    let eta = move || {
        row.eta_secs(dash.now_ms.get())
            .map_or_else(|| "—".to_string(), format::human_duration)
    };
    let retry = (is_download && reason.is_some()).then(|| {
        let action = dash.get_action();
        let pending = action.pending();
        let file = FileRef {
            id: t.file_id.clone(),
            name: t.file_name.clone(),
        };
        view! {
            <button
                data-testid="retry-button"
                disabled=move || pending.get()
                on:click=move |_| dispatch_once(action, file.clone())
            >
                "Retry"
            </button>
        }
    });

    view! {
        <tr
            data-testid="transfer-row"
            data-transfer-id=t.id.to_string()
            data-file-id=t.file_id.clone()
            data-state=state
            data-kind=kind
        >
            <td class="name" title=t.file_name.clone()>{t.file_name.clone()}</td>
            <td>{kind}</td>
            <td class="mono ellipsis" title=t.peer.clone().unwrap_or_default()>
                {t.peer.clone().unwrap_or_else(|| "—".to_string())}
            </td>
            <td class="progress-col">
                <progress value=bar_value max=bar_max></progress>
                <span class="amount">
                    {amount}
                    {pct.map(|p| format!(" · {p:.0}%"))}
                </span>
            </td>
            <td class="num nowrap">
                <Sparkline values=history /> {speed}
            </td>
            <td class="num nowrap">{eta}</td>
            <td>
                <Badge status=state />
                {reason.map(|r| view! { <div class="reason" data-testid="failure-reason">{r}</div> })}
            </td>
            <td class="actions">{retry}</td>
        </tr>
    }
}
