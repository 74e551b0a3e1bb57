#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs the pinned AWS emulator
# into .venv if it is missing, then format check, lints, the extra checks of
# scripts/test.d/ and every test. A check that cannot run on this machine is
# listed as SKIPPED before `cargo test` starts (its summary stays the last
# lines of the run).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/emulator.sh
source scripts/emulator.sh
ensure_emulator .venv

# A run from a fresh clone gains nothing from incremental caches, which
# take over a gigabyte of target/; a developer may set it back to 1.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

BACKLOG_SCALER_SKIPS=$(mktemp)
export BACKLOG_SCALER_SKIPS
trap 'rm -f "$BACKLOG_SCALER_SKIPS"' EXIT

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
for extra in scripts/test.d/*.sh; do
  [ -e "$extra" ] || continue
  echo "==> $extra"
  bash "$extra"
done
skipped=$(wc -l <"$BACKLOG_SCALER_SKIPS")
echo "==> checks skipped on this machine: ${skipped}"
sed 's/^/    SKIPPED /' "$BACKLOG_SCALER_SKIPS"
echo "==> cargo test"
cargo test
