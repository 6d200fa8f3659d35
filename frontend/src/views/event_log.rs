//! The event log: what the peer did, newest first, as many lines as `model::LOG_CAP`.

use leptos::prelude::*;
use shared::LogLevel;

use crate::browser;
use crate::state::use_dashboard;

/// The peer's recent activity.
#[component]
pub fn EventLog() -> impl IntoView {
    let dash = use_dashboard();
    view! {
        <section class="panel log">
            <h2>"Event log"</h2>
            <ol class="log-lines" data-testid="event-log">
                <For
                    each=move || dash.log.get()
                    key=|line| line.seq
                    children=|line| {
                        let entry = line.entry;
                        let when = browser::local_date_time(entry.at_ms as f64 / 1000.0);
                        let time = when.split(' ').nth(1).unwrap_or_default().to_string();
                        let warn = entry.level == LogLevel::Warn;
                        view! {
                            <li class:warn=warn data-testid="log-line">
                                <time title=when>{time}</time>
                                <span>{entry.message}</span>
                            </li>
                        }
                    }
                />
                <Show when=move || dash.log.with(|l| l.is_empty())>
                    <li class="empty">"Nothing has happened yet."</li>
                </Show>
            </ol>
        </section>
    }
}
