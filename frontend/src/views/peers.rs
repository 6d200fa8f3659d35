//! The peers table: every tracked peer, how long since we heard from it, alive or quiet, and
//! how it has served us (messages, latency, gets, problems), sortable by each column. Dropped
//! peers leave the table as soon as the peer reports them. While the link to our peer is down,
//! every state reads unknown and the ages stop at the moment it was lost.

use leptos::prelude::*;
use shared::{PeerDto, PeerHealthDto, PeerStateDto};

use super::badge::{badge_class, Badge};
use super::table::{Column, Table};
use crate::format;
use crate::model::{self, PeerSortKey, Sort};
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
        let sort = sort.get();
        dash.peers.with(|rows| {
            model::sorted(rows.len(), &|a, b| {
                model::compare_peers(&rows[a].item, &rows[b].item, sort)
            })
            .into_iter()
            .map(|i| rows[i].shown())
            .collect::<Vec<_>>()
        })
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
                row={|peer| view! { <PeerRow peer /> }}
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

/// One peer's row, built once per peer; each cell follows the peer's signal.
#[component]
fn PeerRow(peer: ArcRwSignal<PeerDto>) -> impl IntoView {
    let dash = use_dashboard();
    let peer = RwSignal::from(peer);
    let peer_id = peer.with_untracked(|p| p.peer_id.clone());
    let text = move |f: fn(&PeerDto) -> String| move || peer.with(f);
    let health = move |f: fn(&PeerHealthDto) -> String| {
        move || peer.with(|p| f(p.health.as_ref().unwrap_or(&PeerHealthDto::default())))
    };
    let known_state = move || match peer.with(|p| p.state) {
        PeerStateDto::Alive => "alive",
        PeerStateDto::Quiet => "quiet",
    };
    // While the link is down the peer may have stopped, or dropped this peer: its word is old.
    let state = move || {
        if dash.connected() {
            known_state()
        } else {
            "unknown"
        }
    };
    let state_title = move || {
        (!dash.connected()).then(|| {
            format!(
                "Last known: {}. {}",
                known_state(),
                dash.stale_since().unwrap_or_default()
            )
        })
    };
    let warned = move || {
        peer.with(model::peer_warned)
            .then(|| view! { <Badge status="suspect" testid="peer-warning" /> })
    };
    view! {
        <tr data-testid="peer-row" data-peer-id=peer_id.clone()>
            <td class="mono" title=peer_id.clone()>{peer_id.clone()}</td>
            <td class="mono">{text(|p| format!("{}:{}", p.host, p.port))}</td>
            <td class="num" data-testid="peer-last-seen" title=move || dash.stale_since()>
                {move || format::ago(dash.peer_now_ms(), peer.with(|p| p.last_seen_ms))}
            </td>
            <td>
                <span class=move || badge_class(state()) data-testid="peer-state" title=state_title>
                    {state}
                </span>
            </td>
            <td class="num" data-testid="peer-messages">
                {health(|h| h.messages_received.to_string())}
            </td>
            <td class="num" data-testid="peer-first-byte">
                {health(|h| latency_text(h.first_byte_ms))}
            </td>
            <td class="num" data-testid="peer-gets">
                {health(|h| format!("{} / {}", h.gets_ok, h.gets_failed))}
            </td>
            <td
                class="nowrap"
                data-testid="peer-problems"
                title=move || peer.with(|p| p.health.as_ref().and_then(|h| h.last_error.clone()))
            >
                {warned}
                " "
                {health(problems_text)}
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
