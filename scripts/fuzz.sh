#!/usr/bin/env bash
# Runs cargo-fuzz targets for SECONDS each (default: $FUZZ_SECONDS, else 15), seeded from
# the fixtures, and FAILS (exit 1) on any finding: a crash-, timeout-, oom-, leak- (or any
# other) artifact of libFuzzer except slow-unit-*, or a fuzzer that exits non-zero. A
# missing nightly toolchain or cargo-fuzz that cannot be installed fails too; SECONDS=0
# is the only way to skip. Every target runs even after a failure; the findings are
# copied to fuzz/artifacts/TARGET/ and the list of failed targets closes the output.
# scripts/test-fuzz-guard.sh proves all of this with a planted crash and a planted leak.
# For real fuzzing, run one target for hours:  cargo +nightly fuzz run disk_open fuzz/seeds/disk_open -- -max_total_time=36000
# fuzz/seeds/TARGET holds the minimised corpus of the long campaigns (files < 8 KiB,
# `-merge=1`); the smoke reads it as seeds. Refresh it after a campaign the same way.
# usage: scripts/fuzz.sh [SECONDS] [TARGET…]   (no TARGET: every target but `planted`)
#   FUZZ_TOOLCHAIN  toolchain for cargo-fuzz (default nightly)
#   FUZZ_SEEDS=0    no fixture seeds (build no fixtures)
#   FUZZ_KEEP_CORPUS=1  keep each target's corpus in fuzz/corpus/TARGET
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-${FUZZ_SECONDS:-15}}; shift || true
if [ "$secs" = 0 ]; then
  echo "fuzz: 0 seconds per target: fuzzing skipped"; exit 0
fi
tc=${FUZZ_TOOLCHAIN:-nightly}
if ! cargo "+$tc" --version >/dev/null 2>&1; then
  echo "fuzz: FAILED: no '$tc' toolchain (rustup toolchain install $tc); FUZZ_SECONDS=0 skips fuzzing" >&2
  exit 1
fi
if ! cargo "+$tc" fuzz --version >/dev/null 2>&1; then
  if ! cargo "+$tc" install cargo-fuzz --locked -q; then
    echo "fuzz: FAILED: cargo-fuzz is missing and could not be installed; FUZZ_SECONDS=0 skips fuzzing" >&2
    exit 1
  fi
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  list=$(cd fuzz && cargo "+$tc" fuzz list)
  mapfile -t targets < <(grep -vx planted <<<"$list")
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: FAILED: no fuzz targets" >&2; exit 1
fi
# Disk budget: one shared seed directory (each fixture cut to -max_len), and a scratch
# corpus per target that is deleted after its run (FUZZ_KEEP_CORPUS=1 keeps them in
# fuzz/corpus/ for real fuzzing). CI ran out of disk when every target kept its own
# copy of every fixture plus what the fuzzer added.
max_len=1048576
scratch=$(mktemp -d "${TMPDIR:-/tmp}/imgport-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
seeds=()
if [ "${FUZZ_SEEDS:-1}" != 0 ]; then
  fixtures=${IMGPORT_FIXTURES:-$HOME/.cache/imgport/fixtures}
  bash tests/fixtures/disk-formats.sh "$fixtures" >/dev/null
  mkdir "$scratch/seeds"
  find "$fixtures/disk" -maxdepth 1 -type f -size -8M -print0 |
    while IFS= read -r -d '' f; do head -c "$max_len" "$f" >"$scratch/seeds/$(basename "$f")"; done
  seeds=("$scratch/seeds")
fi
cd fuzz
if [ $# -eq 0 ]; then
  cargo "+$tc" fuzz build -O 2>&1 | tail -3
else
  for t in "${targets[@]}"; do cargo "+$tc" fuzz build -O "$t" 2>&1 | tail -3; done
fi
failed=()
for t in "${targets[@]}"; do
  if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then corpus=corpus/$t; else corpus=$scratch/run-$t; fi
  # This run's artifacts only: an old, fixed finding in fuzz/artifacts does not fail
  # the run, and a new one is never hidden among old ones.
  art=$scratch/artifacts-$t
  log=$scratch/log-$t
  mkdir -p "$corpus" "$art"
  echo "-- $t (${secs}s)"
  # New inputs go to the first directory; the seeds are read only. The fuzzer's own
  # exit status is kept: a finding, or any failure to run, is non-zero.
  status=0
  # fuzz/seeds/TARGET: the minimised corpus of the long campaigns, kept in the repo
  # (small files only), read only like the fixture seeds.
  tseeds=("${seeds[@]}")
  [ -d "seeds/$t" ] && tseeds+=("seeds/$t")
  # -timeout: a unit running 30 s is a hang (1 MiB fixture seeds of the slower targets
  # take a few seconds under the sanitizer on a busy 2-core machine).
  cargo "+$tc" fuzz run -O "$t" "$corpus" "${tseeds[@]}" -- -artifact_prefix="$art/" \
    -max_total_time="$secs" -max_len=$max_len -rss_limit_mb=2048 -timeout=30 >"$log" 2>&1 || status=$?
  grep -E "^(#[0-9]+\s+DONE|Done|==[0-9]+==|SUMMARY|Test unit written)" "$log" || true
  [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$corpus"
  # Every libFuzzer artifact is a finding (crash-, timeout-, oom-, leak-, mismatch- …)
  # except slow-unit-*, a unit that was merely slow.
  findings=$(find "$art" -maxdepth 1 -type f ! -name 'slow-unit-*' -printf '%f\n' | sort)
  if [ -n "$findings" ] || [ "$status" != 0 ]; then
    echo "fuzz: FAILED: target $t: fuzzer exit status $status; findings: ${findings:-none}" >&2
    tail -n 40 "$log" >&2
    if [ -n "$findings" ]; then
      mkdir -p "artifacts/$t"
      cp -- "$art"/* "artifacts/$t/"
      echo "fuzz: reproduce with: cargo +$tc fuzz run -O $t fuzz/artifacts/$t/<file>" >&2
    fi
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz smoke: FAILED: ${failed[*]} (of ${#targets[@]} targets)" >&2
  exit 1
fi
echo "fuzz smoke: ${#targets[@]} targets, no findings"
