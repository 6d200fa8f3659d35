use super::*;
use crate::protocol::{encode, Decoder, Message, Verbatim};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn meta(id: &str, owner: &str, ts: &str) -> FileMeta {
    FileMeta {
        file_id: id.into(),
        file_name: format!("{id}.txt"),
        file_size: Verbatim::parse("1").unwrap(),
        file_owner: owner.into(),
        file_timestamp: Verbatim::parse(ts).unwrap(),
    }
}

fn gossip(id: &str, peer: &str, port: u16) -> Gossip {
    Gossip {
        host: "127.0.0.1".into(),
        port,
        id: id.into(),
        peer_id: peer.into(),
        raw: String::new(),
    }
}

fn reply(peer: &str, port: u16, files: Vec<FileMeta>) -> GossipReply {
    GossipReply {
        host: "127.0.0.1".into(),
        port,
        peer_id: peer.into(),
        files,
    }
}

#[test]
fn gossip_is_answered_once_forwarded_to_others_and_ours_is_dropped() {
    let mut state = PeerState::new("me", Vec::new());
    let now = Instant::now();
    for (peer, port) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
        state.on_gossip_reply(&reply(peer, port, Vec::new()), now);
    }
    let (plan, change) = state
        .on_gossip(&gossip("g1", "a", 1), now, &mut rng())
        .unwrap();
    assert_eq!(change, Change::PeerSeen("a".into()));
    assert_eq!(plan.reply_to, "127.0.0.1:1");
    assert_eq!(plan.forward_to.len(), 3);
    assert!(!plan.forward_to.contains(&"127.0.0.1:1".to_string()));
    assert!(
        state
            .on_gossip(&gossip("g1", "a", 1), now, &mut rng())
            .is_none(),
        "repeat"
    );
    assert!(
        state
            .on_gossip(&gossip("g2", "me", 9), now, &mut rng())
            .is_none(),
        "our own"
    );
    state.remember_gossip("g3");
    assert!(
        state
            .on_gossip(&gossip("g3", "x", 9), now, &mut rng())
            .is_none(),
        "we sent it"
    );
}

#[test]
fn seen_ids_are_bounded() {
    let mut state = PeerState::new("me", Vec::new());
    let now = Instant::now();
    for i in 0..SEEN_IDS + 10 {
        state.on_gossip(&gossip(&format!("id{i}"), "a", 1), now, &mut rng());
    }
    assert_eq!(state.seen.order.len(), SEEN_IDS);
    assert_eq!(state.seen.set.len(), SEEN_IDS);
    // The oldest id was forgotten, the newest is remembered.
    assert!(state
        .on_gossip(&gossip("id0", "a", 1), now, &mut rng())
        .is_some());
    let newest = format!("id{}", SEEN_IDS + 9);
    assert!(state
        .on_gossip(&gossip(&newest, "a", 1), now, &mut rng())
        .is_none());
}

#[test]
fn merge_adds_holders_and_takes_newer_fields() {
    let mut state = PeerState::new("me", Vec::new());
    let now = Instant::now();
    state.on_gossip_reply(&reply("a", 1, vec![meta("f", "o", "100")]), now);
    state.on_gossip_reply(
        &reply("b", 2, vec![meta("f", "o", "\"Sun Jun 15 21:36:41 2025\"")]),
        now,
    );
    let record = &state.files["f"];
    assert_eq!(record.holders.iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(
        record.meta.file_timestamp.json(),
        "100",
        "a string is not newer"
    );
    let mut newer = meta("f", "o2", "100.5");
    newer.file_name = "renamed".into();
    assert_eq!(
        state.on_announce(&Announce {
            from: "c".into(),
            meta: newer.clone()
        }),
        Some(Change::FileChanged("f".into()))
    );
    assert_eq!(state.files["f"].meta, newer);
    assert_eq!(state.files["f"].holders.len(), 3);
    // Nothing new: no change to report.
    assert_eq!(
        state.on_announce(&Announce {
            from: "c".into(),
            meta: newer
        }),
        None
    );
}

#[test]
fn delete_only_from_the_recorded_owner() {
    let mut state = PeerState::new("me", Vec::new());
    state.merge(&meta("f", "owner", "1"), "a");
    assert!(state
        .on_delete(&Delete {
            from: "a".into(),
            file_id: "f".into()
        })
        .is_none());
    assert!(state.files.contains_key("f"));
    assert!(state
        .on_delete(&Delete {
            from: "owner".into(),
            file_id: "nope".into()
        })
        .is_none());
    assert!(state
        .on_delete(&Delete {
            from: "owner".into(),
            file_id: "f".into()
        })
        .is_some());
    assert!(state.files.is_empty());
}

#[test]
fn sweep_drops_silent_peers_from_peers_and_holders() {
    let mut state = PeerState::new("me", Vec::new());
    let start = Instant::now();
    state.on_gossip_reply(&reply("old", 1, vec![meta("f", "o", "1")]), start);
    let later = start + Duration::from_secs(30);
    state.on_gossip_reply(&reply("new", 2, vec![meta("f", "o", "1")]), later);
    let changes = state.sweep(start + Duration::from_secs(31), Duration::from_secs(60));
    assert_eq!(changes, [Change::PeerSeen("old".into())], "old turns quiet");
    assert!(state.peers["old"].quiet && !state.peers["new"].quiet);
    let changes = state.sweep(start + Duration::from_secs(61), Duration::from_secs(60));
    assert_eq!(
        changes,
        [
            Change::PeerSeen("new".into()),
            Change::FileChanged("f".into()),
            Change::PeerDropped("old".into())
        ]
    );
    assert_eq!(state.peers.keys().collect::<Vec<_>>(), ["new"]);
    assert_eq!(state.files["f"].holders.iter().collect::<Vec<_>>(), ["new"]);
}

#[test]
fn sources_try_holders_first_then_everyone() {
    let mut state = PeerState::new("me", Vec::new());
    let now = Instant::now();
    state.on_gossip_reply(&reply("a", 1, Vec::new()), now);
    state.on_gossip_reply(&reply("b", 2, vec![meta("f", "o", "1")]), now);
    state.on_gossip_reply(&reply("c", 3, Vec::new()), now);
    state.merge(&meta("f", "o", "1"), "ghost");
    let sources = state.sources("f", &mut rng());
    assert_eq!(sources[0].0, "b");
    assert_eq!(sources.len(), 3, "untracked holders have no address");
}

/// The captured metadata, merged as gossip and re-sent in a GOSSIP_REPLY, keeps every
/// foreign value byte for byte.
#[test]
fn fixture_metadata_is_merged_and_resent_verbatim() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/class-network-metadata.json");
    let text = std::fs::read_to_string(path).unwrap();
    let entries: BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(&text).unwrap();
    let files_json: Vec<&str> = entries.values().map(|v| v.get()).collect();
    let wire = format!(
        r#"{{"type":"GOSSIP_REPLY","host":"h","port":1,"peerId":"Sample","files":[{}]}}"#,
        files_json.join(",")
    );
    let mut decoder = Decoder::new(1 << 20);
    let Some(Message::GossipReply(r)) = decoder.feed(wire.as_bytes(), &mut Vec::new()).unwrap()
    else {
        panic!("not a reply")
    };
    assert_eq!(r.files.len(), 22);
    let mut state = PeerState::new("me", Vec::new());
    state.on_gossip_reply(&r, Instant::now());
    assert_eq!(state.files.len(), 22);
    let elden = state
        .files
        .values()
        .filter(|f| f.meta.file_name == "EldenRing.txt")
        .count();
    assert_eq!(elden, 4, "same name, different files");

    let metas: Vec<&FileMeta> = state.files.values().map(|f| &f.meta).collect();
    let resent = encode::gossip_reply("me", 2, "me", metas);
    for (id, raw) in &entries {
        let value: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
        for key in ["file_size", "file_timestamp"] {
            let token = raw_field(raw.get(), key);
            assert!(
                resent.contains(&format!("\"{key}\":{token}")),
                "{id} {key} {token}"
            );
        }
        assert!(resent.contains(value["file_owner"].as_str().unwrap()));
    }
}

/// The raw JSON text of `key`'s value in a flat object.
fn raw_field(object: &str, key: &str) -> String {
    let map: BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(object).unwrap();
    map[key].get().to_string()
}

#[test]
fn forged_deletes_and_fields_leave_our_copies_alone() {
    let mut state = PeerState::new("me", Vec::new());
    state.merge(&meta("ours", "me", "100"), "");
    state.files.get_mut("ours").unwrap().stored_as = Some("ours.txt".into());
    // A DELETE claiming to come from us is forged: we never send ourselves one.
    let from_us = Delete {
        from: "me".into(),
        file_id: "ours".into(),
    };
    assert!(state.on_delete(&from_us).is_none());
    // "Newer" fields for a verified copy are forged too: no other timestamp matches the id.
    let forged = meta("ours", "mallory", "200");
    state.on_announce(&Announce {
        from: "mallory".into(),
        meta: forged,
    });
    assert_eq!(state.files["ours"].meta.file_owner, "me");
    let from_mallory = Delete {
        from: "mallory".into(),
        file_id: "ours".into(),
    };
    assert!(state.on_delete(&from_mallory).is_none());
    assert!(state.files.contains_key("ours"));
}

#[test]
fn deleted_files_stay_deleted_whatever_gossip_arrives_late() {
    let mut state = PeerState::new("me", Vec::new());
    state.merge(&meta("f", "owner", "1"), "a");
    assert!(state
        .on_delete(&Delete {
            from: "owner".into(),
            file_id: "f".into()
        })
        .is_some());
    assert_eq!(state.merge(&meta("f", "owner", "1"), "a"), None);
    state.on_gossip_reply(
        &reply("a", 1, vec![meta("f", "owner", "1")]),
        Instant::now(),
    );
    assert!(!state.files.contains_key("f"));
    assert_eq!(
        state.hold(&meta("f", "owner", "1"), "f.txt".into()),
        Err(Deleted)
    );

    state.merge(&meta("mine", "me", "1"), "");
    assert_eq!(
        state.hold(&meta("mine", "me", "1"), "a.txt".into()),
        Ok(None)
    );
    assert_eq!(
        state.hold(&meta("mine", "me", "1"), "b.txt".into()),
        Ok(Some("a.txt".into()))
    );
    assert!(state.forget("mine").is_some());
    state.on_announce(&Announce {
        from: "a".into(),
        meta: meta("mine", "me", "1"),
    });
    assert!(state.files.is_empty());
}

#[test]
fn a_restart_forgets_holders_until_gossip_refills_them() {
    let entry = IndexEntry {
        meta: meta("f", "o", "1"),
        holders: vec!["gone".into()],
        stored_as: None,
    };
    let state = PeerState::new("me", vec![entry]);
    assert!(state.files["f"].holders.is_empty());
    assert_eq!(state.index()[0].meta, meta("f", "o", "1"));
}
