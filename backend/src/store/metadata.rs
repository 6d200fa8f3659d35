//! The layout of `metadata.json`: our entries, a superset of the Python peers' layout, so
//! their files load too. Values from the wire are kept verbatim.

use crate::protocol::{FileMeta, Verbatim};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::io;

/// One file of the index as it is persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The wire description, values verbatim.
    pub meta: FileMeta,
    /// Peers recorded as holding a copy.
    pub holders: Vec<String>,
    /// Our copy's name in the storage folder, if we hold one.
    pub stored_as: Option<String>,
}

/// `metadata.json`'s entry layout, a superset of the Python peers' (`has_copy`,
/// `peers_with_file`), so their files load too. Read with the wire's tolerance (a Python peer
/// stores entries as they arrived, and people edit the file by hand): only `file_id` and
/// `file_timestamp` are required (without the timestamp the id cannot be checked against the
/// content, and we would announce a file no one can verify); a missing size is `0`, a name or
/// owner that is not a string is its JSON text, and anything unusable in the other fields
/// counts as absent.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredEntry {
    #[serde(default, deserialize_with = "lenient::text")]
    file_name: String,
    #[serde(default = "zero")]
    file_size: Verbatim,
    file_id: String,
    #[serde(default, deserialize_with = "lenient::text")]
    file_owner: String,
    file_timestamp: Verbatim,
    #[serde(default, serialize_with = "lenient::serialize_yes_no")]
    #[serde(deserialize_with = "lenient::yes_no")]
    has_copy: bool,
    #[serde(default, deserialize_with = "lenient::strings")]
    peers_with_file: Vec<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    stored_as: Option<String>,
    /// The copy's length and modification time when we last knew its content (see
    /// [`Fingerprint`]).
    #[serde(default, deserialize_with = "lenient::number")]
    #[serde(skip_serializing_if = "Option::is_none")]
    stored_len: Option<u64>,
    #[serde(default, deserialize_with = "lenient::signed")]
    #[serde(skip_serializing_if = "Option::is_none")]
    stored_mtime_ns: Option<i64>,
}

/// A copy's length and modification time (nanoseconds from the Unix epoch, negative before
/// it) when its content was last known to have its id: found changed at the next start or
/// read, the copy is hashed again before it is offered under that id (someone edited it in
/// the folder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub len: u64,
    pub mtime_ns: i64,
}

impl Fingerprint {
    /// The fingerprint of a file as its metadata gives it.
    pub fn of(metadata: &std::fs::Metadata) -> io::Result<Fingerprint> {
        let ns = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let mtime_ns = match metadata.modified()?.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => ns(after),
            Err(before) => -ns(before.duration()),
        };
        Ok(Fingerprint {
            len: metadata.len(),
            mtime_ns,
        })
    }

    /// The modification time in whole seconds from the Unix epoch, 0 for any time before it.
    pub fn mtime_secs(&self) -> u64 {
        u64::try_from(self.mtime_ns / 1_000_000_000).unwrap_or(0)
    }
}

impl StoredEntry {
    /// The entry with its copy's fingerprint.
    pub(super) fn fingerprinted(self, fingerprint: Option<Fingerprint>) -> Self {
        StoredEntry {
            stored_len: fingerprint.map(|f| f.len),
            stored_mtime_ns: fingerprint.map(|f| f.mtime_ns),
            ..self
        }
    }

    /// The fingerprint recorded with a copy of ours.
    fn fingerprint(&self) -> Option<Fingerprint> {
        Some(Fingerprint {
            len: self.stored_len?,
            mtime_ns: self.stored_mtime_ns?,
        })
    }
}

fn zero() -> Verbatim {
    Verbatim::integer(0)
}

/// Field readers that take any JSON value and never fail on it.
mod lenient {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    /// A string's value; another value's JSON text; `null` is empty.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        })
    }

    /// A whole number that fits a `u64`, or `None` for any other value.
    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Value::deserialize(d)?.as_u64())
    }

    /// A whole number that fits an `i64`, or `None` for any other value.
    pub fn signed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(Value::deserialize(d)?.as_i64())
    }

    /// A string, or `None` for any other value.
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            _ => None,
        })
    }

    /// The strings of a list; anything else is an empty list.
    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
    }

    /// `has_copy`: `"yes"`/`"no"` in the Python layout; booleans, `"true"` and non-zero numbers
    /// are yes too; anything else is no.
    pub fn yes_no<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Bool(b) => b,
            Value::String(t) => ["yes", "true", "1"]
                .iter()
                .any(|yes| t.trim().eq_ignore_ascii_case(yes)),
            Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
            _ => false,
        })
    }

    pub fn serialize_yes_no<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if *v { "yes" } else { "no" })
    }
}

/// The longest texts an entry of `metadata.json` may carry, in bytes: the caps that the same
/// fields get from the network (`--max-name-len`, `--max-field-len`). Every entry is announced
/// in our GOSSIP_REPLYs, so one entry too long for the other peers' message cap would hide all
/// our files from them.
#[derive(Clone, Copy, Debug)]
pub struct EntryCaps {
    /// Longest `file_name`.
    pub max_name: usize,
    /// Longest `file_id` and `file_owner`, and `file_size` and `file_timestamp` as JSON text.
    pub max_field: usize,
}

impl EntryCaps {
    /// No cap at all: for tools and tests that read a folder without running a peer on it.
    pub const NONE: EntryCaps = EntryCaps {
        max_name: usize::MAX,
        max_field: usize::MAX,
    };

    /// The first field of `meta` over its cap, as the network check (`PeerState::fits`) finds
    /// it: its name, its length and the cap.
    fn first_over(&self, meta: &FileMeta) -> Option<(&'static str, usize, usize)> {
        let fields = [
            ("file_id", meta.file_id.as_str()),
            ("file_owner", meta.file_owner.as_str()),
            ("file_size", meta.file_size.json()),
            ("file_timestamp", meta.file_timestamp.json()),
        ];
        let long_field = fields
            .into_iter()
            .find(|(_, text)| text.len() > self.max_field)
            .map(|(name, text)| (name, text.len(), self.max_field));
        let long_name = (meta.file_name.len() > self.max_name).then_some((
            "file_name",
            meta.file_name.len(),
            self.max_name,
        ));
        long_field.or(long_name)
    }
}

/// The entries of a `metadata.json`, and how many were left out for lack of a usable
/// `file_id` (a non-empty string other than `"null"`) or of a `file_timestamp`, for not
/// being objects, or for a field over its [`EntryCaps`].
#[derive(Debug, Default)]
pub struct ParsedIndex {
    pub entries: Vec<IndexEntry>,
    pub skipped: usize,
    /// The fingerprints recorded with our copies, by stored name, with the id of the entry
    /// they were recorded for.
    pub fingerprints: HashMap<String, (String, Fingerprint)>,
    /// The object broke off (a file cut short, or damaged further on): `entries` are those
    /// before the damage.
    pub cut_short: bool,
}

/// Collects an object's entries as it is read, so that those before a damage are kept when
/// the rest cannot be read.
struct Entries<'a, 'de>(&'a mut Vec<(String, &'de RawValue)>);

impl<'de> serde::de::Visitor<'de> for Entries<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object of entries")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(entry) = map.next_entry()? {
            self.0.push(entry);
        }
        Ok(())
    }
}

/// The entries of a `metadata.json` (ours or the Python peers' layout, a leading UTF-8 BOM
/// allowed), each read on its own; `None` when the bytes are not a JSON object. An object
/// that breaks off gives the entries before the break (see [`ParsedIndex::cut_short`]). An entry over
/// `caps` is left out with a warning that says which field, never the text itself (it may be
/// megabytes).
pub fn read_index(bytes: &[u8], caps: EntryCaps) -> Option<ParsedIndex> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut found = Vec::new();
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let whole = serde::Deserializer::deserialize_map(&mut reader, Entries(&mut found))
        .and_then(|()| reader.end())
        .is_ok();
    if !whole && found.is_empty() {
        return None;
    }
    // In key order, as a save writes them.
    found.sort_by(|(a, _), (b, _)| a.cmp(b));
    let mut parsed = ParsedIndex {
        cut_short: !whole,
        ..ParsedIndex::default()
    };
    for (_, raw) in found {
        match serde_json::from_str::<StoredEntry>(raw.get()) {
            Ok(entry) if !entry.file_id.is_empty() && entry.file_id != "null" => {
                let fingerprint = entry.fingerprint();
                let entry = IndexEntry::from(entry);
                match caps.first_over(&entry.meta) {
                    None => {
                        if let (Some(name), Some(print)) = (&entry.stored_as, fingerprint) {
                            let id = entry.meta.file_id.clone();
                            parsed.fingerprints.insert(name.clone(), (id, print));
                        }
                        parsed.entries.push(entry)
                    }
                    Some((field, len, cap)) => {
                        let id = &entry.meta.file_id;
                        let which = match id.len() <= caps.max_field {
                            true => format!("the entry of {id}"),
                            false => "an entry".to_string(),
                        };
                        tracing::warn!(
                            "metadata.json: left out {which}: its {field} is {len} bytes long \
                             (at most {cap}, as from the network)"
                        );
                        parsed.skipped += 1;
                    }
                }
            }
            _ => parsed.skipped += 1,
        }
    }
    Some(parsed)
}

/// The entries [`read_index`] finds, without caps.
pub fn parse_index(bytes: &[u8]) -> Option<Vec<IndexEntry>> {
    read_index(bytes, EntryCaps::NONE).map(|parsed| parsed.entries)
}

impl From<StoredEntry> for IndexEntry {
    fn from(e: StoredEntry) -> Self {
        IndexEntry {
            meta: FileMeta {
                file_id: e.file_id,
                file_name: e.file_name,
                file_size: e.file_size,
                file_owner: e.file_owner,
                file_timestamp: e.file_timestamp,
            },
            holders: e.peers_with_file,
            stored_as: if e.has_copy {
                e.stored_as.or(Some(String::new()))
            } else {
                None
            },
        }
    }
}

impl From<IndexEntry> for StoredEntry {
    fn from(e: IndexEntry) -> Self {
        StoredEntry {
            file_name: e.meta.file_name,
            file_size: e.meta.file_size,
            file_id: e.meta.file_id,
            file_owner: e.meta.file_owner,
            file_timestamp: e.meta.file_timestamp,
            has_copy: e.stored_as.is_some(),
            peers_with_file: e.holders,
            stored_as: e.stored_as,
            stored_len: None,
            stored_mtime_ns: None,
        }
    }
}
