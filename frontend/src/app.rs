//! The root component: creates the state, opens the event socket once, starts the clock that
//! makes ages tick, and lays out the panels.

use std::time::Duration;

use leptos::prelude::*;

use crate::api;
use crate::browser;
use crate::state::Dashboard;
use crate::views::{
    DropOverlay, EventLog, FilesPanel, Header, PeersPanel, ThroughputPanel, TransfersPanel,
    UploadPanel,
};

/// The whole dashboard.
#[component]
pub fn App() -> impl IntoView {
    let dash = Dashboard::empty();
    provide_context(dash);
    api::open_events(
        move |event| dash.apply(event),
        move |problem| dash.log_local(problem),
        move |link| dash.set_link(link),
    );
    set_interval(
        move || dash.now_ms.set(browser::now_ms()),
        Duration::from_secs(1),
    );

    view! {
        <Header />
        <main class="layout" class:stale=move || !dash.connected()>
            <div class="columns">
                <PeersPanel />
                <UploadPanel />
            </div>
            <FilesPanel />
            <ThroughputPanel />
            <TransfersPanel />
            <EventLog />
        </main>
        <DropOverlay />
    }
}
