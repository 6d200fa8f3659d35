//! Every endpoint and every error, in process through `oneshot`.

use super::*;
use crate::peer::{Caps, PeerConfig};
use crate::protocol::{Announce, FileMeta, Verbatim};
use crate::store::Store;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use shared::ErrorBody;
use tower::ServiceExt;

struct Fixture {
    app: Router,
    peer: Peer,
    _dir: tempfile::TempDir,
}

fn fixture_with(token: Option<&str>, max_file: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (store, index, _) = Store::open(dir.path()).unwrap();
    let config = PeerConfig::for_test("peer.example.org", max_file);
    let peer = Peer::new(config, store, index);
    let state = ApiState::new(
        peer.clone(),
        token.map(String::from),
        CancellationToken::new(),
    );
    Fixture {
        app: router(state),
        peer,
        _dir: dir,
    }
}

fn fixture() -> Fixture {
    fixture_with(None, 1 << 20)
}

/// A foreign file the peer knows of but does not hold.
fn foreign(peer: &Peer) -> FileMeta {
    let meta = FileMeta {
        file_id: "ab".repeat(32),
        file_name: "theirs.txt".into(),
        file_size: Verbatim::parse("0.5").unwrap(),
        file_owner: "them".into(),
        file_timestamp: Verbatim::parse("1749713822").unwrap(),
    };
    peer.on_announce(&Announce {
        from: "them".into(),
        meta: meta.clone(),
    });
    meta
}

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:8000")
}

fn multipart(field: &str, file_name: &str, content: &[u8]) -> Request<Body> {
    multipart_parts(&[], field, file_name, content)
}

/// An upload whose file part (`field`, `file_name`, `content`) follows the text parts
/// `texts` (name, value as bytes).
fn multipart_parts(
    texts: &[(&str, &[u8])],
    field: &str,
    file_name: &str,
    content: &[u8],
) -> Request<Body> {
    let boundary = "XBOUNDARYX";
    let mut body = Vec::new();
    for (name, value) in texts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .as_bytes());
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    request(Method::POST, "/api/files")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap()
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, body)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Vec<u8>) {
    call(app, request(Method::GET, uri).body(Body::empty()).unwrap()).await
}

/// Asserts that `upload` is kept (201); the file it made.
async fn uploaded(app: &Router, upload: Request<Body>) -> FileDto {
    let (status, body) = call(app, upload).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::CREATED, "{text}");
    serde_json::from_slice(&body).unwrap()
}

/// Asserts an error status with a JSON `{"error": ...}` body.
fn check_error((status, body): (StatusCode, Vec<u8>), expected: StatusCode) -> String {
    assert_eq!(status, expected, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<ErrorBody>(&body)
        .expect("a JSON error body")
        .error
}

#[tokio::test]
async fn reads() {
    let f = fixture();
    foreign(&f.peer);
    let (status, body) = get(&f.app, "/api/status").await;
    assert_eq!(status, StatusCode::OK);
    let s: StatusDto = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (s.peer_id.as_str(), s.p2p_port, s.file_count),
        ("me", 9000, 1)
    );
    let (_, body) = get(&f.app, "/api/files").await;
    let files: Vec<FileDto> = serde_json::from_slice(&body).unwrap();
    assert_eq!(files[0].file_name, "theirs.txt");
    assert_eq!(files[0].size_bytes, Some(524288));
    assert!(!files[0].has_copy && !files[0].owned);
    let (_, body) = get(&f.app, "/api/peers").await;
    assert_eq!(serde_json::from_slice::<Vec<PeerDto>>(&body).unwrap(), []);
    let (_, body) = get(&f.app, "/api/transfers").await;
    assert_eq!(
        serde_json::from_slice::<Vec<TransferDto>>(&body).unwrap(),
        []
    );
    check_error(get(&f.app, "/api/nope").await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn upload_then_save_then_delete() {
    let f = fixture();
    let file = uploaded(&f.app, multipart("file", "hello.txt", b"hello world")).await;
    assert!(file.has_copy && file.owned);
    assert_eq!(file.size_bytes, Some(11));
    assert_eq!(file.holders, ["me"], "we hold it");

    let (status, body) = get(&f.app, &format!("/api/files/{}/content", file.file_id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"hello world");

    let fetch = request(Method::POST, &format!("/api/files/{}/fetch", file.file_id))
        .body(Body::empty())
        .unwrap();
    check_error(call(&f.app, fetch).await, StatusCode::CONFLICT);

    let delete = request(Method::DELETE, &format!("/api/files/{}", file.file_id))
        .body(Body::empty())
        .unwrap();
    let (status, _) = call(&f.app, delete).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(f.peer.files().is_empty());
    check_error(
        get(&f.app, &format!("/api/files/{}/content", file.file_id)).await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_and_store_nothing() {
    let f = fixture_with(None, 16);
    check_error(
        call(&f.app, multipart("file", "", b"x")).await,
        StatusCode::BAD_REQUEST,
    );
    check_error(
        call(&f.app, multipart("other", "a.txt", b"x")).await,
        StatusCode::BAD_REQUEST,
    );
    check_error(
        call(&f.app, multipart("file", "big.bin", &[7; 17])).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    let not_multipart = request(Method::POST, "/api/files")
        .body(Body::from("hi"))
        .unwrap();
    let (status, body) = call(&f.app, not_multipart).await;
    assert!(status.is_client_error(), "{status}");
    check_error((status, body), status);
    assert!(f.peer.files().is_empty());
    assert_eq!(
        std::fs::read_dir(f.peer.store().dir()).unwrap().count(),
        0,
        "no temp files left"
    );
}

#[tokio::test]
async fn a_name_field_names_the_upload_exactly() {
    let f = fixture();
    // What a browser sends for `say "hi".txt`: the quotes escaped in the file name.
    let upload = multipart_parts(
        &[("name", "say \"hi\".txt".as_bytes())],
        "file",
        "say %22hi%22.txt",
        b"hi",
    );
    let file = uploaded(&f.app, upload).await;
    assert_eq!(file.file_name, "say \"hi\".txt");
}

#[tokio::test]
async fn a_name_field_that_is_too_long_or_not_utf8_is_refused() {
    let f = fixture();
    let long = vec![b'n'; 20 << 10];
    for (name, why) in [
        (&long[..], "longer than"),
        (&b"caf\xe9.txt"[..], "not UTF-8"),
    ] {
        let upload = multipart_parts(&[("name", name)], "file", "a.txt", b"x");
        let error = check_error(call(&f.app, upload).await, StatusCode::BAD_REQUEST);
        assert!(error.contains(why), "{error}");
    }
    assert!(f.peer.files().is_empty());
}

#[tokio::test]
async fn fetch_and_delete_errors() {
    let f = fixture();
    let theirs = foreign(&f.peer);
    let fetch = |id: &str| {
        request(Method::POST, &format!("/api/files/{id}/fetch"))
            .body(Body::empty())
            .unwrap()
    };
    check_error(call(&f.app, fetch("unknown")).await, StatusCode::NOT_FOUND);
    let (status, body) = call(&f.app, fetch(&theirs.file_id)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let transfer: TransferDto = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (transfer.kind, transfer.file_id.as_str()),
        (TransferKind::Get, theirs.file_id.as_str())
    );

    let delete = |id: &str| {
        request(Method::DELETE, &format!("/api/files/{id}"))
            .body(Body::empty())
            .unwrap()
    };
    check_error(call(&f.app, delete("unknown")).await, StatusCode::NOT_FOUND);
    let error = check_error(
        call(&f.app, delete(&theirs.file_id)).await,
        StatusCode::FORBIDDEN,
    );
    assert!(error.contains("them"), "{error}");
    assert!(f.peer.file(&theirs.file_id).is_some());
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let f = fixture();
    let rebound = Request::builder()
        .uri("/api/files")
        .header("host", "attacker.example:8000")
        .body(Body::empty())
        .unwrap();
    check_error(call(&f.app, rebound).await, StatusCode::FORBIDDEN);
    let cross_site = multipart("file", "a.txt", b"a");
    let (mut parts, body) = cross_site.into_parts();
    parts
        .headers
        .insert("origin", "http://attacker.example".parse().unwrap());
    check_error(
        call(&f.app, Request::from_parts(parts, body)).await,
        StatusCode::FORBIDDEN,
    );
    assert!(f.peer.files().is_empty());
    // The advertised host name is ours.
    let own = Request::builder()
        .uri("/api/status")
        .header("host", "peer.example.org:8000")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.app, own).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_token_guards_the_api_but_not_the_page() {
    let f = fixture_with(Some("s3cret"), 1 << 20);
    check_error(get(&f.app, "/api/status").await, StatusCode::UNAUTHORIZED);
    let wrong = request(Method::GET, "/api/status")
        .header("authorization", "Bearer nope")
        .body(Body::empty())
        .unwrap();
    check_error(call(&f.app, wrong).await, StatusCode::UNAUTHORIZED);
    let bearer = request(Method::GET, "/api/status")
        .header("authorization", "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.app, bearer).await.0, StatusCode::OK);
    assert_eq!(
        get(&f.app, "/api/status?token=s3cret").await.0,
        StatusCode::OK
    );
    let (status, page) = get(&f.app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8_lossy(&page).contains("<html"),
        "the embedded dashboard"
    );
}

#[tokio::test]
async fn an_upload_name_over_the_cap_is_a_bad_request() {
    let f = fixture();
    let long = "n".repeat(Caps::default().max_name + 1);
    let error = check_error(
        call(&f.app, multipart("file", &long, b"x")).await,
        StatusCode::BAD_REQUEST,
    );
    assert!(error.contains("longer than"), "{error}");
    assert!(f.peer.files().is_empty());
}

async fn headers_of(app: &Router, request: Request<Body>) -> axum::http::HeaderMap {
    app.clone()
        .oneshot(request)
        .await
        .unwrap()
        .headers()
        .clone()
}

#[tokio::test]
async fn compression_is_negotiated() {
    let f = fixture();
    foreign(&f.peer);
    for (accept, expected) in [
        ("br", Some("br")),
        ("gzip", Some("gzip")),
        ("identity", None),
    ] {
        for uri in ["/api/files", "/"] {
            let asked = request(Method::GET, uri)
                .header("accept-encoding", accept)
                .body(Body::empty())
                .unwrap();
            let headers = headers_of(&f.app, asked).await;
            let encoding = headers.get("content-encoding").map(|v| v.to_str().unwrap());
            assert_eq!(encoding, expected, "{uri} with {accept}");
        }
    }
    let (_, body) = get(&f.app, "/api/files").await;
    assert!(
        serde_json::from_slice::<Vec<FileDto>>(&body).is_ok(),
        "plain when not asked"
    );
}

#[tokio::test]
async fn the_app_is_served_in_its_precompressed_forms() {
    let f = fixture();
    let (_, page) = get(&f.app, "/").await;
    let page = String::from_utf8(page).unwrap();
    let wasm = page
        .split(['"', '\''])
        .find(|s| s.ends_with("_bg.wasm"))
        .expect("the page names its wasm")
        .trim_start_matches('/');
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    for (accept, encoding, suffix) in [
        ("gzip, deflate, br, zstd", Some("br"), ".br"),
        ("gzip, deflate", Some("gzip"), ".gz"),
        ("identity", None, ""),
    ] {
        let asked = request(Method::GET, &format!("/{wasm}"))
            .header("accept-encoding", accept)
            .body(Body::empty())
            .unwrap();
        let response = f.app.clone().oneshot(asked).await.unwrap();
        let served = response
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap());
        assert_eq!(served, encoding, "{accept}");
        assert_eq!(response.headers()["vary"], "accept-encoding");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let file = std::fs::read(dist.join(format!("{wasm}{suffix}"))).unwrap();
        assert!(body == file, "{accept}: the body is dist/{wasm}{suffix}");
    }
}

#[tokio::test]
async fn security_headers_are_on_the_page() {
    let f = fixture();
    let headers = headers_of(
        &f.app,
        request(Method::GET, "/").body(Body::empty()).unwrap(),
    )
    .await;
    let csp = headers["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'self'",
        "'wasm-unsafe-eval'",
        "'sha256-",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_a_413_naming_it() {
    let f = fixture_with(None, 16);
    // Streamed past the limit, within the framing allowance.
    let error = check_error(
        call(&f.app, multipart("file", "big.bin", &[7; 17])).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    assert!(error.contains("limit of 16 bytes"), "{error}");
    // Refused by its Content-Length before a byte is read.
    let huge = multipart("file", "huge.bin", &vec![7; 70 * 1024]);
    let error = check_error(call(&f.app, huge).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error.contains("limit of 16 bytes"), "{error}");
}

#[tokio::test]
async fn downloads_carry_the_exact_name_in_filename_star() {
    let f = fixture();
    let file = uploaded(&f.app, multipart("file", "résumé 1.txt", b"cv")).await;
    let uri = format!("/api/files/{}/content", file.file_id);
    let headers = headers_of(
        &f.app,
        request(Method::GET, &uri).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"r_sum_ 1.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt"
    );
}

#[tokio::test]
async fn metrics_expose_the_counters() {
    let f = fixture();
    foreign(&f.peer);
    f.peer.traffic().received("GOSSIP");
    f.peer.traffic().sent("ANNOUNCE");
    f.peer.traffic().content_sent(42);
    f.peer
        .refusals()
        .refuse(crate::refusal::Reason::BadCopy, "test");
    let response = f
        .app
        .clone()
        .oneshot(
            request(Method::GET, "/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    for line in [
        "peer_messages_received_total{type=\"GOSSIP\"} 1",
        "peer_messages_received_total{type=\"DELETE\"} 0",
        "peer_messages_sent_total{type=\"ANNOUNCE\"} 1",
        "peer_bytes_received_total 0",
        "peer_bytes_sent_total 42",
        "peer_transfers_total{direction=\"in\",outcome=\"ok\"} 0",
        "peer_rejected_total{reason=\"bad_copy\"} 1",
        "peer_rejected_total{reason=\"decode\"} 0",
        "peer_tracked_peers 0",
        "peer_known_files 1",
        "peer_held_files 0",
        "peer_index_saves_total{outcome=\"failed\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    let free = text
        .lines()
        .find_map(|l| l.strip_prefix("peer_storage_free_bytes "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        free.is_some_and(|n| n > 0),
        "peer_storage_free_bytes in\n{text}"
    );
    for step in ["hash", "write", "sync"] {
        let name = format!("peer_store_seconds_total{{step=\"{step}\"}} ");
        assert!(
            text.lines().any(|l| l.starts_with(&name)),
            "{name} in\n{text}"
        );
    }
}

#[tokio::test]
async fn metrics_follow_the_token_and_host_rules() {
    let f = fixture_with(Some("s3cret"), 1 << 20);
    check_error(get(&f.app, "/metrics").await, StatusCode::UNAUTHORIZED);
    let bearer = request(Method::GET, "/metrics")
        .header("authorization", "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.app, bearer).await.0, StatusCode::OK);
    let rebound = Request::builder()
        .uri("/metrics?token=s3cret")
        .header("host", "attacker.example:8000")
        .body(Body::empty())
        .unwrap();
    check_error(call(&f.app, rebound).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn health_answers_while_the_peer_is_up() {
    let f = fixture_with(Some("a/b=="), 1 << 20);
    check_error(get(&f.app, "/api/health").await, StatusCode::UNAUTHORIZED);
    // The query token is percent-decoded, as `encodeURIComponent` writes it.
    let (status, body) = get(&f.app, "/api/health?token=a%2Fb%3D%3D").await;
    assert_eq!(status, StatusCode::OK);
    let health: shared::HealthDto = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (health.status.as_str(), health.peer_id.as_str()),
        ("ok", "me")
    );
}

#[tokio::test]
async fn the_openapi_document_and_the_router_agree() {
    let f = fixture();
    let (status, body) = get(&f.app, "/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in &methods {
            if item.get(method.as_str().to_lowercase()).is_some() {
                documented.insert((path.clone(), method.to_string()));
            }
        }
    }
    let mut routed = std::collections::BTreeSet::new();
    for (path, _) in routes(1 << 20) {
        for method in &methods {
            let uri = path.replace("{file_id}", "unknown");
            let probe = request(method.clone(), &uri).body(Body::empty()).unwrap();
            if call(&f.app, probe).await.0 != StatusCode::METHOD_NOT_ALLOWED {
                routed.insert((path.to_string(), method.to_string()));
            }
        }
    }
    assert_eq!(documented, routed);
}

#[tokio::test]
async fn errors_axum_answers_itself_have_the_json_body_too() {
    let f = fixture();
    let wrong_method = request(Method::PUT, "/api/files")
        .body(Body::empty())
        .unwrap();
    check_error(
        call(&f.app, wrong_method).await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
    let not_upgraded = check_error(get(&f.app, "/api/events").await, StatusCode::BAD_REQUEST);
    assert!(!not_upgraded.is_empty());
}

#[tokio::test]
async fn an_error_is_readable_json_when_the_client_takes_compression() {
    let f = fixture();
    for (method, uri) in [
        (Method::DELETE, "/api/files/%FF"),
        (Method::POST, "/api/files/%FF/fetch"),
    ] {
        let bad_path = request(method, uri)
            .header("accept-encoding", "gzip, deflate, br, zstd")
            .body(Body::empty())
            .unwrap();
        let response = f.app.clone().oneshot(bad_path).await.unwrap();
        assert_eq!(response.headers().get("content-encoding"), None, "{uri}");
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let error = check_error((status, body.to_vec()), StatusCode::BAD_REQUEST);
        assert!(error.contains("UTF-8"), "{uri}: {error}");
    }
}

/// `body` as a multipart upload with the boundary `XBOUNDARYX`.
fn raw_upload(body: Body) -> Request<Body> {
    request(Method::POST, "/api/files")
        .header("content-type", "multipart/form-data; boundary=XBOUNDARYX")
        .body(body)
        .unwrap()
}

/// A body of `chunks`, each handed out only after its reader waited once, as a socket's
/// would be (multer reads whatever is ready at once); `pulled` counts those taken.
fn trickled(chunks: Vec<Vec<u8>>, pulled: Arc<std::sync::atomic::AtomicUsize>) -> Body {
    use futures_util::StreamExt;
    let stream = futures_util::stream::iter(chunks).then(move |chunk| {
        let pulled = pulled.clone();
        async move {
            tokio::task::yield_now().await;
            pulled.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>(chunk)
        }
    });
    Body::from_stream(stream)
}

/// An upload of a `name` field holding `name`, then a file of 8 chunks of 1 KiB, in chunks.
fn named_upload_chunks(name: &[u8]) -> Vec<Vec<u8>> {
    let mut chunks = vec![
        [
            &b"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n"[..],
            name,
            b"\r\n",
        ]
        .concat(),
        b"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n"
            .to_vec(),
    ];
    chunks.extend((0..8).map(|_| vec![b'x'; 1024]));
    chunks.push(b"\r\n--XBOUNDARYX--\r\n".to_vec());
    chunks
}

#[tokio::test]
async fn a_refused_name_field_is_answered_once_the_body_is_read() {
    let f = fixture();
    for (name, why) in [
        (vec![b'n'; 20 << 10], "longer than"),
        (b"caf\xe9.txt".to_vec(), "not UTF-8"),
    ] {
        let chunks = named_upload_chunks(&name);
        let total = chunks.len();
        let pulled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let upload = raw_upload(trickled(chunks, pulled.clone()));
        let error = check_error(call(&f.app, upload).await, StatusCode::BAD_REQUEST);
        assert!(error.contains(why), "{error}");
        let pulled = pulled.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(pulled, total, "{why}: the whole body was read");
    }
    assert!(f.peer.files().is_empty());
}

#[tokio::test]
async fn a_file_name_that_is_not_utf8_is_told_as_such() {
    let f = fixture();
    let body = [
        &b"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"caf\xe9.txt\"\r\n\r\n"[..],
        b"x\r\n--XBOUNDARYX--\r\n",
    ]
    .concat();
    let error = check_error(
        call(&f.app, raw_upload(Body::from(body))).await,
        StatusCode::BAD_REQUEST,
    );
    assert!(error.contains("name is not UTF-8"), "{error}");
    assert!(f.peer.files().is_empty());
}

#[tokio::test]
async fn a_part_header_that_never_ends_is_refused_without_reading_it_all() {
    let f = fixture_with(None, 64 << 20);
    let mut chunks =
        vec![b"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"junk\"\r\nX-Long: ".to_vec()];
    chunks.extend((0..256).map(|_| vec![b'h'; 16 << 10]));
    let pulled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let upload = raw_upload(trickled(chunks, pulled.clone()));
    let error = check_error(call(&f.app, upload).await, StatusCode::BAD_REQUEST);
    assert!(error.contains("headers are longer than 16 KiB"), "{error}");
    let pulled = pulled.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        pulled <= 3,
        "reading stopped at the limit, not after {pulled} chunks"
    );
}

#[tokio::test]
async fn a_long_preamble_is_refused_without_reading_it_all() {
    let f = fixture_with(None, 64 << 20);
    let chunks = (0..256).map(|_| vec![b'p'; 16 << 10]).collect();
    let pulled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let upload = raw_upload(trickled(chunks, pulled.clone()));
    let error = check_error(call(&f.app, upload).await, StatusCode::BAD_REQUEST);
    assert!(error.contains("before the upload's first part"), "{error}");
    let pulled = pulled.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        pulled <= 3,
        "reading stopped at the limit, not after {pulled} chunks"
    );
}

#[tokio::test]
async fn an_upload_that_stalls_is_ended_with_a_408_and_leaves_no_temp_file() {
    let f = fixture();
    let app = f.app.clone().layer(Extension(HttpLimits {
        write_stall: std::time::Duration::from_millis(200),
        ..HttpLimits::default()
    }));
    let start = futures_util::stream::iter([Ok::<_, std::io::Error>(
        b"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nsome content"
            .to_vec(),
    )]);
    // Then silence, for good.
    let body = Body::from_stream(futures_util::StreamExt::chain(
        start,
        futures_util::stream::pending(),
    ));
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        call(&app, raw_upload(body)),
    );
    let answer = answered.await.expect("the stalled upload is answered");
    let error = check_error(answer, StatusCode::REQUEST_TIMEOUT);
    assert!(error.contains("nothing arrived for 200ms"), "{error}");
    assert!(f.peer.files().is_empty());
    assert_eq!(
        std::fs::read_dir(f.peer.store().dir()).unwrap().count(),
        0,
        "no temp file left"
    );
}
