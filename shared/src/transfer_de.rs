//! `TransferDto`'s `Deserialize`, written by hand.
//!
//! The derive would read the flattened `state` (an internally tagged enum) by buffering every
//! field into serde's generic `Content` and reading it a second time: a second deserializer
//! that the wasm dashboard would carry for this one type. This reader takes each field once,
//! `state` as a plain word and `reason` beside it. It accepts what the derive accepts: fields
//! in any order, unknown fields ignored, missing `Option`s as `None`, a `reason` required for
//! `failed` and ignored otherwise; the tests hold the two to each other.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::{TransferDto, TransferStateDto};

impl<'de> Deserialize<'de> for TransferDto {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TransferVisitor)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Id,
    Kind,
    FileId,
    FileName,
    Peer,
    BytesDone,
    BytesTotal,
    StartedMs,
    FinishedMs,
    State,
    Reason,
    #[serde(other)]
    Other,
}

/// `TransferStateDto`'s tag alone.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum State {
    Running,
    Done,
    Failed,
}

/// Reads the next value into `slot`; a field seen twice is an error, as with the derive.
fn take<'de, A, T>(map: &mut A, slot: &mut Option<T>, name: &'static str) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

fn required<T, E: de::Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(name))
}

struct TransferVisitor;

impl<'de> Visitor<'de> for TransferVisitor {
    type Value = TransferDto;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a transfer")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TransferDto, A::Error> {
        let (mut id, mut kind, mut file_id, mut file_name, mut peer) =
            (None, None, None, None, None);
        let (mut bytes_done, mut bytes_total, mut started_ms, mut finished_ms) =
            (None, None, None, None);
        let (mut state, mut reason) = (None, None);
        while let Some(field) = map.next_key()? {
            match field {
                Field::Id => take(&mut map, &mut id, "id")?,
                Field::Kind => take(&mut map, &mut kind, "kind")?,
                Field::FileId => take(&mut map, &mut file_id, "file_id")?,
                Field::FileName => take(&mut map, &mut file_name, "file_name")?,
                Field::Peer => take(&mut map, &mut peer, "peer")?,
                Field::BytesDone => take(&mut map, &mut bytes_done, "bytes_done")?,
                Field::BytesTotal => take(&mut map, &mut bytes_total, "bytes_total")?,
                Field::StartedMs => take(&mut map, &mut started_ms, "started_ms")?,
                Field::FinishedMs => take(&mut map, &mut finished_ms, "finished_ms")?,
                Field::State => take(&mut map, &mut state, "state")?,
                Field::Reason => take(&mut map, &mut reason, "reason")?,
                Field::Other => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let state = match required(state, "state")? {
            State::Running => TransferStateDto::Running,
            State::Done => TransferStateDto::Done,
            State::Failed => TransferStateDto::Failed {
                reason: required(reason, "reason")?,
            },
        };
        Ok(TransferDto {
            id: required(id, "id")?,
            kind: required(kind, "kind")?,
            file_id: required(file_id, "file_id")?,
            file_name: required(file_name, "file_name")?,
            peer: peer.flatten(),
            bytes_done: required(bytes_done, "bytes_done")?,
            bytes_total: bytes_total.flatten(),
            started_ms: required(started_ms, "started_ms")?,
            finished_ms: finished_ms.flatten(),
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use crate::{TransferDto, TransferKind, TransferStateDto};

    /// `TransferDto` as the derive reads it, to hold the hand-written reader to.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Derived {
        id: u64,
        kind: TransferKind,
        file_id: String,
        file_name: String,
        peer: Option<String>,
        bytes_done: u64,
        bytes_total: Option<u64>,
        started_ms: u64,
        finished_ms: Option<u64>,
        #[serde(flatten)]
        state: TransferStateDto,
    }

    impl From<Derived> for TransferDto {
        fn from(d: Derived) -> Self {
            TransferDto {
                id: d.id,
                kind: d.kind,
                file_id: d.file_id,
                file_name: d.file_name,
                peer: d.peer,
                bytes_done: d.bytes_done,
                bytes_total: d.bytes_total,
                started_ms: d.started_ms,
                finished_ms: d.finished_ms,
                state: d.state,
            }
        }
    }

    fn transfer(state: TransferStateDto) -> TransferDto {
        TransferDto {
            id: 7,
            kind: TransferKind::AutoFetch,
            file_id: "f1".into(),
            file_name: "a \"b\".txt".into(),
            peer: Some("bob".into()),
            bytes_done: 1,
            bytes_total: None,
            started_ms: 2,
            finished_ms: Some(3),
            state,
        }
    }

    const HEAD: &str = r#"{"id":7,"kind":"auto_fetch","file_id":"f1","file_name":"a \"b\".txt","peer":"bob","bytes_done":1,"bytes_total":null,"started_ms":2,"finished_ms":3"#;

    #[test]
    fn each_state_is_written_as_before() {
        let cases = [
            (TransferStateDto::Running, r#","state":"running"}"#),
            (TransferStateDto::Done, r#","state":"done"}"#),
            (
                TransferStateDto::Failed {
                    reason: "gone".into(),
                },
                r#","state":"failed","reason":"gone"}"#,
            ),
        ];
        for (state, tail) in cases {
            let t = transfer(state);
            let text = serde_json::to_string(&t).unwrap();
            assert_eq!(text, format!("{HEAD}{tail}"));
            assert_eq!(
                serde_json::from_str::<TransferDto>(&text).unwrap(),
                t,
                "{text}"
            );
        }
    }

    /// Each input is read the same way by both, or refused by both.
    #[test]
    fn reads_what_the_derive_reads() {
        let inputs = [
            r#"{"id":1,"kind":"get","file_id":"f","file_name":"n","bytes_done":0,"started_ms":0,"state":"running"}"#,
            r#"{"state":"failed","reason":"r","id":1,"kind":"push","file_id":"f","file_name":"n","peer":null,"bytes_done":0,"bytes_total":9,"started_ms":0,"finished_ms":null}"#,
            r#"{"id":1,"kind":"incoming","file_id":"f","file_name":"n","bytes_done":0,"started_ms":0,"state":"done","reason":"x","extra":[1,{"a":2}]}"#,
            r#"{"id":1,"kind":"get","file_id":"f","file_name":"n","bytes_done":0,"started_ms":0,"state":"failed"}"#,
            r#"{"id":1,"kind":"get","file_id":"f","file_name":"n","bytes_done":0,"started_ms":0}"#,
            r#"{"id":1,"kind":"get","file_id":"f","file_name":"n","bytes_done":0,"started_ms":0,"state":"paused"}"#,
            r#"{"kind":"get","file_id":"f","file_name":"n","bytes_done":0,"started_ms":0,"state":"done"}"#,
            r#"{"id":1,"kind":"get","file_id":"f","file_name":"n","bytes_done":"0","started_ms":0,"state":"done"}"#,
            r#"{"id":1,"id":2,"kind":"get","file_id":"f","file_name":"n","bytes_done":0,"started_ms":0,"state":"done"}"#,
            r#"[1]"#,
        ];
        for input in inputs {
            let hand = serde_json::from_str::<TransferDto>(input).ok();
            let derived = serde_json::from_str::<Derived>(input)
                .ok()
                .map(TransferDto::from);
            assert_eq!(hand, derived, "{input}");
        }
    }
}
