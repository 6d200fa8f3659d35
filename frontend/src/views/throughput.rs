//! The live throughput chart: bytes in and out per second over the last five minutes, drawn as
//! two SVG polylines on one scale, redrawn as the clock ticks. Also the per-transfer sparkline.

use leptos::prelude::*;

use crate::format;
use crate::state::use_dashboard;
use crate::throughput::{polyline, WINDOW_SECS};

/// Bytes per second in and out, one value per second, oldest first.
type Series = (Vec<f64>, Vec<f64>);
/// Which of the two series.
type Pick = fn(&Series) -> &Vec<f64>;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 100.0;

/// The throughput panel.
#[component]
pub fn ThroughputPanel() -> impl IntoView {
    let dash = use_dashboard();
    let series = Memo::new(move |_| {
        let now_sec = (dash.now_ms.get() / 1000.0) as u64;
        let (ins, outs) = dash.throughput.with(|t| t.series(now_sec));
        let as_f64 = |v: Vec<u64>| v.into_iter().map(|b| b as f64).collect::<Vec<_>>();
        (as_f64(ins), as_f64(outs))
    });
    let peak =
        move || series.with(|(ins, outs)| ins.iter().chain(outs).copied().fold(0.0, f64::max));
    let line = move |pick: Pick| move || series.with(|s| polyline(pick(s), peak(), WIDTH, HEIGHT));
    let now_rate = move |pick: Pick| {
        move || {
            // The last whole second: the current one is still filling.
            series.with(|s| {
                let v = pick(s);
                format::human_rate(v.get(v.len().saturating_sub(2)).copied().unwrap_or(0.0))
            })
        }
    };
    view! {
        <section class="panel throughput">
            <div class="panel-head">
                <h2>"Throughput"</h2>
                <span class="legend">
                    <span class="key in">"in " {now_rate(|s| &s.0)}</span>
                    <span class="key out">"out " {now_rate(|s| &s.1)}</span>
                    <span class="muted">
                        "peak " {move || format::human_rate(peak())} " · last "
                        {WINDOW_SECS / 60} " min"
                    </span>
                </span>
            </div>
            <svg
                class="chart"
                data-testid="throughput-chart"
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                role="img"
                aria-label="Bytes per second in and out over the last five minutes"
            >
                <polyline class="in" points=line(|s| &s.0) />
                <polyline class="out" points=line(|s| &s.1) />
            </svg>
        </section>
    }
}

/// A small line of a transfer's recent speeds, scaled to its own peak; nothing until there
/// are two.
#[component]
pub fn Sparkline(values: Signal<Vec<f64>>) -> impl IntoView {
    let points =
        move || values.with(|v| polyline(v, v.iter().copied().fold(0.0, f64::max), 60.0, 16.0));
    let drawn = Memo::new(move |_| values.with(Vec::len) > 1);
    move || {
        drawn.get().then(|| {
            view! {
                <svg
                    class="sparkline"
                    viewBox="0 0 60 16"
                    preserveAspectRatio="none"
                    aria-hidden="true"
                >
                    <polyline points=points />
                </svg>
            }
        })
    }
}
