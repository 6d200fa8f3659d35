//! A peer of the class gossip file-sharing network, with a live dashboard.
//!
//! See ARCHITECTURE.md for the code map and its invariants.

pub mod protocol;
pub mod store;
