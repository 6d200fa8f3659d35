//! The six wire messages and the liberal parsing of their fields.
//!
//! Foreign values (`file_size`, `file_timestamp`) are kept as the exact JSON text that arrived,
//! so that they go back out verbatim and the content hash can be checked against the
//! timestamp's text as the sender wrote it.

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::fmt;

/// A JSON value kept exactly as it was received (or written by us), never re-formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct Verbatim(Box<str>);

impl Verbatim {
    /// Wraps JSON text that is already known to be one valid JSON value.
    fn from_raw(raw: &RawValue) -> Self {
        Verbatim(raw.get().into())
    }

    /// An integer, written as JSON.
    pub fn integer(n: u64) -> Self {
        Verbatim(n.to_string().into())
    }

    /// A float as the canonical peers write it (Python's `repr`, which is the shortest
    /// representation that round-trips; integral values keep a `.0`).
    pub fn float(x: f64) -> Self {
        Verbatim(python_float_repr(x).into())
    }

    /// Parses JSON text (for example from `metadata.json`); `None` when it is not one value.
    pub fn parse(json: &str) -> Option<Self> {
        let raw: Box<RawValue> = serde_json::from_str(json).ok()?;
        Some(Self::from_raw(&raw))
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// The text that the sender's `str()` gave: a string's value, or a number's token.
    /// This is what follows the content in the `file_id` hash.
    pub fn hash_text(&self) -> String {
        match serde_json::from_str::<String>(&self.0) {
            Ok(s) => s,
            Err(_) => self.0.to_string(),
        }
    }

    /// The value as a number, when it is a number or a numeric string.
    pub fn as_f64(&self) -> Option<f64> {
        let text = self.hash_text();
        text.trim().parse::<f64>().ok().filter(|x| x.is_finite())
    }
}

impl Serialize for Verbatim {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Verbatim {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self::from_raw(&raw))
    }
}

impl fmt::Debug for Verbatim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, ties rounded to even, written
/// positionally for exponents -4..16 and as `1.5e-05` otherwise.
fn python_float_repr(x: f64) -> String {
    if !x.is_finite() {
        return "0.0".into();
    }
    // Rust's shortest form has the right number of digits, but on an exact tie it may round
    // up where Python rounds to even; re-format with that many digits, exactly.
    let shortest = format!("{:e}", x.abs());
    let digit_count = shortest
        .split('e')
        .next()
        .unwrap_or("")
        .replace('.', "")
        .len();
    let exact = format!("{:.*e}", digit_count.saturating_sub(1), x.abs());
    let (mantissa, exponent) = exact.split_once('e').unwrap_or((&exact, "0"));
    let digits = mantissa.replace('.', "");
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if x.is_sign_negative() && x != 0.0 {
        "-"
    } else {
        ""
    };
    let n = digits.len() as i32;
    let body = if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            let int_len = (exponent + 1) as usize;
            if n <= exponent + 1 {
                format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exponent - 1) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{fraction}e{exp_sign}{:02}", exponent.abs())
    };
    format!("{sign}{body}")
}

/// The five fields that describe a file on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// The id: sha256 of the content followed by the timestamp text.
    pub file_id: String,
    /// The name as sent (untrusted: never a path).
    pub file_name: String,
    /// The size as sent (display only).
    pub file_size: Verbatim,
    /// The owner as sent (free text).
    pub file_owner: String,
    /// The timestamp as sent.
    pub file_timestamp: Verbatim,
}

/// `GOSSIP`: a peer announcing itself; forwarded as the original bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gossip {
    /// Where the sender wants its `GOSSIP_REPLY`.
    pub host: String,
    /// Port of `host`.
    pub port: u16,
    /// The gossip's unique id, for de-duplication.
    pub id: String,
    /// The originating peer.
    pub peer_id: String,
    /// The message exactly as received, to forward unchanged.
    pub raw: String,
}

/// `GOSSIP_REPLY`: a peer and the files it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipReply {
    /// The replying peer's host.
    pub host: String,
    /// The replying peer's port.
    pub port: u16,
    /// The replying peer.
    pub peer_id: String,
    /// Files it says it holds; unusable entries are already skipped.
    pub files: Vec<FileMeta>,
}

/// `ANNOUNCE`: `from` now holds the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The holder.
    pub from: String,
    /// The file.
    pub meta: FileMeta,
}

/// `DELETE`: the owner asks everyone to drop a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    /// Who claims to be the owner.
    pub from: String,
    /// The file.
    pub file_id: String,
}

/// A decoded message. `FILE_DATA`'s content is not here: the codec streams it separately.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// `GOSSIP`.
    Gossip(Gossip),
    /// `GOSSIP_REPLY`.
    GossipReply(GossipReply),
    /// `GET_FILE`.
    GetFile {
        /// The requested id; empty when the request named none that is usable (missing, null,
        /// a number): it is answered as an id we do not hold, since a Python asker would fail
        /// on a connection closed without a reply.
        file_id: String,
    },
    /// `FILE_DATA`: `None` is the "not found" reply (null fields, `"null"` or no data).
    FileData(Option<FileMeta>),
    /// `ANNOUNCE`.
    Announce(Announce),
    /// `DELETE`.
    Delete(Delete),
}

impl Message {
    /// The wire name of the message type.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Gossip(_) => "GOSSIP",
            Message::GossipReply(_) => "GOSSIP_REPLY",
            Message::GetFile { .. } => "GET_FILE",
            Message::FileData(_) => "FILE_DATA",
            Message::Announce(_) => "ANNOUNCE",
            Message::Delete(_) => "DELETE",
        }
    }
}

/// Why an object is not a message we act on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    Json(String),
    /// No `type`, or one we do not know.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A required field is missing or unusable.
    #[error("{kind}: missing or invalid field `{field}`")]
    Field {
        /// The message type.
        kind: &'static str,
        /// The field.
        field: &'static str,
    },
}

/// Every field any message may carry, each as raw JSON so nothing is re-formatted.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Fields<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    host: Option<&'a RawValue>,
    #[serde(borrow)]
    port: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(rename = "peerId", borrow)]
    peer_id: Option<&'a RawValue>,
    #[serde(borrow)]
    files: Option<&'a RawValue>,
    #[serde(borrow)]
    from: Option<&'a RawValue>,
}

/// The five file fields, raw.
#[derive(Deserialize, Default)]
#[serde(default)]
struct MetaFields<'a> {
    #[serde(borrow)]
    file_id: Option<&'a RawValue>,
    #[serde(borrow)]
    file_name: Option<&'a RawValue>,
    #[serde(borrow)]
    file_size: Option<&'a RawValue>,
    #[serde(borrow)]
    file_owner: Option<&'a RawValue>,
    #[serde(borrow)]
    file_timestamp: Option<&'a RawValue>,
}

/// A string field; JSON `null` and non-strings are `None`.
fn string(raw: Option<&RawValue>) -> Option<String> {
    exact_string(raw).or_else(|| lossy_string(raw?.get()))
}

/// A string field that must come through exactly, as an id must: `None` also for one that
/// holds a lone surrogate (see [`lossy_string`]), where two different ids would read alike.
fn exact_string(raw: Option<&RawValue>) -> Option<String> {
    serde_json::from_str::<Option<String>>(raw?.get())
        .ok()
        .flatten()
}

/// The value of a JSON string token that serde_json refuses for an escaped lone surrogate
/// (`"caf\udce9.txt"`: Python writes one for each byte of a name that is not UTF-8), with
/// each lone surrogate read as U+FFFD. `None` for anything else that does not parse.
fn lossy_string(token: &str) -> Option<String> {
    let inner = token.strip_prefix('"')?.strip_suffix('"')?;
    let mut text = String::with_capacity(inner.len());
    // A run of `\uXXXX` escapes, decoded together: a surrogate pair spans two of them.
    let mut units: Vec<u16> = Vec::new();
    let flush = |units: &mut Vec<u16>, text: &mut String| {
        let decoded = char::decode_utf16(units.drain(..));
        text.extend(decoded.map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut units, &mut text);
            text.push(c);
            continue;
        }
        let escaped = match chars.next()? {
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                units.push(
                    u16::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == 4)?,
                );
                continue;
            }
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            _ => return None,
        };
        flush(&mut units, &mut text);
        text.push(escaped);
    }
    flush(&mut units, &mut text);
    Some(text)
}

/// Free text: a string's value, or any other non-null value's JSON text.
fn text(raw: Option<&RawValue>) -> Option<String> {
    let raw = raw?;
    match raw.get() {
        "null" => None,
        json => Some(string(Some(raw)).unwrap_or_else(|| json.to_string())),
    }
}

/// A port: an integer or a numeric string.
fn port(raw: Option<&RawValue>) -> Option<u16> {
    let raw = raw?;
    serde_json::from_str::<u16>(raw.get())
        .ok()
        .or_else(|| string(Some(raw))?.trim().parse().ok())
}

/// A usable file id: a non-empty string other than `"null"`.
fn file_id(raw: Option<&RawValue>) -> Option<String> {
    exact_string(raw).filter(|id| !id.is_empty() && id != "null")
}

impl MetaFields<'_> {
    /// The file's description, or the field that makes it unusable: no usable id, or a size
    /// or timestamp that is neither a number nor a string (peers keep and resend these
    /// verbatim, and real ones would fail on an object). Other missing fields get neutral
    /// values (empty name and owner, zero size and timestamp).
    fn into_meta(self) -> Result<FileMeta, &'static str> {
        let verbatim = |raw: Option<&RawValue>, field| match raw.map(|raw| (raw, raw.get())) {
            None | Some((_, "null")) => Ok(Verbatim::integer(0)),
            Some((_, "true" | "false")) => Err(field),
            Some((_, json)) if json.starts_with(['{', '[']) => Err(field),
            Some((raw, _)) => Ok(Verbatim::from_raw(raw)),
        };
        Ok(FileMeta {
            file_id: file_id(self.file_id).ok_or("file_id")?,
            file_name: text(self.file_name).unwrap_or_default(),
            file_size: verbatim(self.file_size, "file_size")?,
            file_owner: text(self.file_owner).unwrap_or_default(),
            file_timestamp: verbatim(self.file_timestamp, "file_timestamp")?,
        })
    }
}

/// The most `files` entries taken from one GOSSIP_REPLY; the entries after them are ignored.
///
/// A real network has tens to hundreds of files (22 captured on the class network, 100 in
/// gossip-bench), while 8 MiB of JSON can list half a million, each parsed and then merged
/// under the peer's lock. 1,000 is ten times the benchmark's, and a tenth of the default cap
/// on files known but not held (`--max-unheld-files`, 10,000), so that one reply cannot evict
/// more than a tenth of what the other peers told us. A longer list is cut rather than
/// refused: its sender is still tracked and its first 1,000 files merged (its other files
/// reach us by ANNOUNCE), where refusing it would drop a peer whose only fault is holding
/// many files.
pub const MAX_REPLY_FILES: usize = 1000;

/// Parses one complete JSON object. `data_streamed` says whether the codec took a hex `data`
/// string out of it (then `data` holds a placeholder).
pub fn parse_message(json: &[u8], data_streamed: bool) -> Result<Message, MessageError> {
    parse(json, data_streamed).map(|(message, _)| message)
}

/// [`parse_message`], and how many `files` entries of a GOSSIP_REPLY came after the first
/// [`MAX_REPLY_FILES`] usable ones and were ignored.
pub(super) fn parse(json: &[u8], data_streamed: bool) -> Result<(Message, usize), MessageError> {
    let json_error = |e: serde_json::Error| MessageError::Json(e.to_string());
    let fields: Fields = serde_json::from_slice(json).map_err(json_error)?;
    // The file fields are read in a second pass: `#[serde(flatten)]` cannot borrow raw values.
    let meta: MetaFields = serde_json::from_slice(json).map_err(json_error)?;
    let kind = string(fields.kind).unwrap_or_default();
    let missing = |kind, field| MessageError::Field { kind, field };
    let mut ignored = 0;
    let message = match kind.as_str() {
        "GOSSIP" => Ok(Message::Gossip(Gossip {
            host: string(fields.host).ok_or(missing("GOSSIP", "host"))?,
            port: port(fields.port).ok_or(missing("GOSSIP", "port"))?,
            id: text(fields.id).ok_or(missing("GOSSIP", "id"))?,
            peer_id: text(fields.peer_id).ok_or(missing("GOSSIP", "peerId"))?,
            raw: String::from_utf8_lossy(json).into_owned(),
        })),
        "GOSSIP_REPLY" => Ok(Message::GossipReply(GossipReply {
            host: string(fields.host).ok_or(missing("GOSSIP_REPLY", "host"))?,
            port: port(fields.port).ok_or(missing("GOSSIP_REPLY", "port"))?,
            peer_id: text(fields.peer_id).ok_or(missing("GOSSIP_REPLY", "peerId"))?,
            files: match fields.files.map(parse_files) {
                Some((files, past_the_cap)) => {
                    ignored = past_the_cap;
                    files
                }
                None => Vec::new(),
            },
        })),
        "GET_FILE" => Ok(Message::GetFile {
            file_id: file_id(meta.file_id).unwrap_or_default(),
        }),
        "FILE_DATA" => {
            // `data` null, missing, `"null"` or not hex: the "not found" reply.
            Ok(Message::FileData(
                meta.into_meta().ok().filter(|_| data_streamed),
            ))
        }
        "ANNOUNCE" => Ok(Message::Announce(Announce {
            from: text(fields.from).ok_or(missing("ANNOUNCE", "from"))?,
            meta: meta
                .into_meta()
                .map_err(|field| missing("ANNOUNCE", field))?,
        })),
        "DELETE" => Ok(Message::Delete(Delete {
            from: text(fields.from).ok_or(missing("DELETE", "from"))?,
            file_id: file_id(meta.file_id).ok_or(missing("DELETE", "file_id"))?,
        })),
        _ => Err(MessageError::UnknownType(kind)),
    };
    message.map(|message| (message, ignored))
}

/// The `files` of a `GOSSIP_REPLY`: its first [`MAX_REPLY_FILES`] usable entries, and how
/// many entries came after them (read past, never kept). Anything but a list is empty;
/// entries without a usable id are skipped, and do not count.
fn parse_files(raw: &RawValue) -> (Vec<FileMeta>, usize) {
    struct Entries;

    impl<'de> Visitor<'de> for Entries {
        type Value = (Vec<FileMeta>, usize);

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of files")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut files = Vec::new();
            while files.len() < MAX_REPLY_FILES {
                let Some(entry) = seq.next_element::<&RawValue>()? else {
                    return Ok((files, 0));
                };
                let fields = serde_json::from_str::<MetaFields>(entry.get()).ok();
                files.extend(fields.and_then(|fields| fields.into_meta().ok()));
            }
            let mut ignored = 0;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                ignored += 1;
            }
            Ok((files, ignored))
        }
    }

    let mut entries = serde_json::Deserializer::from_str(raw.get());
    entries.deserialize_seq(Entries).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_repr(x: f64, expected: &str) {
        assert_eq!(python_float_repr(x), expected, "{x}");
    }

    #[test]
    fn floats_are_written_like_python() {
        check_repr(0.17575454711914062, "0.17575454711914062");
        check_repr(123.0, "123.0");
        check_repr(2.8e-05, "2.8e-05");
        check_repr(1.239776611328125e-05, "1.239776611328125e-05");
        check_repr(0.0001, "0.0001");
        check_repr(1750034796.9022326, "1750034796.9022326");
        check_repr(1e16, "1e+16");
        check_repr(0.0, "0.0");
        check_repr(1483.0 / 1048576.0, "0.0014142990112304688");
        check_repr(-2.5, "-2.5");
        check_repr(1.5e300, "1.5e+300");
    }

    #[test]
    fn hash_text_is_the_token_or_the_string_value() {
        let check = |json: &str, text: &str| {
            assert_eq!(Verbatim::parse(json).unwrap().hash_text(), text);
        };
        check("1749713822", "1749713822");
        check("1750034796.9022326", "1750034796.9022326");
        check("\"Sun Jun 15 21:36:41 2025\"", "Sun Jun 15 21:36:41 2025");
        check("1744007783.0", "1744007783.0");
    }
}
