#!/usr/bin/env bash
# Creates the Python venv with the real API/S3 clients the service tests drive
# (scripts/requirements-py.txt). Idempotent: reinstalls only when the list changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${IMGPORT_VENV:-$HOME/.cache/imgport/venv}
stamp=$venv/.requirements
if [ -x "$venv/bin/python" ] && cmp -s scripts/requirements-py.txt "$stamp"; then exit 0; fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-py.txt
cp scripts/requirements-py.txt "$stamp"
