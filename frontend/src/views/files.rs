//! The files table: every file known on the network, filterable and sortable, with the
//! actions that fit each one (get a copy, save our copy, delete our own file).

use leptos::prelude::*;
use shared::{FileDto, TransferStateDto};

use super::badge::Badge;
use super::table::{Column, Table};
use crate::api;
use crate::browser;
use crate::format;
use crate::model::{self, KnownFile, Row, Sort, SortKey};
use crate::state::{confirm_delete, dispatch_once, use_dashboard, FileRef};

/// Known files with a filter box, sortable columns and pages of [`model::PAGE_ROWS`].
///
/// The filtered, sorted order is a memo of positions, computed once per change of the files,
/// the filter or the sort; the shown page is a memo of the rows' signals, so a changed file
/// costs one sort of the list and updates the changed cells of its row, if it is shown.
#[component]
pub fn FilesPanel() -> impl IntoView {
    let dash = use_dashboard();
    let filter = RwSignal::new(String::new());
    let sort = RwSignal::new(Sort {
        key: SortKey::Name,
        ascending: true,
    });
    let page = RwSignal::new(0usize);
    let order = Memo::new(move |_| {
        dash.files
            .with(|rows| filter.with(|f| model::visible_files(rows, f, sort.get())))
    });
    let shown = Memo::new(move |_| order.with(Vec::len));
    let pages = move || model::page_count(shown.get());
    let rows = Memo::new(move |_| {
        let range = model::page_range(shown.get(), page.get());
        dash.files.with(|rows| {
            order.with(|order| {
                order[range]
                    .iter()
                    .filter_map(|&i| rows.get(i).map(Row::shown))
                    .collect::<Vec<_>>()
            })
        })
    });
    let total = move || dash.files.with(Vec::len);
    let empty = Signal::derive(move || {
        if total() == 0 {
            "No files known on the network yet."
        } else {
            "No file matches the filter."
        }
    });
    let shown_page = move || page.get().min(pages() - 1);
    let turn = move |by: isize| {
        let to = shown_page().saturating_add_signed(by).min(pages() - 1);
        page.set(to);
    };

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
                    on:input=move |ev| {
                        filter.set(event_target_value(&ev));
                        page.set(0);
                    }
                />
            </div>
            <Table
                testid="files-table"
                columns=COLUMNS
                rows=rows
                row={|file| view! { <FileRow file /> }}
                empty
                sort
            />
            <Show when=move || { pages() > 1 }>
                <nav class="pager" data-testid="files-pager">
                    <button disabled=move || shown_page() == 0 on:click=move |_| turn(-1)>
                        "‹ Previous"
                    </button>
                    <span data-testid="files-page">
                        {move || format!("Page {} of {}", shown_page() + 1, pages())}
                    </span>
                    // Braced: unbraced, the `>` of `>=` would end the tag.
                    <button disabled=move || { shown_page() + 1 >= pages() } on:click=move |_| turn(1)>
                        "Next ›"
                    </button>
                </nav>
            </Show>
        </section>
    }
}

const COLUMNS: &[Column] = &[
    Column::new("Name").sorts(SortKey::Name),
    Column::new("Size").sorts(SortKey::Size),
    Column::new("Owner").sorts(SortKey::Owner),
    Column::new("Holders").sorts(SortKey::Holders),
    Column::new("Timestamp").sorts(SortKey::Time),
    Column::new("Held").sorts(SortKey::Held),
    Column::new("Id"),
    Column::new("Actions").class("actions"),
];

/// One file's row. Built once per file; each cell reads the file's signal, so a change
/// rewrites only the cells whose text changed, and the actions only when what the file allows
/// (get, save, delete) changed.
#[component]
fn FileRow(file: ArcRwSignal<KnownFile>) -> impl IntoView {
    let dash = use_dashboard();
    let file = RwSignal::from(file);
    // The id never changes: a file with another id is another row.
    let file_id = file.with_untracked(|f| f.dto.file_id.clone());
    let text = move |f: fn(&FileDto) -> String| move || file.with(|k| f(&k.dto));
    // Every row has the same buttons: their accessible names say which file each acts on.
    let named = move |verb: &str| file.with(|k| format!("{verb} {}", k.dto.file_name));
    let has_copy = Memo::new(move |_| file.with(|f| f.dto.has_copy));
    let owned = Memo::new(move |_| file.with(|f| f.dto.owned));
    let file_ref = move || {
        file.with_untracked(|f| FileRef {
            id: f.dto.file_id.clone(),
            name: f.dto.file_name.clone(),
        })
    };

    let getting = {
        let file_id = file_id.clone();
        Memo::new(move |_| {
            dash.transfers.with(|rows| {
                rows.iter().any(|r| {
                    r.item.dto.file_id == file_id && r.item.dto.state == TransferStateDto::Running
                })
            })
        })
    };
    let copy_id = {
        let file_id = file_id.clone();
        move |_| {
            if browser::copy_text(&file_id) {
                dash.notify("File id copied to the clipboard", false);
            }
        }
    };
    let get = move || {
        (!has_copy.get()).then(|| {
            let action = dash.get_action();
            let pending = action.pending();
            let busy = Memo::new(move |_| pending.get() || getting.get());
            view! {
                <button
                    class="primary"
                    data-testid="get-button"
                    aria-label=move || named(if busy.get() { "Getting" } else { "Get" })
                    disabled=busy
                    on:click=move |_| dispatch_once(action, file_ref())
                >
                    {move || if busy.get() { "Getting…" } else { "Get" }}
                </button>
            }
        })
    };
    let save = {
        let href = api::content_url(&file_id);
        move || {
            has_copy.get().then(|| {
                view! {
                    <a
                        class="button"
                        data-testid="save-link"
                        aria-label=move || named("Save")
                        href=href.clone()
                        download=text(|f| f.file_name.clone())
                    >
                        "Save"
                    </a>
                }
            })
        }
    };
    let delete = move || {
        owned.get().then(|| {
            let action = dash.delete_action();
            let pending = action.pending();
            view! {
                <button
                    class="danger"
                    data-testid="delete-button"
                    aria-label=move || named(if pending.get() { "Deleting" } else { "Delete" })
                    disabled=move || pending.get()
                    on:click=move |_| confirm_delete(action, file_ref())
                >
                    {move || if pending.get() { "Deleting…" } else { "Delete" }}
                </button>
            }
        })
    };
    let when = text(|f| match f.timestamp_secs {
        Some(secs) => browser::local_date_time(secs),
        None => f.file_timestamp.clone(),
    });
    let held = move || {
        if has_copy.get() {
            view! { <Badge status="held" testid="has-copy" /> }.into_any()
        } else {
            view! { <span class="muted">"—"</span> }.into_any()
        }
    };

    view! {
        <tr
            data-testid="file-row"
            data-file-id=file_id.clone()
            data-file-name=text(|f| f.file_name.clone())
            class:held=has_copy
        >
            <td class="name" title=text(|f| f.file_name.clone())>
                <span data-testid="file-name">{text(|f| f.file_name.clone())}</span>
                {move || owned.get().then(|| view! { <span class="badge">"mine"</span> })}
            </td>
            <td class="num" data-testid="file-size">
                {text(|f| format::human_size_opt(f.size_bytes))}
            </td>
            <td class="mono ellipsis" title=text(|f| f.file_owner.clone())>
                {text(|f| f.file_owner.clone())}
            </td>
            <td class="num" data-testid="file-holders" title=text(|f| f.holders.join("\n"))>
                {text(|f| f.holders.len().to_string())}
            </td>
            <td class="nowrap" title=text(|f| f.file_timestamp.clone())>{when}</td>
            <td>{held}</td>
            <td class="nowrap">
                <code title=file_id.clone()>{format::short_id(&file_id).to_string()}</code>
                <button
                    class="ghost copy"
                    title="Copy the full id"
                    data-testid="copy-id"
                    aria-label=move || named("Copy the id of")
                    on:click=copy_id
                >
                    "Copy"
                </button>
            </td>
            <td class="actions">{get} {save} {delete}</td>
        </tr>
    }
}
