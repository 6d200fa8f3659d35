//! `GET /metrics`: the peer's counters in the Prometheus text exposition format (OpenMetrics),
//! encoded by prometheus-client from the live counters ([`Traffic`], [`Refusals`], the store's
//! [`Spent`] and saves, the state's sizes) and the disk's free bytes at each scrape. It keeps
//! no counters of its own.
//!
//! [`Traffic`]: crate::traffic::Traffic
//! [`Refusals`]: crate::refusal::Refusals
//! [`Spent`]: crate::store::Spent

use super::ApiState;
use crate::store::Step;
use crate::traffic::{Direction, TYPES};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The content type of OpenMetrics text, which Prometheus scrapes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labeled<const N: usize> = Family<[(&'static str, &'static str); N], Counter>;

/// The exposition of every metric, as of now.
pub fn render(s: &ApiState) -> String {
    let peer = &s.peer;
    let mut registry = Registry::default();
    let traffic = peer.traffic();

    let received = Labeled::<1>::default();
    let sent = Labeled::<1>::default();
    let (in_counts, out_counts) = (traffic.received_counts(), traffic.sent_counts());
    for (i, kind) in TYPES.iter().enumerate() {
        received
            .get_or_create(&[("type", kind)])
            .inc_by(in_counts[i]);
        sent.get_or_create(&[("type", kind)]).inc_by(out_counts[i]);
    }
    registry.register(
        "peer_messages_received",
        "Protocol messages decoded, by type",
        received,
    );
    registry.register(
        "peer_messages_sent",
        "Protocol messages written whole, by type",
        sent,
    );

    let (bytes_in, bytes_out) = traffic.content_bytes();
    let counter = |n: u64| {
        let c = Counter::<u64>::default();
        c.inc_by(n);
        c
    };
    registry.register(
        "peer_bytes_received",
        "File content bytes received in whole FILE_DATA messages",
        counter(bytes_in),
    );
    registry.register(
        "peer_bytes_sent",
        "File content bytes sent in whole FILE_DATA messages",
        counter(bytes_out),
    );

    let transfers = Labeled::<2>::default();
    for (direction, label) in [(Direction::In, "in"), (Direction::Out, "out")] {
        for (ok, outcome) in [(true, "ok"), (false, "failed")] {
            transfers
                .get_or_create(&[("direction", label), ("outcome", outcome)])
                .inc_by(traffic.transfers(direction, ok));
        }
    }
    registry.register(
        "peer_transfers",
        "Files moved, in (gets, pushes to us) or out (GET_FILE answered with a copy, our pushes), by outcome",
        transfers,
    );

    let rejected = Labeled::<1>::default();
    for (reason, n) in peer.refusals().snapshot() {
        rejected
            .get_or_create(&[("reason", reason.label())])
            .inc_by(n);
    }
    registry.register(
        "peer_rejected",
        "What strangers sent that we refused, by reason",
        rejected,
    );

    let spent = Family::<[(&'static str, &'static str); 1], Counter<f64, AtomicU64>>::default();
    for step in Step::ALL {
        spent
            .get_or_create(&[("step", step.label())])
            .inc_by(peer.store().spent().seconds(step));
    }
    registry.register(
        "peer_store_seconds",
        "Wall time spent on incoming content (gets, pushes to us, uploads, imports), by step: hash (SHA-256), write (to the disk), sync (making it durable)",
        spent,
    );

    let saves = Labeled::<1>::default();
    let (saved, failed) = peer.store().saves();
    saves.get_or_create(&[("outcome", "ok")]).inc_by(saved);
    saves.get_or_create(&[("outcome", "failed")]).inc_by(failed);
    saves
        .get_or_create(&[("outcome", "unchanged")])
        .inc_by(peer.store().saves_unchanged());
    registry.register(
        "peer_index_saves",
        "Saves of metadata.json, by outcome: ok (written), failed (typically on a full disk; tried again every second), unchanged (the index was as last written: nothing written)",
        saves,
    );

    let status = peer.status();
    let gauge = |n: usize| {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(n).unwrap_or(i64::MAX));
        g
    };
    registry.register(
        "peer_tracked_peers",
        "Peers tracked now",
        gauge(status.peer_count),
    );
    registry.register(
        "peer_known_files",
        "Files known on the network",
        gauge(status.file_count),
    );
    registry.register(
        "peer_held_files",
        "Files we hold a copy of",
        gauge(status.held_count),
    );
    if let Ok(free) = peer.store().free_bytes() {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(free).unwrap_or(i64::MAX));
        registry.register(
            "peer_storage_free_bytes",
            "Bytes free on the disk of the storage folder",
            g,
        );
    }

    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Counters in the Prometheus text format", content_type = "application/openmetrics-text", body = String))
)]
pub async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&s))
}
