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
# Disk budget: one shared seed directory (each fixture cut to -max_len), and a scratch
# corpus per target that is deleted after its run (FUZZ_KEEP_CORPUS=1 keeps them in
# fuzz/corpus/ for real fuzzing). CI ran out of disk when every target kept its own
# copy of every fixture plus what the fuzzer added.
max_len=1048576
scratch=$(mktemp -d "${TMPDIR:-/tmp}/imgport-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
seeds=$scratch/seeds
mkdir "$seeds"
find "$fixtures/disk" -maxdepth 1 -type f -size -8M -print0 |
  while IFS= read -r -d '' f; do head -c "$max_len" "$f" >"$seeds/$(basename "$f")"; done
cd fuzz
cargo +nightly fuzz build -O 2>&1 | tail -3
for t in "${targets[@]}"; do
  if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then corpus=corpus/$t; else corpus=$scratch/run-$t; fi
  mkdir -p "$corpus"
  echo "-- $t (${secs}s)"
  # New inputs go to the first directory; the seeds are read only.
  cargo +nightly fuzz run -O "$t" "$corpus" "$seeds" -- -max_total_time="$secs" -max_len=$max_len -rss_limit_mb=2048 -timeout=10 2>&1 | grep -E "^(#[0-9]+\s+DONE|Done|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)" || true
  [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$corpus"
  if ls artifacts/"$t"/crash-* artifacts/"$t"/timeout-* artifacts/"$t"/oom-* >/dev/null 2>&1; then
    echo "fuzz target $t found a failing input:" >&2; ls artifacts/"$t" >&2; exit 1
  fi
done
echo "fuzz smoke: ${#targets[@]} targets, no failures"
