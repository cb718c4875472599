#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, runs the whole test suite (unit +
# integration against real servers on loopback). Benchmarks are separate (tests/bench).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
cd build
ctest --output-on-failure -j2 -L 'unit|integration' --timeout 300
