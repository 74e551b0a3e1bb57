# shellcheck shell=bash
# The pinned AWS emulator (moto) and its install step, in one place: sourced
# by scripts/test.sh, scripts/load-bench.sh and deploy/local/demo.sh.
#
#   ensure_emulator VENV   installs moto[server]==MOTO_VERSION into VENV
#                          (made if missing) unless that version is there.
# Progress goes to stderr, so a caller's stdout (a report) stays clean.

MOTO_VERSION="5.2.5"

ensure_emulator() {
  local venv=$1
  if [ ! -x "$venv/bin/moto_server" ] \
    || ! "$venv/bin/pip" show moto 2>/dev/null | grep -x "Version: ${MOTO_VERSION}" >/dev/null; then
    echo "==> installing moto[server]==${MOTO_VERSION} into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}"
  fi
}
