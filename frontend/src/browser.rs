//! The few browser services the views need besides the network: the clock, local dates, the
//! confirm dialog and the clipboard.
//!
//! Never a URL or a request; those belong to `api`.

use wasm_bindgen::JsValue;

use crate::format;

/// Our clock in Unix milliseconds.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A Unix time in seconds as a local `YYYY-MM-DD HH:MM:SS`.
pub fn local_date_time(unix_secs: f64) -> String {
    // The offset of that very date, so a date across a daylight-saving change reads right.
    let date = js_sys::Date::new(&JsValue::from_f64(unix_secs * 1000.0));
    let offset_east = -(date.get_timezone_offset() as i64);
    format::date_time(unix_secs, offset_east)
}

/// Asks the user to confirm `message`; false when they decline or the dialog is unavailable.
pub fn confirm(message: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(message).ok())
        .unwrap_or(false)
}

/// Puts `text` on the clipboard. Returns false when the page may not write it (the Clipboard
/// API exists only on secure origins; a peer is often reached over plain http on the LAN), in
/// which case a prompt shows the text, selected, for the user to copy by hand.
pub fn copy_text(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let navigator = window.navigator();
    let has_clipboard = window.is_secure_context()
        && js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
            .is_ok_and(|c| !c.is_undefined() && !c.is_null());
    if has_clipboard {
        // The promise is dropped: a rejection (no permission) leaves nothing to undo.
        let _ = navigator.clipboard().write_text(text);
        true
    } else {
        let _ = window.prompt_with_message_and_default("Copy the id:", text);
        false
    }
}
