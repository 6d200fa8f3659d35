//! The SVG chart of a simulation: convergence time after a join and bytes per peer per minute
//! against the number of peers, both on log scales, one line per policy.

use super::world::Outcome;
use backend::peer::policy::GossipPolicy;
use std::fmt::Write;

const PANEL_W: f64 = 380.0;
const PANEL_H: f64 = 260.0;
const MARGIN: f64 = 56.0;

/// A panel: its title, and the value plotted for an outcome.
struct Panel {
    title: &'static str,
    value: fn(&Outcome) -> Option<f64>,
}

/// The whole chart.
pub fn svg(results: &[(GossipPolicy, usize, Outcome)], subtitle: &str) -> String {
    let panels = [
        Panel {
            title: "seconds until a join has converged",
            value: |o| o.converged,
        },
        Panel {
            title: "bytes per peer per minute",
            value: |o| Some(o.bytes),
        },
    ];
    let width = 2.0 * (PANEL_W + MARGIN) + MARGIN;
    let height = PANEL_H + 2.5 * MARGIN;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{MARGIN}" y="20" font-size="14">Gossip: lean (solid) and every GOSSIP answered (dashed); {subtitle}</text>
"#
    );
    for (k, panel) in panels.iter().enumerate() {
        let x0 = MARGIN + k as f64 * (PANEL_W + MARGIN);
        draw_panel(&mut out, panel, results, x0, 1.4 * MARGIN);
    }
    out.push_str("</svg>\n");
    out
}

/// Decades spanning `values`: (lowest power of ten, highest).
fn decades(values: impl Iterator<Item = f64>) -> (i32, i32) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| *v > 0.0) {
        lo = lo.min(v.log10().floor());
        hi = hi.max(v.log10().ceil());
    }
    if lo > hi {
        return (0, 1);
    }
    (lo as i32, (hi as i32).max(lo as i32 + 1))
}

fn draw_panel(
    out: &mut String,
    panel: &Panel,
    results: &[(GossipPolicy, usize, Outcome)],
    x0: f64,
    y0: f64,
) {
    let (nx0, nx1) = decades(results.iter().map(|(_, n, _)| *n as f64));
    let (vy0, vy1) = decades(results.iter().filter_map(|(_, _, o)| (panel.value)(o)));
    let x = |n: f64| x0 + (n.log10() - nx0 as f64) / (nx1 - nx0) as f64 * PANEL_W;
    let y = |v: f64| y0 + PANEL_H - (v.log10() - vy0 as f64) / (vy1 - vy0) as f64 * PANEL_H;
    let _ = writeln!(
        out,
        r##"<text x="{x0}" y="{}" font-size="13">{}</text>
<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>"##,
        y0 - 8.0,
        panel.title
    );
    for d in nx0..=nx1 {
        let px = x(10f64.powi(d));
        let _ = writeln!(
            out,
            r##"<line x1="{px}" y1="{y0}" x2="{px}" y2="{}" stroke="#eee"/><text x="{px}" y="{}" text-anchor="middle">{}</text>"##,
            y0 + PANEL_H,
            y0 + PANEL_H + 16.0,
            fmt_power(d)
        );
    }
    for d in vy0..=vy1 {
        let py = y(10f64.powi(d));
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{py}" x2="{}" y2="{py}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            x0 + PANEL_W,
            x0 - 4.0,
            py + 4.0,
            fmt_power(d)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">peers</text>"#,
        x0 + PANEL_W / 2.0,
        y0 + PANEL_H + 32.0
    );
    for (policy, colour, dash) in [
        (GossipPolicy::Lean, "#1f6feb", ""),
        (GossipPolicy::Every, "#d1242f", r#" stroke-dasharray="6 4""#),
    ] {
        let points: Vec<(f64, f64)> = results
            .iter()
            .filter(|(p, _, _)| *p == policy)
            .filter_map(|(_, n, o)| (panel.value)(o).map(|v| (x(*n as f64), y(v))))
            .collect();
        let path: Vec<String> = points
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
            path.join(" ")
        );
        for (a, b) in points {
            let _ = writeln!(
                out,
                r#"<circle cx="{a:.1}" cy="{b:.1}" r="3" fill="{colour}"/>"#
            );
        }
    }
}

/// `1`, `10`, `100`, `1k`, `10k`, `1M`, …
fn fmt_power(d: i32) -> String {
    match d {
        i32::MIN..=-1 => format!("{}", 10f64.powi(d)),
        0..=2 => format!("{}", 10i64.pow(d as u32)),
        3..=5 => format!("{}k", 10i64.pow(d as u32 - 3)),
        6..=8 => format!("{}M", 10i64.pow(d as u32 - 6)),
        _ => format!("1e{d}"),
    }
}
