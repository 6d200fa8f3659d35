//! The streaming decoder: bytes in, one message out, `FILE_DATA`'s content as decoded chunks.
//!
//! A connection carries one JSON object with no framing, and a `FILE_DATA` carries a whole file
//! as one hex string, so the decoder scans the object incrementally. Everything but the `data`
//! string is copied into a small buffer (capped) and parsed once the object closes; the `data`
//! string is hex-decoded on the fly into the caller's chunk buffer, so memory does not grow with
//! the file. Runs of digits are decoded with SIMD (`faster-hex`); the decoder itself keeps only
//! what crosses reads: a digit whose pair has not arrived, and where the string closes.
//! "Need more" is a normal answer. The decoder owns no socket and no clock.

use super::message::{parse_message, Message, MessageError};

/// Why the bytes are not one message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The first non-blank byte does not open an object.
    #[error("not a JSON object (starts with byte {0:#04x})")]
    NotAnObject(u8),
    /// The object without its `data` is larger than the control-message cap.
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    /// `data` is not an even-length hex string.
    #[error("invalid hex in `data`")]
    BadHex,
    /// The object is not a message we know.
    #[error(transparent)]
    Message(#[from] MessageError),
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
    /// A decoder whose non-`data` part may not exceed `max_control` bytes.
    pub fn new(max_control: usize) -> Self {
        Decoder {
            scan: Scan::Start,
            depth: 0,
            rest: Vec::new(),
            max_rest: max_control,
            last_key: Vec::new(),
            key_candidate: false,
            data_value_next: false,
            nibble: None,
            streamed: false,
            decoded: 0,
        }
    }

    /// Number of content bytes decoded from `data` so far.
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded
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
        Ok(Some(parse_message(&self.rest, self.streamed)?))
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
            }
            Scan::Structure => {
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
                    b':' if self.depth == 1 => self.data_value_next = self.last_key == b"data",
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.scan = Scan::Done;
                        }
                    }
                    _ => {}
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
        if self.rest.len() > self.max_rest {
            return Err(DecodeError::TooLarge(self.max_rest));
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
