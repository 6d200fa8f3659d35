//! The streaming decoder: bytes in, one message out, `FILE_DATA`'s content as decoded chunks.
//!
//! A connection carries one JSON object with no framing, and a `FILE_DATA` carries a whole file
//! as one hex string, so the decoder scans the object incrementally. Everything but the `data`
//! string is copied into a small buffer (capped) and parsed once the object closes; the `data`
//! string is hex-decoded on the fly into the caller's chunk buffer, so memory does not grow with
//! the file. Runs of digits are decoded with SIMD (`faster-hex`); the decoder itself keeps only
//! what crosses reads: a digit whose pair has not arrived, and where the string closes.
//! Only a GOSSIP_REPLY may be large (it lists files): the decoder notes the `type` as it goes
//! by, and holds any other message to [`MAX_SMALL_MESSAGE`] from then on.
//! "Need more" is a normal answer. The decoder owns no socket and no clock.

use super::message::{parse, Message, MessageError};

/// Why the bytes are not one message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The first non-blank byte does not open an object.
    #[error("not a JSON object (starts with byte {0:#04x})")]
    NotAnObject(u8),
    /// A byte that JSON never has outside a string, such as a bare word's capital: the rest
    /// is not waited for.
    #[error("not JSON (byte {0:#04x} outside a string)")]
    NotJson(u8),
    /// The object without its `data` is larger than the cap for its type.
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    /// `data` is not an even-length hex string.
    #[error("invalid hex in `data`")]
    BadHex,
    /// The object is not a message we know.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// The cap on the buffered part of any message but a GOSSIP_REPLY, from when its `type` is
/// read (every real peer writes it first). The largest of them at the default field caps,
/// an ANNOUNCE with every field written in `\u` escapes, is about 9 KiB; 128 KiB leaves room
/// for fields that are merely too long to be refused as such (`field_too_long`), while a
/// connection that is not a GOSSIP_REPLY holds a sixty-fourth of what one may.
pub const MAX_SMALL_MESSAGE: usize = 128 << 10;

/// What the `type` says about the size the message may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Not read yet, or written with escapes that we do not decode here: the large cap.
    Unknown,
    /// A GOSSIP_REPLY: the large cap.
    Reply,
    /// Anything else: [`MAX_SMALL_MESSAGE`].
    Small,
}

/// Where the scanner is inside the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scan {
    /// Before the opening `{`.
    Start,
    /// Inside the object, outside any string.
    Structure,
    /// Inside a string (a key or a value other than streamed `data`).
    Str { escaped: bool },
    /// Inside the `data` string, decoding hex.
    Hex,
    /// The object closed.
    Done,
}

/// Incremental decoder of one message. Feed it bytes until it returns a message.
pub struct Decoder {
    scan: Scan,
    depth: u32,
    /// The object so far, minus the streamed `data` string.
    rest: Vec<u8>,
    max_rest: usize,
    /// The last string seen at depth 1, if short (keys we care about are short).
    last_key: Vec<u8>,
    /// The string being scanned is a depth-1 string (a key or a top-level value).
    key_candidate: bool,
    /// A `:` followed the key `"data"`; the next value may be streamed.
    data_value_next: bool,
    /// A `:` followed the first key `"type"`; the next value is the message type.
    type_value_next: bool,
    /// The `type` string so far, while it is scanned (its first bytes are enough).
    type_text: Option<Vec<u8>>,
    kind: Kind,
    /// GOSSIP_REPLY `files` entries past the cap, in the message returned.
    files_ignored: usize,
    /// A high nibble waiting for its pair.
    nibble: Option<u8>,
    /// Whether a `data` string was streamed out.
    streamed: bool,
    /// Decoded bytes so far.
    decoded: u64,
}

/// What `"data":` is replaced with in the buffered object once its string has been streamed.
const STREAMED_PLACEHOLDER: &[u8] = b"true";

impl Decoder {
    /// A decoder whose non-`data` part may not exceed `max_control` bytes (nor
    /// [`MAX_SMALL_MESSAGE`] once its type shows it is not a GOSSIP_REPLY).
    pub fn new(max_control: usize) -> Self {
        Decoder {
            scan: Scan::Start,
            depth: 0,
            rest: Vec::new(),
            max_rest: max_control,
            last_key: Vec::new(),
            key_candidate: false,
            data_value_next: false,
            type_value_next: false,
            type_text: None,
            kind: Kind::Unknown,
            files_ignored: 0,
            nibble: None,
            streamed: false,
            decoded: 0,
        }
    }

    /// Bytes of memory holding the object so far (its `data` aside).
    pub fn buffered(&self) -> usize {
        self.rest.capacity()
    }

    /// Number of content bytes decoded from `data` so far.
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded
    }

    /// How many `files` entries of the GOSSIP_REPLY returned came after the first
    /// [`super::MAX_REPLY_FILES`] and were ignored.
    pub fn files_ignored(&self) -> usize {
        self.files_ignored
    }

    /// Feeds bytes. Decoded `data` bytes are appended to `chunk` (the caller drains it).
    /// Returns the message once the object closes; bytes after it are ignored.
    pub fn feed(
        &mut self,
        input: &[u8],
        chunk: &mut Vec<u8>,
    ) -> Result<Option<Message>, DecodeError> {
        let mut i = 0;
        while i < input.len() {
            match self.scan {
                Scan::Done => break,
                Scan::Hex => i += self.hex(&input[i..], chunk)?,
                _ => {
                    self.byte(input[i])?;
                    i += 1;
                }
            }
        }
        if self.scan != Scan::Done {
            return Ok(None);
        }
        let (message, files_ignored) = parse(&self.rest, self.streamed)?;
        self.files_ignored = files_ignored;
        Ok(Some(message))
    }

    /// Decodes hex until the closing quote or the end of input; returns bytes consumed.
    fn hex(&mut self, input: &[u8], chunk: &mut Vec<u8>) -> Result<usize, DecodeError> {
        let mut i = 0;
        loop {
            // Fast path: the whole pairs of digits up to the first byte that is not one.
            if self.nibble.is_none() {
                let pairs = decode_pairs(&input[i..], chunk);
                if pairs > 0 {
                    i += 2 * pairs;
                    self.decoded += pairs as u64;
                    self.streamed = true;
                }
            }
            // One byte at a time for the rest: a digit whose pair is in the next read, the
            // second digit of a pair begun in the previous one, the closing quote, or an
            // error.
            let Some(&b) = input.get(i) else {
                return Ok(i);
            };
            if b == b'"' {
                if self.nibble.is_some() {
                    return Err(DecodeError::BadHex);
                }
                self.scan = Scan::Structure;
                self.streamed = true;
                self.keep(STREAMED_PLACEHOLDER)?;
                return Ok(i + 1);
            }
            let Some(v) = hex_value(b) else {
                if !self.streamed && self.nibble.is_none() {
                    // Nothing decoded yet: this is not hex content but an ordinary string
                    // (`"null"` is a real "not found" reply). Keep it as a string.
                    self.keep(b"\"")?;
                    self.scan = Scan::Str { escaped: false };
                    self.key_candidate = false;
                    return Ok(i);
                }
                return Err(DecodeError::BadHex);
            };
            match self.nibble.take() {
                None => self.nibble = Some(v),
                Some(high) => {
                    chunk.push(high << 4 | v);
                    self.decoded += 1;
                    self.streamed = true;
                }
            }
            i += 1;
        }
    }

    fn byte(&mut self, b: u8) -> Result<(), DecodeError> {
        match self.scan {
            Scan::Start => {
                if b.is_ascii_whitespace() {
                    return Ok(());
                }
                if b != b'{' {
                    return Err(DecodeError::NotAnObject(b));
                }
                self.depth = 1;
                self.scan = Scan::Structure;
            }
            Scan::Str { escaped } => {
                if escaped {
                    self.scan = Scan::Str { escaped: false };
                } else if b == b'\\' {
                    self.scan = Scan::Str { escaped: true };
                } else if b == b'"' {
                    self.scan = Scan::Structure;
                }
                if self.key_candidate && self.scan != Scan::Structure && self.last_key.len() <= 8 {
                    self.last_key.push(b);
                }
                if let Some(text) = &mut self.type_text {
                    if self.scan != Scan::Structure {
                        // "GOSSIP_REPLY" is 12 bytes; a few more tell it from a longer type.
                        if text.len() <= 16 {
                            text.push(b);
                        }
                    } else {
                        self.kind = if text.contains(&b'\\') {
                            Kind::Unknown
                        } else if text == b"GOSSIP_REPLY" {
                            Kind::Reply
                        } else {
                            Kind::Small
                        };
                        self.type_text = None;
                    }
                }
            }
            Scan::Structure => {
                if self.type_value_next && !b.is_ascii_whitespace() {
                    self.type_value_next = false;
                    if b == b'"' {
                        self.type_text = Some(Vec::new());
                    } else {
                        // Not a string: not a message we know, whatever its size.
                        self.kind = Kind::Small;
                    }
                }
                if self.data_value_next && !b.is_ascii_whitespace() {
                    self.data_value_next = false;
                    if b == b'"' {
                        // The value of `data`: stream it instead of buffering it.
                        self.scan = Scan::Hex;
                        return Ok(());
                    }
                }
                match b {
                    b'"' => {
                        self.scan = Scan::Str { escaped: false };
                        self.key_candidate = self.depth == 1;
                        if self.key_candidate {
                            self.last_key.clear();
                        }
                    }
                    b':' if self.depth == 1 => {
                        self.data_value_next = self.last_key == b"data";
                        self.type_value_next = self.last_key == b"type"
                            && self.kind == Kind::Unknown
                            && self.type_text.is_none();
                    }
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.scan = Scan::Done;
                        }
                    }
                    // Numbers, `true`, `false` and `null`, and what separates values.
                    b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b',' | b':' => {}
                    b'a' | b'l' | b'n' | b'r' | b's' | b't' | b'u' | b'f' => {}
                    b if b.is_ascii_whitespace() => {}
                    _ => return Err(DecodeError::NotJson(b)),
                }
            }
            Scan::Hex | Scan::Done => unreachable!("handled by feed"),
        }
        self.keep(&[b])
    }

    /// Buffers part of the object, within the cap. The cap is checked as each byte arrives,
    /// not once per read, so the outcome does not depend on how the input was split.
    fn keep(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        self.rest.extend_from_slice(bytes);
        let cap = match self.kind {
            Kind::Small => self.max_rest.min(MAX_SMALL_MESSAGE),
            Kind::Unknown | Kind::Reply => self.max_rest,
        };
        if self.rest.len() > cap {
            return Err(DecodeError::TooLarge(cap));
        }
        Ok(())
    }
}

/// The value of one hex digit, either case.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends to `out` the bytes of the whole pairs of hex digits (either case) at the start of
/// `input`, up to the first byte that is not a digit; returns the number of pairs.
fn decode_pairs(input: &[u8], out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let mut run = input.len() & !1;
    out.resize(start + run / 2, 0);
    run = match faster_hex::hex_decode(&input[..run], &mut out[start..]) {
        Ok(_) => run,
        // The digits end inside this input (at the closing quote, normally): decode up to
        // the last whole pair before it, and leave the rest to the caller.
        Err(faster_hex::Error::InvalidChar { index, .. }) => {
            let run = index & !1;
            match faster_hex::hex_decode(&input[..run], &mut out[start..start + run / 2]) {
                Ok(_) => run,
                Err(_) => 0,
            }
        }
        // Not reached (the run is even and `out` has room); the caller decodes byte by byte.
        Err(_) => 0,
    };
    out.truncate(start + run / 2);
    run / 2
}
