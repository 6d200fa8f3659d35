//! The rule an uploaded file's name must follow, checked by the peer and, before sending, by
//! the dashboard: one rule and one wording for both.

use std::fmt;

/// The longest file name a peer takes by default (`--max-name-len`), in bytes.
pub const DEFAULT_MAX_NAME_LEN: usize = 255;

/// Why a peer refuses an upload's file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRefusal {
    /// Empty or blank.
    NoName,
    /// `.` or `..`, or holds a path separator or a control character, which peers that write
    /// names as paths would follow.
    NotPlain,
    /// Longer than the peer's `--max-name-len`, in bytes.
    TooLong(usize),
}

impl fmt::Display for NameRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRefusal::NoName => f.write_str("the uploaded file has no name"),
            NameRefusal::NotPlain => f.write_str(
                "the file name must not be '.' or '..', nor contain '/', '\\' or control characters",
            ),
            NameRefusal::TooLong(max) => write!(f, "the file name is longer than {max} bytes"),
        }
    }
}

/// Why `name`, already trimmed, is not a plain file name of at most `max_bytes` bytes.
pub fn name_refusal(name: &str, max_bytes: usize) -> Option<NameRefusal> {
    if name.is_empty() {
        Some(NameRefusal::NoName)
    } else if matches!(name, "." | "..")
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        Some(NameRefusal::NotPlain)
    } else if name.len() > max_bytes {
        Some(NameRefusal::TooLong(max_bytes))
    } else {
        None
    }
}
