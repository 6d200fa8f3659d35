//! Turning names from strangers into safe file names inside the storage folder, and telling
//! our own files (metadata, journals, temporary files, the log) apart from content.

/// The longest stored name, in bytes (file systems allow 255).
const MAX_NAME: usize = 180;

/// Where a corrupt `metadata.json` is moved: this prefix, then digits and dashes.
pub const CORRUPT_PREFIX: &str = "metadata.json.corrupt-";
/// Where a Python peer's `metadata.json` is kept when we take its folder over: this prefix,
/// then digits and dashes.
pub const PYTHON_PREFIX: &str = "metadata.json.python-";

/// Whether `name` is never given to content by us, nor adopted as a file of ours when found
/// in the folder: every hidden name (ours, see [`is_ours`], or someone else's), `metadata.json`,
/// and its corrupt copies set aside. [`sanitize`] never yields one, so no stored file is ever
/// mistaken for ours. A hidden file that is not ours is held only when an entry names it (a
/// Python peer stores strangers' names as given, `.env` among them).
pub fn is_reserved(name: &str) -> bool {
    name.starts_with('.') || is_ours(name)
}

/// Whether `name` is exactly one that this peer gives its own files: `metadata.json`,
/// `.tombstones.json`, their copies set aside, the log, a commit journal or a temporary file.
/// Only these are ever deleted or set aside unasked, and none is ever a copy of a file: a
/// folder taken over from a Python peer may hold content under any other name.
pub fn is_ours(name: &str) -> bool {
    use super::tombstones::TOMBSTONES;
    let set_aside = |prefix: &str| {
        name.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        })
    };
    [super::METADATA, TOMBSTONES, super::LOG_FILE].contains(&name)
        || set_aside(CORRUPT_PREFIX)
        || set_aside(PYTHON_PREFIX)
        || set_aside(&format!("{TOMBSTONES}.corrupt-"))
        || super::journal::is_journal(name)
        || is_temp(name)
}

/// Whether `name` is one of our temporary files: [`super::TEMP_PREFIX`] then a random suffix,
/// for content (`Store::temp_file`), or then `metadata.json` or `.tombstones.json`, a dash and
/// a random suffix, for a save (`Store::replace_durably`).
pub fn is_temp(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(super::TEMP_PREFIX) else {
        return false;
    };
    let saved = [super::METADATA, super::tombstones::TOMBSTONES]
        .iter()
        .find_map(|saved| rest.strip_prefix(saved)?.strip_prefix('-'));
    is_random_suffix(saved.unwrap_or(rest))
}

/// Whether `text` is a random `u64` as our names carry it (`{:016x}`): 16 lowercase hex digits.
pub fn is_random_suffix(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A name that is a single plain path component: no separators, no `..`, no control
/// characters, no leading dot (hidden files are ours), never a reserved name, never empty.
pub fn sanitize(name: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = clean.trim_matches(|c: char| c.is_whitespace() || c == '.');
    clean = trimmed.to_string();
    if clean.len() > MAX_NAME {
        let mut end = MAX_NAME;
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        clean.truncate(end);
    }
    // Last, since cutting a name short can make it reserved.
    if clean.is_empty() || is_reserved(&clean) {
        clean = format!("file_{clean}");
    }
    clean
}

/// Candidate names for a file, in order of preference: the clean name, then the name with a
/// piece of the id, then numbered variants.
pub fn candidates(clean: &str, file_id: &str) -> impl Iterator<Item = String> {
    let (stem, ext) = match clean.rfind('.') {
        Some(dot) if dot > 0 => (clean[..dot].to_string(), clean[dot..].to_string()),
        _ => (clean.to_string(), String::new()),
    };
    let short: String = sanitize(file_id).chars().take(8).collect();
    std::iter::once(clean.to_string())
        .chain(std::iter::once(format!("{stem}-{short}{ext}")))
        .chain((2..).map(move |n| format!("{stem}-{short}-{n}{ext}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(sanitize(input), expected, "{input:?}");
    }

    #[test]
    fn hostile_names_become_plain_components() {
        check("notes.txt", "notes.txt");
        check("../../x", "_.._x");
        check("/etc/passwd", "_etc_passwd");
        check("..", "file_");
        check("", "file_");
        check(".hidden", "hidden");
        check("a\\b", "a_b");
        check("nul\0byte\n", "nul_byte_");
        check("C:\\Windows", "C__Windows");
        check("metadata.json", "file_metadata.json");
        check(
            "metadata.json.corrupt-1749713822",
            "file_metadata.json.corrupt-1749713822",
        );
        check(".tmp-0123456789abcdef", "tmp-0123456789abcdef");
        check(".commit-0123456789abcdef", "commit-0123456789abcdef");
        check(".peer.log", "peer.log");
        check("café.txt", "café.txt");
        assert_eq!(sanitize(&"é".repeat(200)).len(), 180);
        // Reserved only once cut to length.
        let long = format!(
            "{CORRUPT_PREFIX}{}x",
            "1".repeat(MAX_NAME - CORRUPT_PREFIX.len())
        );
        let cut = sanitize(&long);
        assert!(!is_reserved(&cut), "{cut}");
        assert_eq!(cut, format!("file_{}", &long[..MAX_NAME]));
    }

    #[test]
    fn only_our_own_names_are_reserved() {
        for ours in [
            "metadata.json",
            "metadata.json.corrupt-1749713822",
            "metadata.json.corrupt-1749713822-2",
            "metadata.json.python-1749713822",
            ".tmp-metadata.json",
            ".commit-00ff",
            ".peer.log",
        ] {
            assert!(is_reserved(ours), "{ours}");
        }
        for content in [
            "metadata.json.txt",
            "metadata.jsonx",
            "metadata.json.bak",
            "metadata.json.corrupt-",
            "metadata.json.corrupt-1.txt",
            "xmetadata.json",
            "peer.log",
        ] {
            assert!(!is_reserved(content), "{content}");
        }
    }

    #[test]
    fn only_the_exact_names_we_make_are_ours() {
        for ours in [
            "metadata.json",
            "metadata.json.corrupt-1749713822-2",
            ".tombstones.json",
            ".tombstones.json.corrupt-1749713822",
            ".peer.log",
            ".commit-0123456789abcdef",
            ".tmp-0123456789abcdef",
            ".tmp-metadata.json-0123456789abcdef",
            ".tmp-.tombstones.json-0123456789abcdef",
        ] {
            assert!(is_ours(ours), "{ours}");
        }
        for theirs in [
            ".commit-notes.txt",
            ".commit-0123456789abcde",
            ".commit-0123456789abcdef0",
            ".commit-0123456789ABCDEF",
            ".tmp-draft.txt",
            ".tmp-metadata.json",
            ".tmp-notes.txt-0123456789abcdef",
            ".tombstones.json.bak",
            ".env",
        ] {
            assert!(!is_ours(theirs), "{theirs}");
            assert!(is_reserved(theirs), "{theirs}: hidden, so never adopted");
        }
    }

    #[test]
    fn candidates_keep_the_extension() {
        let names: Vec<String> = candidates("EldenRing.txt", "1c1c51947e6c")
            .take(3)
            .collect();
        assert_eq!(
            names,
            [
                "EldenRing.txt",
                "EldenRing-1c1c5194.txt",
                "EldenRing-1c1c5194-2.txt"
            ]
        );
        let names: Vec<String> = candidates("README", "ab").take(2).collect();
        assert_eq!(names, ["README", "README-ab"]);
    }
}
