#!/usr/bin/env bash
# Configures and builds tlsaudit (and its tests) into build/ with two jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
