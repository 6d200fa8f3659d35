//! The peer's HTTP and WebSocket API as the dashboard uses it.
//!
//! The only module that knows URLs or talks to the network (fetch, XMLHttpRequest, WebSocket).
//! It hands out `shared` DTOs and plain error strings; it never touches a signal or the DOM.
//!
//! Every request carries the page's `?token=` as a bearer token when there is one; the
//! WebSocket and the download links carry it in their query, since they cannot send headers.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

use leptos::prelude::set_timeout;
use shared::{ErrorBody, FileDto, ServerEvent, TransferDto};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CloseEvent, File, FormData, Headers, MessageEvent, ProgressEvent, Request, RequestInit,
    Response, UrlSearchParams, WebSocket, XmlHttpRequest,
};

/// How long to wait before opening the event socket again after it closed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

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
    let body = send("POST", &format!("{}/fetch", file_path(file_id))).await?;
    serde_json::from_str(&body).map_err(|e| format!("unexpected reply: {e}"))
}

/// Deletes a file we own: `DELETE /api/files/{id}`.
pub async fn delete_file(file_id: &str) -> Result<(), String> {
    send("DELETE", &file_path(file_id)).await.map(drop)
}

/// Sends a bodiless request and returns the reply's text, or the error the peer gave.
async fn send(method: &str, url: &str) -> Result<String, String> {
    let init = RequestInit::new();
    init.set_method(method);
    let headers = Headers::new().map_err(js_error)?;
    if let Some(t) = token() {
        headers
            .append("Authorization", &format!("Bearer {t}"))
            .map_err(js_error)?;
    }
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(url, &init).map_err(js_error)?;
    let window = web_sys::window().ok_or("no window")?;
    let reply = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| "the peer is unreachable".to_string())?;
    let reply: Response = reply.dyn_into().map_err(js_error)?;
    let text = match reply.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|t| t.as_string()),
        Err(_) => None,
    }
    .unwrap_or_default();
    if reply.ok() {
        Ok(text)
    } else {
        Err(error_message(reply.status(), &text))
    }
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

/// Uploads (pushes) a file: multipart `POST /api/files` with field `file`.
///
/// Uses XMLHttpRequest because fetch reports no upload progress. `on_progress(sent, total)`
/// runs as bytes leave; `on_done` runs once with the new file or the reason it failed.
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
}

/// Opens `GET /api/events` and keeps it open for the life of the page.
///
/// Each text message is parsed as a `ServerEvent` and given to `on_event` (a message that does
/// not parse is reported to `on_bad` and skipped). When the socket closes, for example because
/// the peer restarted, it is opened again after [`RECONNECT_DELAY`]; the peer then starts with
/// a snapshot, which replaces the whole client state.
pub fn open_events(
    on_event: impl Fn(ServerEvent) + 'static,
    on_bad: impl Fn(String) + 'static,
    on_link: impl Fn(Link) + 'static,
) {
    let stream = Rc::new(EventStream {
        live: RefCell::new(None),
        started: Cell::new(false),
        on_event: Box::new(on_event),
        on_bad: Box::new(on_bad),
        on_link: Box::new(on_link),
    });
    connect(&stream);
    // The stream lives as long as the page: nothing ever closes it for good.
    std::mem::forget(stream);
}

struct EventStream {
    live: RefCell<Option<LiveSocket>>,
    /// Whether a first attempt was made, so later ones show as reconnecting.
    started: Cell<bool>,
    on_event: Box<dyn Fn(ServerEvent)>,
    on_bad: Box<dyn Fn(String)>,
    on_link: Box<dyn Fn(Link)>,
}

/// One open attempt: the socket and the closures its handlers point at.
struct LiveSocket {
    socket: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for LiveSocket {
    fn drop(&mut self) {
        // Detach the handlers first: JS must never call a closure that has been freed.
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
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

fn connect(stream: &Rc<EventStream>) {
    // Dropping the previous attempt here, never inside its own handlers, keeps a closure from
    // being freed while it runs.
    stream.live.borrow_mut().take();
    let link = if stream.started.replace(true) {
        Link::Reconnecting
    } else {
        Link::Connecting
    };
    (stream.on_link)(link);
    let Some(socket) = events_url().and_then(|url| WebSocket::new(&url).ok()) else {
        retry_later(Rc::downgrade(stream));
        return;
    };

    let weak = Rc::downgrade(stream);
    let on_open = Closure::<dyn FnMut()>::new(move || {
        if let Some(stream) = weak.upgrade() {
            (stream.on_link)(Link::Connected);
        }
    });
    let weak = Rc::downgrade(stream);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let (Some(stream), Some(text)) = (weak.upgrade(), e.data().as_string()) else {
            return;
        };
        match serde_json::from_str::<ServerEvent>(&text) {
            Ok(event) => (stream.on_event)(event),
            Err(err) => (stream.on_bad)(format!("unreadable event from the peer: {err}")),
        }
    });
    let weak = Rc::downgrade(stream);
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
        if let Some(stream) = weak.upgrade() {
            (stream.on_link)(Link::Reconnecting);
        }
        retry_later(weak.clone());
    });
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    *stream.live.borrow_mut() = Some(LiveSocket {
        socket,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
    });
}

fn retry_later(stream: Weak<EventStream>) {
    set_timeout(
        move || {
            if let Some(stream) = stream.upgrade() {
                connect(&stream);
            }
        },
        RECONNECT_DELAY,
    );
}
