//! Turning names from strangers into safe file names inside the storage folder.

/// The longest stored name, in bytes (file systems allow 255).
const MAX_NAME: usize = 180;

/// A name that is a single plain path component: no separators, no `..`, no control
/// characters, no leading dot (hidden files are ours), never empty.
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
    if clean.is_empty() || clean == "metadata.json" {
        clean = format!("file_{clean}");
    }
    if clean.len() > MAX_NAME {
        let mut end = MAX_NAME;
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        clean.truncate(end);
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
        check("café.txt", "café.txt");
        assert_eq!(sanitize(&"é".repeat(200)).len(), 180);
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
