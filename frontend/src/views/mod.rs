//! One panel per file. Each reads the `Dashboard` from context and never talks to the network
//! itself: actions go through `Dashboard` methods.

mod badge;
mod event_log;
mod files;
mod header;
mod peers;
mod table;
mod throughput;
mod transfers;
mod upload;

pub use event_log::EventLog;
pub use files::FilesPanel;
pub use header::Header;
pub use peers::PeersPanel;
pub use throughput::ThroughputPanel;
pub use transfers::TransfersPanel;
pub use upload::{DropOverlay, UploadPanel};
