//! The peers table: every tracked peer, how long since we heard from it, alive or quiet.
//! Dropped peers leave the table as soon as the peer reports them.

use leptos::prelude::*;
use shared::{PeerDto, PeerStateDto};

use crate::format;
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
            <div class="table-wrap">
                <table data-testid="peers-table">
                    <thead>
                        <tr>
                            <th>"Peer"</th>
                            <th>"Address"</th>
                            <th>"Last seen"</th>
                            <th>"State"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=rows
                            key=|row| (row.item.peer_id.clone(), row.rev)
                            children=|row| view! { <PeerRow peer=row.item /> }
                        />
                        <Show when=move || dash.peers.with(Vec::is_empty)>
                            <tr class="empty">
                                <td colspan="4">"No peers tracked yet."</td>
                            </tr>
                        </Show>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn PeerRow(peer: PeerDto) -> impl IntoView {
    let dash = use_dashboard();
    let last_seen = peer.last_seen_ms;
    let (state, class) = match peer.state {
        PeerStateDto::Alive => ("alive", "badge ok"),
        PeerStateDto::Quiet => ("quiet", "badge warn"),
    };
    view! {
        <tr data-testid="peer-row" data-peer-id=peer.peer_id.clone()>
            <td class="mono" title=peer.peer_id.clone()>{peer.peer_id.clone()}</td>
            <td class="mono">{format!("{}:{}", peer.host, peer.port)}</td>
            <td class="num" data-testid="peer-last-seen">
                {move || format::ago(dash.now_ms.get(), last_seen)}
            </td>
            <td>
                <span class=class data-testid="peer-state">{state}</span>
            </td>
        </tr>
    }
}
