//! Codec tests: every message whole and split at every offset, and the accept-variants of
//! PROTOCOL.md.

use super::*;

const BITCOIN_ID: &str = "477182823f9d5d51587946a9d51431003014bb53169329ac50f39a194521aaf3";

/// Decodes `input` fed in two parts split at `split`; returns the message and the content.
fn decode_split(input: &[u8], split: usize) -> Result<(Option<Message>, Vec<u8>), DecodeError> {
    let mut decoder = Decoder::new(1 << 20);
    let mut content = Vec::new();
    let (a, b) = input.split_at(split);
    if let Some(message) = decoder.feed(a, &mut content)? {
        return Ok((Some(message), content));
    }
    let message = decoder.feed(b, &mut content)?;
    Ok((message, content))
}

/// Decodes `input` split at every offset and checks all splits agree; returns the result.
fn decode(input: &str) -> (Message, Vec<u8>) {
    let whole = decode_split(input.as_bytes(), input.len()).expect("decodes");
    for split in 0..input.len() {
        let parts = decode_split(input.as_bytes(), split).expect("decodes when split");
        assert_eq!(parts, whole, "split at {split} of {input}");
    }
    match whole {
        (Some(message), content) => (message, content),
        (None, _) => panic!("incomplete: {input}"),
    }
}

fn message(input: &str) -> Message {
    decode(input).0
}

fn meta(id: &str, name: &str, size: &str, owner: &str, ts: &str) -> FileMeta {
    FileMeta {
        file_id: id.into(),
        file_name: name.into(),
        file_size: Verbatim::parse(size).unwrap(),
        file_owner: owner.into(),
        file_timestamp: Verbatim::parse(ts).unwrap(),
    }
}

#[test]
fn gossip_whole_and_split_keeps_the_raw_object() {
    let raw = r#"{"type":"GOSSIP","host":"eagle.cs.umanitoba.ca","port":8115,"id":"3f0c","peerId":"kashifm"}"#;
    let expected = Message::Gossip(Gossip {
        host: "eagle.cs.umanitoba.ca".into(),
        port: 8115,
        id: "3f0c".into(),
        peer_id: "kashifm".into(),
        raw: raw.into(),
    });
    assert_eq!(message(raw), expected);
    // Trailing newline, leading blanks and bytes after the object are ignored.
    assert_eq!(message(&format!("{raw}\n")), expected);
    assert_eq!(
        message(&format!("  {raw}{{\"type\":\"DELETE\"}}")),
        expected
    );
}

#[test]
fn our_encoding_round_trips() {
    let m = meta(
        BITCOIN_ID,
        "bitcoin.pdf",
        "0.17575454711914062",
        "PROF",
        "1749713822",
    );
    let g = encode::gossip("127.0.0.1", 8999, "id-1", "me");
    assert!(matches!(message(&g), Message::Gossip(x) if x.raw == g && x.peer_id == "me"));
    assert_eq!(
        message(&encode::gossip_reply("h", 1, "me", [&m])),
        Message::GossipReply(GossipReply {
            host: "h".into(),
            port: 1,
            peer_id: "me".into(),
            files: vec![m.clone()],
        })
    );
    assert_eq!(
        message(&encode::get_file(BITCOIN_ID)),
        Message::GetFile {
            file_id: BITCOIN_ID.into()
        }
    );
    assert_eq!(
        message(&encode::announce("me", &m)),
        Message::Announce(Announce {
            from: "me".into(),
            meta: m.clone()
        })
    );
    assert_eq!(
        message(&encode::delete("me", BITCOIN_ID)),
        Message::Delete(Delete {
            from: "me".into(),
            file_id: BITCOIN_ID.into()
        })
    );
    assert_eq!(
        message(&encode::file_data_not_found()),
        Message::FileData(None)
    );

    let mut wire = encode::file_data_head(&m).into_bytes();
    encode::hex_into(b"%PDF-1.4 \x00\xff", &mut wire);
    wire.extend_from_slice(encode::FILE_DATA_TAIL.as_bytes());
    let wire = String::from_utf8(wire).unwrap();
    assert_eq!(
        decode(&wire),
        (Message::FileData(Some(m)), b"%PDF-1.4 \x00\xff".to_vec())
    );
}

#[test]
fn file_data_in_any_key_order_and_case() {
    let (msg, content) = decode(
        r#"{"data": "4869214A", "file_id": "abc", "file_owner": "o", "type": "FILE_DATA",
            "file_timestamp": 1750034796.9022326, "file_size": 4, "file_name": "x.txt"}"#,
    );
    assert_eq!(content, b"Hi!J");
    assert_eq!(
        msg,
        Message::FileData(Some(meta("abc", "x.txt", "4", "o", "1750034796.9022326")))
    );
}

#[test]
fn empty_data_is_an_empty_file() {
    let (msg, content) = decode(
        r#"{"type":"FILE_DATA","file_id":"e","file_name":"empty","file_size":0,"file_owner":"o","file_timestamp":1,"data":""}"#,
    );
    assert!(content.is_empty());
    assert!(matches!(msg, Message::FileData(Some(_))));
}

#[test]
fn every_not_found_variant() {
    let not_found = [
        r#"{"type":"FILE_DATA","file_name":null,"file_size":null,"file_id":null,"file_owner":null,"file_timestamp":null,"data":null}"#,
        r#"{"type":"FILE_DATA","file_name":null,"file_size":0,"file_id":null,"file_owner":null,"file_timestamp":null,"data":null}"#,
        r#"{"type":"FILE_DATA","file_id":"abc","data":"null"}"#,
        r#"{"type":"FILE_DATA","file_id":"null","data":"00"}"#,
        r#"{"type":"FILE_DATA","file_id":"abc"}"#,
        r#"{"type":"FILE_DATA","data":"00"}"#,
        r#"{"type":"FILE_DATA","file_id":"abc","data":null}"#,
    ];
    for input in not_found {
        assert_eq!(message(input), Message::FileData(None), "{input}");
    }
}

#[test]
fn gossip_reply_accept_variants() {
    let reply = |files: &str| match message(&format!(
        r#"{{"type":"GOSSIP_REPLY","host":"127.0.0.1","port":"8999","peerId":"Silicon"{files}}}"#
    )) {
        Message::GossipReply(r) => {
            assert_eq!(r.port, 8999, "port as a numeric string");
            r.files
        }
        other => panic!("{other:?}"),
    };
    assert!(reply("").is_empty());
    assert!(reply(r#","files":null"#).is_empty());
    assert!(reply(r#","files":{"a":1}"#).is_empty());
    assert!(reply(r#","files":"nope""#).is_empty());
    let files = reply(
        r#","files":[{"file_name":"a","file_size":1.5,"file_id":"id1","file_owner":"o","file_timestamp":"Sun Jun 15 21:36:41 2025","extra":[1,{"x":"}"}]},
                     {"file_name":"no id"},{"file_id":null},{"file_id":"id2"},7,null]"#,
    );
    assert_eq!(
        files,
        vec![
            meta("id1", "a", "1.5", "o", "\"Sun Jun 15 21:36:41 2025\""),
            meta("id2", "", "0", "", "0"),
        ]
    );
}

#[test]
fn a_size_or_timestamp_that_is_neither_a_number_nor_a_string_makes_a_file_unusable() {
    let entry = |field: &str, value: &str| {
        let mut fields = vec![
            r#""file_id":"i""#.to_string(),
            r#""file_size":1"#.to_string(),
            r#""file_timestamp":2"#.to_string(),
        ];
        fields.retain(|f| !f.starts_with(&format!("\"{field}\"")));
        fields.push(format!(r#""{field}":{value}"#));
        fields.join(",")
    };
    for field in ["file_size", "file_timestamp"] {
        for value in [r#"{"evil":true}"#, "[1]", "true", "false"] {
            let what = format!("{field} {value}");
            let e = entry(field, value);
            let reply = format!(
                r#"{{"type":"GOSSIP_REPLY","host":"h","port":1,"peerId":"p","files":[{{{e}}}]}}"#
            );
            let Message::GossipReply(r) = message(&reply) else {
                panic!("{what}")
            };
            assert!(r.files.is_empty(), "{what}: the entry is left out");
            let announce = format!(r#"{{"type":"ANNOUNCE","from":"p",{e}}}"#);
            let mut decoder = Decoder::new(1024);
            let refused = decoder.feed(announce.as_bytes(), &mut Vec::new());
            assert!(refused.is_err(), "{what}: the ANNOUNCE is refused");
            let push = format!(r#"{{"type":"FILE_DATA",{e},"data":"00"}}"#);
            assert_eq!(decode(&push).0, Message::FileData(None), "{what}: no file");
        }
        for value in ["null", "\"text\"", "1.5", "-3"] {
            let e = entry(field, value);
            let announce = format!(r#"{{"type":"ANNOUNCE","from":"p",{e}}}"#);
            assert!(
                matches!(message(&announce), Message::Announce(_)),
                "{field} {value}"
            );
        }
    }
}

#[test]
fn non_ascii_is_decoded_and_escaped_back() {
    let input = r#"{"type":"ANNOUNCE","from":"p","file_name":"caf\u00e9 \ud83d\ude00.txt","file_size":1,"file_id":"i","file_owner":"o","file_timestamp":2}"#;
    let Message::Announce(a) = message(input) else {
        panic!()
    };
    assert_eq!(a.meta.file_name, "café 😀.txt");
    let out = encode::announce("p", &a.meta);
    assert!(out.is_ascii());
    assert!(out.contains(r#""caf\u00e9 \ud83d\ude00.txt""#), "{out}");
}

#[test]
fn garbage_is_an_error() {
    let check = |input: &[u8]| {
        let mut decoder = Decoder::new(1024);
        let result = decoder.feed(input, &mut Vec::new());
        assert!(
            result.is_err(),
            "{:?}: {result:?}",
            String::from_utf8_lossy(input)
        );
    };
    check(b"[1,2]");
    check(b"hello");
    check(b"\x00\x01\x02");
    check(b"{\"type\":\"NOPE\"}");
    check(b"{\"no\":\"type\"}");
    check(b"{\"type\":\"GOSSIP\",\"host\":\"h\"}");
    check(b"{\"type\":\"FILE_DATA\",\"data\":\"abc\"}");
    check(b"{\"type\":\"FILE_DATA\",\"data\":\"ab!\"}");
    check(b"{\"type\": \"DELETE\", oops}");
    check(&[b'{'; 2000]);
    check(format!("{{\"type\":\"GOSSIP\",\"id\":\"{}\"}}", "x".repeat(2000)).as_bytes());
}

#[test]
fn half_a_message_needs_more() {
    let mut decoder = Decoder::new(1024);
    let input = br#"{"type":"GOSSIP","host":"h","po"#;
    assert_eq!(decoder.feed(input, &mut Vec::new()), Ok(None));
}

#[test]
fn fixture_ids_are_reproduced_from_bytes_and_timestamps() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let check = |name: &str, ts: &str, id: &str, size: usize| {
        let bytes = std::fs::read(dir.join(name)).expect("fixture");
        assert_eq!(bytes.len(), size);
        assert_eq!(file_id(&bytes, &Verbatim::parse(ts).unwrap()), id);
    };
    check("bitcoin.pdf", "1749713822", BITCOIN_ID, 184292);
    check(
        "names.txt",
        "1749713836",
        "ec51d2db09c604ea76a5891229095f9ecb258ad18a48ff657161ec95b6b82b58",
        1483,
    );
}

#[test]
fn a_large_file_streams_with_bounded_buffers() {
    let m = meta("x", "big", "1", "o", "1");
    let mut decoder = Decoder::new(4096);
    let mut chunk = Vec::new();
    assert_eq!(
        decoder.feed(encode::file_data_head(&m).as_bytes(), &mut chunk),
        Ok(None)
    );
    let block = vec![0xab_u8; 64 * 1024];
    let mut hex = Vec::new();
    encode::hex_into(&block, &mut hex);
    for _ in 0..64 {
        chunk.clear();
        assert_eq!(decoder.feed(&hex, &mut chunk), Ok(None));
        assert_eq!(chunk.len(), block.len());
    }
    let done = decoder
        .feed(encode::FILE_DATA_TAIL.as_bytes(), &mut chunk)
        .unwrap();
    assert_eq!(done, Some(Message::FileData(Some(m))));
    assert_eq!(decoder.decoded_bytes(), 64 * 64 * 1024);
}

#[test]
fn every_byte_value_survives_every_split() {
    let content: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let m = meta("all", "bytes.bin", "512", "o", "1");
    for upper in [false, true] {
        let mut hex = Vec::new();
        encode::hex_into(&content, &mut hex);
        if upper {
            hex.make_ascii_uppercase();
        }
        let wire = format!(
            "{}{}{}",
            encode::file_data_head(&m),
            String::from_utf8(hex).unwrap(),
            encode::FILE_DATA_TAIL
        );
        assert_eq!(
            decode(&wire),
            (Message::FileData(Some(m.clone())), content.clone())
        );
    }
}

#[test]
fn the_size_cap_stops_decoding_at_the_same_byte_however_the_input_is_split() {
    let input = format!(
        r#"{{"type":"FILE_DATA","pad":"{}","data":"abcd"}}"#,
        "x".repeat(600)
    );
    for split in 0..=input.len() {
        let mut decoder = Decoder::new(512);
        let mut content = Vec::new();
        let (a, b) = input.as_bytes().split_at(split);
        let result = match decoder.feed(a, &mut content) {
            Ok(None) => decoder.feed(b, &mut content),
            other => other,
        };
        assert_eq!(
            (result, content),
            (Err(DecodeError::TooLarge(512)), Vec::new()),
            "split at {split}"
        );
    }
}

/// Lowercase hex, one byte at a time: the reference the fast paths are checked against.
fn reference_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Content long enough to cross every vector width, with every byte value.
fn long_content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
}

/// Feeds `input` in pieces of the given sizes, cycled; returns the message and the content.
fn decode_in_pieces(
    input: &[u8],
    sizes: &[usize],
) -> Result<(Option<Message>, Vec<u8>), DecodeError> {
    let mut decoder = Decoder::new(1 << 20);
    let mut content = Vec::new();
    let mut rest = input;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            return Ok((None, content));
        }
        let (piece, after) = rest.split_at(size.min(rest.len()));
        if let Some(message) = decoder.feed(piece, &mut content)? {
            return Ok((Some(message), content));
        }
        rest = after;
    }
    unreachable!("sizes is not empty")
}

fn file_data_wire(m: &FileMeta, hex: &str) -> Vec<u8> {
    format!(
        "{}{hex}{}",
        encode::file_data_head(m),
        encode::FILE_DATA_TAIL
    )
    .into_bytes()
}

#[test]
fn hex_into_matches_the_reference_at_every_length() {
    let content = long_content(300);
    for len in 0..content.len() {
        let mut out = b"prefix".to_vec();
        encode::hex_into(&content[..len], &mut out);
        assert_eq!(
            out[6..],
            *reference_hex(&content[..len]).as_bytes(),
            "{len}"
        );
        assert_eq!(&out[..6], b"prefix");
    }
}

#[test]
fn hex_fed_in_odd_pieces_decodes_the_same() {
    let content = long_content(5000);
    let m = meta("odd", "odd.bin", "1", "o", "1");
    let wire = file_data_wire(&m, &reference_hex(&content));
    let expected = (Some(Message::FileData(Some(m))), content);
    for sizes in [
        &[1][..],
        &[3],
        &[7, 1],
        &[31, 33],
        &[63, 65, 1],
        &[127],
        &[1001],
    ] {
        assert_eq!(
            decode_in_pieces(&wire, sizes),
            Ok(expected.clone()),
            "{sizes:?}"
        );
    }
}

#[test]
fn long_uppercase_and_mixed_case_hex_decodes() {
    let content = long_content(1000);
    let m = meta("case", "case.bin", "1", "o", "1");
    let lower = reference_hex(&content);
    let mixed: String = lower
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 3 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    for hex in [lower.to_ascii_uppercase(), mixed] {
        let wire = file_data_wire(&m, &hex);
        for split in [0, 1, 2, 63, 64, 65, wire.len() / 2, wire.len() - 3] {
            assert_eq!(
                decode_split(&wire, split),
                Ok((Some(Message::FileData(Some(m.clone()))), content.clone())),
                "split at {split}"
            );
        }
    }
}

#[test]
fn a_nibble_carried_across_chunks_pairs_with_the_next_digit() {
    let m = meta("n", "n.bin", "1", "o", "1");
    let mut decoder = Decoder::new(4096);
    let mut chunk = Vec::new();
    let head = encode::file_data_head(&m);
    assert_eq!(decoder.feed(head.as_bytes(), &mut chunk), Ok(None));
    let long = reference_hex(&long_content(100));
    // 201 digits: 100 bytes and a high nibble left over.
    assert_eq!(
        decoder.feed(format!("{long}4").as_bytes(), &mut chunk),
        Ok(None)
    );
    assert_eq!((chunk.len(), decoder.decoded_bytes()), (100, 100));
    chunk.clear();
    // Its low digit, then another 100 bytes and another odd digit, then the pair's end.
    assert_eq!(
        decoder.feed(format!("1{long}F").as_bytes(), &mut chunk),
        Ok(None)
    );
    assert_eq!(chunk[0], 0x41);
    assert_eq!(chunk[1..], long_content(100));
    chunk.clear();
    let done = decoder.feed(b"f\"}", &mut chunk);
    assert_eq!(done, Ok(Some(Message::FileData(Some(m)))));
    assert_eq!(chunk, [0xff]);
    assert_eq!(decoder.decoded_bytes(), 202);
}

#[test]
fn a_bad_digit_deep_in_a_long_run_is_an_error() {
    let m = meta("bad", "bad.bin", "1", "o", "1");
    let hex = reference_hex(&long_content(200));
    // Not at 0: a string that does not begin with a digit is not content.
    for at in [1, 2, 37, 64, 65, 255, 399] {
        for bad in [b'g', b'x', b' ', b'\\', b'\n'] {
            let mut digits = hex.clone().into_bytes();
            digits[at] = bad;
            let wire = file_data_wire(&m, std::str::from_utf8(&digits).unwrap());
            for split in [wire.len(), 40, 120] {
                let result = decode_split(&wire, split);
                assert!(
                    result.is_err(),
                    "{} at {at}, split at {split}: {result:?}",
                    bad as char
                );
            }
        }
    }
}

#[test]
fn an_odd_number_of_digits_before_the_quote_is_an_error() {
    let m = meta("odd", "odd.bin", "1", "o", "1");
    let hex = reference_hex(&long_content(150));
    let wire = file_data_wire(&m, &hex[..hex.len() - 1]);
    for split in [wire.len(), 50, wire.len() - 3] {
        assert_eq!(
            decode_split(&wire, split),
            Err(DecodeError::BadHex),
            "{split}"
        );
    }
}

/// A GOSSIP_REPLY from `p` whose `files` are `entries`, each written as given.
fn reply_listing(entries: &[String]) -> String {
    format!(
        r#"{{"type":"GOSSIP_REPLY","host":"h","port":1,"peerId":"p","files":[{}]}}"#,
        entries.join(",")
    )
}

fn entry(i: usize) -> String {
    format!(
        r#"{{"file_id":"id{i}","file_name":"f{i}","file_size":1,"file_owner":"o","file_timestamp":1}}"#
    )
}

/// Decodes a whole GOSSIP_REPLY; returns its file ids and the entries ignored.
fn reply_ids(wire: &str) -> (Vec<String>, usize) {
    let mut decoder = Decoder::new(8 << 20);
    match decoder.feed(wire.as_bytes(), &mut Vec::new()) {
        Ok(Some(Message::GossipReply(reply))) => (
            reply.files.into_iter().map(|f| f.file_id).collect(),
            decoder.files_ignored(),
        ),
        other => panic!("{other:?}"),
    }
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("id{i}")).collect()
}

#[test]
fn a_gossip_reply_keeps_its_first_usable_files_up_to_the_cap_and_counts_the_rest() {
    // Unusable entries are skipped and do not count.
    let mut entries: Vec<String> = vec!["{}".into(), "7".into(), r#"{"file_id":null}"#.into()];
    entries.extend((0..MAX_REPLY_FILES + 5).map(entry));
    entries.push("{}".into());
    assert_eq!(
        reply_ids(&reply_listing(&entries)),
        (ids(0..MAX_REPLY_FILES), 6)
    );
}

#[test]
fn a_gossip_reply_within_the_cap_is_taken_whole() {
    let entries: Vec<String> = (0..MAX_REPLY_FILES).map(entry).collect();
    assert_eq!(
        reply_ids(&reply_listing(&entries)),
        (ids(0..MAX_REPLY_FILES), 0)
    );
}

#[test]
fn a_message_other_than_a_gossip_reply_is_cut_at_the_small_cap_once_its_type_is_read() {
    let pad = "n".repeat(MAX_SMALL_MESSAGE);
    for wire in [
        format!(r#"{{"type":"ANNOUNCE","from":"p","file_name":"{pad}","file_id":"i"}}"#),
        format!(r#"{{ "type" : "GOSSIP", "host": "{pad}", "port": 1}}"#),
        format!(r#"{{"type":"FILE_DATA","file_name":"{pad}","data":"00"}}"#),
        // The type last: refused as soon as it is read.
        format!(r#"{{"file_name":"{pad}","type":"ANNOUNCE","from":"p","file_id":"i"}}"#),
        // A type that is not a string is no message we know.
        format!(r#"{{"type":7,"x":"{pad}"}}"#),
    ] {
        for split in [0, 20, wire.len() / 2, wire.len() - 1] {
            assert_eq!(
                decode_split(wire.as_bytes(), split),
                Err(DecodeError::TooLarge(MAX_SMALL_MESSAGE)),
                "{} split at {split}",
                &wire[..30]
            );
        }
    }
}

#[test]
fn a_gossip_reply_or_a_type_written_in_escapes_keeps_the_large_cap() {
    let pad = "n".repeat(MAX_SMALL_MESSAGE);
    for kind in ["GOSSIP_REPLY", r"GOSSIP\u005fREPLY"] {
        let wire = format!(
            r#"{{"type":"{kind}","host":"h","port":1,"peerId":"p","pad":"{pad}","files":[]}}"#
        );
        let decoded = decode_split(wire.as_bytes(), wire.len() / 2);
        assert!(
            matches!(decoded, Ok((Some(Message::GossipReply(_)), _))),
            "{kind}: {decoded:?}"
        );
    }
}

#[test]
fn an_escaped_lone_surrogate_in_a_name_is_read_as_a_replacement_character() {
    let announce = |name: &str| {
        message(&format!(
            r#"{{"type": "ANNOUNCE", "from": "py\udce9", "file_name": "{name}", "file_size": 1,
                "file_id": "{BITCOIN_ID}", "file_owner": "PROF", "file_timestamp": 1}}"#
        ))
    };
    let Message::Announce(a) = announce(r"caf\udce9 \u00e9\ud83d\ude00\n.txt") else {
        panic!("not an ANNOUNCE");
    };
    assert_eq!(a.meta.file_name, "caf\u{fffd} é😀\n.txt");
    assert_eq!(a.from, "py\u{fffd}");
    let Message::Announce(a) = announce(r"\ude00\ud83d") else {
        panic!("not an ANNOUNCE");
    };
    assert_eq!(a.meta.file_name, "\u{fffd}\u{fffd}");
    // An id must come through exactly: one with a lone surrogate is no usable id.
    let get = r#"{"type": "GET_FILE", "file_id": "a\udc80"}"#;
    assert_eq!(
        message(get),
        Message::GetFile {
            file_id: String::new()
        }
    );
}

#[test]
fn a_bare_word_outside_a_string_is_refused_before_the_object_ends() {
    for (input, byte) in [
        (&br#"{"type": GARBAGE"#[..], b'G'),
        (br#"{"type": "GOSSIP", "port": 89#"#, b'#'),
    ] {
        let refused = decode_split(input, input.len());
        assert!(
            matches!(refused, Err(DecodeError::NotJson(b)) if b == byte),
            "{refused:?}"
        );
    }
    // What JSON allows outside strings goes on: numbers, true, false, null, nesting.
    let fine = br#"{"a": [1.5e-3, -2E+1, true, false, null, {"b": {}}], "c": 0"#;
    assert!(matches!(decode_split(fine, fine.len()), Ok((None, _))));
}
