#!/usr/bin/env bash
# Prints the size of the dashboard as the peer serves it: each file of dist/ that the page loads
# (html, js, wasm, css), raw and as its precompressed `.gz` and `.br` (see build-dist.sh), and
# the totals. `bench` measures the same over HTTP from a running peer.
#
#   scripts/dist-size.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../dist"

kib() { awk -v n="$1" 'BEGIN { printf "%8.1f", n / 1024 }'; }
printf '%-40s %8s %8s %8s\n' file 'raw KiB' gzip brotli
total_raw=0 total_gz=0 total_br=0
for file in index.html *.js *.wasm *.css; do
  raw=$(stat -c %s "$file")
  gz=$(stat -c %s "$file.gz")
  br=$(stat -c %s "$file.br")
  printf '%-40s %s %s %s\n' "$file" "$(kib "$raw")" "$(kib "$gz")" "$(kib "$br")"
  total_raw=$((total_raw + raw)) total_gz=$((total_gz + gz)) total_br=$((total_br + br))
done
printf '%-40s %s %s %s\n' total "$(kib "$total_raw")" "$(kib "$total_gz")" "$(kib "$total_br")"
