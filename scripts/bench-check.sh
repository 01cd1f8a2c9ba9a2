#!/usr/bin/env bash
# Benchmarks `imgport inspect` and `imgport check` on every guest fixture (issue 4/5):
# wall time, peak RSS, bytes read and their share of the image file, cold page cache
# when we may drop it. virt-inspector is timed on the same files when it is installed
# (it conflicts with qemu-utils 10 here; install libguestfs-tools in a chroot and put
# it on PATH to compare). Not a test: numbers go to stdout (and into the README).
#
# usage: scripts/bench-check.sh [IMAGE…]   (default: tests/fixtures/guest-images.sh + windows.sh outputs)
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=${IMGPORT_FIXTURES:-$HOME/.cache/imgport/fixtures}
cargo build --release -q -p imgport
bin=$PWD/target/release/imgport
if [ $# -eq 0 ]; then
  bash tests/fixtures/guest-images.sh "$fixtures" >/dev/null
  bash tests/fixtures/windows.sh "$fixtures" >/dev/null 2>&1 || true
  set -- "$fixtures"/guest/*.qcow2 "$fixtures"/windows/*.raw
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '%-28s %-8s %9s %8s %12s %8s  %s\n' IMAGE CMD WALL RSS BYTES_READ SHARE RESULT
for img in "$@"; do
  size=$(stat -c %s "$img")
  for cmd in inspect check; do
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    /usr/bin/time -f "%e %M" -o "$tmp/t" "$bin" "$cmd" --json "$img" > "$tmp/out" 2>/dev/null || true
    read -r wall rss < <(tail -1 "$tmp/t")
    read -r bytes result < <(python3 - "$tmp/out" "$cmd" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
if sys.argv[2] == "inspect":
    print(v["image"]["bytes_read"], v["classification"]["kind"])
else:
    print(v["bytes_read"], ",".join(v["verdict"]["codes"]) or "importable")
PY
)
    printf '%-28s %-8s %7.2f s %5d MiB %12d %7.2f%%  %s\n' "$(basename "$img")" "$cmd" "$wall" "$((rss / 1024))" "$bytes" \
      "$(python3 -c "print(100*$bytes/$size)")" "$result"
  done
  if command -v virt-inspector >/dev/null 2>&1; then
    /usr/bin/time -f "%e %M" -o "$tmp/t" virt-inspector -a "$img" > /dev/null 2>&1 || true
    read -r wall rss < <(tail -1 "$tmp/t")
    printf '%-28s %-8s %7.2f s %5d MiB\n' "$(basename "$img")" virt-insp "$wall" "$((rss / 1024))"
  fi
done
