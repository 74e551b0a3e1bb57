#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (config: deny.toml; why and how:
# RELIABILITY.md, "Supply chain").
#
# - licenses, bans, sources: always run, and fail the build on an error.
# - advisories: need the RustSec database, a git repository on GitHub, which
#   this project's machines and CI cannot reach. They run against a local
#   copy when one is present (refused if older than deny.toml's
#   maximum-db-staleness), or fetch it when CARGO_DENY_FETCH_ADVISORIES=1 on
#   a machine with access; otherwise they are SKIPPED, recorded as a skipped
#   check in the suite's summary (scripts/skip-check.sh), never as a pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/skip-check.sh
source scripts/skip-check.sh

CARGO_DENY_VERSION="0.20.2"
if ! cargo deny --version 2>/dev/null | grep -x "cargo-deny ${CARGO_DENY_VERSION}" >/dev/null; then
  echo "==> installing cargo-deny ${CARGO_DENY_VERSION} (a release build: minutes)"
  started=$(date +%s)
  cargo install --locked --quiet "cargo-deny@${CARGO_DENY_VERSION}"
  echo "==> cargo-deny installed in $(( $(date +%s) - started )) s"
fi

# The inclusion graphs of the duplicate-version warnings run to thousands of
# lines; the warnings themselves name each crate and its versions.
cargo deny --locked check --hide-inclusion-graph licenses bans sources

db_root="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
local_db=$(find "$db_root" -mindepth 2 -maxdepth 2 -name .git -path '*/advisory-db-*' 2>/dev/null | head -n 1 || true)
if [ "${CARGO_DENY_FETCH_ADVISORIES:-0}" = "1" ]; then
  echo "==> advisories: fetching the RustSec database"
  cargo deny --locked check --hide-inclusion-graph advisories
elif [ -n "$local_db" ]; then
  echo "==> advisories: against the local copy in $(dirname "$local_db")"
  cargo deny --locked --offline check --hide-inclusion-graph advisories
else
  skip_check "cargo-deny advisories" "no RustSec advisory database in $db_root and no access to GitHub to fetch it"
  cat <<MSG
    Known vulnerabilities, unsound, unmaintained and yanked crates were NOT
    checked. On a machine with GitHub access run:
      CARGO_DENY_FETCH_ADVISORIES=1 scripts/test.d/cargo-deny.sh
MSG
fi
