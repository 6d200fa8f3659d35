//! The top bar: who this peer is (its uptime stops while the live link is down), how much it
//! knows, whether the live link is up, and the latest notice.

use leptos::prelude::*;

use crate::api::Link;
use crate::format;
use crate::state::use_dashboard;

/// The top bar and the notice line under it.
#[component]
pub fn Header() -> impl IntoView {
    let dash = use_dashboard();
    let status = dash.status;
    let field = move |f: fn(&shared::StatusDto) -> String| {
        move || status.with(|s| s.as_ref().map_or_else(|| "—".to_string(), f))
    };
    // Stops while the link is down: the peer may have stopped too.
    let uptime = move || {
        status.with(|s| {
            s.as_ref().map_or_else(
                || "—".to_string(),
                |s| {
                    let since = (dash.known_now_ms() - dash.status_at_ms.get()) / 1000.0;
                    format::human_duration(s.uptime_secs as f64 + since.max(0.0))
                },
            )
        })
    };
    let link_text = move || match dash.link.get() {
        Link::Connecting => "connecting",
        Link::Connected => "connected",
        Link::Reconnecting => "reconnecting",
        Link::TokenRefused => "API token refused: open the page with ?token=…",
    };
    let peer_count = move || dash.peers.with(Vec::len);
    let file_count = move || dash.files.with(Vec::len);
    let held_count = move || {
        dash.files
            .with(|f| f.iter().filter(|r| r.item.dto.has_copy).count())
    };

    view! {
        <header class="topbar">
            <div class="brand">
                <span class="logo" aria-hidden="true"></span>
                <h1>"Peer dashboard"</h1>
            </div>
            <dl class="identity">
                <div>
                    <dt>"Peer"</dt>
                    <dd>
                        <code data-testid="status-peer-id">{field(|s| s.peer_id.clone())}</code>
                    </dd>
                </div>
                <div>
                    <dt>"Listening"</dt>
                    <dd>{field(|s| format!("{}:{}", s.host, s.p2p_port))}</dd>
                </div>
                <div>
                    <dt>"Up"</dt>
                    <dd data-testid="uptime" title=move || dash.stale_since()>
                        {uptime}
                    </dd>
                </div>
                <div>
                    <dt>"Version"</dt>
                    <dd>{field(|s| s.version.clone())}</dd>
                </div>
            </dl>
            <dl class="counts">
                <div>
                    <dt>"Peers"</dt>
                    <dd data-testid="peer-count">{peer_count}</dd>
                </div>
                <div>
                    <dt>"Files"</dt>
                    <dd data-testid="file-count">{file_count}</dd>
                </div>
                <div>
                    <dt>"Held"</dt>
                    <dd data-testid="held-count">{held_count}</dd>
                </div>
            </dl>
            <span
                class="link"
                class:up=move || dash.connected()
                data-testid="connection"
                role="status"
            >
                <span class="dot" aria-hidden="true"></span>
                {link_text}
            </span>
        </header>
        {move || {
            dash.notice
                .get()
                .map(|n| {
                    view! {
                        <div class="notice" class:error=n.error data-testid="notice" role="alert">
                            <span>{n.text}</span>
                            <button
                                class="ghost"
                                aria-label="Dismiss"
                                on:click=move |_| dash.notice.set(None)
                            >
                                "×"
                            </button>
                        </div>
                    }
                })
        }}
    }
}
