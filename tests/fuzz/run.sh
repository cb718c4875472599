#!/usr/bin/env bash
# Builds every libFuzzer target with clang (-fsanitize=fuzzer,address,undefined) into
# build-fuzz/ and runs each for SECONDS (default 600), one after another, on a scratch copy of
# its seed corpus (tests/fuzz/corpus/<target>/). Prints executions and findings per target and
# writes the summary to build-fuzz/fuzz-summary.txt. Crash inputs land in build-fuzz/artifacts/.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
shift || true
./scripts/setup.sh >/dev/null
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DTLSAUDIT_FUZZ=ON -DTLSAUDIT_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
cmake --build build-fuzz -j2 --target "${targets[@]}"
mkdir -p build-fuzz/artifacts build-fuzz/work
summary=build-fuzz/fuzz-summary.txt
: > "$summary"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in "${targets[@]}"; do
  work=build-fuzz/work/$t
  rm -rf "$work" && mkdir -p "$work"
  [[ -d tests/fuzz/corpus/$t ]] && cp -r "tests/fuzz/corpus/$t/." "$work/"
  log=build-fuzz/work/$t.log
  set +e
  "build-fuzz/tests/$t" -max_total_time="$seconds" -max_len=70000 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" "$work" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo "?")
  result=$([[ $rc -eq 0 ]] && echo "no findings" || echo "FAILED (rc=$rc, see $log)")
  line="$t: ${seconds}s, $execs executions, coverage $cov edges: $result"
  echo "$line" | tee -a "$summary"
done
