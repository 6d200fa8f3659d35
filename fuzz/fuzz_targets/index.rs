//! `store::parse_index` on arbitrary bytes as `metadata.json`: it never panics, and every
//! foreign value it keeps verbatim is one valid JSON value (so it can be written back out).

#![no_main]

use backend::protocol::Verbatim;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(index) = backend::store::parse_index(data) else {
        return;
    };
    for entry in index {
        for value in [&entry.meta.file_size, &entry.meta.file_timestamp] {
            assert_eq!(Verbatim::parse(value.json()).as_ref(), Some(value));
        }
    }
});
