#!/usr/bin/env bash
# Builds the dashboard (frontend/) into dist/, which is committed and embedded by the backend.
#
#   scripts/build-dist.sh           install missing tools, build dist/, record its source hash
#   scripts/build-dist.sh --check   exit 1 if dist/ was built from other sources than these
#
# Tools (installed when missing, never downloaded as prebuilt binaries):
#   - the wasm32-unknown-unknown target (rustup)
#   - trunk 0.21.14 (cargo install --locked)
#   - wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock (cargo install; its
#     --locked build does not resolve, so it is installed without). frontend/Trunk.toml names
#     the same version, so trunk takes it from PATH; `offline = true` forbids any download.
#   - binaryen 132 (wasm-opt), from npm into .tools/binaryen (git-ignored), put first on PATH.
#     frontend/Trunk.toml pins wasm_opt = "version_132", so trunk refuses any other wasm-opt.
#     Debian's binaryen 108 must never be used: its -Oz output breaks the app at run time.
#   - terser 5.51.4, from npm into .tools/terser (git-ignored): minifies wasm-bindgen's JS glue,
#     which trunk's own minifier cannot parse. The page's integrity attribute for that file is
#     then rewritten to the minified file's sha384.
#
# The wasm is built with the `wasm-release` profile (Cargo.toml: opt-level "z", LTO, one codegen
# unit, abort on panic), then wasm-opt -Oz. Each file the page loads (html, js, wasm, css) is
# then compressed once, at the best settings, into `<file>.br` (brotli quality 11) and
# `<file>.gz` (gzip -9) beside it, through Node's zlib; the peer serves these to clients that
# accept them instead of compressing on the fly at a lower quality. scripts/dist-size.sh prints
# the three sizes of each file.
#
# Source hash, written to dist/.source-hash (one line, hex):
#   for every file in frontend/ and shared/ that git tracks or would track (git ignores the
#   rest, so a fresh clone hashes the same), and for the root Cargo.toml (the wasm-release
#   profile) and this script (the build's flags and tools), sorted by path in the C locale: its
#   path on one line, then `sha256sum < file`; then `Cargo.lock` and `sha256sum < Cargo.lock`;
#   all of that piped through sha256sum. Paths are relative to the repository root. Changing,
#   adding, removing or renaming any of these files changes it. Note that Cargo.toml and
#   Cargo.lock are hashed whole, so a backend dependency change also asks for a rebuild.
set -euo pipefail

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
TERSER_VERSION=5.51.4
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

source_hash() {
  {
    git ls-files --cached --others --exclude-standard -- frontend shared Cargo.toml scripts/build-dist.sh \
      | LC_ALL=C sort \
      | while IFS= read -r file; do
          echo "$file"
          sha256sum <"$file"
        done
    echo Cargo.lock
    sha256sum <Cargo.lock
  } | sha256sum | cut -d' ' -f1
}

if [[ "${1:-}" == "--check" ]]; then
  if [[ ! -f dist/.source-hash ]]; then
    echo "dist/ is stale: dist/.source-hash is missing; run scripts/build-dist.sh and commit dist/" >&2
    exit 1
  fi
  recorded="$(head -n1 dist/.source-hash)"
  current="$(source_hash)"
  if [[ "$recorded" != "$current" ]]; then
    echo "dist/ is stale: it was built from other sources (recorded $recorded, now $current)." >&2
    echo "Run scripts/build-dist.sh and commit dist/." >&2
    exit 1
  fi
  echo "dist/ is up to date with frontend/, shared/, Cargo.toml, Cargo.lock and this script ($current)"
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "usage: scripts/build-dist.sh [--check]" >&2
  exit 2
fi

# wasm-bindgen's version as Cargo.lock pins it (the line after its `name = ...`).
bindgen_version="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [[ -z "$bindgen_version" ]]; then
  echo "no wasm-bindgen in Cargo.lock; run cargo metadata or cargo build once first" >&2
  exit 1
fi
if ! grep -q "^wasm_bindgen = \"$bindgen_version\"" frontend/Trunk.toml; then
  echo "frontend/Trunk.toml must name wasm_bindgen = \"$bindgen_version\" (the Cargo.lock version)" >&2
  exit 1
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
if [[ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]]; then
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi
if [[ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $bindgen_version" ]]; then
  cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

BINARYEN="$ROOT/.tools/binaryen"
if [[ "$("$BINARYEN/node_modules/.bin/wasm-opt" --version 2>/dev/null || true)" != *"(version_${BINARYEN_VERSION%%.*})" ]]; then
  npm install --prefix "$BINARYEN" --no-audit --no-fund --no-save "binaryen@$BINARYEN_VERSION"
fi
export PATH="$BINARYEN/node_modules/.bin:$PATH"

TERSER="$ROOT/.tools/terser/node_modules/.bin/terser"
if [[ "$("$TERSER" --version 2>/dev/null || true)" != "terser $TERSER_VERSION" ]]; then
  npm install --prefix "$ROOT/.tools/terser" --no-audit --no-fund --no-save "terser@$TERSER_VERSION"
fi

# Panic messages in the wasm carry the source file of their location. Cargo names the
# workspace's own files relative to it (frontend/src/...), but a dependency's by its absolute
# path in this machine's cargo registry ($CARGO_HOME/registry/src/index.crates.io-<hash>/...),
# and the standard library's under /rustc/<commit>/. Each of those prefixes is remapped to
# nothing (`leptos-0.8.23/src/...`, `library/core/src/...`): the same sources then build the
# same dist/ on any machine, and the wasm is smaller. Set for trunk's cargo only (the wasm
# target), through CARGO_ENCODED_RUSTFLAGS, which takes paths with spaces and overrides any
# RUSTFLAGS from the environment that could make the build differ.
remaps=()
for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ "${CARGO_HOME:-$HOME/.cargo}"/git/checkouts/*/; do
  [[ -d "$dir" ]] && remaps+=("--remap-path-prefix=${dir%/}=")
done
rustc_commit="$(rustc -vV | awk '$1 == "commit-hash:" { print $2 }')"
remaps+=("--remap-path-prefix=/rustc/$rustc_commit=")
rustflags="$(IFS=$'\x1f'; echo "${remaps[*]}")"

(cd frontend && CARGO_ENCODED_RUSTFLAGS="$rustflags" trunk build --release)

for pattern in index.html '*.js' '*.wasm'; do
  if ! compgen -G "dist/$pattern" >/dev/null; then
    echo "trunk left no dist/$pattern" >&2
    exit 1
  fi
done
# The JS glue, minified as an ES module (its exports keep their names), and the page's
# integrity hash of it replaced by the minified file's; a page without that hash is an error.
sha384() {
  node -e 'const fs = require("node:fs"), crypto = require("node:crypto");
    process.stdout.write(crypto.createHash("sha384").update(fs.readFileSync(process.argv[1])).digest("base64"));' "$1"
}
for js in dist/*.js; do
  before="$(sha384 "$js")"
  "$TERSER" "$js" --module --compress --mangle --output "$js.min"
  mv "$js.min" "$js"
  after="$(sha384 "$js")"
  if ! grep -qF "sha384-$before" dist/index.html; then
    echo "dist/index.html has no integrity hash for $js" >&2
    exit 1
  fi
  sed -i "s|sha384-$before|sha384-$after|" dist/index.html
done
node - dist/index.html dist/*.js dist/*.wasm dist/*.css <<'JS'
const fs = require('node:fs');
const zlib = require('node:zlib');
for (const name of process.argv.slice(2)) {
  const raw = fs.readFileSync(name);
  const { BROTLI_PARAM_QUALITY, BROTLI_PARAM_SIZE_HINT, BROTLI_MAX_QUALITY } = zlib.constants;
  fs.writeFileSync(`${name}.br`, zlib.brotliCompressSync(raw, {
    params: { [BROTLI_PARAM_QUALITY]: BROTLI_MAX_QUALITY, [BROTLI_PARAM_SIZE_HINT]: raw.length },
  }));
  fs.writeFileSync(`${name}.gz`, zlib.gzipSync(raw, { level: 9 }));
}
JS
source_hash >dist/.source-hash
echo "dist/ built; source hash $(cat dist/.source-hash)"
bash scripts/dist-size.sh
