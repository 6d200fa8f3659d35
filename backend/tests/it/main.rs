//! Whole peers on 127.0.0.1: a network of real nodes, foreign peers speaking the protocol byte
//! by byte, the HTTP API over a real socket, a large transfer, and hostile strangers.

mod big;
mod foreign;
mod network;
mod support;
mod trust;
mod websocket;
