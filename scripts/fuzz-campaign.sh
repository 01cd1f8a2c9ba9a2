#!/usr/bin/env bash
# The long fuzz campaign (issue 18 item 16), not part of CI: every target until its
# fuzzer process has used SECONDS of CPU time (the image and filesystem parsers
# LONG_SECONDS) — CPU time, not wall time, so a campaign on a shared machine is not
# silently weaker than it says —, in LANES parallel lanes, each target keeping its corpus
# in fuzz/corpus/TARGET and its findings in fuzz/artifacts/TARGET. Then each corpus is
# minimised into fuzz/seeds/TARGET (`-merge=1 -max_len=8191`: the repo keeps small files
# only; the CI smoke, scripts/fuzz.sh, reads them as seeds), and one line per target —
# CPU seconds, executions, coverage, features, corpus, findings, seeds kept — is
# appended to fuzz/campaign.log. Any finding, or a fuzzer that fails, fails the script.
#
# usage: scripts/fuzz-campaign.sh [SECONDS [LONG_SECONDS [LANES]]]   (default 600 660 2)
#        scripts/fuzz-campaign.sh merge            (only the minimising step)
#        FUZZ_TARGETS="a b" scripts/fuzz-campaign.sh …   (only these targets)
set -euo pipefail
cd "$(dirname "$0")/.."
tc=${FUZZ_TOOLCHAIN:-nightly}
# The image and filesystem parsers: big inputs, deep state, slow executions.
long=(disk_open vmdk_vhd inspect_disk cpio_initramfs fs_btrfs fs_ext fs_fat fs_ntfs fs_xfs
  fs_probe partition_table lvm_pv registry_hive)
log=$PWD/fuzz/campaign.log
max_len=1048576
hz=$(getconf CLK_TCK)

merge() {
  local t=$1 out
  [ -d "fuzz/corpus/$t" ] || return 0
  out=$(mktemp -d "${TMPDIR:-/tmp}/imgport-merge.XXXXXX")
  mkdir -p "fuzz/seeds/$t"
  # The fuzzer binary the campaign ran (not `cargo fuzz run`, which would rebuild it
  # first when the sources moved on meanwhile).
  if ! "$PWD/fuzz/target/x86_64-unknown-linux-gnu/release/$t" "$out" "fuzz/seeds/$t" "fuzz/corpus/$t" \
    -merge=1 -max_len=8191 -timeout=30 -rss_limit_mb=2048 >"$out.log" 2>&1; then
    echo "merge of $t failed:" >&2; tail -20 "$out.log" >&2; return 1
  fi
  rm -rf "fuzz/seeds/$t"
  mv "$out" "fuzz/seeds/$t"
  rm -f "$out.log"
  echo "$t: $(find "fuzz/seeds/$t" -type f | wc -l) seeds kept"
}

# Process $1 and all its descendants (cargo → cargo-fuzz → the fuzzer).
tree() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { keep[root] = 1; changed = 1
          while (changed) { changed = 0
            for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
          for (p in keep) print p }'
}

# CPU seconds (user + system) used by process $1 and its live descendants.
cpu_secs() {
  local ticks=0 p
  for p in $(tree "$1"); do
    [ -r "/proc/$p/stat" ] || continue
    # utime and stime: fields 14 and 15, i.e. 12 and 13 after the ")" ending the name.
    ticks=$((ticks + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0)))
  done
  echo $((ticks / hz))
}

# Fuzz target $1 until it has used $2 CPU seconds; one summary line on stdout. The
# fuzzer binary runs directly (not under `cargo fuzz run`) so that its own exit status
# is seen: 0, or 72 when stopped by SIGINT (-interrupted_exitcode), is a clean run.
fuzz_one() {
  local t=$1 budget=$2 seeds=() pid used=0 status=0 art out bin len=()
  bin=$PWD/fuzz/target/x86_64-unknown-linux-gnu/release/$t
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  [ -d "fuzz/seeds/$t" ] && seeds+=("fuzz/seeds/$t")
  # The disk fixtures seed the image and filesystem parsers (as in CI), with room for
  # inputs of their size; the text and protocol parsers keep libFuzzer's own max_len.
  if [[ " ${long[*]} " == *" $t "* ]]; then
    seeds+=("$fixture_seeds"); len=(-max_len=$max_len)
  fi
  art=$(mktemp -d "${TMPDIR:-/tmp}/imgport-art.XXXXXX")
  out=$art.log
  "$bin" "fuzz/corpus/$t" "${seeds[@]}" -artifact_prefix="$art/" "${len[@]}" \
    -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 -interrupted_exitcode=72 \
    -max_total_time=$((budget * 20)) >"$out" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    used=$(cpu_secs "$pid")
    if [ "$used" -ge "$budget" ]; then
      kill -INT "$pid" 2>/dev/null || true
      break
    fi
  done
  wait "$pid" || status=$?
  local findings
  findings=$(find "$art" -maxdepth 1 -type f ! -name 'slow-unit-*' -printf '%f ' || true)
  if [ -n "$findings" ]; then cp -- "$art"/* "fuzz/artifacts/$t/"; fi
  local last execs
  last=$(grep -E '^#[0-9]+' "$out" | tail -1 | tr -s ' \t' ' ' || true)
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$out" | grep -oE '[0-9]+$' || echo "?")
  local verdict=ok
  if [ -n "$findings" ] || { [ "$status" != 0 ] && [ "$status" != 72 ]; }; then
    verdict="FAILED (exit $status; findings: ${findings:-none})"
    tail -30 "$out" >&2
  fi
  echo "$t cpu=${used}s execs=$execs last=[${last:-none}] $verdict"
  rm -rf "$art" "$out"
  [ "$verdict" = ok ]
}

if [ "${1:-}" = merge ]; then
  for d in fuzz/corpus/*/; do merge "$(basename "$d")" | tee -a "$log"; done
  exit 0
fi

secs=${1:-600}; long_secs=${2:-660}; lanes=${3:-2}
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -ra all <<<"$FUZZ_TARGETS"
else
  mapfile -t all < <(cd fuzz && cargo "+$tc" fuzz list | grep -vx planted)
fi
# The fixtures (cut to max_len) seed every target, as in CI.
fixture_seeds=$(mktemp -d "${TMPDIR:-/tmp}/imgport-seeds.XXXXXX")
trap 'rm -rf "$fixture_seeds"' EXIT
fixtures=${IMGPORT_FIXTURES:-$HOME/.cache/imgport/fixtures}
bash tests/fixtures/disk-formats.sh "$fixtures" >/dev/null
find "$fixtures/disk" -maxdepth 1 -type f -size -8M -print0 |
  while IFS= read -r -d '' f; do head -c "$max_len" "$f" >"$fixture_seeds/$(basename "$f")"; done
fixture_seeds=$(cd "$fixture_seeds" && pwd)

# Deal the targets to the lanes, longest first, each to the lane with the least work.
declare -a load lane_targets
for ((i = 0; i < lanes; i++)); do load[i]=0; lane_targets[i]=""; done
ordered=()
for t in "${all[@]}"; do [[ " ${long[*]} " == *" $t "* ]] && ordered+=("$t"); done
for t in "${all[@]}"; do [[ " ${long[*]} " == *" $t "* ]] || ordered+=("$t"); done
for t in "${ordered[@]}"; do
  s=$secs; [[ " ${long[*]} " == *" $t "* ]] && s=$long_secs
  best=0
  for ((i = 1; i < lanes; i++)); do ((load[i] < load[best])) && best=$i; done
  load[best]=$((load[best] + s)); lane_targets[best]+="$t:$s "
done
(cd fuzz && cargo "+$tc" fuzz build -O 2>&1 | tail -2)
echo "# campaign $(date -u +%FT%TZ) $(git rev-parse --short HEAD), $(nproc) CPUs, ${secs}/${long_secs} CPU-s per target, $lanes lanes" >>"$log"
pids=()
for ((i = 0; i < lanes; i++)); do
  (
    rc=0
    for ts in ${lane_targets[i]}; do
      fuzz_one "${ts%%:*}" "${ts##*:}" | tee -a "$log" || rc=1
    done
    exit $rc
  ) &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
for t in "${all[@]}"; do merge "$t" | tee -a "$log" || rc=1; done
if [ $rc = 0 ]; then echo "campaign: no findings"; else echo "campaign: FAILED (see fuzz/artifacts/)" >&2; fi
exit $rc
