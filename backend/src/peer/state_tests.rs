use super::*;
use crate::protocol::{encode, Decoder, Message, Verbatim};
use crate::refusal::Reason;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn state() -> PeerState {
    state_with(Caps::default())
}

fn state_with(caps: Caps) -> PeerState {
    PeerState::new("me", caps, Arc::default(), Vec::new())
}

fn refused(state: &PeerState, reason: Reason) -> u64 {
    state.refusals.count(reason)
}

fn announce(from: &str, meta: FileMeta) -> Announce {
    Announce {
        from: from.into(),
        meta,
    }
}

fn delete(from: &str, id: &str) -> Delete {
    Delete {
        from: from.into(),
        file_id: id.into(),
    }
}

/// Tracks `peer` at `127.0.0.1:port`.
fn track(state: &mut PeerState, peer: &str, port: u16) {
    state.on_gossip_reply(&reply(peer, port, Vec::new()), Instant::now());
}

const NOW: u64 = 1_000_000;

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
    let mut state = state();
    let now = Instant::now();
    for (peer, port) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
        state.on_gossip_reply(&reply(peer, port, Vec::new()), now);
    }
    let (plan, change) = state
        .on_gossip(&gossip("g1", "a", 1), now, &mut rng())
        .unwrap();
    assert_eq!(change, Change::PeerSeen("a".into()));
    assert_eq!(plan.reply_to.as_deref(), Some("127.0.0.1:1"));
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
    let mut state = state();
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
fn sweep_drops_silent_peers_from_peers_and_holders() {
    let mut state = state();
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
fn peers_dropped_lately_are_recalled_for_three_timeouts_unless_back() {
    let mut state = state();
    let (start, timeout) = (Instant::now(), Duration::from_secs(60));
    let at = |secs| start + Duration::from_secs(secs);
    for (id, port) in [("gone", 1), ("back", 2), ("moved", 3)] {
        state.on_gossip(&gossip(&format!("g{id}"), id, port), start, &mut rng());
    }
    assert!(state.recall(start, timeout).is_empty());
    state.sweep(at(61), timeout);
    assert_eq!(
        state.recall(at(61), timeout),
        ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    );
    state.on_gossip(&gossip("again", "back", 2), at(70), &mut rng());
    // Another id at the address of one: that address is reached already.
    state.on_gossip(&gossip("other", "new", 3), at(70), &mut rng());
    assert_eq!(state.recall(at(121), timeout), ["127.0.0.1:1"]);
    assert_eq!(state.recall(at(241), timeout), ["127.0.0.1:1"]);
    assert!(state.recall(at(242), timeout).is_empty());
}

#[test]
fn at_most_64_dropped_peers_are_recalled_the_latest() {
    let mut state = state();
    let (start, timeout) = (Instant::now(), Duration::from_secs(60));
    for port in 1..=70 {
        let at = start + Duration::from_secs(u64::from(port));
        let id = format!("p{port}");
        state.on_gossip(&gossip(&id, &id, port), at, &mut rng());
        state.sweep(at + timeout + Duration::from_secs(1), timeout);
    }
    let recalled = state.recall(start + Duration::from_secs(140), timeout);
    assert_eq!(recalled.len(), 64);
    assert!(
        !recalled.contains(&"127.0.0.1:6".to_string())
            && recalled.contains(&"127.0.0.1:7".to_string())
    );
}

#[test]
fn sources_try_holders_first_then_everyone() {
    let mut state = state();
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
    let mut state = state();
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
fn a_restart_forgets_holders_until_gossip_refills_them() {
    let entry = IndexEntry {
        meta: meta("f", "o", "1"),
        holders: vec!["gone".into()],
        stored_as: None,
    };
    let mut state = PeerState::new("me", Caps::default(), Arc::default(), vec![entry]);
    assert!(state.files["f"].holders.is_empty());
    assert_eq!(state.index()[0].meta, meta("f", "o", "1"));
    state.on_gossip_reply(&reply("back", 9, vec![meta("f", "o", "1")]), Instant::now());
    assert_eq!(state.files["f"].holders, ["back"].map(String::from).into());
}

#[test]
fn a_file_we_do_not_hold_is_forgotten_after_two_timeouts_without_a_tracked_holder() {
    let unheld = |id: &str| IndexEntry {
        meta: meta(id, "o", "1"),
        holders: Vec::new(),
        stored_as: None,
    };
    // A file of ours whose copy we lost.
    let lost = IndexEntry {
        meta: meta("lost", "me", "1"),
        ..unheld("lost")
    };
    let entries = vec![
        unheld("stale"),
        unheld("offered"),
        held(meta("ours", "me", "1"), "ours.txt"),
        lost,
    ];
    let mut state = PeerState::new("me", Caps::default(), Arc::default(), entries);
    let (start, timeout) = (Instant::now(), Duration::from_secs(60));
    let at = |secs| start + Duration::from_secs(secs);
    assert!(state.sweep(start, timeout).is_empty());
    state.on_gossip_reply(&reply("a", 1, vec![meta("offered", "o", "1")]), at(30));
    // `a` stays heard from, and a holder of what it offered.
    for secs in [60, 90] {
        state.on_gossip(&gossip(&format!("g{secs}"), "a", 1), at(secs), &mut rng());
    }
    assert!(!state
        .sweep(at(119), timeout)
        .contains(&Change::FileRemoved("stale".into())));
    assert_eq!(
        state.sweep(at(120), timeout),
        [Change::FileRemoved("stale".into())]
    );
    assert!(state.files.contains_key("offered") && state.files.contains_key("ours"));

    // Its holder silent, the offered file goes two timeouts after the holder was dropped.
    let dropped = state.sweep(at(151), timeout);
    assert!(
        dropped.contains(&Change::PeerDropped("a".into())),
        "{dropped:?}"
    );
    assert!(!state
        .sweep(at(270), timeout)
        .contains(&Change::FileRemoved("offered".into())));
    let forgotten = state.sweep(at(271), timeout);
    assert!(
        forgotten.contains(&Change::FileRemoved("offered".into())),
        "{forgotten:?}"
    );
    assert_eq!(
        state.files.keys().collect::<Vec<_>>(),
        ["lost", "ours"],
        "ours are never forgotten, held or not"
    );

    // Listed again, it is known again.
    state.on_gossip_reply(&reply("b", 2, vec![meta("stale", "o", "1")]), at(300));
    assert!(state.files.contains_key("stale"));
}

#[test]
fn a_peer_whose_list_leaves_a_file_out_no_longer_holds_it() {
    let mut state = state();
    let now = Instant::now();
    let files = vec![meta("f", "o", "1"), meta("g", "o", "1")];
    state.on_gossip_reply(&reply("a", 1, files), now);
    state.on_gossip_reply(&reply("b", 2, vec![meta("g", "o", "1")]), now);
    let changes = state.on_gossip_reply(&reply("a", 1, vec![meta("f", "o", "1")]), now);
    assert!(
        changes.contains(&Change::FileChanged("g".into())),
        "{changes:?}"
    );
    assert_eq!(state.files["g"].holders, ["b"].map(String::from).into());
    assert_eq!(state.files["f"].holders, ["a"].map(String::from).into());

    // A list cut at the cap says nothing of the files past it.
    let full: Vec<FileMeta> = (0..MAX_REPLY_FILES)
        .map(|i| meta(&format!("x{i}"), "o", "1"))
        .collect();
    state.on_gossip_reply(&reply("b", 2, full), now);
    assert!(state.files["g"].holders.contains("b"));
}

#[test]
fn the_first_claim_of_an_unheld_file_is_kept() {
    let mut state = state();
    state.merge(&meta("f", "owner", "100"), "a");
    let mut later = meta("f", "mallory", "200");
    later.file_name = "renamed".into();
    state.on_announce(&announce("mallory", later));
    assert_eq!(state.files["f"].meta, meta("f", "owner", "100"));
}

#[test]
fn a_conflicting_claim_is_counted() {
    let mut state = state();
    state.merge(&meta("f", "owner", "100"), "a");
    state.merge(&meta("f", "owner", "100"), "b");
    assert_eq!(
        refused(&state, Reason::ConflictingClaim),
        0,
        "the same claim"
    );
    state.merge(&meta("f", "owner", "\"Sun Jun 15 21:36:41 2025\""), "c");
    assert_eq!(refused(&state, Reason::ConflictingClaim), 1);
}

#[test]
fn a_conflicting_claims_sender_is_still_a_holder() {
    let mut state = state();
    track(&mut state, "a", 1);
    state.merge(&meta("f", "owner", "100"), "");
    let changes = state.on_announce(&announce("a", meta("f", "mallory", "200")));
    assert_eq!(changes, [Change::FileChanged("f".into())]);
    assert_eq!(state.files["f"].holders.iter().collect::<Vec<_>>(), ["a"]);
}

#[test]
fn a_claim_adding_nothing_reports_no_change() {
    let mut state = state();
    track(&mut state, "a", 1);
    state.on_announce(&announce("a", meta("f", "owner", "100")));
    assert_eq!(
        state.on_announce(&announce("a", meta("f", "owner", "100"))),
        []
    );
}

#[test]
fn untracked_senders_are_not_recorded_as_holders() {
    let mut state = state();
    state.on_announce(&announce("stranger", meta("f", "owner", "100")));
    assert!(state.files["f"].holders.is_empty());
}

#[test]
fn holders_per_file_are_capped() {
    let mut state = state_with(Caps {
        max_ids_per_addr: usize::MAX,
        ..Caps::default()
    });
    for i in 0..MAX_HOLDERS + 3 {
        let peer = format!("p{i}");
        track(&mut state, &peer, 1);
        state.on_announce(&announce(&peer, meta("f", "owner", "100")));
    }
    assert_eq!(state.files["f"].holders.len(), MAX_HOLDERS);
}

#[test]
fn a_verified_copy_replaces_the_claimed_fields() {
    let mut state = state();
    state.on_announce(&announce("mallory", meta("f", "mallory", "200")));
    let mut verified = meta("f", "owner", "100");
    verified.file_name = "real.txt".into();
    verified.file_size = Verbatim::parse("0.5").unwrap();
    assert_eq!(state.hold(&verified, "real.txt".into()), Ok(()));
    assert_eq!(state.files["f"].meta, verified);
    assert_eq!(state.files["f"].stored_as.as_deref(), Some("real.txt"));
}

#[test]
fn claims_never_change_a_held_file() {
    let mut state = state();
    state
        .hold(&meta("f", "owner", "100"), "f.txt".into())
        .unwrap();
    let mut forged = meta("f", "mallory", "200");
    forged.file_name = "evil.txt".into();
    state.on_announce(&announce("mallory", forged.clone()));
    state.on_gossip_reply(&reply("m", 9, vec![forged]), Instant::now());
    assert_eq!(state.files["f"].meta, meta("f", "owner", "100"));
    assert_eq!(refused(&state, Reason::ConflictingClaim), 2);
}

#[test]
fn a_second_copy_is_refused_and_the_first_keeps_its_fields() {
    let mut state = state();
    assert_eq!(state.hold(&meta("f", "owner", "1"), "a.txt".into()), Ok(()));
    assert_eq!(
        state.hold(&meta("f", "mallory", "1"), "b.txt".into()),
        Err(NotHeld::AlreadyHeld)
    );
    assert_eq!(state.files["f"].meta, meta("f", "owner", "1"));
    assert_eq!(state.files["f"].stored_as.as_deref(), Some("a.txt"));
}

#[test]
fn delete_is_obeyed_only_from_the_verified_owner() {
    let mut state = state();
    state.on_announce(&announce("mallory", meta("f", "mallory", "200")));
    state
        .hold(&meta("f", "owner", "100"), "f.txt".into())
        .unwrap();
    assert_eq!(
        state.on_delete(&delete("mallory", "f"), NOW),
        DeleteOutcome::Refused
    );
    assert_eq!(refused(&state, Reason::ForgedDelete), 1);
    assert!(state.files.contains_key("f"));
    let DeleteOutcome::Removed(record) = state.on_delete(&delete("owner", "f"), NOW) else {
        panic!("the owner's DELETE is obeyed")
    };
    assert_eq!(record.stored_as.as_deref(), Some("f.txt"));
    assert!(state.files.is_empty());
}

#[test]
fn only_the_delete_of_a_copy_we_held_or_ours_is_a_tombstone_of_a_held_file() {
    let mut state = state();
    state
        .hold(&meta("held", "owner", "1"), "held.txt".into())
        .unwrap();
    state.merge(&meta("listed", "owner", "1"), "a");
    state
        .hold(&meta("ours", "me", "1"), "ours.txt".into())
        .unwrap();
    for id in ["held", "listed", "unknown"] {
        state.on_delete(&delete("owner", id), NOW);
    }
    state.forget("ours", NOW);
    let held: Vec<(String, bool)> = (state.tombstones().1.into_iter())
        .map(|t| (t.file_id, t.held))
        .collect();
    assert_eq!(held.len(), 4);
    for (id, expected) in [
        ("held", true),
        ("listed", false),
        ("unknown", false),
        ("ours", true),
    ] {
        assert!(held.contains(&(id.to_string(), expected)), "{id}: {held:?}");
    }
}

#[test]
fn delete_of_an_unheld_file_is_obeyed_from_the_first_claims_owner() {
    let mut state = state();
    state.merge(&meta("f", "owner", "1"), "a");
    state.merge(&meta("f", "mallory", "2"), "m");
    assert_eq!(
        state.on_delete(&delete("mallory", "f"), NOW),
        DeleteOutcome::Refused
    );
    assert!(matches!(
        state.on_delete(&delete("owner", "f"), NOW),
        DeleteOutcome::Removed(_)
    ));
}

#[test]
fn a_delete_claiming_to_come_from_us_is_refused() {
    let mut state = state();
    state
        .hold(&meta("ours", "me", "100"), "ours.txt".into())
        .unwrap();
    assert_eq!(
        state.on_delete(&delete("me", "ours"), NOW),
        DeleteOutcome::Refused
    );
    assert_eq!(
        state.on_delete(&delete("me", "unknown"), NOW),
        DeleteOutcome::Refused
    );
    assert_eq!(refused(&state, Reason::ForgedDelete), 2);
    assert!(state.files.contains_key("ours"));
    assert_eq!(state.tombstones_generation(), 0, "nothing remembered");
}

#[test]
fn a_delete_before_the_announce_drops_the_announce() {
    let mut state = state();
    assert_eq!(
        state.on_delete(&delete("owner", "f"), NOW),
        DeleteOutcome::Remembered
    );
    assert_eq!(
        state.on_announce(&announce("a", meta("f", "owner", "1"))),
        []
    );
    assert!(state.files.is_empty());
    assert_eq!(refused(&state, Reason::Deleted), 1);
}

#[test]
fn a_delete_before_the_announce_drops_a_copy_from_that_owner() {
    let mut state = state();
    state.on_delete(&delete("owner", "f"), NOW);
    assert_eq!(
        state.hold(&meta("f", "owner", "1"), "f.txt".into()),
        Err(NotHeld::Deleted)
    );
    assert!(state.files.is_empty());
}

#[test]
fn a_tombstone_drops_only_claims_naming_its_owner() {
    let mut state = state();
    state.on_delete(&delete("mallory", "f"), NOW);
    state.on_announce(&announce("a", meta("f", "owner", "1")));
    assert!(state.files.contains_key("f"));
}

#[test]
fn a_refused_delete_of_an_unheld_file_drops_a_later_copy_from_its_sender() {
    let mut state = state();
    state.on_announce(&announce("mallory", meta("f", "mallory", "1")));
    assert_eq!(
        state.on_delete(&delete("owner", "f"), NOW),
        DeleteOutcome::Refused,
        "the first claim names another owner"
    );
    assert_eq!(
        state.hold(&meta("f", "owner", "1"), "f.txt".into()),
        Err(NotHeld::Deleted)
    );
    assert!(state.files.is_empty());
}

#[test]
fn deleted_files_stay_deleted_when_gossip_arrives_late() {
    let mut state = state();
    track(&mut state, "a", 1);
    state.merge(&meta("f", "owner", "1"), "a");
    state.on_delete(&delete("owner", "f"), NOW);
    state.merge(&meta("f", "owner", "1"), "a");
    state.on_gossip_reply(
        &reply("a", 1, vec![meta("f", "owner", "1")]),
        Instant::now(),
    );
    assert!(state.files.is_empty());
}

#[test]
fn our_own_delete_is_remembered() {
    let mut state = state();
    state
        .hold(&meta("mine", "me", "1"), "a.txt".into())
        .unwrap();
    assert!(state.forget("mine", NOW).is_some());
    state.on_announce(&announce("a", meta("mine", "me", "1")));
    assert!(state.files.is_empty());
}

#[test]
fn tombstones_expire_after_their_ttl() {
    let mut state = state_with(Caps {
        tombstone_ttl: Duration::from_secs(60),
        ..Caps::default()
    });
    state.on_delete(&delete("owner", "f"), NOW);
    assert!(!state.expire_tombstones(NOW + 59));
    assert!(state.expire_tombstones(NOW + 60));
    state.on_announce(&announce("a", meta("f", "owner", "1")));
    assert!(state.files.contains_key("f"));
}

#[test]
fn restored_tombstones_drop_claims() {
    let mut old = state();
    old.on_delete(&delete("owner", "f"), NOW);
    let mut state = state();
    state.restore_tombstones(old.tombstones().1);
    state.on_announce(&announce("a", meta("f", "owner", "1")));
    assert!(state.files.is_empty());
}

#[test]
fn unheld_files_are_capped_by_evicting_the_oldest() {
    let mut state = state_with(Caps {
        max_unheld_files: 3,
        ..Caps::default()
    });
    for id in ["f3", "f1", "f2"] {
        state.merge(&meta(id, "o", "1"), "a");
    }
    let changes = state.merge(&meta("f4", "o", "1"), "a");
    assert_eq!(
        changes,
        [
            Change::FileRemoved("f3".into()),
            Change::FileChanged("f4".into())
        ]
    );
    assert_eq!(state.files.keys().collect::<Vec<_>>(), ["f1", "f2", "f4"]);
    assert_eq!(refused(&state, Reason::UnheldFiles), 1);
}

#[test]
fn held_files_do_not_count_against_the_unheld_cap() {
    let mut state = state_with(Caps {
        max_unheld_files: 2,
        ..Caps::default()
    });
    state.merge(&meta("held", "o", "1"), "a");
    state
        .hold(&meta("held", "o", "1"), "held.txt".into())
        .unwrap();
    state
        .hold(&meta("pushed", "o", "1"), "pushed.txt".into())
        .unwrap();
    state.merge(&meta("f1", "o", "1"), "a");
    state.merge(&meta("f2", "o", "1"), "a");
    assert_eq!(state.files.len(), 4);
    state.merge(&meta("f3", "o", "1"), "a");
    assert_eq!(
        state.files.keys().collect::<Vec<_>>(),
        ["f2", "f3", "held", "pushed"]
    );
}

#[test]
fn no_unheld_file_is_kept_when_the_cap_is_zero() {
    let mut state = state_with(Caps {
        max_unheld_files: 0,
        ..Caps::default()
    });
    assert_eq!(state.merge(&meta("f", "o", "1"), "a"), []);
    assert!(state.files.is_empty());
}

#[test]
fn tracked_peers_are_capped() {
    let mut state = state_with(Caps {
        max_peers: 2,
        ..Caps::default()
    });
    let now = Instant::now();
    for (i, peer) in ["a", "b", "c"].iter().enumerate() {
        state.on_gossip(
            &gossip(&format!("g{i}"), peer, i as u16 + 1),
            now,
            &mut rng(),
        );
    }
    assert_eq!(state.peers.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(refused(&state, Reason::TrackedPeers), 1);
    assert!(
        state
            .on_gossip(&gossip("g3", "a", 1), now, &mut rng())
            .is_some(),
        "a tracked peer is still heard"
    );
}

#[test]
fn peer_ids_per_address_are_capped() {
    let mut state = state_with(Caps {
        max_ids_per_addr: 2,
        ..Caps::default()
    });
    let now = Instant::now();
    for i in 0..5 {
        let plan = state.on_gossip(
            &gossip(&format!("g{i}"), &format!("p{i}"), 7),
            now,
            &mut rng(),
        );
        assert_eq!(plan.is_some(), i < 2, "gossip {i}");
    }
    assert_eq!(state.peers.len(), 2);
    assert_eq!(refused(&state, Reason::IdsPerAddress), 3);
}

#[test]
fn a_reply_from_a_peer_we_cannot_track_is_refused_whole() {
    let mut state = state_with(Caps {
        max_ids_per_addr: 1,
        ..Caps::default()
    });
    track(&mut state, "a", 7);
    let changes = state.on_gossip_reply(&reply("b", 7, vec![meta("f", "o", "1")]), Instant::now());
    assert_eq!(changes, []);
    assert!(state.files.is_empty());
}

#[test]
fn a_peer_moving_to_a_full_address_stays_where_it_was() {
    let mut state = state_with(Caps {
        max_ids_per_addr: 1,
        ..Caps::default()
    });
    track(&mut state, "a", 7);
    track(&mut state, "b", 8);
    state.on_gossip(&gossip("g1", "b", 7), Instant::now(), &mut rng());
    assert_eq!(state.peers["b"].port, 8);
}

#[test]
fn a_reply_refreshes_a_known_peer_but_does_not_move_it() {
    let mut state = state();
    let start = Instant::now();
    state.on_gossip(&gossip("g1", "b", 8), start, &mut rng());
    let later = start + Duration::from_secs(5);
    let mut from_loopback = reply("b", 8999, Vec::new());
    from_loopback.host = "127.0.0.2".into();
    state.on_gossip_reply(&from_loopback, later);
    assert_eq!(
        (state.peers["b"].host.as_str(), state.peers["b"].port),
        ("127.0.0.1", 8)
    );
    assert_eq!(state.peers["b"].last_seen, later);
    // Its GOSSIP says where it is now.
    state.on_gossip(&gossip("g2", "b", 9), later, &mut rng());
    assert_eq!(state.peers["b"].port, 9);
}

#[test]
fn long_names_are_refused_whole() {
    let mut state = state_with(Caps {
        max_name: 10,
        ..Caps::default()
    });
    let mut long = meta("f", "o", "1");
    long.file_name = "x".repeat(11);
    state.on_announce(&announce("a", long.clone()));
    state.on_gossip_reply(&reply("a", 1, vec![long.clone()]), Instant::now());
    assert_eq!(state.hold(&long, "x".into()), Err(NotHeld::FieldTooLong));
    assert!(state.files.is_empty());
    assert_eq!(refused(&state, Reason::FieldTooLong), 3);
    long.file_name = "x".repeat(10);
    state.on_announce(&announce("a", long));
    assert!(state.files.contains_key("f"), "at the cap is fine");
}

#[test]
fn long_fields_are_refused_whole() {
    let mut state = state_with(Caps {
        max_field: 8,
        ..Caps::default()
    });
    let long = "y".repeat(9);
    let now = Instant::now();
    // Each case is refused, and counted once, on its own.
    let mut counted = 0;
    let mut one_more = |state: &PeerState, case: &str| {
        counted += 1;
        assert_eq!(refused(state, Reason::FieldTooLong), counted, "{case}");
    };
    for (field, case) in ["file_id", "file_owner", "file_size", "file_timestamp"]
        .into_iter()
        .enumerate()
    {
        let mut m = meta("f", "o", "1");
        match field {
            0 => m.file_id = long.clone(),
            1 => m.file_owner = long.clone(),
            2 => m.file_size = Verbatim::parse(&format!("\"{long}\"")).unwrap(),
            _ => m.file_timestamp = Verbatim::parse(&"1".repeat(9)).unwrap(),
        }
        state.on_announce(&announce("a", m));
        one_more(&state, case);
    }
    state.on_announce(&announce(&long, meta("f", "o", "1")));
    one_more(&state, "an ANNOUNCE's from");
    assert!(state.files.is_empty());
    assert!(state
        .on_gossip(&gossip(&long, "p", 1), now, &mut rng())
        .is_none());
    one_more(&state, "a GOSSIP's id");
    assert!(state
        .on_gossip(&gossip("g", &long, 1), now, &mut rng())
        .is_none());
    one_more(&state, "a GOSSIP's peerId");
    let mut far = gossip("g2", "p", 1);
    far.host = long.clone();
    assert!(state.on_gossip(&far, now, &mut rng()).is_none());
    one_more(&state, "a GOSSIP's host");
    assert_eq!(state.on_gossip_reply(&reply(&long, 1, Vec::new()), now), []);
    one_more(&state, "a GOSSIP_REPLY's peerId");
    assert_eq!(
        state.on_delete(&delete(&long, "f"), NOW),
        DeleteOutcome::Refused
    );
    one_more(&state, "a DELETE's from");
    assert_eq!(
        state.on_delete(&delete("o", &long), NOW),
        DeleteOutcome::Refused
    );
    one_more(&state, "a DELETE's file_id");
    assert!(state.peers.is_empty());
}

#[test]
fn a_gossip_padded_past_four_fields_is_refused_not_forwarded() {
    let mut state = state_with(Caps {
        max_field: 64,
        ..Caps::default()
    });
    let now = Instant::now();
    let mut padded = gossip("g1", "a", 1);
    padded.raw = format!(r#"{{"type":"GOSSIP","pad":"{}"}}"#, "p".repeat(256));
    assert!(state.on_gossip(&padded, now, &mut rng()).is_none());
    assert!(state.peers.is_empty());
    assert_eq!(refused(&state, Reason::FieldTooLong), 1);
    padded.raw.truncate(4 * 64);
    assert!(
        state.on_gossip(&padded, now, &mut rng()).is_some(),
        "at the cap"
    );
}

#[test]
fn messages_go_once_per_address() {
    let mut state = state();
    let now = Instant::now();
    for (i, peer) in ["a", "b", "c", "d"].iter().enumerate() {
        state.on_gossip(&gossip(&format!("g{i}"), peer, 7), now, &mut rng());
    }
    track(&mut state, "e", 8);
    let mut addrs = state.pick_peers(usize::MAX, &[], &mut rng());
    addrs.sort();
    assert_eq!(addrs, ["127.0.0.1:7", "127.0.0.1:8"]);
}

#[test]
fn gossip_is_not_forwarded_to_its_senders_address() {
    let mut state = state();
    let now = Instant::now();
    track(&mut state, "alias", 7);
    track(&mut state, "other", 8);
    let (plan, _) = state
        .on_gossip(&gossip("g", "sender", 7), now, &mut rng())
        .unwrap();
    assert_eq!(plan.forward_to, ["127.0.0.1:8"]);
}

#[test]
fn sources_are_one_per_address() {
    let mut state = state();
    track(&mut state, "a", 7);
    track(&mut state, "b", 7);
    track(&mut state, "c", 8);
    assert_eq!(state.sources("f", &mut rng()).len(), 2);
}

/// A state on a 1 s interval and a 60 s timeout, tracking five peers besides `a`.
fn lean_state() -> PeerState {
    let mut state = state();
    state.set_gossip(crate::peer::policy::GossipTiming {
        policy: crate::peer::policy::GossipPolicy::Lean,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(60),
    });
    for (peer, port) in [("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6)] {
        track(&mut state, peer, port);
    }
    state
}

/// Whether the GOSSIP `id` from `a` at port 1, at `at`, is answered and forwarded.
fn answered(state: &mut PeerState, id: &str, at: Instant) -> (bool, bool) {
    let (plan, _) = state
        .on_gossip(&gossip(id, "a", 1), at, &mut rng())
        .unwrap();
    (plan.reply_to.is_some(), !plan.forward_to.is_empty())
}

#[test]
fn a_known_origin_is_answered_again_only_when_our_files_change() {
    let mut state = lean_state();
    let t0 = Instant::now();
    let s = Duration::from_secs(1);
    assert!(answered(&mut state, "g1", t0).0, "new origin");
    assert!(!answered(&mut state, "g2", t0 + s).0, "unchanged list");
    state.hold(&meta("f", "me", "1"), "f.txt".into()).unwrap();
    assert!(answered(&mut state, "g3", t0 + 2 * s).0, "a file was added");
    assert!(!answered(&mut state, "g4", t0 + 3 * s).0);
}

#[test]
fn a_known_origin_is_answered_again_after_half_a_timeout() {
    let mut state = lean_state();
    let t0 = Instant::now();
    assert!(answered(&mut state, "g1", t0).0);
    assert!(!answered(&mut state, "g2", t0 + Duration::from_secs(29)).0);
    assert!(answered(&mut state, "g3", t0 + Duration::from_secs(30)).0);
}

#[test]
fn a_peer_that_fell_quiet_and_came_back_at_a_new_address_is_answered_as_a_new_origin() {
    let mut state = lean_state();
    let now = Instant::now();
    assert!(answered(&mut state, "g1", now).0);
    let later = now + Duration::from_secs(31);
    state.sweep(later, Duration::from_secs(60));
    let moved = gossip("g2", "a", 9);
    let (plan, _) = state.on_gossip(&moved, later, &mut rng()).unwrap();
    assert_eq!(plan.reply_to.as_deref(), Some("127.0.0.1:9"));
    assert_eq!(state.peers["a"].port, 9);
}

#[test]
fn a_peer_that_is_not_quiet_keeps_what_we_did_for_it_wherever_it_moves() {
    let mut state = lean_state();
    let now = Instant::now();
    assert!(answered(&mut state, "g1", now).0);
    for (n, elsewhere) in [9, 10, 9, 10].into_iter().enumerate() {
        let moved = gossip(&format!("m{n}"), "a", elsewhere);
        let (plan, _) = state.on_gossip(&moved, now, &mut rng()).unwrap();
        assert_eq!(plan.reply_to, None, "answered already");
        assert_eq!(state.peers["a"].port, elsewhere);
    }
}

#[test]
fn a_peer_that_moved_is_forwarded_again_as_a_newcomer_while_its_answer_waits() {
    let mut state = lean_state();
    let t0 = Instant::now();
    let s = Duration::from_secs(1);
    let rounds = crate::peer::policy::NEWCOMER_ROUNDS;
    for round in 0..rounds {
        answered(&mut state, &format!("g{round}"), t0 + round * s);
    }
    assert_eq!(
        answered(&mut state, "late", t0 + rounds * s),
        (false, false)
    );
    // Restarted at another port before we found it quiet: the others must hear of it there.
    let moved = gossip("m", "a", 9);
    let (plan, _) = state
        .on_gossip(&moved, t0 + (rounds + 1) * s, &mut rng())
        .unwrap();
    assert!(!plan.forward_to.is_empty(), "forwarded");
    assert_eq!(plan.reply_to, None, "answered not long ago");
}

#[test]
fn a_peer_alternating_two_addresses_is_flooded_a_few_times_per_refresh_only() {
    let mut state = lean_state();
    let t0 = Instant::now();
    let ms = Duration::from_millis(100);
    let rounds = crate::peer::policy::NEWCOMER_ROUNDS as usize;
    let forwards = |state: &mut PeerState, from: u32, to: u32, start: Instant| {
        let mut n = 0;
        for i in from..to {
            let moved = gossip(&format!("m{i}"), "a", [9, 10][i as usize % 2]);
            let (plan, _) = state.on_gossip(&moved, start + i * ms, &mut rng()).unwrap();
            n += usize::from(!plan.forward_to.is_empty());
        }
        n
    };
    answered(&mut state, "g0", t0);
    // A newcomer's floods again at its first move, then none for a refresh.
    assert_eq!(forwards(&mut state, 0, 40, t0), rounds);
    let refresh = state.gossip_timing().refresh();
    assert_eq!(forwards(&mut state, 40, 80, t0 + refresh), rounds);
}

#[test]
fn a_known_origin_is_forwarded_for_its_first_rounds_then_every_half_timeout() {
    let mut state = lean_state();
    // More peers than our rounds reach within the timeout: floods keep them heard.
    for i in 0..150 {
        track(&mut state, &format!("many{i}"), 1000 + i);
    }
    let t0 = Instant::now();
    let s = Duration::from_secs(1);
    let rounds = crate::peer::policy::NEWCOMER_ROUNDS;
    for round in 0..rounds {
        let id = format!("g{round}");
        assert!(answered(&mut state, &id, t0 + round * s).1, "round {round}");
    }
    assert!(!answered(&mut state, "late", t0 + rounds * s).1);
    let refresh = state.gossip_timing().refresh();
    assert!(answered(&mut state, "due", t0 + (rounds - 1) * s + refresh).1);
}

#[test]
fn the_every_policy_answers_and_forwards_a_known_origin() {
    let mut state = lean_state();
    let timing = state.gossip_timing();
    state.set_gossip(crate::peer::policy::GossipTiming {
        policy: crate::peer::policy::GossipPolicy::Every,
        ..timing
    });
    let now = Instant::now();
    for i in 0..5 {
        assert_eq!(answered(&mut state, &format!("g{i}"), now), (true, true));
    }
}

#[test]
fn a_known_origin_is_not_forwarded_again_when_our_rounds_reach_everyone() {
    let mut state = lean_state();
    let t0 = Instant::now();
    let rounds = crate::peer::policy::NEWCOMER_ROUNDS;
    for round in 0..rounds {
        answered(&mut state, &format!("g{round}"), t0);
    }
    assert!(!answered(&mut state, "later", t0 + Duration::from_secs(120)).1);
}

#[test]
fn our_rounds_reach_every_tracked_peer_in_turn() {
    let mut state = lean_state();
    track(&mut state, "a", 1);
    let t0 = Instant::now();
    let mut reached: Vec<String> = (0..2)
        .flat_map(|round| state.round_targets(t0 + Duration::from_secs(round), &mut rng()))
        .collect();
    reached.sort();
    let all: Vec<String> = (1..=6).map(|port| format!("127.0.0.1:{port}")).collect();
    assert_eq!(reached, all);
}

#[test]
fn a_new_origin_is_greeted_once_with_our_own_gossip() {
    let mut state = lean_state();
    let now = Instant::now();
    let greet = |state: &mut PeerState, id: &str| {
        let (plan, _) = state
            .on_gossip(&gossip(id, "a", 1), now, &mut rng())
            .unwrap();
        plan.greet
    };
    assert!(greet(&mut state, "g1"));
    assert!(!greet(&mut state, "g2"));
}

#[test]
fn a_new_origin_that_sent_us_its_files_is_not_greeted() {
    let mut state = lean_state();
    let now = Instant::now();
    state.on_gossip_reply(&reply("a", 1, Vec::new()), now);
    let (plan, _) = state
        .on_gossip(&gossip("g1", "a", 1), now, &mut rng())
        .unwrap();
    assert!(!plan.greet);
    assert!(plan.reply_to.is_some(), "still answered: it is new to us");
}

#[test]
fn a_newcomer_greeting_us_many_times_is_forwarded_only_for_its_first_gossips() {
    let mut state = lean_state();
    let now = Instant::now();
    let rounds = crate::peer::policy::NEWCOMER_ROUNDS;
    let forwarded = (0..2 * rounds)
        .filter(|i| answered(&mut state, &format!("g{i}"), now).1)
        .count();
    assert_eq!(forwarded, rounds as usize);
}

#[test]
fn a_claim_of_an_unknown_file_of_ours_is_refused() {
    let mut state = state();
    state.on_announce(&announce("mallory", meta("f", "me", "1")));
    state.on_gossip_reply(&reply("m", 9, vec![meta("g", "me", "1")]), Instant::now());
    assert!(state.files.is_empty());
    assert_eq!(refused(&state, Reason::ForgedOwner), 2);
    // Our own file, known, gains holders as any other.
    state.hold(&meta("h", "me", "1"), "h.txt".into()).unwrap();
    track(&mut state, "m", 9);
    state.on_gossip_reply(&reply("m", 9, vec![meta("h", "me", "1")]), Instant::now());
    assert!(state.files["h"].holders.contains("m"));
    assert_eq!(refused(&state, Reason::ForgedOwner), 2);
}

fn held(meta: FileMeta, stored_as: &str) -> IndexEntry {
    IndexEntry {
        meta,
        holders: Vec::new(),
        stored_as: Some(stored_as.into()),
    }
}

#[test]
fn an_index_listing_one_id_twice_keeps_the_held_entry_once() {
    let unheld = IndexEntry {
        stored_as: None,
        ..held(meta("f", "PROF", "1"), "")
    };
    for index in [
        vec![unheld.clone(), held(meta("f", "PROF", "1"), "f.txt")],
        vec![held(meta("f", "PROF", "1"), "f.txt"), unheld.clone()],
    ] {
        let mut state = PeerState::new("me", Caps::default(), Arc::default(), index);
        assert_eq!(state.files()["f"].stored_as.as_deref(), Some("f.txt"));
        assert_eq!(state.index().len(), 1);
        // Its slot among the unheld files went with the unheld entry.
        let mut changes = Vec::new();
        state.caps.max_unheld_files = 1;
        assert!(state.make_room(&mut changes));
        assert!(changes.is_empty(), "{changes:?}");
    }
}

#[test]
fn restored_tombstones_forget_the_files_their_owners_deleted() {
    let index = vec![
        held(meta("gone", "PROF", "1"), "gone.txt"),
        held(meta("kept", "PROF", "1"), "kept.txt"),
        held(meta("other", "alice", "1"), "other.txt"),
    ];
    let mut state = PeerState::new("me", Caps::default(), Arc::default(), index);
    let tombstone = |id: &str| Tombstone {
        file_id: id.into(),
        owner: "PROF".into(),
        expires: u64::MAX,
        held: true,
    };
    let deleted = state.restore_tombstones(vec![tombstone("gone"), tombstone("other")]);
    let names: Vec<_> = deleted.iter().map(|r| r.stored_as.as_deref()).collect();
    assert_eq!(names, [Some("gone.txt")], "a tombstone names one owner");
    assert_eq!(state.files().keys().collect::<Vec<_>>(), ["kept", "other"]);
}

#[test]
fn a_lost_copy_leaves_the_file_known_with_its_holders() {
    let mut state = state();
    track(&mut state, "a", 9001);
    state.merge(&meta("f", "o", "1"), "a");
    state.hold(&meta("f", "o", "1"), "f.txt".into()).unwrap();
    assert_eq!(state.copy_lost("f", "other.txt"), []);
    assert_eq!(
        state.copy_lost("f", "f.txt"),
        [Change::FileChanged("f".into())]
    );
    let record = &state.files["f"];
    assert_eq!(record.stored_as, None);
    assert_eq!(record.holders, BTreeSet::from(["a".to_string()]));
    assert_eq!(state.copy_lost("f", "f.txt"), []);
}

#[test]
fn a_lost_copy_is_forgotten_when_no_unheld_file_may_be_kept() {
    let mut state = state_with(Caps {
        max_unheld_files: 0,
        ..Caps::default()
    });
    state.hold(&meta("f", "o", "1"), "f.txt".into()).unwrap();
    assert_eq!(
        state.copy_lost("f", "f.txt"),
        [Change::FileRemoved("f".into())]
    );
    assert!(state.files.is_empty());
}

#[test]
fn a_peer_offering_a_file_we_deleted_is_told_again_once_per_refresh() {
    let mut state = lean_state();
    state.hold(&meta("f", "me", "1"), "f.txt".into()).unwrap();
    state.forget("f", NOW).unwrap();
    let t0 = Instant::now();
    // Offered by a tracked peer, an untracked one, and (another file) deleted by someone else.
    state.merge(&meta("f", "me", "1"), "b");
    state.merge(&meta("f", "me", "1"), "stranger");
    state.on_delete(&delete("o", "g"), NOW);
    state.merge(&meta("g", "o", "1"), "c");
    assert_eq!(
        state.take_undeleted(t0),
        Some(("127.0.0.1:2".to_string(), "f".to_string()))
    );
    state.merge(&meta("f", "me", "1"), "b");
    assert_eq!(state.take_undeleted(t0 + Duration::from_secs(1)), None);
    state.merge(&meta("f", "me", "1"), "b");
    let refresh = state.gossip_timing().refresh();
    assert!(state.take_undeleted(t0 + refresh).is_some());
}

#[test]
fn a_claim_of_many_files_we_deleted_is_answered_with_one_delete_per_call_and_address() {
    let mut state = lean_state();
    for id in ["f1", "f2", "f3"] {
        state
            .hold(&meta(id, "me", "1"), format!("{id}.txt"))
            .unwrap();
        state.forget(id, NOW).unwrap();
    }
    let t0 = Instant::now();
    // Two ids at one address ("b" and "b2" both at port 2): one address, told once a file.
    track(&mut state, "b2", 2);
    for holder in ["b", "b2"] {
        for id in ["f1", "f2", "f3"] {
            state.merge(&meta(id, "me", "1"), holder);
        }
    }
    let mut told = Vec::new();
    while let Some(due) = state.take_undeleted(t0) {
        told.push(due);
        for holder in ["b", "b2"] {
            for id in ["f1", "f2", "f3"] {
                state.merge(&meta(id, "me", "1"), holder);
            }
        }
    }
    let files: Vec<&str> = told.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(files, ["f1", "f2", "f3"], "each file once to the address");
}
