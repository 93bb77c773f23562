#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the unit tests, the
# command-line checks and the PyTorch reference (build/native), then the unit
# tests again under AddressSanitizer and UBSan (build/sanitize).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$ROOT/scripts/setup.sh"

echo "== native build and tests"
build_native "$ROOT/build/native"
ctest --test-dir "$ROOT/build/native" --output-on-failure -j "$JOBS"

echo "== unit tests under -fsanitize=address,undefined"
build_native "$ROOT/build/sanitize" -DCMAKE_BUILD_TYPE=Debug -DPCPLAY_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$ROOT/build/sanitize" --output-on-failure -j "$JOBS" -E '^torch2pc_reference$'
