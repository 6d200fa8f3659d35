//! Request guards: the `Host` and `Origin` checks that stop DNS rebinding and cross-site
//! requests (no CORS is ever granted), and the optional bearer token.

use super::{ApiError, ApiState};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The host part of a `Host` header or an origin's authority (`[::1]:80` → `[::1]`).
fn host_part(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// Hosts a browser may legitimately use to reach us: IP literals, `localhost`, or the host we
/// advertise. Any other name may be an attacker's domain rebound to our address.
fn host_allowed(host: &str, advertised: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case(advertised)
        || bare.parse::<std::net::IpAddr>().is_ok()
}

/// Why a request is refused, if it is.
pub fn refusal(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    advertised: &str,
) -> Option<String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(host) = host {
        if !host_allowed(host_part(host), advertised) {
            return Some(format!("requests for host {host:?} are not served"));
        }
    }
    let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let websocket = path.ends_with("/events");
    if mutating || websocket {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
            if host.is_none_or(|host| !authority.eq_ignore_ascii_case(host)) {
                return Some(format!("cross-origin request from {origin:?} refused"));
            }
        }
    }
    None
}

/// Refuses foreign `Host`s everywhere, and foreign `Origin`s on mutations and the WebSocket.
pub async fn check_origin(State(s): State<ApiState>, request: Request, next: Next) -> Response {
    let host = &s.peer.config().host;
    match refusal(
        request.method(),
        request.uri().path(),
        request.headers(),
        host,
    ) {
        Some(reason) => ApiError::Forbidden(reason).into_response(),
        None => next.run(request).await,
    }
}

/// With `--api-token`, every API request must carry `Authorization: Bearer <token>` or
/// `?token=<token>` (the WebSocket cannot set headers from a browser).
pub async fn check_token(State(s): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(token) = &s.token else {
        return next.run(request).await;
    };
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let query = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes()).find_map(|(k, v)| (k == "token").then_some(v))
    });
    let matches = |given: &str| same_secret(given.as_bytes(), token.as_bytes());
    if bearer.is_some_and(matches) || query.as_deref().is_some_and(matches) {
        next.run(request).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

/// Whether two secrets are equal, in a time that depends on their length only.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn check(method: Method, path: &str, host: &str, origin: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        refusal(&method, path, &headers, "peer.example.org").is_none()
    }

    #[test]
    fn hosts_and_origins() {
        assert!(check(Method::GET, "/api/files", "127.0.0.1:8000", None));
        assert!(check(Method::GET, "/api/files", "localhost:8000", None));
        assert!(check(Method::GET, "/api/files", "[::1]:8000", None));
        assert!(check(
            Method::GET,
            "/api/files",
            "peer.example.org:8000",
            None
        ));
        assert!(!check(
            Method::GET,
            "/api/files",
            "evil.example.com:8000",
            None
        ));
        assert!(check(
            Method::POST,
            "/api/files",
            "127.0.0.1:8000",
            Some("http://127.0.0.1:8000")
        ));
        assert!(check(
            Method::DELETE,
            "/api/files/x",
            "127.0.0.1:8000",
            None
        ));
        assert!(!check(
            Method::DELETE,
            "/api/files/x",
            "127.0.0.1:8000",
            Some("http://evil.com")
        ));
        assert!(!check(
            Method::GET,
            "/api/events",
            "127.0.0.1:8000",
            Some("http://evil.com")
        ));
        assert!(!check(
            Method::POST,
            "/api/files",
            "127.0.0.1:8000",
            Some("http://127.0.0.1:9999")
        ));
        // A cross-site GET may be sent, but the browser will not let the page read it.
        assert!(check(
            Method::GET,
            "/api/files",
            "127.0.0.1:8000",
            Some("http://evil.com")
        ));
    }

    #[test]
    fn secrets_match_only_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
        assert!(!same_secret(b"s3cret!", b"s3cret"));
        assert!(!same_secret(b"s3creT", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }
}
