//! The files table: every file known on the network, filterable and sortable, with the
//! actions that fit each one (get a copy, save our copy, delete our own file).

use leptos::prelude::*;
use shared::{FileDto, TransferStateDto};

use crate::api;
use crate::browser;
use crate::format;
use crate::model::{self, Sort, SortKey};
use crate::state::{confirm_delete, dispatch_once, use_dashboard, FileRef};

/// Known files with a filter box and sortable columns.
#[component]
pub fn FilesPanel() -> impl IntoView {
    let dash = use_dashboard();
    let filter = RwSignal::new(String::new());
    let sort = RwSignal::new(Sort {
        key: SortKey::Name,
        ascending: true,
    });
    let rows = move || {
        dash.files
            .with(|rows| filter.with(|f| model::visible_files(rows, f, sort.get())))
    };
    let total = move || dash.files.with(Vec::len);
    let shown = move || rows().len();

    view! {
        <section class="panel files">
            <div class="panel-head">
                <h2>"Files" <span class="count">{total}</span></h2>
                <input
                    type="search"
                    class="filter"
                    placeholder="Filter by name, owner or id"
                    aria-label="Filter files"
                    data-testid="files-filter"
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(event_target_value(&ev))
                />
            </div>
            <div class="table-wrap">
                <table data-testid="files-table">
                    <thead>
                        <tr>
                            <SortHeader label="Name" key=SortKey::Name sort />
                            <SortHeader label="Size" key=SortKey::Size sort />
                            <SortHeader label="Owner" key=SortKey::Owner sort />
                            <SortHeader label="Holders" key=SortKey::Holders sort />
                            <SortHeader label="Timestamp" key=SortKey::Time sort />
                            <SortHeader label="Held" key=SortKey::Held sort />
                            <th>"Id"</th>
                            <th class="actions">"Actions"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=rows
                            key=|row| (row.item.file_id.clone(), row.rev)
                            children=|row| view! { <FileRow file=row.item /> }
                        />
                        <Show when=move || shown() == 0>
                            <tr class="empty">
                                <td colspan="8">
                                    {move || {
                                        if total() == 0 {
                                            "No files known on the network yet."
                                        } else {
                                            "No file matches the filter."
                                        }
                                    }}
                                </td>
                            </tr>
                        </Show>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// A column header that sorts the table by its column; a second click reverses the order.
#[component]
fn SortHeader(label: &'static str, key: SortKey, sort: RwSignal<Sort>) -> impl IntoView {
    let active = move || sort.get().key == key;
    let aria = move || match sort.get() {
        s if s.key != key => "none",
        s if s.ascending => "ascending",
        _ => "descending",
    };
    let arrow = move || match sort.get() {
        s if s.key != key => "",
        s if s.ascending => " ▲",
        _ => " ▼",
    };
    view! {
        <th aria-sort=aria class:sorted=active>
            <button
                class="sort"
                data-testid=format!("sort-{}", label.to_lowercase())
                on:click=move |_| sort.update(|s| *s = s.clicked(key))
            >
                {label}
                <span class="arrow" aria-hidden="true">{arrow}</span>
            </button>
        </th>
    }
}

#[component]
fn FileRow(file: FileDto) -> impl IntoView {
    let dash = use_dashboard();
    let FileDto {
        file_id,
        file_name,
        size_bytes,
        file_owner,
        holders,
        has_copy,
        owned,
        ..
    } = file.clone();
    let when = match file.timestamp_secs {
        Some(secs) => browser::local_date_time(secs),
        None => file.file_timestamp.clone(),
    };
    let short = format::short_id(&file_id).to_string();
    let holders_title = holders.join("\n");

    let getting = {
        let file_id = file_id.clone();
        move || {
            dash.transfers.with(|rows| {
                rows.iter().any(|r| {
                    r.item.dto.file_id == file_id && r.item.dto.state == TransferStateDto::Running
                })
            })
        }
    };
    let copy_id = {
        let file_id = file_id.clone();
        move |_| {
            if browser::copy_text(&file_id) {
                dash.notify("File id copied to the clipboard", false);
            }
        }
    };
    let file_ref = FileRef {
        id: file_id.clone(),
        name: file_name.clone(),
    };
    let get = (!has_copy).then(|| {
        let action = dash.get_action();
        let pending = action.pending();
        let file = file_ref.clone();
        let busy = Memo::new(move |_| pending.get() || getting());
        view! {
            <button
                class="primary"
                data-testid="get-button"
                disabled=busy
                on:click=move |_| dispatch_once(action, file.clone())
            >
                {move || if busy.get() { "Getting…" } else { "Get" }}
            </button>
        }
    });
    let save = has_copy.then(|| {
        view! {
            <a
                class="button"
                data-testid="save-link"
                href=api::content_url(&file_id)
                download=file_name.clone()
            >
                "Save"
            </a>
        }
    });
    let delete = owned.then(|| {
        let action = dash.delete_action();
        let pending = action.pending();
        view! {
            <button
                class="danger"
                data-testid="delete-button"
                disabled=move || pending.get()
                on:click=move |_| confirm_delete(action, file_ref.clone())
            >
                {move || if pending.get() { "Deleting…" } else { "Delete" }}
            </button>
        }
    });

    view! {
        <tr
            data-testid="file-row"
            data-file-id=file_id.clone()
            data-file-name=file_name.clone()
            class:held=has_copy
        >
            <td class="name" title=file_name.clone()>
                <span>{file_name.clone()}</span>
                {owned.then(|| view! { <span class="badge">"mine"</span> })}
            </td>
            <td class="num">{format::human_size_opt(size_bytes)}</td>
            <td class="mono ellipsis" title=file_owner.clone()>{file_owner.clone()}</td>
            <td class="num" title=holders_title>{holders.len()}</td>
            <td class="nowrap" title=file.file_timestamp.clone()>{when}</td>
            <td>
                {if has_copy {
                    view! { <span class="badge ok" data-testid="has-copy">"held"</span> }.into_any()
                } else {
                    view! { <span class="muted">"—"</span> }.into_any()
                }}
            </td>
            <td class="nowrap">
                <code title=file_id.clone()>{short}</code>
                <button
                    class="ghost copy"
                    title="Copy the full id"
                    data-testid="copy-id"
                    on:click=copy_id
                >
                    "Copy"
                </button>
            </td>
            <td class="actions">{get} {save} {delete}</td>
        </tr>
    }
}
