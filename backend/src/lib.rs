//! A peer of the class gossip file-sharing network, with a live dashboard.
//!
//! See ARCHITECTURE.md for the code map and its invariants.

pub mod api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod net;
pub mod node;
pub mod peer;
pub mod protocol;
pub mod refusal;
pub mod store;
pub mod terminal;
pub mod traffic;
