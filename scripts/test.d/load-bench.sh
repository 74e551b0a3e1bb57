#!/usr/bin/env bash
# The load benchmark's parts (scripts/load-bench/): operation detection,
# the counting proxy, metric parsing, /proc readings. The benchmark itself
# takes minutes and is run by hand (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -m unittest discover -s scripts/load-bench -p 'test_*.py'
