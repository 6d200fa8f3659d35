//! The dashboard's size as a running peer serves it: the page and every file it loads (js,
//! wasm, css), asked for three times, as a client offering no compression, as Chromium asks a
//! plain-HTTP address on the network (`gzip, deflate`) and as it asks loopback or HTTPS
//! (`gzip, deflate, br, zstd`). The bytes counted are the body as sent, before decoding.

use super::exchange;
use anyhow::{bail, Result};

/// What the client offers in `Accept-Encoding`, as the table's columns.
const OFFERS: [(&str, &str); 3] = [
    ("none", "identity"),
    ("gzip, deflate", "gzip, deflate"),
    ("+ br, zstd", "gzip, deflate, br, zstd"),
];

/// Prints the table for the peer whose API is at `port`, headed by `label`.
pub fn print(label: &str, port: u16) -> Result<()> {
    let page = exchange(port, "GET", "/", &[], &[])?;
    if page.status != 200 {
        bail!("GET /: HTTP {}", page.status);
    }
    let page = String::from_utf8_lossy(&page.body).into_owned();
    let mut paths = vec!["/".to_string()];
    paths.extend(assets(&page));

    println!("dashboard served by {label}, body bytes in KiB (encoding) by what the client offers");
    print!("{:<44}", "file");
    for (title, _) in OFFERS {
        print!("  {title:>18}");
    }
    println!();
    let mut totals = [0usize; OFFERS.len()];
    for path in &paths {
        print!("{path:<44}");
        for (total, (_, offer)) in totals.iter_mut().zip(OFFERS) {
            let reply = exchange(port, "GET", path, &[("Accept-Encoding", offer)], &[])?;
            if reply.status != 200 {
                bail!("GET {path}: HTTP {}", reply.status);
            }
            *total += reply.body.len();
            let encoding = reply.header("content-encoding").unwrap_or("identity");
            print!("  {:>8.1} {encoding:>9}", kib(reply.body.len()));
        }
        println!();
    }
    print!("{:<44}", "total");
    for total in totals {
        print!("  {:>8.1} {:>9}", kib(total), "");
    }
    println!();
    Ok(())
}

/// The paths of the page's own js, wasm and css files (a quoted value that starts with one
/// `/`), each once, in order of appearance.
fn assets(page: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find(['"', '\'']) {
        let quote = rest[start..].chars().next().expect("found");
        let value_and_more = &rest[start + 1..];
        let Some(end) = value_and_more.find(quote) else {
            break;
        };
        let value = &value_and_more[..end];
        let ours = value.starts_with('/') && !value.starts_with("//");
        let kind = [".js", ".wasm", ".css"]
            .iter()
            .any(|ext| value.ends_with(ext));
        if ours && kind && !found.iter().any(|f| f == value) {
            found.push(value.to_string());
        }
        rest = &value_and_more[end + 1..];
    }
    found
}

fn kib(bytes: usize) -> f64 {
    bytes as f64 / 1024.0
}
