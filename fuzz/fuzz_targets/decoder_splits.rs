//! `Decoder::feed` given one input in pieces whose lengths come from the input itself: it never
//! panics, and what it decodes (message, error, content) does not depend on the split.
//!
//! Input: one byte `n`, then `n % 8` piece lengths of one byte each, then the bytes to decode.

#![no_main]

use backend::protocol::{DecodeError, Decoder, Message};
use libfuzzer_sys::fuzz_target;

/// Small, so that short inputs reach the control-message cap.
const MAX_CONTROL: usize = 512;

#[derive(Debug, PartialEq)]
struct Outcome {
    result: Result<Option<Message>, DecodeError>,
    content: Vec<u8>,
    decoded: u64,
}

/// Feeds `pieces` in order until a message or an error, as the network side does.
fn decode<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut decoder = Decoder::new(MAX_CONTROL);
    let mut content = Vec::new();
    let mut result = Ok(None);
    for piece in pieces {
        result = decoder.feed(piece, &mut content);
        if !matches!(result, Ok(None)) {
            break;
        }
    }
    Outcome {
        result,
        content,
        decoded: decoder.decoded_bytes(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(n % 8).min(rest.len());
    let (lengths, input) = rest.split_at(count);
    let mut pieces = Vec::with_capacity(count + 1);
    let mut tail = input;
    for &len in lengths {
        let (piece, after) = tail.split_at(usize::from(len).min(tail.len()));
        pieces.push(piece);
        tail = after;
    }
    pieces.push(tail);

    let whole = decode([input]);
    let split = decode(pieces.iter().copied());
    assert_eq!(whole, split, "pieces {:?}", lengths);
    assert_eq!(whole.decoded, whole.content.len() as u64);
});
