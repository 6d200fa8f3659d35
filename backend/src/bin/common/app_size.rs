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

/// The paths of the page's own js, wasm and css files, each once, in order of appearance: the
/// words of the page (runs of the characters of a path) that start with one `/`. Quotes are
/// no guide: a minified page leaves them out, and comments hold apostrophes.
fn assets(page: &str) -> Vec<String> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || "._/-".contains(c);
    let mut found: Vec<String> = Vec::new();
    for word in page.split(|c: char| !path_char(c)) {
        let ours = word.starts_with('/') && !word.starts_with("//");
        let kind = [".js", ".wasm", ".css"]
            .iter()
            .any(|ext| word.ends_with(ext));
        if ours && kind && !found.iter().any(|f| f == word) {
            found.push(word.to_string());
        }
    }
    found
}

fn kib(bytes: usize) -> f64 {
    bytes as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn assets_are_found_in_quoted_unquoted_and_commented_pages() {
        let page = "<!-- the distribution's build --><link href=/style-1.css rel=stylesheet>\
            <link href=\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'\">\
            <script>import init from '/app-1.js'; init({ module_or_path: '/app-1_bg.wasm' });\
            </script><link href=\"/app-1.js\" integrity=sha384-a/b+c.js rel=modulepreload>";
        assert_eq!(
            super::assets(page),
            ["/style-1.css", "/app-1.js", "/app-1_bg.wasm"]
        );
    }
}
