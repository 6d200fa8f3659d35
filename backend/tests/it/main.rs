//! Whole peers on 127.0.0.1: a network of real nodes, foreign peers speaking the protocol byte
//! by byte, the HTTP API over a real socket, a large transfer, and peers killed mid-transfer.

mod big;
mod crash;
mod foreign;
mod network;
mod support;
mod websocket;
