#!/usr/bin/env bash
# Benchmarks imgport against qemu-img on the same image, in the same run, side by side
# (issue 16 item 5): prints the README's benchmark table — every row the median wall time of
# BENCH_RUNS runs (default 3), with the ratio imgport/qemu-img and the output sizes — and the
# remote-check rows (`imgport check URL` through the test suite's range server at 0 and
# BENCH_DELAY_MS, default 50 ms per request: requests, dependent round trips, bytes, wall).
# Not a test (wall time on a shared machine is noisy: the script prints the load average
# before and after; say which runs were noisy when you copy the table).
#
# usage: scripts/bench.sh [IMAGE]   (default: the Debian 12 guest fixture, 3 GiB virtual)
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=${IMGPORT_FIXTURES:-$HOME/.cache/imgport/fixtures}
runs=${BENCH_RUNS:-3}
delay=${BENCH_DELAY_MS:-50}
cargo build --release -q -p imgport
cargo build --release -q -p imgport-test-support --example range_server
bin=$PWD/target/release/imgport
ranged=$PWD/target/release/examples/range_server
if [ $# -eq 0 ]; then
  bash tests/fixtures/guest-images.sh "$fixtures" >/dev/null
  set -- "$fixtures/guest/debian12-cloud.qcow2"
fi
img=$1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
qemu-img convert -O raw "$img" "$tmp/src.raw"

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
# median CACHE CMD… → median wall seconds of $runs runs. CACHE: cold (caches dropped before
# each run) or warm (the source read once first; dirty pages of the last run flushed).
# A CMD whose last argument is an output under $tmp gets a fresh output each run.
median() {
  local cache=$1; shift
  local out=${*: -1} times=()
  for _ in $(seq "$runs"); do
    case "$out" in "$tmp"/out*) rm -f "$out" ;; esac
    if [ "$cache" = cold ]; then drop_caches; else sync; fi
    /usr/bin/time -f "%e" -o "$tmp/t" "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    times+=("$(cat "$tmp/t")")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}
ratio() { python3 -c "print(f'{$2/$1:.2f}×' if $1 > 0 else '-')"; }
mb() { python3 -c "print(f'{$1/1e6:.1f} MB')"; }
# row LABEL CACHE QEMU_CMD… -- IMGPORT_CMD… → a table row; outputs under $tmp/out* get sizes and a qemu-img compare
row() {
  local label=$1 cache=$2; shift 2
  local q=() i=()
  while [ "$1" != "--" ]; do q+=("$1"); shift; done; shift; i=("$@")
  [ "$cache" = warm ] && cat "${q[-2]}" > /dev/null
  local tq ti; tq=$(median "$cache" "${q[@]}"); ti=$(median "$cache" "${i[@]}")
  local note=""
  if [[ "${q[-1]}" == "$tmp"/out* && -f "${q[-1]}" && -f "${i[-1]}" ]]; then
    note="$(mb "$(stat -c %s "${q[-1]}")") / $(mb "$(stat -c %s "${i[-1]}")")"
    qemu-img compare -q "${q[-1]}" "${i[-1]}" || note="$note, CONTENT DIFFERS"
  fi
  printf '| %s | %s s | %s s | %s | %s |\n' "$label" "$tq" "$ti" "$(ratio "$tq" "$ti")" "$note"
}

virt=$(qemu-img info --output=json "$img" | python3 -c 'import json,sys;print(json.load(sys.stdin)["virtual-size"])')
echo "$(basename "$img"): $(stat -c %s "$img") bytes, $virt virtual; $(nproc) cores; median of $runs runs; $(date -u '+%F %H:%M') UTC"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| operation | qemu-img | imgport | imgport/qemu-img | output size (qemu-img / imgport) |"
echo "|---|---|---|---|---|"
row "info" cold qemu-img info "$img" -- "$bin" info "$img"
row "measure -O qcow2" cold qemu-img measure -O qcow2 "$img" -- "$bin" measure "$img"
row "convert (uncompressed), qcow2 source, cold cache" cold \
  qemu-img convert -O qcow2 "$img" "$tmp/out-q.qcow2" -- "$bin" convert --force "$img" "$tmp/out-i.qcow2"
row "convert (uncompressed), raw source, page cache warm" warm \
  qemu-img convert -O qcow2 "$tmp/src.raw" "$tmp/out-q.qcow2" -- "$bin" convert --force "$tmp/src.raw" "$tmp/out-i.qcow2"
row "convert (uncompressed), qcow2 source, page cache warm" warm \
  qemu-img convert -O qcow2 "$img" "$tmp/out-q.qcow2" -- "$bin" convert --force "$img" "$tmp/out-i.qcow2"
row "convert -c (zlib)" warm \
  qemu-img convert -c -O qcow2 "$img" "$tmp/out-qc.qcow2" -- "$bin" convert --force -c "$img" "$tmp/out-ic.qcow2"
row "convert -c, compression_type=zstd" warm \
  qemu-img convert -c -O qcow2 -o compression_type=zstd "$img" "$tmp/out-qz.qcow2" -- \
  "$bin" convert --force -c --compression zstd "$img" "$tmp/out-iz.qcow2"
echo
echo "| remote check (imgport check URL) | requests | dependent round trips | bytes | wall |"
echo "|---|---|---|---|---|"
for d in 0 "$delay"; do
  "$ranged" "$img" --delay-ms "$d" -- "$bin" check --json "{url}" > /dev/null 2> "$tmp/r" || true
  tail -1 "$tmp/r" | python3 -c '
import json,sys
r=json.loads(sys.stdin.read())
print("| %d ms per request | %d | %d | %.1f MB | %.2f s |" % (r["delay_ms"], r["requests"], r["waves"], r["bytes"] / 1e6, r["wall_s"]))'
done
# BENCH_GARAGE=1: the same check through a real object store — a 3-node Garage cluster on
# loopback (scripts/garage-cluster.sh), the image uploaded and checked by its presigned URL —
# and the store's own latency: a 64 KiB range GET of that URL (median of 5).
if [ "${BENCH_GARAGE:-0}" = 1 ]; then
  g=$tmp/garage; mkdir -p "$g"
  trap 'bash scripts/garage-cluster.sh stop "$g" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
  bash scripts/garage-cluster.sh start "$g" > /dev/null
  aws=${AWS_CLI:-$HOME/.cache/imgport/venv/bin/aws}
  (
    set -a; . "$g/env"; set +a
    "$aws" --endpoint-url "$S3_ENDPOINT" --region garage s3 cp --quiet "$img" s3://user-gz/bench.qcow2
    url=$("$aws" --endpoint-url "$S3_ENDPOINT" --region garage s3 presign s3://user-gz/bench.qcow2 --expires-in 3600)
    get=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' -r 0-65535 "$url"; done | sort -n | sed -n 3p)
    /usr/bin/time -f "%e" -o "$tmp/t" "$bin" check --json "$url" > /dev/null 2>&1 || true
    echo "| through a 3-node Garage (a 64 KiB range GET: $(python3 -c "print(f'{$get*1000:.0f}')") ms) | - | - | - | $(cat "$tmp/t") s |"
  )
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
