//! Sharing files: a picker button, drag-and-drop anywhere on the page, and the progress of
//! uploads from this browser.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DragEvent, FileList, HtmlInputElement};

use super::badge::Badge;
use crate::format;
use crate::state::{use_dashboard, Dashboard, UploadState};

/// The upload card: picker and per-file progress.
#[component]
pub fn UploadPanel() -> impl IntoView {
    let dash = use_dashboard();
    let on_pick = move |ev: ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        upload_all(dash, input.files());
        // Clear it so that picking the same file again still fires `change`.
        input.set_value("");
    };
    view! {
        <section class="panel upload">
            <h2>"Share a file"</h2>
            <div class="dropzone">
                <label class="button primary">
                    "Choose files…"
                    <input
                        type="file"
                        multiple
                        class="visually-hidden"
                        data-testid="upload-input"
                        on:change=on_pick
                    />
                </label>
                <p class="muted">"or drop them anywhere on this page."</p>
            </div>
            <ul class="uploads" data-testid="uploads">
                <For
                    each=move || dash.uploads.get()
                    key=|u| (u.id, u.state.clone(), (u.fraction * 1000.0) as u64)
                    children=|u| {
                        let pct = u.fraction.clamp(0.0, 1.0) * 100.0;
                        let (state, detail) = match &u.state {
                            UploadState::Sending => ("sending", None),
                            UploadState::Done => ("done", None),
                            UploadState::Failed(e) => ("failed", Some(e.clone())),
                        };
                        view! {
                            <li data-testid="upload-row" data-state=state>
                                <div class="upload-line">
                                    <span class="name" title=u.name.clone()>{u.name.clone()}</span>
                                    <Badge status=state />
                                </div>
                                <progress
                                    max="100"
                                    value=format!("{pct:.1}")
                                    aria-label=format!("Upload of {}", u.name)
                                ></progress>
                                <span class="amount">
                                    {format::human_size((u.size * u.fraction) as u64)} " of "
                                    {format::human_size(u.size as u64)} {format!(" · {pct:.0}%")}
                                </span>
                                {detail.map(|d| view! { <div class="reason">{d}</div> })}
                            </li>
                        }
                    }
                />
            </ul>
        </section>
    }
}

/// Catches files dragged over the page and shows a hint while they hover.
#[component]
pub fn DropOverlay() -> impl IntoView {
    let dash = use_dashboard();
    let dragging = RwSignal::new(false);
    let handles = vec![
        window_event_listener(ev::dragenter, move |e: DragEvent| {
            if carries_files(&e) {
                e.prevent_default();
                dragging.set(true);
            }
        }),
        window_event_listener(ev::dragover, move |e: DragEvent| {
            // Without this the browser opens the file instead of letting us take it.
            if carries_files(&e) {
                e.prevent_default();
                if let Some(dt) = e.data_transfer() {
                    dt.set_drop_effect("copy");
                }
                dragging.set(true);
            }
        }),
        window_event_listener(ev::dragleave, move |e: DragEvent| {
            // Leaving one element for another fires too; only leaving the window has no target.
            if e.related_target().is_none() {
                dragging.set(false);
            }
        }),
        window_event_listener(ev::drop, move |e: DragEvent| {
            dragging.set(false);
            // Anything else (text dropped into the filter box) keeps the browser's own drop.
            if carries_files(&e) {
                e.prevent_default();
                upload_all(dash, e.data_transfer().and_then(|dt| dt.files()));
            }
        }),
    ];
    on_cleanup(move || handles.into_iter().for_each(|h| h.remove()));

    view! {
        <div class="drop-overlay" class:show=move || dragging.get() aria-hidden="true">
            <div class="drop-hint">"Drop to share with the network"</div>
        </div>
    }
}

fn carries_files(e: &DragEvent) -> bool {
    e.data_transfer().is_some_and(|dt| {
        dt.types()
            .iter()
            .any(|t| t.as_string().as_deref() == Some("Files"))
    })
}

fn upload_all(dash: Dashboard, files: Option<FileList>) {
    let Some(files) = files else { return };
    for i in 0..files.length() {
        if let Some(file) = files.get(i) {
            dash.upload(file);
        }
    }
}
