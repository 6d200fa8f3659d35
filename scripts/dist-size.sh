#!/usr/bin/env bash
# Prints the size of the dashboard as it travels: each file of dist/ that the page loads (wasm,
# js, css, html), raw, gzip -9 and brotli (quality 11, through Node's zlib), and the totals.
#
#   scripts/dist-size.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../dist"

node - *.wasm *.js *.css index.html <<'JS'
const fs = require('node:fs');
const zlib = require('node:zlib');
const kib = (n) => (n / 1024).toFixed(1).padStart(8);
const rows = process.argv.slice(2).map((name) => {
  const raw = fs.readFileSync(name);
  const gzip = zlib.gzipSync(raw, { level: 9 }).length;
  const brotli = zlib.brotliCompressSync(raw, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 },
  }).length;
  return { name, raw: raw.length, gzip, brotli };
});
console.log(`${'file'.padEnd(40)} ${'raw KiB'.padStart(8)} ${'gzip'.padStart(8)} ${'brotli'.padStart(8)}`);
const total = { name: 'total', raw: 0, gzip: 0, brotli: 0 };
for (const r of rows) {
  console.log(`${r.name.padEnd(40)} ${kib(r.raw)} ${kib(r.gzip)} ${kib(r.brotli)}`);
  for (const k of ['raw', 'gzip', 'brotli']) total[k] += r[k];
}
console.log(`${total.name.padEnd(40)} ${kib(total.raw)} ${kib(total.gzip)} ${kib(total.brotli)}`);
JS
