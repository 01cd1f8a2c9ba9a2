#!/usr/bin/env bash
# Benchmark of issue 13 item 7 (not a test: numbers go to stdout). An end-to-end import of
# an image of 16 GiB virtual with >= 3 GiB of data from a 3-node Garage cluster
# (scripts/garage-cluster.sh), through `imgport serve` (release build, SQLite, one
# process of role `all` with 2 workers), next to `qemu-img convert` of the same file from
# local disk in the same run. Reports: wall time of the import (ImportImage → NORMAL) and
# its convert phase, MB/s of data, the server's peak RSS (VmHWM), the most scratch disk
# its data directory used, and the request count of the upload.
#
# The image: the Debian 12 boot fixture (importable), grown to 16 GiB virtual, with
# DATA_GIB (default 3) GiB of random data written at 4 GiB, uploaded as qcow2.
#
# usage: scripts/bench-scale.sh [WORKDIR]   (default: a temporary directory, removed after)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
fixtures=${IMGPORT_FIXTURES:-$HOME/.cache/imgport/fixtures}
data_gib=${DATA_GIB:-3}
cargo build --release -q -p imgport
bin=$repo/target/release/imgport
scripts/install-py.sh >/dev/null
py=${IMGPORT_VENV:-$HOME/.cache/imgport/venv}/bin/python
bash tests/fixtures/boot-images.sh "$fixtures" >/dev/null 2>&1 || true
base_img="$fixtures/boot/debian12-cloud-boot.qcow2"
[ -f "$base_img" ] || { echo "missing $base_img (tests/fixtures/boot-images.sh)" >&2; exit 1; }
keep=${1:-}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  scripts/garage-cluster.sh stop "$work/garage" 2>/dev/null || true
  [ -n "$keep" ] || rm -rf "$work"
}
trap cleanup EXIT

echo "== building the image: 16 GiB virtual, ${data_gib} GiB of random data at 4 GiB"
qemu-img convert -O raw "$base_img" "$work/src.raw"
truncate -s 16G "$work/src.raw"
dd if=/dev/urandom of="$work/src.raw" bs=16M count=$((data_gib * 64)) seek=256 conv=notrunc status=none
qemu-img convert -O qcow2 "$work/src.raw" "$work/src.qcow2"
rm -f "$work/src.raw"
src_bytes=$(stat -c %s "$work/src.qcow2")
echo "   src.qcow2: $src_bytes bytes"

echo "== qemu-img convert -O qcow2 from local disk (page cache dropped first)"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
t0=$(date +%s.%N)
qemu-img convert -O qcow2 "$work/src.qcow2" "$work/qemu.qcow2"
t1=$(date +%s.%N)
qemu_s=$(python3 -c "print($t1 - $t0)")
rm -f "$work/qemu.qcow2"

echo "== Garage: 3 nodes, replication 3; upload with the aws CLI"
scripts/garage-cluster.sh start "$work/garage" >/dev/null
set -a; . "$work/garage/env"; set +a
PATH=$(dirname "$py"):$PATH
t0=$(date +%s.%N)
aws --endpoint-url "$S3_ENDPOINT" --region garage s3 cp "$work/src.qcow2" s3://user-gz/big.qcow2 >/dev/null
t1=$(date +%s.%N)
upload_s=$(python3 -c "print($t1 - $t0)")

echo "== imgport serve (role all, SQLite, S3 store = the cluster)"
mkdir -p "$work/data"
export IMGPORT_MASTER_KEY=${IMGPORT_MASTER_KEY:-$(openssl rand -hex 32)}
"$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" --workers 2 >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 100); do grep -q SecretKey "$work/serve.out" 2>/dev/null && break; sleep 0.2; done
api=$(head -1 "$work/serve.out" | sed -n 's/.*API and console on http:\/\/\([^,]*\),.*/\1/p')
sid=$(awk '/SecretId:/ {print $2}' "$work/serve.out")
skey=$(awk '/SecretKey:/ {print $2}' "$work/serve.out")
# Scratch: the most the data directory ever held while the import ran.
( peak=0; while kill -0 "$server_pid" 2>/dev/null; do
    s=$(du -sb "$work/data" 2>/dev/null | cut -f1); [ "${s:-0}" -gt "$peak" ] && peak=$s && echo "$peak" >"$work/scratch.peak"
    sleep 0.5; done ) &
"$py" - "$api" "$sid" "$skey" >"$work/import.json" <<'EOF'
import json, os, sys, time, boto3
from botocore.config import Config
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
api, sid, skey = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="garage",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
url = s3.generate_presigned_url("get_object", Params={"Bucket": "user-gz", "Key": "big.qcow2"}, ExpiresIn=7200)
c = CommonClient("cvm", "2017-03-12", credential.Credential(sid, skey), "ap-guangzhou",
                 profile=ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=api, reqTimeout=120)))
t = time.time()
iid = c.call_json("ImportImage", {"ImageUrl": url, "ImageName": "big", "OsType": "Debian", "OsVersion": "12",
                                  "Architecture": "x86_64"})["Response"]["ImageId"]
while True:
    img = c.call_json("DescribeImages", {"ImageIds": [iid]})["Response"]["ImageSet"][0]
    if img["ImageState"] != "IMPORTING":
        break
    time.sleep(0.5)
print(json.dumps({"wall_s": time.time() - t, "state": img["ImageState"], "error": img.get("ErrorMessage"),
                  "timings": img.get("ImportTimings"), "image_id": iid}))
EOF
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
"$py" - "$work/import.json" "$qemu_s" "$upload_s" "$src_bytes" "$rss_kib" "$(cat "$work/scratch.peak" 2>/dev/null || echo 0)" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
qemu_s, upload_s, src, rss_kib, scratch = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
assert r["state"] == "NORMAL", r
conv = sum(t["DurationMs"] for t in r["timings"] if t["Phase"] == "convert") / 1000
mb = src / 1e6
print(f"\n| step | time | MB/s of the {mb:.0f} MB qcow2 |\n|---|---|---|")
print(f"| aws s3 cp to Garage (3 nodes, rf 3) | {upload_s:.1f} s | {mb / upload_s:.0f} |")
print(f"| imgport import from Garage, ImportImage → NORMAL | {r['wall_s']:.1f} s | {mb / r['wall_s']:.0f} |")
print(f"| of which convert (ranged GETs → multipart upload) | {conv:.1f} s | {mb / conv:.0f} |")
print(f"| qemu-img convert -O qcow2, local disk | {qemu_s:.1f} s | {mb / qemu_s:.0f} |")
print(f"\nserver peak RSS {rss_kib / 1024:.0f} MiB (VmHWM, API + 2 workers); data directory at most {scratch / 2**20:.1f} MiB (scratch)")
print("phases:", ", ".join(f"{t['Phase']} {t['DurationMs'] / 1000:.1f}s" for t in r["timings"]))
EOF
