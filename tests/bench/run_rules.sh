#!/usr/bin/env bash
# Rules benchmark: evaluates the baseline and every shipped profile over REPORTS (default
# 100,000) generated reports on one core (taskset), after building. Prints reports per second.
#   tests/bench/run_rules.sh [REPORTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
./scripts/build.sh >/dev/null
exec taskset -c 0 ./build/tests/tlsaudit_rules_bench "${1:-100000}"
