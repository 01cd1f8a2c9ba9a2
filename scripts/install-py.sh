#!/usr/bin/env bash
# Creates the Python venv with the real API/S3/COS clients the service tests drive
# (scripts/requirements-py.txt: boto3, cos-python-sdk-v5, tencentcloud-sdk-python,
# tccli — pinned). Idempotent: reinstalls only when the list changed; concurrent runs
# (tests in parallel) wait for each other.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${IMGPORT_VENV:-$HOME/.cache/imgport/venv}
stamp=$venv/.requirements
if [ -x "$venv/bin/python" ] && cmp -s scripts/requirements-py.txt "$stamp"; then exit 0; fi
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -x "$venv/bin/python" ] && cmp -s scripts/requirements-py.txt "$stamp"; then exit 0; fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-py.txt
cp scripts/requirements-py.txt "$stamp"
