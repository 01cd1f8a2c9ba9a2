#!/usr/bin/env bash
# Runs every check and test of the project, as CI does:
#   system packages → format → clippy → all tests (fixtures are built on first use,
#   with the real tools, into ${IMGPORT_FIXTURES:-~/.cache/imgport/fixtures}) → fuzz smoke.
# FUZZ_SECONDS (default 10) bounds each fuzz target's run; 0 skips fuzzing (the only way:
# a missing nightly toolchain or cargo-fuzz otherwise fails).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# A one-off build gains nothing from incremental caches; they double target/'s size.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
# The last CI run that failed did so on a full disk: say up front how much there is.
free_gib=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
echo "== disk: ${free_gib} GiB free here (a cold run needs ~15 GiB: target/ ~8, fixtures ~13 cached)"
scripts/install-deps.sh
scripts/install-py.sh   # boto3, tencentcloud-sdk-python for the service tests
# Garage for the scale-out test (crates/service/tests/scale_garage.rs): built once into
# ~/.cache/imgport/tools (cold ~10 min on 2 cores, then instant).
scripts/install-garage.sh >/dev/null
# The in-browser check (crates/wasm → web/pkg/), before the build that embeds it
# (crates/service/build.rs) and the browser test that runs it (console_precheck).
scripts/build-wasm.sh >/dev/null
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings (host, and the wasm32 build of the check)"
cargo clippy --workspace --all-targets --locked -- -D warnings
CARGO_TARGET_DIR=target/wasm cargo clippy --locked -p imgport-wasm \
  --target wasm32-unknown-unknown -- -D warnings
echo "== tests"
# install-deps.sh installed every tool the tests use (scripts/apt-packages.txt): a test
# whose tool, fixture, loop device, kernel filesystem or PostgreSQL is missing fails
# instead of printing SKIPPED and passing (crates/test-support). Always on here.
export IMGPORT_TEST_REQUIRE_TOOLS=1
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
if [ "${FUZZ_SECONDS:-10}" != 0 ]; then
  echo "== fuzz smoke (${FUZZ_SECONDS:-10}s per target)"
  # Fails on any finding, and on a missing nightly toolchain or cargo-fuzz.
  scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
  echo "== fuzz guard (fuzz.sh fails on a planted crash, leak, missing toolchain)"
  scripts/test-fuzz-guard.sh
fi
