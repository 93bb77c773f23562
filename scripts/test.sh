#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the unit tests, the
# command-line checks, the PyTorch reference and the window smoke test
# (build/native); all but the PyTorch reference and the MPI runs again, built with
# AddressSanitizer and UBSan (build/sanitize; optimised, so that the CLI's
# training runs take seconds, not minutes); the unit tests under
# ThreadSanitizer (build/tsan); each reader fuzzed for a short while
# (build/fuzz, clang's libFuzzer); then the browser builds
# (build/web): the unit tests compiled to wasm under node, and the playground
# end to end in headless Chromium.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$ROOT/scripts/setup.sh"

echo "== native build and tests"
# Built for this CPU, as users get it from scripts/run.sh; the sanitizer
# builds below stay portable (SSE2), so both code paths are tested.
build_native "$ROOT/build/native" -DPCPLAY_NATIVE_ARCH=ON
ctest --test-dir "$ROOT/build/native" --output-on-failure -j "$JOBS"

echo "== the tests again under -fsanitize=address,undefined"
build_native "$ROOT/build/sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPCPLAY_SANITIZE=ON -DPCPLAY_NATIVE_ARCH=OFF
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$ROOT/build/sanitize" --output-on-failure -j "$JOBS" -E '^(torch2pc_reference|train_reference|mpi)$'

echo "== the readers fuzzed: libFuzzer with ASan and UBSan, ${PCPLAY_FUZZ_SECONDS:-20} s each (docs/reliability.md)"
build_native "$ROOT/build/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DPCPLAY_FUZZ=ON \
  -DPCPLAY_FUZZ_SECONDS="${PCPLAY_FUZZ_SECONDS:-20}"
ctest --test-dir "$ROOT/build/fuzz" --output-on-failure -j "$JOBS"

echo "== the unit tests again under -fsanitize=thread (the thread pool, the playground's run)"
cmake -S "$ROOT" -B "$ROOT/build/tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPCPLAY_NATIVE_ARCH=OFF -DPCPLAY_PYTHON=OFF -DCMAKE_CXX_FLAGS=-fsanitize=thread \
  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$ROOT/build/tsan" -j "$JOBS" --target pcplay_tests
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir "$ROOT/build/tsan" --output-on-failure -j "$JOBS" -E '^(cli|mpi|torch2pc_reference|train_reference|gui_smoke|compare_torch_runs|micro_bench_runs)$'

echo "== the browser builds: unit tests under node, the playground in Chromium"
build_web
ctest --test-dir "$ROOT/build/web/st" --output-on-failure -j "$JOBS"
