//! Whole peers on 127.0.0.1: a network of real nodes, foreign peers speaking the protocol byte
//! by byte, hostile ones (trickling, flooding, stalling), the HTTP API over a real socket, a
//! large transfer, peers killed mid-transfer, strangers forging and flooding, the console, and
//! peer processes on separate hosts (network namespaces) behind fault proxies.

mod big;
mod churn;
mod console;
mod crash;
mod demo;
mod foreign;
mod hostile;
mod lean;
mod netns;
mod network;
mod outgoing;
mod proxy;
mod sizes;
mod support;
mod trust;
mod websocket;
