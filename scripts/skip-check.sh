# shellcheck shell=bash
# A check that could not run says so in the suite's summary, as a skip, not
# as a pass. Sourced by scripts/test.d/*.sh:
#
#   skip_check NAME REASON
#
# prints `SKIPPED: NAME: REASON` and, when run under scripts/test.sh (which
# sets BACKLOG_SCALER_SKIPS to a file), records it there; test.sh lists every
# recorded skip before `cargo test` starts.

skip_check() {
  local name=$1 reason=$2
  echo "==> SKIPPED: ${name}: ${reason}"
  if [ -n "${BACKLOG_SCALER_SKIPS:-}" ]; then
    printf '%s: %s\n' "$name" "$reason" >>"$BACKLOG_SCALER_SKIPS"
  fi
}
