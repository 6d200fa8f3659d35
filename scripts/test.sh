#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, the backend's unit and integration tests
# (codec, storage, a network of real peers, foreign and rude peers, a 256 MiB transfer, the HTTP
# API and the WebSocket), the dashboard's unit tests, the wasm32 build check, the freshness of
# dist/, and the end-to-end test of the dashboard in headless Chromium against two real peers.
#
# Prerequisites (installed by .ci/run on a fresh machine): the wasm32-unknown-unknown target,
# Debian's chromium, Node.js with npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "formatting"
cargo fmt --all --check

step "lints (native, all targets)"
cargo clippy --release --all-targets -- -D warnings

step "lints (dashboard, wasm32)"
cargo clippy --release -p frontend --target wasm32-unknown-unknown -- -D warnings

step "dist/ matches the dashboard sources"
bash scripts/build-dist.sh --check

step "backend and shared: unit and integration tests"
cargo test --release

step "dashboard: unit tests (native)"
cargo test --release -p frontend --lib

step "dashboard end to end in headless Chromium"
cargo build --release -p backend --bin peer
PEER_BIN="$PWD/target/release/peer" bash e2e/run.sh

printf '\nall tests passed\n'
