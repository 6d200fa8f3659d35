//! The peer's dashboard: a client-side Leptos app, built by trunk into `../dist` and served by
//! the peer itself.
//!
//! Code map: `api` is the network (and the only place that knows URLs), `event` reads its event
//! messages; `state` holds the
//! signals every view reads and applies the peer's events; `model`, `throughput` and `format`
//! are plain functions (merging rules, speeds, sorting, throughput, human-readable numbers)
//! tested natively;
//! `browser` wraps the clock, dialogs and clipboard; `views` has one file per panel.

mod api;
mod app;
mod browser;
mod event;
pub mod format;
pub mod model;
mod state;
pub mod throughput;
mod views;

pub use app::App;
