//! The peers table: every tracked peer, how long since we heard from it, alive or quiet, and
//! how it has served us (messages, latency, gets, problems), sortable by each column. Dropped
//! peers leave the table as soon as the peer reports them.

use leptos::prelude::*;
use shared::{PeerDto, PeerHealthDto, PeerStateDto};

use super::badge::Badge;
use super::table::{Column, Table};
use crate::format;
use crate::model::{self, PeerSortKey, Row, Sort};
use crate::state::use_dashboard;

/// The tracked peers, sorted by the column the user picked (by id at first).
#[component]
pub fn PeersPanel() -> impl IntoView {
    let dash = use_dashboard();
    let sort = RwSignal::new(Sort {
        key: PeerSortKey::Id,
        ascending: true,
    });
    let rows = Memo::new(move |_| {
        let mut rows = dash.peers.get();
        let sort = sort.get();
        rows.sort_by(|a, b| model::compare_peers(&a.item, &b.item, sort));
        rows
    });
    view! {
        <section class="panel peers">
            <h2>
                "Peers" <span class="count">{move || dash.peers.with(Vec::len)}</span>
            </h2>
            <Table
                testid="peers-table"
                columns=COLUMNS
                rows=rows
                key={|row: &Row<PeerDto>| (row.item.peer_id.clone(), row.rev)}
                row={|row: Row<PeerDto>| view! { <PeerRow peer=row.item /> }}
                empty="No peers tracked yet."
                sort
            />
        </section>
    }
}

const COLUMNS: &[Column<PeerSortKey>] = &[
    Column::new("Peer").sorts(PeerSortKey::Id),
    Column::new("Address").sorts(PeerSortKey::Address),
    Column::new("Last seen").sorts(PeerSortKey::LastSeen),
    Column::new("State").sorts(PeerSortKey::State),
    Column::new("Messages").sorts(PeerSortKey::Messages),
    Column::new("First byte").sorts(PeerSortKey::FirstByte),
    Column::new("Gets ok / failed").sorts(PeerSortKey::Gets),
    Column::new("Problems").sorts(PeerSortKey::Problems),
];

/// The problems cell's text: the non-zero counts, or a dash when there are none.
fn problems_text(health: &PeerHealthDto) -> String {
    let parts: Vec<String> = [
        (health.bad_copies, "bad"),
        (health.truncated, "truncated"),
        (health.stalls, "stalled"),
    ]
    .into_iter()
    .filter(|&(n, _)| n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(" · ")
    }
}

/// A first-byte latency: `85 ms` below a second, `1.4 s` above; a dash when never measured.
fn latency_text(ms: Option<u64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

#[component]
fn PeerRow(peer: PeerDto) -> impl IntoView {
    let dash = use_dashboard();
    let last_seen = peer.last_seen_ms;
    let state = match peer.state {
        PeerStateDto::Alive => "alive",
        PeerStateDto::Quiet => "quiet",
    };
    let warned = model::peer_warned(&peer);
    let health = peer.health.clone().unwrap_or_default();
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
            <td class="num" data-testid="peer-messages">{health.messages_received}</td>
            <td class="num" data-testid="peer-first-byte">{latency_text(health.first_byte_ms)}</td>
            <td class="num" data-testid="peer-gets">
                {format!("{} / {}", health.gets_ok, health.gets_failed)}
            </td>
            <td class="nowrap" data-testid="peer-problems" title=health.last_error.clone()>
                {warned.then(|| view! { <Badge status="suspect" testid="peer-warning" /> })}
                " "
                {problems_text(&health)}
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_list_only_the_non_zero_counts() {
        let health = |bad_copies, truncated, stalls| PeerHealthDto {
            bad_copies,
            truncated,
            stalls,
            ..PeerHealthDto::default()
        };
        assert_eq!(problems_text(&health(0, 0, 0)), "—");
        assert_eq!(problems_text(&health(2, 0, 1)), "2 bad · 1 stalled");
        assert_eq!(problems_text(&health(0, 3, 0)), "3 truncated");
    }

    #[test]
    fn latency_is_in_ms_below_a_second_and_seconds_above() {
        assert_eq!(latency_text(None), "—");
        assert_eq!(latency_text(Some(85)), "85 ms");
        assert_eq!(latency_text(Some(1450)), "1.4 s");
    }
}
