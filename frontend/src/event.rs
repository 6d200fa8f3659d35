//! Reads one message of the event WebSocket into a `ServerEvent`.
//!
//! `ServerEvent`'s derived `Deserialize` accepts `data` before `event`, and to do so it can
//! buffer the payload into serde's generic `Content` and read every DTO a second way: a second
//! copy of each DTO's deserializer in the wasm. The peer always writes `event` first (serde
//! writes the tag first), so this reader takes the tag, then reads `data` straight into the
//! variant's type, and refuses the other order. The tags are the derive's (`snake_case`); a
//! test holds them to it.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use shared::ServerEvent;

/// Parses one event; an unknown tag or a message with `data` first is an error.
pub fn parse(text: &str) -> Result<ServerEvent, serde_json::Error> {
    serde_json::from_str::<Event>(text).map(|e| e.0)
}

struct Event(ServerEvent);

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

#[derive(Deserialize)]
struct PeerGone {
    peer_id: String,
}

#[derive(Deserialize)]
struct FileGone {
    file_id: String,
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with `event`, then `data`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let key = |map: &mut A, want: &'static str| -> Result<(), A::Error> {
            match map.next_key::<&str>()? {
                Some(k) if k == want => Ok(()),
                _ => Err(de::Error::missing_field(want)),
            }
        };
        key(&mut map, "event")?;
        let tag: &str = map.next_value()?;
        key(&mut map, "data")?;
        let event = match tag {
            "snapshot" => ServerEvent::Snapshot(map.next_value()?),
            "peer_seen" => ServerEvent::PeerSeen(map.next_value()?),
            "peer_dropped" => ServerEvent::PeerDropped {
                peer_id: map.next_value::<PeerGone>()?.peer_id,
            },
            "file_changed" => ServerEvent::FileChanged(map.next_value()?),
            "file_removed" => ServerEvent::FileRemoved {
                file_id: map.next_value::<FileGone>()?.file_id,
            },
            "transfer" => ServerEvent::Transfer(map.next_value()?),
            "log" => ServerEvent::Log(map.next_value()?),
            _ => return Err(de::Error::custom("unknown event")),
        };
        if map.next_key::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a field after `data`"));
        }
        Ok(Event(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::*;

    /// One event of each kind. The match makes a new variant fail to compile here until it
    /// has a case in `parse` and in this list.
    fn every_event() -> Vec<ServerEvent> {
        let file = FileDto {
            file_id: "f1".into(),
            file_name: "a.txt".into(),
            size_bytes: Some(3),
            file_owner: "bob".into(),
            file_timestamp: "1750034796.9022326".into(),
            timestamp_secs: Some(1_750_034_796.902_232_6),
            holders: vec!["bob".into()],
            has_copy: true,
            owned: false,
        };
        let peer = PeerDto {
            peer_id: "bob".into(),
            host: "127.0.0.1".into(),
            port: 9001,
            last_seen_ms: 5,
            state: PeerStateDto::Quiet,
            health: Some(PeerHealthDto {
                last_error: Some("stalled".into()),
                ..PeerHealthDto::default()
            }),
        };
        let transfer = TransferDto {
            id: 7,
            kind: TransferKind::AutoFetch,
            file_id: "f1".into(),
            file_name: "a.txt".into(),
            peer: Some("bob".into()),
            bytes_done: 1,
            bytes_total: None,
            started_ms: 2,
            finished_ms: Some(3),
            state: TransferStateDto::Failed {
                reason: "gone".into(),
            },
        };
        let log = LogEntry {
            at_ms: 9,
            level: LogLevel::Warn,
            message: "hi".into(),
        };
        let events = vec![
            ServerEvent::Snapshot(SnapshotDto {
                status: StatusDto {
                    peer_id: "alice".into(),
                    host: "h".into(),
                    p2p_port: 1,
                    http_port: 2,
                    version: "v".into(),
                    uptime_secs: 3,
                    peer_count: 1,
                    file_count: 1,
                    held_count: 1,
                    max_file_size: Some(4),
                    max_name_len: Some(255),
                    now_ms: Some(5),
                },
                peers: vec![peer.clone()],
                files: vec![file.clone()],
                transfers: vec![transfer.clone()],
                log: vec![log.clone()],
            }),
            ServerEvent::PeerSeen(peer),
            ServerEvent::PeerDropped {
                peer_id: "bob".into(),
            },
            ServerEvent::FileChanged(file),
            ServerEvent::FileRemoved {
                file_id: "f1".into(),
            },
            ServerEvent::Transfer(transfer),
            ServerEvent::Log(log),
        ];
        for event in &events {
            match event {
                ServerEvent::Snapshot(_)
                | ServerEvent::PeerSeen(_)
                | ServerEvent::PeerDropped { .. }
                | ServerEvent::FileChanged(_)
                | ServerEvent::FileRemoved { .. }
                | ServerEvent::Transfer(_)
                | ServerEvent::Log(_) => {}
            }
        }
        events
    }

    #[test]
    fn reads_every_event_as_the_peer_writes_it() {
        for event in every_event() {
            let text = serde_json::to_string(&event).unwrap();
            assert_eq!(parse(&text).unwrap(), event, "{text}");
        }
    }

    #[test]
    fn refuses_data_before_event_and_unknown_tags() {
        assert!(parse(r#"{"data":{"peer_id":"b"},"event":"peer_dropped"}"#).is_err());
        assert!(parse(r#"{"event":"gossip","data":{}}"#).is_err());
        assert!(parse(r#"{"event":"log"}"#).is_err());
    }
}
