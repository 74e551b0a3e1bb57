#!/usr/bin/env bash
# A longer session of the robustness properties (tests/robustness.rs) than
# `cargo test` runs: the policy loader and the engine on random, hostile and
# extreme input, looking for a panic, an unlocated error or a decision out
# of bounds. Bounded in cases and in time.
#
# Debug build on purpose: `cargo test` builds this binary anyway, so the
# session costs only its run time; a release build would recompile every
# dependency (the AWS SDK among them) for minutes of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."

CASES="${ROBUSTNESS_CASES:-2048}"
LIMIT_SECONDS="${ROBUSTNESS_TIME_LIMIT:-150}"

cargo test --test robustness --no-run --quiet
echo "==> robustness: ${CASES} cases per property, at most ${LIMIT_SECONDS} s"
started=$(date +%s)
status=0
PROPTEST_CASES="$CASES" timeout "$LIMIT_SECONDS" cargo test --quiet --test robustness || status=$?
if [ "$status" -eq 124 ]; then
  echo "robustness: still running after ${LIMIT_SECONDS} s: a hang or a slowdown to look into" >&2
fi
echo "==> robustness: finished in $(( $(date +%s) - started )) s"
exit "$status"
