//! The writes of a temporary file: straight to the disk (`O_DIRECT`) where the filesystem
//! allows it, through the page cache otherwise.
//!
//! A received file is written once and not read again until it is served, so copying it into
//! the page cache only costs: on the machines we measured, that copy took more CPU than
//! hashing the file, and a transfer through the page cache took about 20% more CPU. Direct
//! writes need a block-aligned buffer, offset and length. Content that lies in memory at the
//! same offset from a block boundary as in the file ([`Piece`] arranges that) is written
//! straight from where it lies, in one write with the block it completes, and only its first
//! and last partial blocks are copied, into a small aligned stage; other content goes through
//! the stage whole. The last partial block
//! of the file, and everything on a filesystem that refuses direct writes, goes through the
//! page cache instead, on a second handle of the same file.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The alignment of direct writes: a multiple of every logical block size in use.
pub(super) const BLOCK: usize = 4096;
/// The size of the stage, the most written at once from it.
const STAGE: usize = 64 << 10;

/// Content on its way to a [`Writer`], placed in its buffer so that it can be written
/// straight from there: it starts at `skip`, as far past a block boundary of memory as its
/// first byte will be past one in the file.
pub struct Piece {
    buf: Vec<u8>,
    skip: usize,
}

impl Piece {
    /// An empty piece with no buffer yet; content appended to it is copied once on its way.
    pub fn new() -> Piece {
        Piece {
            buf: Vec::new(),
            skip: 0,
        }
    }

    /// An empty piece for content that starts at offset `at` of the file, with room for
    /// `capacity` bytes (appending more moves it, and it is copied once on its way).
    pub(super) fn for_offset(mut buf: Vec<u8>, capacity: usize, at: u64) -> Piece {
        buf.clear();
        buf.reserve(capacity + BLOCK);
        let behind = (at % BLOCK as u64) as usize;
        let skip = (behind + BLOCK - buf.as_ptr() as usize % BLOCK) % BLOCK;
        buf.resize(skip, 0);
        Piece { buf, skip }
    }

    /// The buffer to append content to. Only append: what is already in it stays.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub fn content(&self) -> &[u8] {
        &self.buf[self.skip..]
    }

    pub fn len(&self) -> usize {
        self.buf.len() - self.skip
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the content can be written straight from here when it starts at offset `at`.
    pub(super) fn fits(&self, at: u64) -> bool {
        (self.content().as_ptr() as usize % BLOCK) as u64 == at % BLOCK as u64
    }

    /// The buffer, for another piece.
    pub(super) fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

impl Default for Piece {
    fn default() -> Self {
        Piece::new()
    }
}

/// Appends to a new file, directly when it can.
pub(super) struct Writer {
    file: File,
    path: PathBuf,
    /// Content not written yet, at `stage[start..start + filled]`, `start` aligned, for file
    /// offsets from a block boundary on. Empty once the writes go through the page cache.
    stage: Vec<u8>,
    start: usize,
    filled: usize,
}

impl Writer {
    /// Creates `path`, which must not exist. Blocking.
    pub(super) fn create(path: &Path) -> io::Result<Writer> {
        let plain = OpenOptions::new().write(true).create_new(true).open(path)?;
        let (file, stage) = match open_direct(path) {
            Some(direct) => (direct, vec![0; STAGE + BLOCK]),
            None => (plain, Vec::new()),
        };
        let start = stage.as_ptr().align_offset(BLOCK).min(BLOCK);
        Ok(Writer {
            file,
            path: path.to_path_buf(),
            stage,
            start,
            filled: 0,
        })
    }

    /// Appends `bytes`. Blocking.
    pub(super) fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.stage.is_empty() {
                return self.file.write_all(bytes);
            }
            let aligned = bytes.as_ptr() as usize % BLOCK == self.filled % BLOCK;
            let head = (BLOCK - self.filled % BLOCK) % BLOCK;
            if aligned && self.filled < BLOCK && bytes.len() >= head + BLOCK {
                // The stage's partial block, completed, and the whole blocks after it, in
                // one write straight from where they lie.
                self.stage_bytes(&bytes[..head]);
                let body = &bytes[head..];
                let whole = body.len() / BLOCK * BLOCK;
                self.write_direct(&body[..whole])?;
                bytes = &body[whole..];
                continue;
            }
            let n = (STAGE - self.filled).min(bytes.len());
            self.stage_bytes(&bytes[..n]);
            bytes = &bytes[n..];
            if self.filled == STAGE {
                self.write_stage()?;
            }
        }
        Ok(())
    }

    /// Appends to the stage, which has room.
    fn stage_bytes(&mut self, bytes: &[u8]) {
        let at = self.start + self.filled;
        self.stage[at..at + bytes.len()].copy_from_slice(bytes);
        self.filled += bytes.len();
    }

    /// Writes out everything appended, then makes it durable. Blocking.
    pub(super) fn sync(&mut self) -> io::Result<()> {
        if !self.stage.is_empty() {
            self.write_stage()?;
            if self.filled > 0 {
                // A partial block cannot be written directly.
                self.buffered()?;
            }
        }
        self.file.sync_all()
    }

    /// Writes the stage, which holds no partial block, then `body`, whole blocks at an
    /// aligned address, as one write.
    fn write_direct(&mut self, body: &[u8]) -> io::Result<()> {
        let staged = &self.stage[self.start..self.start + self.filled];
        let mut slices = [IoSlice::new(staged), IoSlice::new(body)];
        let mut left = &mut slices[..];
        let mut written = 0;
        while !left.is_empty() {
            match self.file.write_vectored(left) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    written += n;
                    IoSlice::advance_slices(&mut left, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Refused (alignment rules of this filesystem): nothing was written.
                Err(e) if e.kind() == io::ErrorKind::InvalidInput && written == 0 => {
                    self.buffered()?;
                    return self.file.write_all(body);
                }
                Err(e) => return Err(e),
            }
        }
        self.filled = 0;
        Ok(())
    }

    /// Writes the whole blocks of the stage and moves the rest to its front.
    fn write_stage(&mut self) -> io::Result<()> {
        let whole = self.filled / BLOCK * BLOCK;
        if whole == 0 {
            return Ok(());
        }
        let stage = &self.stage[self.start..self.start + whole];
        match self.file.write_all(stage) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return self.buffered(),
            Err(e) => return Err(e),
        }
        let range = self.start + whole..self.start + self.filled;
        self.stage.copy_within(range, self.start);
        self.filled -= whole;
        Ok(())
    }

    /// Switches to writing through the page cache, after what the stage holds.
    fn buffered(&mut self) -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).open(&self.path)?;
        file.seek(SeekFrom::End(0))?;
        file.write_all(&self.stage[self.start..self.start + self.filled])?;
        self.file = file;
        self.stage = Vec::new();
        self.filled = 0;
        Ok(())
    }
}

/// A second handle of `path` that writes directly, if the filesystem allows it.
#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_: &Path) -> Option<File> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few stages and a tail that ends mid-block, no two blocks alike.
    fn content() -> Vec<u8> {
        (0..3 * STAGE + 5000)
            .map(|i| (i * 31 + i / 7) as u8)
            .collect()
    }

    #[test]
    fn pieces_of_any_size_read_back_whole_after_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content = content();
        let mut writer = Writer::create(&path).unwrap();
        let mut rest = &content[..];
        for size in [1, BLOCK - 1, BLOCK + 1, STAGE + 3, 100, STAGE]
            .iter()
            .cycle()
        {
            if rest.is_empty() {
                break;
            }
            let (piece, after) = rest.split_at((*size).min(rest.len()));
            writer.write(piece).unwrap();
            rest = after;
        }
        writer.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), content);
    }

    #[test]
    fn pieces_placed_for_their_offsets_read_back_whole_after_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content = content();
        let mut writer = Writer::create(&path).unwrap();
        let (mut rest, mut at) = (&content[..], 0);
        for size in [BLOCK + 1, 3 * BLOCK, 10, STAGE + 7].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, after) = rest.split_at((*size).min(rest.len()));
            let mut placed = Piece::for_offset(Vec::new(), piece.len(), at);
            placed.buf().extend_from_slice(piece);
            assert!(placed.fits(at));
            writer.write(placed.content()).unwrap();
            (rest, at) = (after, at + piece.len() as u64);
        }
        writer.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), content);
    }

    #[test]
    fn a_file_shorter_than_a_block_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut writer = Writer::create(&path).unwrap();
        writer.write(b"short").unwrap();
        writer.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }

    #[test]
    fn creating_an_existing_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"kept").unwrap();
        assert!(Writer::create(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
    }
}
