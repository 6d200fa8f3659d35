//! The dashboard: the files of `dist/`, embedded into the binary at build time.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../dist/"]
struct Dist;

/// Serves an embedded file, or `index.html` for any other path (the app routes itself).
pub async fn serve(uri: Uri) -> Response {
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
    (
        [(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, cache)],
        file.data,
    )
        .into_response()
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
    #[test]
    fn inline_scripts_are_found_and_external_ones_skipped() {
        let html = "<script type=\"module\">\nrun();\n</script><script src=\"/a.js\"></script>";
        let found: Vec<&str> = super::inline_scripts(html).collect();
        assert_eq!(found, ["\nrun();\n"]);
    }
}
