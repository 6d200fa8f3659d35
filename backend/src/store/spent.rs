//! Where the store's time goes while content comes in: hashing it, writing it to the disk,
//! making it durable. The threads doing the work count it; `/metrics` reads it, and so does
//! the transfer benchmark, to tell a transfer held back by the disk from one held back by
//! the processor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// One kind of work on incoming content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// SHA-256 of the content, on the hashing thread.
    Hash,
    /// The write calls of the content, on the writing thread.
    Write,
    /// Making the content durable (`fsync`) before it is committed.
    Sync,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Hash, Step::Write, Step::Sync];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Step::Hash => "hash",
            Step::Write => "write",
            Step::Sync => "sync",
        }
    }
}

/// Wall time spent on each [`Step`] by every temporary file of a store so far, in
/// nanoseconds. Wall time, not processor time: a write that waits for the disk counts whole.
#[derive(Debug, Default)]
pub struct Spent([AtomicU64; 3]);

impl Spent {
    /// Runs `work`, counting its wall time as `step`.
    pub(super) fn timed<T>(&self, step: Step, work: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = work();
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.0[step as usize].fetch_add(nanos, Ordering::Relaxed);
        out
    }

    /// Seconds spent on `step` so far.
    pub fn seconds(&self, step: Step) -> f64 {
        self.0[step as usize].load(Ordering::Relaxed) as f64 / 1e9
    }
}
