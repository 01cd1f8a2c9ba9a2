#!/usr/bin/env bash
# A 3-node Garage cluster on loopback (replication factor 3) for the scale-out tests,
# the bench and the README's "Run at scale" (issue 13). Garage comes from
# scripts/install-garage.sh (built once into ~/.cache/imgport/tools).
#
#   scripts/garage-cluster.sh start DIR [BUCKET=REGION ...]
#       starts nodes 1..3 under DIR, lays them out, creates the key `imgport` and the
#       buckets (default: imgport-images, user-gz=ap-guangzhou, user-sh=ap-shanghai),
#       and writes DIR/env: IMGPORT_S3_* variables for `imgport serve` plus
#       AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / S3_ENDPOINT for clients.
#   scripts/garage-cluster.sh stop DIR            stops every node
#   scripts/garage-cluster.sh stop-node DIR N     stops node N (1..3)
#   scripts/garage-cluster.sh start-node DIR N    starts node N again
#
# Ports: GARAGE_BASE_PORT (default: a free block chosen at start) + 0..2 for S3, +10..12
# RPC, +20..22 admin. Node 1's S3 port is the endpoint.
set -euo pipefail
cmd=${1:?usage: garage-cluster.sh start|stop|stop-node|start-node DIR [...]}
dir=${2:?DIR}
garage=${GARAGE_BIN:-$("$(dirname "$0")/install-garage.sh")}

node_start() {
  local n=$1
  nohup "$garage" -c "$dir/node$n.toml" server >"$dir/node$n.log" 2>&1 &
  echo $! >"$dir/node$n.pid"
}

node_stop() {
  local n=$1 pid
  pid=$(cat "$dir/node$n.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/node$n.pid"
}

free_base() {
  python3 - <<'EOF'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 60000, 100)
    ok = True
    for off in (0, 1, 2, 10, 11, 12, 20, 21, 22):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", base + off))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(base)
        break
EOF
}

g() { "$garage" -c "$dir/node1.toml" "$@"; }

case "$cmd" in
start)
  shift 2
  buckets=("$@")
  [ ${#buckets[@]} -gt 0 ] || buckets=(user-gz=ap-guangzhou user-sh=ap-shanghai)
  mkdir -p "$dir"
  base=${GARAGE_BASE_PORT:-$(free_base)}
  secret=$(openssl rand -hex 32)
  token=$(openssl rand -hex 32)
  for n in 1 2 3; do
    mkdir -p "$dir/node$n/meta" "$dir/node$n/data"
    cat >"$dir/node$n.toml" <<EOF
metadata_dir = "$dir/node$n/meta"
data_dir = "$dir/node$n/data"
db_engine = "lmdb"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:$((base + 9 + n))"
rpc_public_addr = "127.0.0.1:$((base + 9 + n))"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$((base + n - 1))"

[admin]
api_bind_addr = "127.0.0.1:$((base + 19 + n))"
admin_token = "$token"
EOF
    chmod 600 "$dir/node$n.toml"
    node_start "$n"
  done
  # Wait for the RPC of each node (its daemon answers `status`), then connect them.
  ids=()
  for n in 1 2 3; do
    id=""
    for _ in $(seq 150); do
      if "$garage" -c "$dir/node$n.toml" status >/dev/null 2>&1; then
        id=$("$garage" -c "$dir/node$n.toml" node id -q 2>/dev/null || true)
      fi
      [ -n "$id" ] && break
      sleep 0.2
    done
    [ -n "$id" ] || { echo "garage node $n did not start: $(tail -5 "$dir/node$n.log")" >&2; exit 1; }
    ids+=("$id")
  done
  g node connect "${ids[1]}" >/dev/null
  g node connect "${ids[2]}" >/dev/null
  for id in "${ids[@]}"; do
    g layout assign -z dc1 -c 1G "${id%%@*}" >/dev/null
  done
  g layout apply --version 1 >/dev/null
  key=$(g key create imgport)
  key_id=$(echo "$key" | awk '/Key ID:/ {print $3}')
  key_secret=$(echo "$key" | awk '/Secret key:/ {print $3}')
  [ -n "$key_id" ] && [ -n "$key_secret" ] || { echo "garage key create: $key" >&2; exit 1; }
  bucket_list=""
  for b in imgport-images "${buckets[@]}"; do
    name=${b%%=*}
    g bucket create "$name" >/dev/null
    g bucket allow --read --write --owner "$name" --key imgport >/dev/null
    if [ "$name" != imgport-images ]; then
      bucket_list="${bucket_list:+$bucket_list,}$b"
    fi
  done
  cat >"$dir/env" <<EOF
GARAGE_BASE_PORT=$base
IMGPORT_OBJECT_STORE=s3
IMGPORT_S3_ENDPOINT=http://127.0.0.1:$base
IMGPORT_S3_SIGNING_REGION=garage
IMGPORT_S3_ACCESS_KEY_ID=$key_id
IMGPORT_S3_SECRET_ACCESS_KEY=$key_secret
IMGPORT_S3_IMAGES_BUCKET=imgport-images
IMGPORT_S3_BUCKETS=$bucket_list
S3_ENDPOINT=http://127.0.0.1:$base
AWS_ACCESS_KEY_ID=$key_id
AWS_SECRET_ACCESS_KEY=$key_secret
AWS_DEFAULT_REGION=garage
EOF
  chmod 600 "$dir/env"
  # Ready when a bucket answers through node 1.
  for _ in $(seq 100); do
    if g bucket info imgport-images >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  echo "garage cluster up: S3 on http://127.0.0.1:$base (nodes on $base..$((base + 2))); settings in $dir/env"
  ;;
stop)
  for n in 1 2 3; do node_stop "$n"; done
  ;;
stop-node)
  node_stop "${3:?N}"
  ;;
start-node)
  node_start "${3:?N}"
  ;;
*)
  echo "unknown command $cmd" >&2; exit 2
  ;;
esac
