#!/usr/bin/env bash
# Lints the CloudFormation template with a pinned cfn-lint. Fails on errors
# and on warnings too: a warning is where cfn-lint reports a misspelled IAM
# action, which would silently grant nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

CFN_LINT_VERSION="1.58.0"
if ! .venv/bin/cfn-lint --version 2>/dev/null | grep -x "cfn-lint ${CFN_LINT_VERSION}" >/dev/null; then
  echo "==> installing cfn-lint==${CFN_LINT_VERSION} into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "cfn-lint==${CFN_LINT_VERSION}"
fi
.venv/bin/cfn-lint --non-zero-exit-code warning deploy/cloudformation/backlog-scaler.yaml
echo "cfn-lint: deploy/cloudformation/backlog-scaler.yaml is clean"
