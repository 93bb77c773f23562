#!/usr/bin/env bash
# `pip install --no-build-isolation` from the checkout into a fresh virtual
# environment (the system's numpy and torch, no index: no network), then the
# package imported from outside the tree runs a relaxation.
#   test_install.sh BUILD_DIR   (a build folder with the module: it is reused)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
/usr/bin/python3 -m venv --system-site-packages "$venv"
PCPLAY_BUILD_DIR="$1" "$venv/bin/pip" install --no-build-isolation --no-index --quiet "$root"
cd "$venv"
"$venv/bin/python" - "$venv" <<'PY'
import sys
import numpy as np
import pcplay
from pcplay.torch import PCInfer  # noqa: F401
assert pcplay.__file__.startswith(sys.argv[1]), pcplay.__file__
m = pcplay.Model("dense:8:tanh", input_shape=[4], classes=3)
m.init(seed=1)
out = m.pc_infer(np.ones((2, 4), np.float32), np.array([0, 2]), "strict", eta=0.1, n=5)
assert out["v"][1].shape == (2, 8) and np.isfinite(out["loss"])
print(f"pip installed pcplay into {pcplay.__file__}: strict relaxation ran, loss {out['loss']:.4f}")
PY
