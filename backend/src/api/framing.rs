//! Where the headers of each part of a multipart body begin and end, found as the body streams
//! past, so that headers no client needs can be refused before multer buffers them: multer
//! keeps everything before the first boundary, and a part's headers up to their blank line, in
//! memory, with no limit. Fed byte slices, it owns no socket and copies nothing: between slices
//! it carries only how much of a pattern it has matched.
//!
//! It follows multer's own reading, so that the bytes it counts are those multer holds: the
//! first `--boundary` may come anywhere; after a delimiter, `--` ends the body, else the line
//! ends (transport padding, CRLF) and the headers follow, up to the first `\r\n\r\n` after that
//! line; the content ends at the next `\r\n--boundary`.

/// The most bytes of an upload from its start, or from a delimiter, to the blank line that
/// ends the headers after it. Browsers send about 200.
pub const HEAD_LIMIT: usize = 16 << 10;

/// Headers too long to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TooLong {
    /// Nothing a client sends comes before the first delimiter but the odd empty line.
    #[error("more than {} KiB come before the upload's first part", HEAD_LIMIT >> 10)]
    Preamble,
    #[error("a part's headers are longer than {} KiB", HEAD_LIMIT >> 10)]
    Headers,
}

/// Which stretch of the body the next byte belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Before the first `--boundary`.
    Preamble,
    /// Right after a delimiter, `dashes` of the `--` that would end the body seen.
    Delimited { dashes: u8 },
    /// The rest of a delimiter's line, to its LF.
    DelimiterLine,
    /// A part's headers, to their blank line.
    Headers,
    /// A part's content, to the next delimiter: not counted.
    Content,
    /// After the closing delimiter: multer reads no further.
    Done,
}

/// A byte pattern with its Knuth-Morris-Pratt fallbacks, so that a match can be followed
/// byte by byte, across slices, without looking back.
struct Pattern {
    bytes: Vec<u8>,
    /// `fallback[k]`: the longest proper prefix of `bytes[..k]` that also ends it.
    fallback: Vec<usize>,
}

impl Pattern {
    fn new(bytes: Vec<u8>) -> Pattern {
        let mut fallback = vec![0; bytes.len() + 1];
        let mut k = 0;
        for i in 1..bytes.len() {
            while k > 0 && bytes[i] != bytes[k] {
                k = fallback[k];
            }
            if bytes[i] == bytes[k] {
                k += 1;
            }
            fallback[i + 1] = k;
        }
        Pattern { bytes, fallback }
    }

    /// How much is matched after `byte`, when `matched` (less than the whole) was before it.
    fn step(&self, mut matched: usize, byte: u8) -> usize {
        while matched > 0 && self.bytes[matched] != byte {
            matched = self.fallback[matched];
        }
        if self.bytes[matched] == byte {
            matched + 1
        } else {
            0
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// Follows a multipart body's framing and counts the bytes of each stretch of headers.
pub struct PartScanner {
    limit: usize,
    stage: Stage,
    /// How much of the current stage's pattern ends the bytes fed so far.
    matched: usize,
    /// Bytes since the start of the body or the last delimiter, while in the headers.
    head: usize,
    first: Pattern,
    delimiter: Pattern,
    blank: Pattern,
}

impl PartScanner {
    /// A scanner for a body whose boundary is `boundary`, refusing headers over [`HEAD_LIMIT`].
    pub fn new(boundary: &str) -> PartScanner {
        PartScanner::with_limit(boundary, HEAD_LIMIT)
    }

    fn with_limit(boundary: &str, limit: usize) -> PartScanner {
        let first = [b"--", boundary.as_bytes()].concat();
        let delimiter = [b"\r\n--", boundary.as_bytes()].concat();
        PartScanner {
            limit,
            stage: Stage::Preamble,
            matched: 0,
            head: 0,
            first: Pattern::new(first),
            delimiter: Pattern::new(delimiter),
            blank: Pattern::new(b"\r\n\r\n".to_vec()),
        }
    }

    /// Takes the next bytes of the body; an error once headers pass the limit (and then for
    /// good: the body is not to be read further).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), TooLong> {
        while !bytes.is_empty() {
            let used = match self.stage {
                Stage::Content => self.content(bytes),
                Stage::Done => bytes.len(),
                _ => self.head(bytes)?,
            };
            bytes = &bytes[used..];
        }
        Ok(())
    }

    /// Content up to and including the next delimiter; how many bytes that took.
    fn content(&mut self, bytes: &[u8]) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            if self.matched == 0 {
                // The delimiter starts with CR: the content between is skipped whole.
                match bytes[at..].iter().position(|&b| b == b'\r') {
                    Some(cr) => at += cr,
                    None => return bytes.len(),
                }
            }
            self.matched = self.delimiter.step(self.matched, bytes[at]);
            at += 1;
            if self.matched == self.delimiter.len() {
                self.stage = Stage::Delimited { dashes: 0 };
                self.matched = 0;
                self.head = 0;
                return at;
            }
        }
        at
    }

    /// Preamble, delimiter line and headers, byte by byte (at most `limit` of them in a row),
    /// until the content or the end; how many bytes that took.
    fn head(&mut self, bytes: &[u8]) -> Result<usize, TooLong> {
        for (at, &byte) in bytes.iter().enumerate() {
            self.head += 1;
            if self.head > self.limit {
                return Err(match self.stage {
                    Stage::Preamble => TooLong::Preamble,
                    _ => TooLong::Headers,
                });
            }
            match self.stage {
                Stage::Preamble => {
                    self.matched = self.first.step(self.matched, byte);
                    if self.matched == self.first.len() {
                        self.stage = Stage::Delimited { dashes: 0 };
                        self.matched = 0;
                    }
                }
                Stage::Delimited { dashes } if byte == b'-' => {
                    if dashes == 1 {
                        self.stage = Stage::Done;
                        return Ok(at + 1);
                    }
                    self.stage = Stage::Delimited { dashes: 1 };
                }
                Stage::Delimited { .. } | Stage::DelimiterLine => {
                    self.stage = match byte {
                        b'\n' => Stage::Headers,
                        _ => Stage::DelimiterLine,
                    };
                }
                Stage::Headers => {
                    self.matched = self.blank.step(self.matched, byte);
                    if self.matched == self.blank.len() {
                        self.stage = Stage::Content;
                        self.matched = 0;
                        return Ok(at + 1);
                    }
                }
                Stage::Content | Stage::Done => unreachable!("not head stages"),
            }
        }
        Ok(bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chrome's kind of boundary: its leading dashes make the delimiter overlap itself.
    const BOUNDARY: &str = "----WebKitFormBoundaryX7";
    /// A limit small enough for bodies that are cheap to split at every offset.
    const LIMIT: usize = 120;

    /// Feeds `body` whole, byte by byte, and split in two at every offset: each gives
    /// `expected`.
    fn check(body: &[u8], expected: Result<(), TooLong>) {
        let feed = |pieces: &[&[u8]]| {
            let mut scanner = PartScanner::with_limit(BOUNDARY, LIMIT);
            pieces.iter().try_for_each(|piece| scanner.feed(piece))
        };
        assert_eq!(feed(&[body]), expected, "whole");
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(feed(&bytes), expected, "byte by byte");
        for split in 0..=body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(feed(&[a, b]), expected, "split at {split}");
        }
    }

    /// A part with `headers` and `content`, after its delimiter.
    fn part(headers: &str, content: &[u8]) -> Vec<u8> {
        [
            format!("--{BOUNDARY}\r\n{headers}\r\n\r\n").as_bytes(),
            content,
            b"\r\n",
        ]
        .concat()
    }

    fn body(parts: &[Vec<u8>]) -> Vec<u8> {
        [parts.concat(), format!("--{BOUNDARY}--\r\n").into_bytes()].concat()
    }

    const DISPOSITION: &str = "Content-Disposition: form-data; name=\"file\"";

    #[test]
    fn a_well_formed_upload_passes() {
        check(&body(&[part(DISPOSITION, b"hello")]), Ok(()));
        check(
            &body(&[
                part("Content-Disposition: form-data; name=\"name\"", b"n"),
                part(DISPOSITION, b"x"),
            ]),
            Ok(()),
        );
    }

    #[test]
    fn content_is_not_counted_however_long() {
        check(&body(&[part(DISPOSITION, &[b'c'; 4 * LIMIT])]), Ok(()));
    }

    #[test]
    fn content_that_almost_holds_a_delimiter_is_content() {
        // Each near miss is as long as a head may be: one taken for a delimiter would push
        // the headers it seemed to start over the limit.
        let near = |miss: &[u8]| [miss, &[b'c'; LIMIT][..]].concat();
        let content = [
            near(b"\r\n--"),
            near(b"\r\r\n------WebKitFormBoundaryX"),
            near(format!("\r\n-{BOUNDARY}").as_bytes()),
            near(b"\n--"),
        ]
        .concat();
        check(&body(&[part(DISPOSITION, &content)]), Ok(()));
    }

    #[test]
    fn headers_of_exactly_the_limit_pass_and_one_byte_more_does_not() {
        // The delimiter line, then the header line, up to and including the blank line.
        let fixed = BOUNDARY.len() + "--\r\nX: \r\n\r\n".len();
        let sized = |n: usize| part(&format!("X: {}", "h".repeat(n - fixed)), b"x");
        check(&body(&[sized(LIMIT)]), Ok(()));
        check(&body(&[sized(LIMIT + 1)]), Err(TooLong::Headers));
    }

    #[test]
    fn headers_that_never_end_are_refused() {
        let endless = format!(
            "--{BOUNDARY}\r\n{DISPOSITION}\r\nX-Long: {}",
            "h".repeat(LIMIT)
        );
        check(endless.as_bytes(), Err(TooLong::Headers));
    }

    #[test]
    fn the_headers_of_a_later_part_are_counted_from_its_delimiter() {
        let long = format!("X-Long: {}", "h".repeat(LIMIT));
        check(
            &body(&[part(DISPOSITION, b"x"), part(&long, b"x")]),
            Err(TooLong::Headers),
        );
    }

    #[test]
    fn a_blank_line_right_after_the_delimiter_does_not_end_its_headers() {
        // multer looks for the blank line after the delimiter's own CRLF, as the scanner does.
        let sneaky = format!("--{BOUNDARY}\r\n\r\nX-Long: {}", "h".repeat(LIMIT));
        check(sneaky.as_bytes(), Err(TooLong::Headers));
    }

    #[test]
    fn a_long_preamble_is_refused_and_a_short_one_passes() {
        let with_preamble =
            |preamble: &[u8]| [preamble, &body(&[part(DISPOSITION, b"x")])].concat();
        check(&with_preamble(b"\r\n"), Ok(()));
        check(&with_preamble(&[b'p'; LIMIT]), Err(TooLong::Preamble));
        // A blank line in the preamble does not end it: only the first delimiter does.
        let blank_first = [&b"\r\n\r\n"[..], &[b'p'; LIMIT]].concat();
        check(&blank_first, Err(TooLong::Preamble));
    }

    #[test]
    fn nothing_after_the_closing_delimiter_is_counted() {
        let epilogue = [body(&[part(DISPOSITION, b"x")]), vec![b'e'; 4 * LIMIT]].concat();
        check(&epilogue, Ok(()));
    }
}
