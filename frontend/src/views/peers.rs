//! The peers table: every tracked peer, how long since we heard from it, alive or quiet.
//! Dropped peers leave the table as soon as the peer reports them.

use leptos::prelude::*;
use shared::{PeerDto, PeerStateDto};

use super::badge::Badge;
use super::table::{Column, Table};
use crate::format;
use crate::model::Row;
use crate::state::use_dashboard;

/// The tracked peers, sorted by id.
#[component]
pub fn PeersPanel() -> impl IntoView {
    let dash = use_dashboard();
    let rows = move || {
        let mut rows = dash.peers.get();
        rows.sort_by(|a, b| a.item.peer_id.cmp(&b.item.peer_id));
        rows
    };
    view! {
        <section class="panel peers">
            <h2>
                "Peers" <span class="count">{move || dash.peers.with(Vec::len)}</span>
            </h2>
            <Table
                testid="peers-table"
                columns=COLUMNS
                rows=Signal::derive(rows)
                key={|row: &Row<PeerDto>| (row.item.peer_id.clone(), row.rev)}
                row={|row: Row<PeerDto>| view! { <PeerRow peer=row.item /> }}
                empty="No peers tracked yet."
            />
        </section>
    }
}

const COLUMNS: &[Column] = &[
    Column::new("Peer"),
    Column::new("Address"),
    Column::new("Last seen"),
    Column::new("State"),
];

#[component]
fn PeerRow(peer: PeerDto) -> impl IntoView {
    let dash = use_dashboard();
    let last_seen = peer.last_seen_ms;
    let state = match peer.state {
        PeerStateDto::Alive => "alive",
        PeerStateDto::Quiet => "quiet",
    };
    view! {
        <tr data-testid="peer-row" data-peer-id=peer.peer_id.clone()>
            <td class="mono" title=peer.peer_id.clone()>{peer.peer_id.clone()}</td>
            <td class="mono">{format!("{}:{}", peer.host, peer.port)}</td>
            <td class="num" data-testid="peer-last-seen">
                {move || format::ago(dash.now_ms.get(), last_seen)}
            </td>
            <td>
                <Badge status=state testid="peer-state" />
            </td>
        </tr>
    }
}
