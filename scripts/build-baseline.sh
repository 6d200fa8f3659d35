#!/usr/bin/env bash
# Builds the `peer` binary of an earlier commit, so that a benchmark can run it beside today's
# in the same run (`bench --baseline`, `gossip-bench --baseline`).
#
#   scripts/build-baseline.sh [COMMIT]    default: b1b068b, main before the speed and gossip work
#
# The commit is checked out into a temporary worktree and built with its own target folder
# (target/baseline-build), so today's target/release/peer is left alone. Prints the path of the
# copied binary, target/baseline/peer-<short commit>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
rev="$(git rev-parse --short "${1:-b1b068b}^{commit}")"
out="$ROOT/target/baseline/peer-$rev"
if [[ -x "$out" ]]; then
  echo "$out"
  exit 0
fi

tree="$(mktemp -d)"
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git worktree add --detach "$tree" "$rev" >&2
CARGO_TARGET_DIR="$ROOT/target/baseline-build" \
  cargo build --release --locked --manifest-path "$tree/Cargo.toml" -p backend --bin peer >&2
mkdir -p "$(dirname "$out")"
cp "$ROOT/target/baseline-build/release/peer" "$out"
echo "$out"
