//! The writes of a temporary file: straight to the disk (`O_DIRECT`) where the filesystem
//! allows it, through the page cache otherwise.
//!
//! A received file is written once and not read again until it is served, so copying it into
//! the page cache only costs: on the machines we measured, that copy took more CPU than
//! hashing the file. Direct writes need a block-aligned buffer, offset and length, so content
//! is gathered in an aligned stage and written a whole number of blocks at a time; the last
//! partial block, and everything on a filesystem that refuses direct writes, goes through the
//! page cache instead, on a second handle of the same file.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The alignment of direct writes: a multiple of every logical block size in use.
const BLOCK: usize = 4096;
/// The size of one direct write (the stage).
const STAGE: usize = 1 << 20;

/// Appends to a new file, directly when it can.
pub(super) struct Writer {
    file: File,
    path: PathBuf,
    /// Content not written yet, at `stage[start..start + filled]`, `start` aligned. Empty
    /// once the writes go through the page cache.
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
        if self.stage.is_empty() {
            return self.file.write_all(bytes);
        }
        while !bytes.is_empty() {
            let n = (STAGE - self.filled).min(bytes.len());
            let at = self.start + self.filled;
            self.stage[at..at + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == STAGE {
                self.write_stage()?;
            }
        }
        Ok(())
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

    /// Writes the whole blocks of the stage and moves the rest to its front.
    fn write_stage(&mut self) -> io::Result<()> {
        let whole = self.filled / BLOCK * BLOCK;
        let stage = &self.stage[self.start..self.start + whole];
        match self.file.write_all(stage) {
            Ok(()) => {}
            // Refused after all (alignment rules of this filesystem): nothing was written.
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

    #[test]
    fn pieces_of_any_size_read_back_whole_after_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..3 * STAGE + 5000)
            .map(|i| (i * 31 + i / 7) as u8)
            .collect();
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
