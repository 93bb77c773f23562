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
# Writes where they are to $CACHE/web-inputs.env, which build_web (common.sh) reads.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PLAYWRIGHT_VERSION=1.65.1
use_emscripten

upstream_version() { dpkg-query -W -f='${source:Upstream-Version}' "$1" | sed 's/+.*//; s/\.dfsg$//'; }
IMGUI_VERSION="$(upstream_version libimgui-dev)"
SDL2_VERSION="$(upstream_version libsdl2-dev)"
ZLIB_VERSION="$(upstream_version zlib1g-dev)"

# apt-get source through a private deb-src list made from the machine's own
# apt configuration (the same archives and suites, in either format; no CD-ROM
# entries), leaving /etc/apt untouched. Remade on every run, so that it
# follows the machine's configuration.
APT_DIR="$CACHE/apt"
APT_OPTS=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$APT_DIR/etc" -o "Dir::State::Lists=$APT_DIR/lists"
          -o Dir::Cache::srcpkgcache= -qq)
[ "$(id -u)" -ne 0 ] || APT_OPTS+=(-o APT::Sandbox::User=root)  # _apt cannot write into root's cache
make_source_list() {
  rm -rf "$APT_DIR/etc"
  mkdir -p "$APT_DIR/etc" "$APT_DIR/lists/partial"
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    grep -qi '^URIs:.*cdrom:' "$f" && continue
    sed 's/^Types:.*/Types: deb-src/' "$f" > "$APT_DIR/etc/$(basename "$f")"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -E '^deb[[:space:]]' | grep -v 'cdrom:' | sed 's/^deb[[:space:]]/deb-src /' > "$APT_DIR/etc/lines.list" || true
}
fetch_source() {  # fetch_source <source package> <-dev package> <dir name>
  local dest="$CACHE/src/$3"
  [ -f "$dest/.complete" ] && return
  local version work
  version="$(dpkg-query -W -f='${source:Version}' "$2")"
  mkdir -p "$CACHE/src"
  rm -rf "$CACHE/src"/.fetch-*  # left by an interrupted run
  work="$(mktemp -d "$CACHE/src/.fetch-XXXXXX")"
  ls "$APT_DIR/lists/"*_Sources* >/dev/null 2>&1 || apt-get "${APT_OPTS[@]}" update
  # A version the lists do not know yet (the -dev package was upgraded): update once and retry.
  if ! (cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only "$1=$version" >/dev/null 2>&1); then
    apt-get "${APT_OPTS[@]}" update
    (cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only "$1=$version" >/dev/null)
  fi
  mkdir -p "$work/tree"
  tar -xf "$(ls "$work"/*.orig.tar.* | head -1)" -C "$work/tree"
  rm -rf "$dest"
  mv "$work/tree/$(ls "$work/tree" | head -1)" "$dest"
  rm -rf "$work"
  touch "$dest/.complete"
}

# for_each_variant NAME BUILDER [args]: a static library for wasm, built once
# per variant (st: no threads; mt: -pthread) by "BUILDER PREFIX CFLAGS args"
# into $CACHE/wasm/NAME-<variant>, its output in PREFIX.log.
for_each_variant() {
  local name="$1" builder="$2" variant prefix cflags
  shift 2
  for variant in st mt; do
    prefix="$CACHE/wasm/$name-$variant"
    [ -f "$prefix/.complete" ] && continue
    echo "setup: building $name for WebAssembly ($variant), once"
    cflags="-O2"
    [ "$variant" = mt ] && cflags="-O2 -pthread"
    rm -rf "$prefix" "$prefix.build"
    mkdir -p "$prefix"
    "$builder" "$prefix" "$cflags" "$@" >"$prefix.log" 2>&1 ||
      { echo "setup: building $name for wasm failed; see $prefix.log" >&2; exit 1; }
    rm -rf "$prefix.build"
    touch "$prefix/.complete"
  done
}

cmake_library() {  # PREFIX CFLAGS SOURCE [cmake options]
  local prefix="$1" cflags="$2" src="$3"
  shift 3
  emcmake cmake -S "$src" -B "$prefix.build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="$cflags" -DCMAKE_INSTALL_PREFIX="$prefix" "$@" &&
    cmake --build "$prefix.build" -j "$JOBS" && cmake --install "$prefix.build"
}

# zlib's CMake project wants files Debian's tarball leaves out (win32/), and
# the library is fifteen C files: they are compiled directly.
zlib_library() {  # PREFIX CFLAGS SOURCE
  local prefix="$1" src="$3" c
  local -a cflags
  read -r -a cflags <<<"$2"
  mkdir -p "$prefix/include" "$prefix/lib" "$prefix.build"
  cp "$src/zlib.h" "$prefix/include/"
  cp "$src/zconf.h.in" "$prefix/include/zconf.h"  # as zlib's configure does
  for c in "$src"/*.c; do
    emcc "${cflags[@]}" -DHAVE_UNISTD_H -DHAVE_STDARG_H -I "$prefix/include" -c "$c" \
      -o "$prefix.build/$(basename "$c" .c).o" || return 1
  done
  emar rcs "$prefix/lib/libz.a" "$prefix.build"/*.o
}

make_source_list
fetch_source imgui libimgui-dev "imgui-$IMGUI_VERSION"
fetch_source libsdl2 libsdl2-dev "sdl2-$SDL2_VERSION"
fetch_source zlib zlib1g-dev "zlib-$ZLIB_VERSION"

# Only what a playground uses: video (WebGL) and events; no audio, joysticks,
# haptics or sensors, which also halves the build.
for_each_variant "sdl2-$SDL2_VERSION" cmake_library "$CACHE/src/sdl2-$SDL2_VERSION" \
  -DSDL_SHARED=OFF -DSDL_STATIC=ON -DSDL_TEST=OFF -DSDL2_DISABLE_SDL2MAIN=ON \
  -DSDL_AUDIO=OFF -DSDL_JOYSTICK=OFF -DSDL_HAPTIC=OFF -DSDL_SENSOR=OFF -DSDL_HIDAPI=OFF -DSDL_POWER=OFF
for_each_variant "zlib-$ZLIB_VERSION" zlib_library "$CACHE/src/zlib-$ZLIB_VERSION"

playwright="$(npm_cached playwright-core "$PLAYWRIGHT_VERSION")"

# What scripts/common.sh passes to CMake for the web builds.
cat > "$CACHE/web-inputs.env" <<EOF
PCPLAY_IMGUI_SOURCE_DIR=$CACHE/src/imgui-$IMGUI_VERSION
PCPLAY_WASM_SDL2=$CACHE/wasm/sdl2-$SDL2_VERSION
PCPLAY_WASM_ZLIB=$CACHE/wasm/zlib-$ZLIB_VERSION
PCPLAY_PLAYWRIGHT=$playwright
EOF
