#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job:
#   scripts/run.sh           a command-line demonstration: one small network
#                            trained on the xor and circle sets by Strict PC,
#                            FixedPred PC and backprop, each beside a backprop
#                            twin from the same initial weights;
#   scripts/run.sh desktop [pcplay-gui options]
#                            the playground in a desktop window.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$ROOT/scripts/setup.sh"
build_native "$ROOT/build/native" >/dev/null

if [ "${1:-}" = desktop ]; then
  shift
  exec "$ROOT/build/native/pcplay-gui" "$@"
fi

PCPLAY="$ROOT/build/native/pcplay"
for data in xor circle; do
  for err in strict fixedpred exact; do
    printf '%-7s %-10s ' "$data" "$err"
    "$PCPLAY" train --data "$data" --err "$err" --steps 1000 --compare-bp --quiet --json "$@" |
      /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); rose = s["energy_rose_steps"]; print("test accuracy %.3f  test loss %.4f  (backprop twin %s)  %.2f s%s" % (s["test_accuracy"], s["test_loss"], "%.3f" % s["bp_test_accuracy"] if "bp_test_accuracy" in s else "-", s["seconds"], "  [Strict energy rose in %d steps]" % rose if rose else "  [diverged]" if s["diverged"] else ""))'
  done
done
echo "The playground: scripts/run.sh desktop    More: $PCPLAY --help"
