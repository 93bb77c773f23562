#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job:
#   scripts/run.sh [--port N]  the browser playground: builds both WebAssembly
#                              builds into build/web/site and serves it on
#                              127.0.0.1:8080 with the cross-origin isolation
#                              headers (so the threaded build runs); prints the URL;
#   scripts/run.sh desktop [pcplay-gui options]
#                              the playground in a desktop window;
#   scripts/run.sh cli         a command-line demonstration: one small network
#                              trained on the xor and circle sets by Strict PC,
#                              FixedPred PC and backprop, each beside a backprop
#                              twin from the same initial weights.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$ROOT/scripts/setup.sh"

case "${1:-web}" in
  desktop)
    shift
    build_native "$ROOT/build/native" -DPCPLAY_NATIVE_ARCH=ON >/dev/null
    exec "$ROOT/build/native/pcplay-gui" "$@"
    ;;
  cli)
    shift
    build_native "$ROOT/build/native" -DPCPLAY_NATIVE_ARCH=ON >/dev/null
    PCPLAY="$ROOT/build/native/pcplay"
    for data in xor circle; do
      for err in strict fixedpred exact; do
        printf '%-7s %-10s ' "$data" "$err"
        "$PCPLAY" train --data "$data" --err "$err" --steps 1000 --compare-bp --quiet --json "$@" |
          /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); rose = s["energy_rose_steps"]; print("test accuracy %.3f  test loss %.4f  (backprop twin %s)  %.2f s%s" % (s["test_accuracy"], s["test_loss"], "%.3f" % s["bp_test_accuracy"] if "bp_test_accuracy" in s else "-", s["seconds"], "  [Strict energy rose in %d steps]" % rose if rose else "  [diverged]" if s["diverged"] else ""))'
      done
    done
    echo "The playground: scripts/run.sh (browser) or scripts/run.sh desktop    More: $PCPLAY --help"
    ;;
  web | --port)
    [ "${1:-}" = web ] && shift
    echo "Building the browser playground (build/web/site)..."
    build_web >/dev/null
    echo "The playground (tutorial: examples/tutorial.html; Ctrl-C stops):"
    exec python3 "$ROOT/scripts/serve_web.py" --root "$ROOT/build/web/site" "$@"
    ;;
  *)
    echo "usage: scripts/run.sh [--port N] | desktop [pcplay-gui options] | cli [pcplay train options]" >&2
    exit 2
    ;;
esac
