#!/usr/bin/env bash
# The binary on a read-only root file system, as `docker run --read-only`
# and ECS `readonlyRootFilesystem` run it (tests/emulator.rs,
# `runs_from_a_read_only_policy_directory_on_a_read_only_root`). The test
# remounts every mount read-only in a private mount namespace (`unshare -m`),
# which needs root or CAP_SYS_ADMIN; it is `#[ignore]`d so that plain
# `cargo test` never passes it without that property, and run here, where
# it is reported as a skipped check if the machine refuses the namespace.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/skip-check.sh
source scripts/skip-check.sh

test_name=runs_from_a_read_only_policy_directory_on_a_read_only_root
if ! unshare -m true 2>/dev/null; then
  skip_check "read-only root ($test_name)" "this machine refuses a private mount namespace (unshare -m)"
  exit 0
fi
cargo test --quiet --test emulator -- --ignored --exact "$test_name"
