#!/usr/bin/env bash
# README command 2: install what is needed, build, and run every test: the normal build's unit and
# integration tests, the same suite under AddressSanitizer+UBSan, Release builds with gcc and with
# clang, a default build checked for test hooks, then each fuzzer for a few seconds.  Every build
# here turns on -Werror (MSKPKI_WERROR, off by default for people and distributions).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

jobs=$(nproc)
export CTEST_OUTPUT_ON_FAILURE=1

echo "== normal build"
cmake -S . -B build-test -DMSKPKI_TESTS=ON -DMSKPKI_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j"$jobs"
ctest --test-dir build-test -j"$jobs"

echo "== valgrind memcheck (unit tests of the normal build)"
python3 scripts/memcheck.py build-test "$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S . -B build-asan -DMSKPKI_TESTS=ON -DMSKPKI_WERROR=ON -DMSKPKI_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -j"$jobs"

# Build only: -O3 finds warnings (maybe-uninitialized) the other builds do not; the tests are
# compiled too, so they keep building with both compilers.
for cc in gcc clang; do
    echo "== Release build with $cc (build only)"
    cmake -S . -B "build-release-$cc" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
        -DMSKPKI_TESTS=ON -DMSKPKI_WERROR=ON >/dev/null
    cmake --build "build-release-$cc" -j"$jobs"
done

echo "== default build (MSKPKI_TESTS off): no test hooks in the programs"
cmake -S . -B build-default -DMSKPKI_WERROR=ON >/dev/null
cmake --build build-default -j"$jobs" --target mskpki-agent mskpkictl
python3 scripts/check-test-hooks.py \
    --test build-test/agent/mskpki-agent build-test/ctl/mskpkictl \
    --release build-default/agent/mskpki-agent build-default/ctl/mskpkictl

if [ -f tests/fuzz/CMakeLists.txt ]; then
    echo "== fuzzers (${MSKPKI_FUZZ_SECONDS:-10} s each)"
    cmake -S . -B build-fuzz -DMSKPKI_FUZZ=ON -DMSKPKI_TESTS=OFF -DMSKPKI_WERROR=ON \
        -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build build-fuzz -j"$jobs"
    bash scripts/run-fuzzers.sh build-fuzz "${MSKPKI_FUZZ_SECONDS:-10}"
fi
echo "all test stages passed"
