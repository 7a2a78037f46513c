#!/usr/bin/env bash
# flowlogd's test entry point (CI runs exactly this via .ci/run):
#   1. installs/starts the local cloud stand-ins (scripts/emulators.sh: moto, Azurite, tansu),
#   2. runs every test of the workspace with them (`cargo test --workspace`); tests that need
#      a service read its variable (MOTO_ENDPOINT, AZURITE_BLOB_ENDPOINT, KAFKA_BROKERS, …) and
#      skip themselves only when it is unset, which this script never leaves it,
#   3. stops the services (also on failure or Ctrl-C) and prints the time of each phase.
# Arguments replace `--workspace` (e.g. `scripts/test.sh -p flowlogd-formats sample`).
# Caches outside the clone: CARGO_TARGET_DIR and FLOWLOGD_CACHE (default ~/.cache/flowlogd).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export FLOWLOGD_CACHE="${FLOWLOGD_CACHE:-$HOME/.cache/flowlogd}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$FLOWLOGD_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
PHASES=()
T_ALL=$(now)

T=$(now)
# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh          # sets the EXIT trap that stops the emulators
PHASES+=("emulators (install + start): $(since "$T") s")

summary() {
  local rc=$?
  emu_stop
  # Links to the test binary that the Kafka tests run (see tests/kafka_support).
  rm -rf "${TMPDIR:-/tmp}/flowlogd-test-bins"
  echo
  echo "== timings =="
  local p
  for p in "${PHASES[@]}"; do echo "  $p"; done
  echo "  total: $(since "$T_ALL") s"
  # Last, so that it is the closing line of the run.
  [ -n "${TESTS_LINE:-}" ] && { echo; echo "$TESTS_LINE"; }
  return $rc
}
trap summary EXIT

if [ $# -eq 0 ]; then set -- --workspace; fi

T=$(now)
echo "== cargo build (tests) =="
cargo test --no-run "$@"
PHASES+=("cargo build of tests: $(since "$T") s")

T=$(now)
echo "== cargo test =="
LOG="$FLOWLOGD_CACHE/last-test.log"
set +e
cargo test "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
PHASES+=("cargo test: $(since "$T") s")
# One closing line over every test binary (cargo prints one `test result:` per binary, the
# last of which is often an empty doc-test run).
TESTS_LINE=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped", p, f, s }' "$LOG")
exit "$rc"
