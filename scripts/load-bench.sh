#!/usr/bin/env bash
# Load benchmark: backlog-scaler with 1,000 policies against the AWS
# emulator (moto), behind a proxy that counts API calls per operation.
# Prints a markdown report (calls per cycle, CPU, memory) on stdout and
# progress on stderr. `scripts/load-bench.sh --help` lists the options;
# BENCHMARKS.md says what it measures. Needs a built binary
# (`cargo build --release`, or pass --binary PATH).
#
# Exit codes: 0 done, 1 setup failure, 2 bad arguments, 3 a target missed
# (with --require-targets).
set -euo pipefail
cd "$(dirname "$0")/.."

# The same pinned emulator as scripts/test.sh; boto3 comes with it.
# shellcheck source=scripts/emulator.sh
source scripts/emulator.sh
ensure_emulator .venv

# The driver starts moto, the proxy and the controller, and stops them on
# its way out (and its children die with it, PR_SET_PDEATHSIG). This trap
# makes sure the driver itself is told when this script is interrupted.
driver_pid=""
# shellcheck disable=SC2329 # called from the traps below
stop_driver() {
  if [ -n "$driver_pid" ] && kill -0 "$driver_pid" 2>/dev/null; then
    kill -TERM "$driver_pid" 2>/dev/null || true
    wait "$driver_pid" 2>/dev/null || true
  fi
  driver_pid=""
}
trap stop_driver EXIT
trap 'stop_driver; exit 130' INT
trap 'stop_driver; exit 143' TERM

.venv/bin/python scripts/load-bench/bench.py "$@" &
driver_pid=$!
status=0
wait "$driver_pid" || status=$?
driver_pid=""
exit "$status"
