//! Whole peers on 127.0.0.1: a network of real nodes, foreign peers speaking the protocol byte
//! by byte, hostile ones abusing the socket layer, the HTTP API over a real socket, and a large
//! transfer.

mod big;
mod foreign;
mod hostile;
mod network;
mod support;
mod websocket;
