//! The wire protocol of the class network (see PROTOCOL.md): messages, the streaming decoder,
//! the encoder and the file-id hash. No sockets, no clock, no disk.

mod codec;
pub mod encode;
mod message;

pub use codec::{DecodeError, Decoder, MAX_SMALL_MESSAGE};
pub use message::{
    parse_message, Announce, Delete, FileMeta, Gossip, GossipReply, Message, MessageError,
    Verbatim, MAX_REPLY_FILES,
};

use sha2::{Digest, Sha256};

/// Hashes a file's content as it streams by; [`IdHasher::finish`] gives its `file_id`.
#[derive(Clone, Default)]
pub struct IdHasher(Sha256);

impl IdHasher {
    /// Feeds content bytes, in order.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// `sha256(content ‖ timestamp text)` in lowercase hex.
    pub fn finish(mut self, timestamp: &Verbatim) -> String {
        self.0.update(timestamp.hash_text().as_bytes());
        let mut out = Vec::with_capacity(64);
        encode::hex_into(&self.0.finalize(), &mut out);
        String::from_utf8(out).expect("hex is ASCII")
    }
}

/// The id of `content` announced with `timestamp`.
pub fn file_id(content: &[u8], timestamp: &Verbatim) -> String {
    let mut hasher = IdHasher::default();
    hasher.update(content);
    hasher.finish(timestamp)
}

#[cfg(test)]
mod tests;
