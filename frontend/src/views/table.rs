//! The one table shape the panels share: a header row from the columns, keyed rows, and an
//! empty row whose `colspan` is the number of columns. Owns no data; the panels pass it in.

use leptos::prelude::*;

use crate::model::{Shown, Sort, SortKey};

/// One column: its header text, the class of its header cell, and the key it sorts by (`K`
/// names the columns of one table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column<K: 'static = SortKey> {
    /// Header text (may be empty, as for the transfers table's action column).
    pub label: &'static str,
    /// Class of the header cell.
    pub class: &'static str,
    /// Clicking the header sorts by this key (needs the table's `sort`).
    pub sort: Option<K>,
}

impl<K: Copy> Column<K> {
    /// A plain column.
    pub const fn new(label: &'static str) -> Self {
        Column {
            label,
            class: "",
            sort: None,
        }
    }

    /// A column with a class on its header cell.
    pub const fn class(self, class: &'static str) -> Self {
        Column { class, ..self }
    }

    /// A column that sorts by `key`.
    pub const fn sorts(self, key: K) -> Self {
        Column {
            sort: Some(key),
            ..self
        }
    }
}

/// A table of `rows`, one `<tr>` per item made by `row`; when `rows` is empty, one row across
/// all columns says `empty`.
///
/// Each item is a `model::Row` as shown, keyed by the row's key: a row is built once per item
/// and its cells follow the row's signal, so a changed item updates its row in place.
#[component]
pub fn Table<T, R, V, S>(
    /// `data-testid` of the `<table>`.
    testid: &'static str,
    columns: &'static [Column<S>],
    #[prop(into)] rows: Signal<Vec<Shown<T>>>,
    row: R,
    /// Text of the empty row.
    #[prop(into)]
    empty: Signal<&'static str>,
    /// The sort the sortable headers show and change.
    #[prop(optional)]
    sort: Option<RwSignal<Sort<S>>>,
) -> impl IntoView
where
    S: Copy + PartialEq + Send + Sync + 'static,
    T: Clone + PartialEq + Send + Sync + 'static,
    R: Fn(ArcRwSignal<T>) -> V + Send + Clone + 'static,
    V: IntoView + 'static,
{
    let headers = columns
        .iter()
        .map(|c| match (c.sort, sort) {
            (Some(key), Some(sort)) => {
                view! { <SortHeader label=c.label class=c.class key sort /> }.into_any()
            }
            _ => view! { <th class=c.class>{c.label}</th> }.into_any(),
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table data-testid=testid>
                <thead>
                    <tr>{headers}</tr>
                </thead>
                <tbody>
                    <For
                        each=move || rows.get()
                        key=|shown| shown.key
                        children=move |shown| row(shown.signal)
                    />
                    <Show when=move || rows.with(Vec::is_empty)>
                        <tr class="empty">
                            <td colspan=columns.len()>{move || empty.get()}</td>
                        </tr>
                    </Show>
                </tbody>
            </table>
        </div>
    }
}

/// A column header that sorts the table by its column; a second click reverses the order.
#[component]
fn SortHeader<S>(
    label: &'static str,
    class: &'static str,
    key: S,
    sort: RwSignal<Sort<S>>,
) -> impl IntoView
where
    S: Copy + PartialEq + Send + Sync + 'static,
{
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
        <th aria-sort=aria class=class class:sorted=active>
            <button
                class="sort"
                data-testid=format!("sort-{}", label.to_ascii_lowercase())
                on:click=move |_| sort.update(|s| *s = s.clicked(key))
            >
                {label}
                <span class="arrow" aria-hidden="true">{arrow}</span>
            </button>
        </th>
    }
}
