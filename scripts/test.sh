#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs the pinned AWS emulator
# into .venv if it is missing, then format check, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
installed_moto="$(.venv/bin/pip show moto 2>/dev/null || true)"
if [ ! -x .venv/bin/moto_server ] || ! grep -qx "Version: ${MOTO_VERSION}" <<<"$installed_moto"; then
  echo "==> installing moto[server]==${MOTO_VERSION} into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}"
fi

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
for extra in scripts/test.d/*.sh; do
  [ -e "$extra" ] || continue
  echo "==> $extra"
  bash "$extra"
done
echo "==> cargo test"
cargo test
