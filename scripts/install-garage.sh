#!/usr/bin/env bash
# Installs Garage (the distributed S3 store the scale-out tests run on, issue 13) into a
# cache dir, once: `cargo install --locked garage@$GARAGE_VERSION`, LMDB metadata engine
# only (no sqlite/k2v/metrics: a third of the build). Prints the binary's path.
# Cold: ~25–35 min on 2 cores; warm: instant. Override the dir with IMGPORT_TOOLS.
set -euo pipefail
GARAGE_VERSION=${GARAGE_VERSION:-2.5.0}
root=${IMGPORT_TOOLS:-$HOME/.cache/imgport/tools}
bin="$root/bin/garage"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
  echo "$bin"; exit 0
fi
mkdir -p "$root"
echo "== cargo install --locked garage@$GARAGE_VERSION into $root (once)" >&2
CARGO_TARGET_DIR="$root/build" cargo install --locked --root "$root" \
  --no-default-features --features bundled-libs,lmdb "garage@$GARAGE_VERSION" >&2
rm -rf "$root/build"
"$bin" --version >&2
echo "$bin"
