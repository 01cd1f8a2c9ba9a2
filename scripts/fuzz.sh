#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 15), seeded from the fixtures.
# For real fuzzing, run one target for hours:  cargo +nightly fuzz run disk_open -- -max_total_time=36000
# usage: scripts/fuzz.sh [SECONDS] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}; shift || true
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain; skipping" >&2; exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked -q
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fixtures=${IMGPORT_FIXTURES:-$HOME/.cache/imgport/fixtures}
bash tests/fixtures/disk-formats.sh "$fixtures" >/dev/null
cd fuzz
cargo +nightly fuzz build -O 2>&1 | tail -3
for t in "${targets[@]}"; do
  corpus=corpus/$t
  mkdir -p "$corpus"
  # Seed with small fixtures (the fuzzer truncates to -max_len anyway).
  find "$fixtures/disk" -maxdepth 1 -type f -size -8M -exec cp -n {} "$corpus/" \; 2>/dev/null || true
  echo "-- $t (${secs}s)"
  cargo +nightly fuzz run -O "$t" "$corpus" -- -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 2>&1 | grep -E "^(#[0-9]+\s+DONE|Done|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)" || true
  if ls artifacts/"$t"/crash-* artifacts/"$t"/timeout-* artifacts/"$t"/oom-* >/dev/null 2>&1; then
    echo "fuzz target $t found a failing input:" >&2; ls artifacts/"$t" >&2; exit 1
  fi
done
echo "fuzz smoke: ${#targets[@]} targets, no failures"
