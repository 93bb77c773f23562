# Sourced by the scripts: paths and the native build, shared by run.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="$(nproc 2>/dev/null || echo 2)"

# build_native DIR [cmake options...]: configure once, then build.
build_native() {
  local dir="$1"
  shift
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

# build_web: the browser playground, single-threaded (build/web/st, with the
# core's unit tests for node) and threaded (build/web/mt), both writing the
# static folder build/web/site. Needs setup.sh's inputs (web-inputs.env).
build_web() {
  local cache="${PCPLAY_CACHE:-${HOME:-/tmp}/.cache/pcplay}"
  # shellcheck source=/dev/null
  source "$cache/web-inputs.env"
  export NODE_PATH=/usr/share/nodejs  # Debian's emcc needs its acorn
  local variant threads
  for variant in st mt; do
    threads=OFF
    [ "$variant" = mt ] && threads=ON
    cmake -S "$ROOT" -B "$ROOT/build/web/$variant" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_TOOLCHAIN_FILE="$(em-config EMSCRIPTEN_ROOT)/cmake/Modules/Platform/Emscripten.cmake" \
      -DPCPLAY_WEB_THREADS=$threads -DPCPLAY_TESTS=$([ "$variant" = st ] && echo ON || echo OFF) \
      -DPCPLAY_WEB_SITE="$ROOT/build/web/site" -DPCPLAY_WEB_DATA_DIR="${PCPLAY_DATA:-$cache/data}" \
      -DPCPLAY_IMGUI_SOURCE_DIR="$PCPLAY_IMGUI_SOURCE_DIR" -DPCPLAY_WASM_SDL2="$PCPLAY_WASM_SDL2-$variant" \
      -DPCPLAY_WASM_ZLIB="$PCPLAY_WASM_ZLIB-$variant" -DPCPLAY_PLAYWRIGHT="$PCPLAY_PLAYWRIGHT" \
      "-DCMAKE_CROSSCOMPILING_EMULATOR=/usr/bin/node;--no-experimental-fetch" >/dev/null
    cmake --build "$ROOT/build/web/$variant" -j "$JOBS"
  done
}
