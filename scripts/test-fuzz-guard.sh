#!/usr/bin/env bash
# Proves that scripts/fuzz.sh can fail (issue 18, item 13): it must exit non-zero on a
# planted crash, on a planted leak and on a missing toolchain, and exit 0 when the same
# target finds nothing and when fuzzing is switched off with 0 seconds. Runs only the
# `planted` target (fuzz/fuzz_targets/planted.rs), without fixture seeds; scripts/test.sh
# runs it after the fuzz smoke, whose build it reuses.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_GUARD_SECONDS:-5}
out=$(mktemp "${TMPDIR:-/tmp}/imgport-fuzz-guard.XXXXXX")
trap 'rm -f "$out"' EXIT
fails=0

# expect WANT(0|fail) WHAT ENV… -- ARGS…: runs fuzz.sh and checks its exit status
# (and, for a failure, that the output names WHAT).
expect() {
  local want=$1 what=$2; shift 2
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  local status=0
  env FUZZ_SEEDS=0 "${envs[@]}" scripts/fuzz.sh "$@" >"$out" 2>&1 || status=$?
  if [ "$want" = 0 ] && [ "$status" = 0 ]; then
    echo "ok: ${envs[*]} fuzz.sh $*: exit 0"
  elif [ "$want" = fail ] && [ "$status" != 0 ] && grep -q -- "$what" "$out"; then
    echo "ok: ${envs[*]} fuzz.sh $*: exit $status, reports $what"
  else
    echo "FAILED: ${envs[*]} fuzz.sh $*: exit $status, wanted $want${what:+ naming $what}:" >&2
    tail -n 30 "$out" >&2
    fails=$((fails + 1))
  fi
}

expect fail "no 'imgport-no-such-toolchain' toolchain" FUZZ_TOOLCHAIN=imgport-no-such-toolchain -- "$secs" planted
expect 0 "" FUZZ_TOOLCHAIN=imgport-no-such-toolchain -- 0 planted
expect 0 "" FUZZ_TOOLCHAIN=imgport-no-such-toolchain FUZZ_SECONDS=0 --
expect fail "findings: crash-" IMGPORT_FUZZ_PLANT=crash -- "$secs" planted
expect fail "findings: leak-" IMGPORT_FUZZ_PLANT=leak -- "$secs" planted
expect 0 "" IMGPORT_FUZZ_PLANT= -- "$secs" planted
# The planted findings were copied for reproduction; they are not real ones.
rm -rf fuzz/artifacts/planted
if [ "$fails" != 0 ]; then
  echo "fuzz guard: FAILED: $fails case(s)" >&2
  exit 1
fi
echo "fuzz guard: fuzz.sh fails on a crash, a leak and a missing toolchain"
