#!/usr/bin/env bash
# Compares `imgport inspect` with libguestfs' virt-inspector (issue 4) on the Debian guest
# fixtures: both must agree on OS type, distribution, major version and architecture.
# Exits 1 on any disagreement.
#
# Not part of the test suite (issue 18 item 15): virt-inspector boots an appliance VM per
# image (TCG here, no usable /dev/kvm: 15–25 s and ~700 MiB each), and libguestfs cannot be
# installed beside the host's qemu-utils 10, so it runs from a Debian chroot built by
# tests/fixtures/libguestfs-chroot.sh (several minutes and ~1 GB the first time). Run it by
# hand, like scripts/bench-check.sh, when inspection changes.
#
# Linux fixtures only: virt-inspector does not recognise the Windows fixtures
# (tests/fixtures/windows.sh builds system volumes holding real registry hives but not
# the full Windows file set libguestfs looks for).
#
# usage: scripts/compare-virt-inspector.sh [IMAGE.qcow2…]   (default: three Debian fixtures)
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=${IMGPORT_FIXTURES:-$HOME/.cache/imgport/fixtures}
cargo build --release -q -p imgport
bin=$PWD/target/release/imgport
if [ $# -eq 0 ]; then
  bash tests/fixtures/guest-images.sh "$fixtures" >/dev/null
  set -- "$fixtures"/guest/debian12-cloud.qcow2 "$fixtures"/guest/debian12-btrfs-boot.qcow2 \
    "$fixtures"/guest/bare-rootfs.qcow2
fi
chroot=$(bash tests/fixtures/libguestfs-chroot.sh "$fixtures")
tmp=$(mktemp -d)
cleanup() {
  umount -l "$chroot/fx" 2>/dev/null || true
  umount -l "$chroot/dev" "$chroot/proc" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mountpoint -q "$chroot/proc" || mount -t proc proc "$chroot/proc"
mountpoint -q "$chroot/dev" || mount --bind /dev "$chroot/dev"
mkdir -p "$chroot/fx"
status=0
for img in "$@"; do
  mount --bind -o ro "$(dirname "$img")" "$chroot/fx"
  chroot "$chroot" env LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
    virt-inspector --format=qcow2 -a "/fx/$(basename "$img")" >"$tmp/vi.xml"
  umount -l "$chroot/fx"
  "$bin" inspect --json "$img" >"$tmp/ours.json" || true
  python3 - "$img" "$tmp/vi.xml" "$tmp/ours.json" <<'PY' || status=1
import json, sys, xml.etree.ElementTree as ET
img, vi, ours = sys.argv[1:4]
os_ = ET.parse(vi).getroot().find("operatingsystem")
theirs = {k: (os_.findtext(t) or "").strip() for k, t in
          [("type", "name"), ("distro", "distro"), ("arch", "arch"), ("version", "major_version")]}
o = json.load(open(ours))["os"]
mine = {k: str(o.get(k) or "") for k in theirs}
bad = {k: (mine[k], theirs[k]) for k in theirs if mine[k] != theirs[k]}
print(f"{img}: {'agree' if not bad else 'DISAGREE'} {mine if not bad else bad}")
sys.exit(1 if bad else 0)
PY
done
exit $status
