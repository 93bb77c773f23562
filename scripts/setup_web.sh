#!/usr/bin/env bash
# The browser build's inputs, made once and cached outside the repo, keyed by
# version (called by setup.sh after the Debian packages are in):
#   $CACHE/src/{imgui,libsdl2,zlib}-<version>/   the sources of the very versions
#                                                 whose -dev packages are installed,
#                                                 from `apt-get source`;
#   $CACHE/wasm/{sdl2,zlib}-<version>-{st,mt}/   SDL2 and zlib built for wasm by
#                                                 Debian's Emscripten, without and
#                                                 with -pthread (wasm-ld refuses to
#                                                 mix the two);
#   $CACHE/npm-playwright-core-<version>/         the browser tests' driver.
# Prints the CMake options that point a web build at them (web_cmake_options).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PCPLAY_CACHE:-${HOME:-/tmp}/.cache/pcplay}"
PLAYWRIGHT_VERSION=1.65.1
export NODE_PATH=/usr/share/nodejs  # Debian's emcc needs its acorn

upstream_version() { dpkg-query -W -f='${source:Upstream-Version}' "$1" | sed 's/+.*//; s/\.dfsg$//'; }
IMGUI_VERSION="$(upstream_version libimgui-dev)"
SDL2_VERSION="$(upstream_version libsdl2-dev)"
ZLIB_VERSION="$(upstream_version zlib1g-dev)"

# apt-get source through a private deb-src list made from the machine's own
# apt configuration (same archives and suites), leaving /etc/apt untouched.
fetch_source() {  # fetch_source <source package> <-dev package> <dir name>
  local dest="$CACHE/src/$3"
  [ -f "$dest/.complete" ] && return
  local apt="$CACHE/apt" version
  version="$(dpkg-query -W -f='${source:Version}' "$2")"
  mkdir -p "$apt/etc" "$apt/lists/partial" "$CACHE/src"
  if [ ! -f "$apt/etc/deb-src.sources" ]; then
    if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
      sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/*.sources > "$apt/etc/deb-src.sources"
    else  # the one-line format
      grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        sed 's/^deb /deb-src /' > "$apt/etc/deb-src.list"
    fi
  fi
  local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/etc" -o "Dir::State::Lists=$apt/lists"
              -o Dir::Cache::srcpkgcache= -qq)
  [ "$(id -u)" -ne 0 ] || opts+=(-o APT::Sandbox::User=root)  # _apt cannot write into root's cache
  [ -n "$(ls "$apt/lists" 2>/dev/null | grep -v partial)" ] || apt-get "${opts[@]}" update
  local work
  work="$(mktemp -d "$CACHE/src/.fetch-XXXXXX")"
  (cd "$work" && apt-get "${opts[@]}" source --download-only "$1=$version" >/dev/null)
  mkdir -p "$work/tree"
  tar -xf "$(ls "$work"/*.orig.tar.* | head -1)" -C "$work/tree"
  rm -rf "$dest"
  mv "$work/tree/$(ls "$work/tree" | head -1)" "$dest"
  rm -rf "$work"
  touch "$dest/.complete"
}

# build_wasm <dir name> <source dir> [cmake options]: a CMake project's
# static library for wasm, once per variant (st: no threads, mt: -pthread).
build_wasm() {
  local name="$1" src="$2"
  shift 2
  for variant in st mt; do
    local prefix="$CACHE/wasm/$name-$variant"
    [ -f "$prefix/.complete" ] && continue
    echo "setup: building $name for WebAssembly ($variant), once"
    local flags="-O2"
    [ "$variant" = mt ] && flags="-O2 -pthread"
    rm -rf "$prefix" "$prefix.build"
    mkdir -p "$CACHE/wasm"
    emcmake cmake -S "$src" -B "$prefix.build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_INSTALL_PREFIX="$prefix" "$@" >"$prefix.log" 2>&1 &&
      cmake --build "$prefix.build" -j "$(nproc)" >>"$prefix.log" 2>&1 &&
      cmake --install "$prefix.build" >>"$prefix.log" 2>&1 ||
      { echo "setup: building $name for wasm failed; see $prefix.log" >&2; exit 1; }
    rm -rf "$prefix.build"
    touch "$prefix/.complete"
  done
}

fetch_source imgui libimgui-dev "imgui-$IMGUI_VERSION"
fetch_source libsdl2 libsdl2-dev "sdl2-$SDL2_VERSION"
fetch_source zlib zlib1g-dev "zlib-$ZLIB_VERSION"

# Only what a playground uses: video (WebGL) and events; no audio, joysticks,
# haptics or sensors, which also halves the build.
build_wasm "sdl2-$SDL2_VERSION" "$CACHE/src/sdl2-$SDL2_VERSION" \
  -DSDL_SHARED=OFF -DSDL_STATIC=ON -DSDL_TEST=OFF -DSDL2_DISABLE_SDL2MAIN=ON \
  -DSDL_AUDIO=OFF -DSDL_JOYSTICK=OFF -DSDL_HAPTIC=OFF -DSDL_SENSOR=OFF -DSDL_HIDAPI=OFF -DSDL_POWER=OFF
# zlib: its CMake project wants files Debian's tarball leaves out (win32/), and
# the library is fifteen C files, so they are compiled directly.
for variant in st mt; do
  prefix="$CACHE/wasm/zlib-$ZLIB_VERSION-$variant"
  [ -f "$prefix/.complete" ] && continue
  echo "setup: building zlib-$ZLIB_VERSION for WebAssembly ($variant), once"
  rm -rf "$prefix"
  mkdir -p "$prefix/include" "$prefix/lib" "$prefix/obj"
  cp "$CACHE/src/zlib-$ZLIB_VERSION"/zlib.h "$prefix/include/"
  cp "$CACHE/src/zlib-$ZLIB_VERSION"/zconf.h.in "$prefix/include/zconf.h"  # as zlib's configure does
  flags=(-O2 -DHAVE_UNISTD_H -DHAVE_STDARG_H -I "$prefix/include")
  [ "$variant" = mt ] && flags+=(-pthread)
  for c in "$CACHE/src/zlib-$ZLIB_VERSION"/*.c; do
    emcc "${flags[@]}" -c "$c" -o "$prefix/obj/$(basename "$c" .c).o"
  done
  emar rcs "$prefix/lib/libz.a" "$prefix"/obj/*.o
  rm -rf "$prefix/obj"
  touch "$prefix/.complete"
done

pw="$CACHE/npm-playwright-core-$PLAYWRIGHT_VERSION"
if [ ! -f "$pw/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$pw"
  (cd "$pw" && npm install --no-audit --no-fund --no-package-lock --silent "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null &&
    rm -f node_modules/.package-lock.json)  # it may name the registry
fi

# What scripts/common.sh passes to CMake for the web builds.
cat > "$CACHE/web-inputs.env" <<EOF
PCPLAY_IMGUI_SOURCE_DIR=$CACHE/src/imgui-$IMGUI_VERSION
PCPLAY_WASM_SDL2=$CACHE/wasm/sdl2-$SDL2_VERSION
PCPLAY_WASM_ZLIB=$CACHE/wasm/zlib-$ZLIB_VERSION
PCPLAY_PLAYWRIGHT=$pw/node_modules/playwright-core
EOF
