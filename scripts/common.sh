# Sourced by the scripts: paths, the cache, and the builds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="$(nproc 2>/dev/null || echo 2)"
# Everything downloaded or built outside the repo, keyed by version.
CACHE="${PCPLAY_CACHE:-${HOME:-/tmp}/.cache/pcplay}"
DATA="${PCPLAY_DATA:-$CACHE/data}"

# Debian's emcc runs node scripts that need Debian's acorn.
use_emscripten() { export NODE_PATH=/usr/share/nodejs; }

# npm_cached PACKAGE VERSION: installs PACKAGE@VERSION from npm once into
# $CACHE/npm-PACKAGE-VERSION (its own package.json, so npm cannot pick a
# folder above it; no lock file, which would name the registry) and prints
# the package's folder.
npm_cached() {
  local dir="$CACHE/npm-$1-$2"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    echo '{"private": true}' > "$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --no-package-lock --silent "$1@$2" >/dev/null &&
      rm -f node_modules/.package-lock.json) >&2
    touch "$dir/.complete"
  fi
  echo "$dir/node_modules/$1"
}

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
  # shellcheck source=/dev/null
  source "$CACHE/web-inputs.env"
  use_emscripten
  local variant threads
  for variant in st mt; do
    threads=OFF
    [ "$variant" = mt ] && threads=ON
    cmake -S "$ROOT" -B "$ROOT/build/web/$variant" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_TOOLCHAIN_FILE="$(em-config EMSCRIPTEN_ROOT)/cmake/Modules/Platform/Emscripten.cmake" \
      -DPCPLAY_WEB_THREADS=$threads -DPCPLAY_TESTS=$([ "$variant" = st ] && echo ON || echo OFF) \
      -DPCPLAY_WEB_SITE="$ROOT/build/web/site" -DPCPLAY_WEB_DATA_DIR="$DATA" \
      -DPCPLAY_IMGUI_SOURCE_DIR="$PCPLAY_IMGUI_SOURCE_DIR" -DPCPLAY_WASM_SDL2="$PCPLAY_WASM_SDL2-$variant" \
      -DPCPLAY_WASM_ZLIB="$PCPLAY_WASM_ZLIB-$variant" -DPCPLAY_PLAYWRIGHT="$PCPLAY_PLAYWRIGHT" \
      "-DCMAKE_CROSSCOMPILING_EMULATOR=/usr/bin/node;--no-experimental-fetch" >/dev/null
    cmake --build "$ROOT/build/web/$variant" -j "$JOBS"
  done
}
