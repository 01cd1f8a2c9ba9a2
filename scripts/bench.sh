#!/usr/bin/env bash
# Benchmarks imgport against qemu-img on the same files, in the same run, side by side:
# info, measure, convert (plain and compressed), reporting wall time, peak RSS, output size
# and bytes read. Not a test: numbers go to stdout (and into the README by hand).
#
# usage: scripts/bench.sh [IMAGE…]   (default: the Debian 12 guest fixture, 3 GiB virtual)
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=${IMGPORT_FIXTURES:-$HOME/.cache/imgport/fixtures}
cargo build --release -q
bin=$PWD/target/release/imgport
if [ $# -eq 0 ]; then
  bash tests/fixtures/guest-images.sh "$fixtures" >/dev/null
  set -- "$fixtures/guest/debian12-cloud.qcow2"
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# run LABEL CMD… → "wall_s peak_rss_MiB"
run() {
  local label=$1; shift
  # Fresh outputs, no dirty pages of the previous run: each tool pays for its own writes.
  case "${@: -1}" in "$tmp"/*.qcow2) rm -f "${@: -1}" ;; esac
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -f "%e %M" -o "$tmp/t" "$@" > "$tmp/out" 2>/dev/null || true
  read -r wall rss < "$tmp/t"
  printf '  %-44s %8.2f s %8d MiB\n' "$label" "$wall" "$((rss / 1024))"
}
size() { stat -c %s "$1"; }
for img in "$@"; do
  echo "== $img ($(size "$img") bytes; $(qemu-img info --output=json "$img" | python3 -c 'import json,sys;print(json.load(sys.stdin)["virtual-size"])') virtual)"
  # A raw copy for convert-from-raw numbers.
  qemu-img convert -O raw "$img" "$tmp/src.raw"
  run "qemu-img info"                     qemu-img info "$img"
  run "imgport info"                      "$bin" info "$img"
  echo "    imgport info read $("$bin" info --json "$img" | python3 -c 'import json,sys;print(json.load(sys.stdin)["bytes_read"])') bytes"
  run "qemu-img measure -O qcow2"         qemu-img measure -O qcow2 "$img"
  run "imgport measure"                   "$bin" measure "$img"
  for src in "$img" "$tmp/src.raw"; do
    s=$(basename "$src")
    run "qemu-img convert -O qcow2 ($s)"    qemu-img convert -O qcow2 "$src" "$tmp/q.qcow2"
    run "imgport convert ($s)"              "$bin" convert --force "$src" "$tmp/i.qcow2"
    printf '    sizes: qemu-img %d, imgport %d\n' "$(size "$tmp/q.qcow2")" "$(size "$tmp/i.qcow2")"
    run "qemu-img convert -c -O qcow2 ($s)" qemu-img convert -c -O qcow2 "$src" "$tmp/qc.qcow2"
    run "imgport convert -c ($s)"           "$bin" convert --force -c "$src" "$tmp/ic.qcow2"
    printf '    sizes: qemu-img -c %d, imgport -c %d\n' "$(size "$tmp/qc.qcow2")" "$(size "$tmp/ic.qcow2")"
    run "qemu-img convert -c zstd ($s)"     qemu-img convert -c -O qcow2 -o compression_type=zstd "$src" "$tmp/qz.qcow2"
    run "imgport convert -c zstd ($s)"      "$bin" convert --force -c --compression zstd "$src" "$tmp/iz.qcow2"
    printf '    sizes: qemu-img zstd %d, imgport zstd %d\n' "$(size "$tmp/qz.qcow2")" "$(size "$tmp/iz.qcow2")"
    qemu-img compare "$tmp/q.qcow2" "$tmp/ic.qcow2" >/dev/null && echo "    outputs identical (qemu-img compare)"
  done
  if "$bin" check --help >/dev/null 2>&1; then
    run "imgport check --json"            "$bin" check --json "$img"
  fi
done
