//! The peer's HTTP and WebSocket API as the dashboard uses it: one small typed call per route.
//!
//! The only module that knows URLs or talks to the network (gloo-net for JSON and the event
//! WebSocket; XMLHttpRequest for uploads only). It hands out `shared` DTOs and plain error
//! strings; it never touches a signal or the DOM.
//!
//! Every request carries the page's `?token=` as a bearer token when there is one; the
//! WebSocket and the download links carry it in their query, since they cannot send headers.

use std::time::Duration;

use futures::StreamExt;
use gloo_net::http::{Request, RequestBuilder, Response};
use gloo_net::websocket::{futures::WebSocket, Message, State};
use serde::de::DeserializeOwned;
use shared::{ErrorBody, FileDto, ServerEvent, TransferDto};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{File, FormData, ProgressEvent, UrlSearchParams, XmlHttpRequest};

/// How long to wait before opening the event socket again after it closed. Each try that
/// fails doubles the wait, up to [`RECONNECT_MAX`]; a socket that opens starts over from here.
const RECONNECT_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between tries: how late, at worst, a peer that comes back is noticed.
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// The wait after `delay`, when that try failed too. Without the backoff a stopped peer costs
/// the browser a refused socket and a refused request (each logged to the console) every
/// second, for as long as the page stays open.
fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(RECONNECT_MAX)
}

thread_local! {
    /// The page's `?token=`, read once: the URL does not change while the app runs.
    static TOKEN: Option<String> = read_token();
}

fn read_token() -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let token = UrlSearchParams::new_with_str(&search).ok()?.get("token")?;
    (!token.is_empty()).then_some(token)
}

fn token() -> Option<String> {
    TOKEN.with(Clone::clone)
}

/// `?token=...` (URL-encoded) when the page has a token, else nothing.
fn token_query() -> String {
    match token() {
        Some(t) => format!("?token={}", encode(&t)),
        None => String::new(),
    }
}

fn encode(part: &str) -> String {
    String::from(js_sys::encode_uri_component(part))
}

fn file_path(file_id: &str) -> String {
    format!("/api/files/{}", encode(file_id))
}

/// The link that downloads a file we hold (`Save`).
pub fn content_url(file_id: &str) -> String {
    format!("{}/content{}", file_path(file_id), token_query())
}

/// Asks the peer to fetch a file from the network: `POST /api/files/{id}/fetch`.
pub async fn fetch_file(file_id: &str) -> Result<TransferDto, String> {
    json(send(Request::post(&format!("{}/fetch", file_path(file_id)))).await?).await
}

/// Deletes a file we own: `DELETE /api/files/{id}`.
pub async fn delete_file(file_id: &str) -> Result<(), String> {
    send(Request::delete(&file_path(file_id))).await.map(drop)
}

/// `request` with the page's token as a bearer token, if it has one.
fn with_token(request: RequestBuilder) -> RequestBuilder {
    match token() {
        Some(t) => request.header("Authorization", &format!("Bearer {t}")),
        None => request,
    }
}

/// Sends a request with the bearer token; a reply that is not 2xx becomes the peer's error.
async fn send(request: RequestBuilder) -> Result<Response, String> {
    let reply = with_token(request)
        .send()
        .await
        .map_err(|_| "the peer is unreachable".to_string())?;
    if reply.ok() {
        Ok(reply)
    } else {
        let body = reply.text().await.unwrap_or_default();
        Err(error_message(reply.status(), &body))
    }
}

async fn json<T: DeserializeOwned>(reply: Response) -> Result<T, String> {
    reply
        .json()
        .await
        .map_err(|e| format!("unexpected reply: {e}"))
}

/// The `error` of an `ErrorBody`, or the bare status when the body is something else.
fn error_message(status: u16, body: &str) -> String {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) => format!("HTTP {status}"),
    }
}

fn js_error(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Uploads (pushes) a file: multipart `POST /api/files` with a text field `name`, then the
/// field `file`.
///
/// The one request that does not go through gloo-net: fetch cannot report how much of a
/// request body has been sent, and XMLHttpRequest's `upload.onprogress` can.
/// `on_progress(sent, total)` runs as bytes leave; `on_done` runs once with the new file or the
/// reason it failed.
pub fn upload(
    file: &File,
    on_progress: impl Fn(f64, f64) + 'static,
    on_done: impl FnOnce(Result<FileDto, String>) + 'static,
) -> Result<(), String> {
    let xhr = XmlHttpRequest::new().map_err(js_error)?;
    xhr.open_with_async("POST", "/api/files", true)
        .map_err(js_error)?;
    if let Some(t) = token() {
        xhr.set_request_header("Authorization", &format!("Bearer {t}"))
            .map_err(js_error)?;
    }
    let form = FormData::new().map_err(js_error)?;
    // The name goes first and as text: the peer reads it before the content, and a browser
    // escapes `"`, CR and LF in a multipart filename (as `%22`, `%0D`, `%0A`).
    form.append_with_str("name", &file.name())
        .map_err(js_error)?;
    form.append_with_blob_and_filename("file", file, &file.name())
        .map_err(js_error)?;

    let upload = xhr.upload().map_err(js_error)?;
    let progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
        if e.length_computable() {
            on_progress(e.loaded(), e.total());
        }
    });
    upload.set_onprogress(Some(progress.as_ref().unchecked_ref()));

    // `loadend` fires exactly once, after success, error or abort; it frees the progress
    // closure, and `once_into_js` frees itself.
    let done_xhr = xhr.clone();
    let on_end = Closure::once_into_js(move || {
        upload.set_onprogress(None);
        drop(progress);
        let status = done_xhr.status().unwrap_or(0);
        let body = done_xhr.response_text().ok().flatten().unwrap_or_default();
        let result = match status {
            0 => Err("the peer is unreachable".to_string()),
            200..=299 => serde_json::from_str(&body).map_err(|e| format!("unexpected reply: {e}")),
            _ => Err(error_message(status, &body)),
        };
        on_done(result);
    });
    xhr.set_onloadend(Some(on_end.unchecked_ref()));
    xhr.send_with_opt_form_data(Some(&form)).map_err(js_error)
}

/// The state of the event socket, for the connection indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Opening the socket for the first time.
    Connecting,
    /// Open: events are flowing.
    Connected,
    /// Closed or never opened; another try is scheduled.
    Reconnecting,
    /// The peer turns the page's API token away (401): no retry can mend that, the page must
    /// be opened with the right `?token=`. Tries go on, in case the peer restarts without one.
    TokenRefused,
}

/// Opens `GET /api/events` and keeps it open for the life of the page.
///
/// Each text message is parsed as a `ServerEvent` and given to `on_event` (a message that does
/// not parse is reported to `on_bad` and skipped). When the socket closes, for example because
/// the peer restarted, it is opened again after [`RECONNECT_FIRST`], then after ever longer
/// waits (see [`next_delay`]) while tries fail; the peer then starts with a snapshot, which
/// replaces the whole client state.
pub fn open_events(
    on_event: impl Fn(ServerEvent) + 'static,
    on_bad: impl Fn(String) + 'static,
    on_link: impl Fn(Link) + 'static,
) {
    wasm_bindgen_futures::spawn_local(async move {
        on_link(Link::Connecting);
        let mut delay = RECONNECT_FIRST;
        loop {
            if let Some(mut socket) = events_url().and_then(|url| WebSocket::open(&url).ok()) {
                if opened(&mut socket).await {
                    on_link(Link::Connected);
                    delay = RECONNECT_FIRST;
                }
                while let Some(Ok(message)) = socket.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    match crate::event::parse(&text) {
                        Ok(event) => on_event(event),
                        Err(err) => on_bad(format!("unreadable event from the peer: {err}")),
                    }
                }
            }
            on_link(match token_refused().await {
                true => Link::TokenRefused,
                false => Link::Reconnecting,
            });
            sleep(delay).await;
            delay = next_delay(delay);
        }
    });
}

/// Whether the peer answers the page's token with 401 (a browser cannot tell why a WebSocket
/// failed to open, so a plain request asks).
async fn token_refused() -> bool {
    let reply = with_token(Request::get("/api/health")).send().await;
    matches!(reply, Ok(reply) if reply.status() == 401)
}

/// Waits until the socket has left the connecting state; true when it is open.
async fn opened(socket: &mut WebSocket) -> bool {
    // gloo-net's sink is ready exactly when the socket is no longer connecting.
    let _ = std::future::poll_fn(|cx| {
        futures::Sink::<Message>::poll_ready(std::pin::Pin::new(&mut *socket), cx)
    })
    .await;
    matches!(socket.state(), State::Open)
}

fn events_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!(
        "{scheme}://{}/api/events{}",
        location.host().ok()?,
        token_query()
    ))
}

/// Resolves after `delay`, on the browser's timer.
async fn sleep(delay: Duration) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                delay.as_millis() as i32,
            );
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_waits_double_up_to_the_cap() {
        let waits: Vec<u64> =
            std::iter::successors(Some(RECONNECT_FIRST), |&d| Some(next_delay(d)))
                .take(8)
                .map(|d| d.as_secs())
                .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
