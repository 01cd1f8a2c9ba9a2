#!/usr/bin/env bash
# Builds the in-browser pre-check (issue 15 item 1) into web/pkg/ (git-ignored):
# crates/wasm for wasm32-unknown-unknown (the core crates with their pure-Rust codecs),
# then wasm-bindgen's ES-module glue. `imgport serve` embeds web/pkg/ when it is there
# at build time (crates/service/build.rs), so run this before `cargo build`.
# wasm-bindgen-cli is installed once, at the version crates/wasm pins, into
# ~/.cache/imgport/tools (cold ~4 min on 2 cores, then instant).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' crates/wasm/Cargo.toml)
[ -n "$version" ] || { echo "build-wasm.sh: no pinned wasm-bindgen version in crates/wasm/Cargo.toml" >&2; exit 1; }
tools=${IMGPORT_TOOLS:-$HOME/.cache/imgport/tools}
bindgen="$tools/wasm-bindgen-$version/bin/wasm-bindgen"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
if [ ! -x "$bindgen" ]; then
  echo "== installing wasm-bindgen-cli $version into $tools (once)"
  cargo install wasm-bindgen-cli --version "=$version" --root "$tools/wasm-bindgen-$version"
fi
echo "== building the in-browser check (crates/wasm → web/pkg)"
# Its own target dir: the host build's flags and features never mix with this one.
CARGO_TARGET_DIR=target/wasm cargo build --locked --release -p imgport-wasm \
  --target wasm32-unknown-unknown
rm -rf web/pkg.new
"$bindgen" --target web --no-typescript --out-dir web/pkg.new \
  target/wasm/wasm32-unknown-unknown/release/imgport_wasm.wasm
rm -rf web/pkg
mv web/pkg.new web/pkg
ls -l web/pkg
