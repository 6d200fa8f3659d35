//! Writing messages. Conservative: compact JSON, non-ASCII escaped as `\uXXXX` like the Python
//! peers, foreign values written back verbatim, and no trailing newline.

use super::message::FileMeta;

/// A JSON string literal with every non-ASCII character escaped.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The five file fields, as `"file_name":…,"file_id":…` (no braces).
fn meta_fields(meta: &FileMeta) -> String {
    format!(
        "\"file_name\":{},\"file_size\":{},\"file_id\":{},\"file_owner\":{},\"file_timestamp\":{}",
        json_string(&meta.file_name),
        meta.file_size.json(),
        json_string(&meta.file_id),
        json_string(&meta.file_owner),
        meta.file_timestamp.json(),
    )
}

/// `GOSSIP`.
pub fn gossip(host: &str, port: u16, id: &str, peer_id: &str) -> String {
    format!(
        "{{\"type\":\"GOSSIP\",\"host\":{},\"port\":{port},\"id\":{},\"peerId\":{}}}",
        json_string(host),
        json_string(id),
        json_string(peer_id)
    )
}

/// `GOSSIP_REPLY` listing the files we hold.
pub fn gossip_reply<'a>(
    host: &str,
    port: u16,
    peer_id: &str,
    files: impl IntoIterator<Item = &'a FileMeta>,
) -> String {
    let files: Vec<String> = files
        .into_iter()
        .map(|meta| format!("{{{}}}", meta_fields(meta)))
        .collect();
    format!(
        "{{\"type\":\"GOSSIP_REPLY\",\"host\":{},\"port\":{port},\"peerId\":{},\"files\":[{}]}}",
        json_string(host),
        json_string(peer_id),
        files.join(",")
    )
}

/// `GET_FILE`.
pub fn get_file(file_id: &str) -> String {
    format!(
        "{{\"type\":\"GET_FILE\",\"file_id\":{}}}",
        json_string(file_id)
    )
}

/// The "not found" `FILE_DATA`: the same keys, all null.
pub fn file_data_not_found() -> String {
    "{\"type\":\"FILE_DATA\",\"file_name\":null,\"file_size\":null,\"file_id\":null,\
     \"file_owner\":null,\"file_timestamp\":null,\"data\":null}"
        .to_string()
}

/// Everything of a `FILE_DATA` before the hex content; follow it with [`hex_into`] chunks and
/// [`FILE_DATA_TAIL`].
pub fn file_data_head(meta: &FileMeta) -> String {
    format!("{{\"type\":\"FILE_DATA\",{},\"data\":\"", meta_fields(meta))
}

/// What closes a `FILE_DATA` after its content.
pub const FILE_DATA_TAIL: &str = "\"}";

/// Appends `bytes` as lowercase hex.
pub fn hex_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + 2 * bytes.len(), 0);
    faster_hex::hex_encode(bytes, &mut out[start..]).expect("the output has room for the hex");
}

/// Writes `bytes` as lowercase hex at the start of `out`; returns that part of `out`.
///
/// # Panics
///
/// If `out` is shorter than twice `bytes`.
pub fn hex_to<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a [u8] {
    let hex = &mut out[..2 * bytes.len()];
    faster_hex::hex_encode(bytes, hex).expect("the output has room for the hex");
    hex
}

/// `ANNOUNCE` that `from` holds the file.
pub fn announce(from: &str, meta: &FileMeta) -> String {
    format!(
        "{{\"type\":\"ANNOUNCE\",\"from\":{},{}}}",
        json_string(from),
        meta_fields(meta)
    )
}

/// `DELETE` from the owner.
pub fn delete(from: &str, file_id: &str) -> String {
    format!(
        "{{\"type\":\"DELETE\",\"from\":{},\"file_id\":{}}}",
        json_string(from),
        json_string(file_id)
    )
}
