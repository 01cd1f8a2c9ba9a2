#!/usr/bin/env bash
# Benchmarks `imgport inspect` and `imgport check` on every guest fixture (issue 4/5):
# wall time, peak RSS, bytes read and their share of the image file, cold page cache
# when we may drop it. With BENCH_VIRT_INSPECTOR=1, libguestfs' virt-inspector (from a
# Debian chroot: it conflicts with qemu-utils 10 on the host) is timed on the same files.
# Not a test: numbers go to stdout (and into the README).
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
# virt-inspector: with BENCH_VIRT_INSPECTOR=1, from the chroot of tests/fixtures/libguestfs-chroot.sh.
chroot=
if [ "${BENCH_VIRT_INSPECTOR:-0}" = 1 ]; then
  chroot=$(bash tests/fixtures/libguestfs-chroot.sh "$fixtures")
  mountpoint -q "$chroot/proc" || mount -t proc proc "$chroot/proc"
  mountpoint -q "$chroot/dev" || mount --bind /dev "$chroot/dev"
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"; [ -z "$chroot" ] || umount -l "$chroot/dev" "$chroot/proc" 2>/dev/null || true' EXIT
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
  if [ -n "$chroot" ]; then
    # virt-inspector from the libguestfs chroot (TCG appliance), on the same file.
    mkdir -p "$chroot/fx"
    mount --bind -o ro "$(dirname "$img")" "$chroot/fx"
    /usr/bin/time -f "%e %M" -o "$tmp/t" chroot "$chroot" env LIBGUESTFS_BACKEND=direct \
      LIBGUESTFS_BACKEND_SETTINGS=force_tcg virt-inspector -a "/fx/$(basename "$img")" > "$tmp/vi" 2>/dev/null || true
    umount -l "$chroot/fx"
    read -r wall rss < <(tail -1 "$tmp/t")
    printf '%-28s %-8s %7.2f s %5d MiB %12s %8s  %s\n' "$(basename "$img")" virt-insp "$wall" "$((rss / 1024))" - - \
      "$(grep -o '<distro>[^<]*' "$tmp/vi" | head -1 | cut -c9-) $(grep -o '<major_version>[^<]*' "$tmp/vi" | head -1 | cut -c16-)"
  fi
done
