#!/usr/bin/env bash
# Builds the sample images with the real tools (cached) and runs imgport on a few of them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
fixtures=${IMGPORT_FIXTURES:-$HOME/.cache/imgport/fixtures}
bash tests/fixtures/disk-formats.sh "$fixtures" >/dev/null
scripts/build-wasm.sh >/dev/null   # the console's in-browser check, embedded by the build
cargo build --release -q
bin=target/release/imgport
d=$fixtures/disk
set -x
$bin info "$d/qcow2-zstd.qcow2"
$bin measure "$d/vmdk-stream.vmdk"
$bin info --json "$d/big-4g.qcow2"
$bin info "$d/bad-backing.qcow2" || true
$bin info --json "$d/bad-iso-mbr.img" || true
$bin inspect "$d/base.raw"
$bin check "$d/qcow2-zlib.qcow2" || true
$bin check "$d" || true
