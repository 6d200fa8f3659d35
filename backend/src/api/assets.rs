//! The dashboard: the files of `dist/`, embedded into the binary at build time, each with its
//! brotli and gzip forms compressed once by `scripts/build-dist.sh` at the best settings.

use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../dist/"]
struct Dist;

/// The precompressed forms of a file, best first: the suffix of the embedded file and its
/// `Content-Encoding`.
const ENCODINGS: [(&str, &str); 2] = [(".br", "br"), (".gz", "gzip")];

/// Serves an embedded file, or `index.html` for any other path (the app routes itself). A client
/// that accepts brotli or gzip gets the precompressed form; the compression layer around this
/// leaves a response alone once it has a `Content-Encoding`.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    let (path, file) = match Dist::get(path) {
        Some(file) if !path.is_empty() => (path, file),
        _ => match Dist::get("index.html") {
            Some(file) => ("index.html", file),
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    "the dashboard was not built into this binary",
                )
                    .into_response()
            }
        },
    };
    let mime = match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    };
    let cache = if path == "index.html" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let accepted = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let compressed = ENCODINGS.iter().find_map(|&(suffix, coding)| {
        let file = accepts(accepted, coding)
            .then(|| Dist::get(&format!("{path}{suffix}")))
            .flatten()?;
        Some((coding, file))
    });
    let head = [
        (header::CONTENT_TYPE, mime),
        (header::CACHE_CONTROL, cache),
        (header::VARY, "accept-encoding"),
    ];
    match compressed {
        Some((coding, file)) => {
            (head, [(header::CONTENT_ENCODING, coding)], file.data).into_response()
        }
        None => (head, file.data).into_response(),
    }
}

/// Whether an `Accept-Encoding` value accepts `coding` (RFC 9110 12.5.3): named, or covered by
/// `*`, with a weight above zero.
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    let mut wildcard = false;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let weighted = parts.find_map(|p| {
            let (key, value) = p.split_once('=')?;
            key.trim().eq_ignore_ascii_case("q").then(|| value.trim())
        });
        let refused = weighted.and_then(|q| q.parse::<f32>().ok()) == Some(0.0);
        if name.eq_ignore_ascii_case(coding) {
            return !refused;
        }
        if name == "*" {
            wildcard = !refused;
        }
    }
    wildcard
}

/// The Content-Security-Policy of every response: only our own origin, plus compiling wasm
/// and the inline scripts of the embedded `index.html` (trunk's loader), allowed by hash so
/// that no other inline script runs. The icon is an inline `data:` image.
pub fn content_security_policy() -> String {
    let html = Dist::get("index.html")
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
        .unwrap_or_default();
    let hashes: String = inline_scripts(&html)
        .map(|script| {
            use base64::Engine;
            use sha2::Digest;
            let digest = sha2::Sha256::digest(script.as_bytes());
            let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
            format!(" 'sha256-{b64}'")
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The text of each `<script>` element without a `src`, exactly as served.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (attributes, body) = rest.split_once('>')?;
        let (text, _) = body.split_once("</script>")?;
        (!attributes.contains("src=")).then_some(text)
    })
}

#[cfg(test)]
mod tests {
    use super::accepts;

    #[track_caller]
    fn check(header: &str, coding: &str, expected: bool) {
        assert_eq!(
            accepts(header, coding),
            expected,
            "{header:?} accepts {coding}"
        );
    }

    #[test]
    fn accept_encoding_names_weights_and_wildcards() {
        check("gzip, deflate, br, zstd", "br", true);
        check("gzip, deflate", "br", false);
        check("", "gzip", false);
        check("BR", "br", true);
        check("br;q=0", "br", false);
        check("br; q=0.000", "br", false);
        check("br;q=0.5", "br", true);
        check("br;q=1", "br", true);
        check("*", "gzip", true);
        check("*;q=0", "gzip", false);
        check("gzip;q=0, *", "gzip", false);
        check("*, br;q=0", "br", false);
        check("identity", "gzip", false);
    }

    #[test]
    fn inline_scripts_are_found_and_external_ones_skipped() {
        let html = "<script type=\"module\">\nrun();\n</script><script src=\"/a.js\"></script>";
        let found: Vec<&str> = super::inline_scripts(html).collect();
        assert_eq!(found, ["\nrun();\n"]);
    }
}
