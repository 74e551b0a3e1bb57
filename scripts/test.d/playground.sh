#!/usr/bin/env bash
# The local playground's Python parts (deploy/local/) against the emulator:
# load pattern, load generator, worker pool, log reading. The demo as a whole
# is exercised end to end by tests/demo_e2e.rs.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -m unittest discover -s deploy/local -p 'test_*.py'
