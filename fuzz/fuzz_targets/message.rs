//! `parse_message` on one whole message: it never panics, and a message it accepts comes back
//! the same after we encode it and parse it again (foreign values stay verbatim).
//!
//! Input: one byte whose low bit says whether `data` was streamed out, then the JSON.

#![no_main]

use backend::protocol::{encode, parse_message, Message};
use libfuzzer_sys::fuzz_target;

/// Our own encoding of `message`, and whether its `data` would be streamed out.
fn encoded(message: &Message) -> (String, bool) {
    match message {
        Message::Gossip(g) => (encode::gossip(&g.host, g.port, &g.id, &g.peer_id), false),
        Message::GossipReply(r) => (
            encode::gossip_reply(&r.host, r.port, &r.peer_id, &r.files),
            false,
        ),
        Message::GetFile { file_id } => (encode::get_file(file_id), false),
        Message::FileData(Some(meta)) => (
            format!(
                "{}true}}",
                encode::file_data_head(meta).trim_end_matches('"')
            ),
            true,
        ),
        Message::FileData(None) => (encode::file_data_not_found(), false),
        Message::Announce(a) => (encode::announce(&a.from, &a.meta), false),
        Message::Delete(d) => (encode::delete(&d.from, &d.file_id), false),
    }
}

/// The message without what only the original bytes carry (a GOSSIP's raw text).
fn comparable(message: Message) -> Message {
    match message {
        Message::Gossip(mut g) => {
            g.raw.clear();
            Message::Gossip(g)
        }
        other => other,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, json)) = data.split_first() else {
        return;
    };
    let Ok(message) = parse_message(json, flags & 1 == 1) else {
        return;
    };
    let (again, streamed) = encoded(&message);
    let reparsed = parse_message(again.as_bytes(), streamed)
        .unwrap_or_else(|e| panic!("our own encoding {again} does not parse: {e}"));
    assert_eq!(comparable(reparsed), comparable(message), "via {again}");
});
