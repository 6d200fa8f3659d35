#!/usr/bin/env bash
# Runs the dashboard's end-to-end tests in headless Chromium against real peers:
# dashboard.test.mjs (two peers, then a third) and many-files.test.mjs (one peer, 10,000 files).
# Usage: e2e/run.sh (from any folder). PEER_BIN overrides the peer binary
# (default target/release/peer; build it with `cargo build --release -p backend`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    echo "e2e: no Chromium at $CHROMIUM." >&2
    echo "e2e: install Debian's (apt-get update && apt-get install -y chromium), or set CHROMIUM to one." >&2
    exit 1
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "e2e: node and npm are needed (Node 20 or later)." >&2
    exit 1
fi

if [ ! -d node_modules ]; then
    npm ci --no-audit --no-fund
fi

npm test
