#!/usr/bin/env python3
"""Samples per second of `pcplay train` on paper-mnist, batch 300, for 2 ranks
x 1 thread against 1 rank x 1 thread and 1 rank x 2 threads, measured in one
run, the configurations interleaved round by round (this machine is noisy).
A step's time is the median of its metrics' "seconds" (a whole step: PCInfer,
the gradients' sum, the update, the test batch) after 2 warm-up steps.

Also 1 rank x 1 thread on half the batch: what each of 2 ranks computes.
"2 ranks / half" is the parallel efficiency (the ideal is 2x), apart from
whatever makes a step's time not linear in the batch; "2 ranks / 1" is the
speed-up a user sees. (Before the page-fault fix, docs/performance.md, a
batch of 300 cost 3x a batch of 150, and 2 ranks looked 3.7x as fast.)

Usage: mpi_scaling.py PCPLAY [--mpirun mpirun] [--errs strict,fixedpred,exact]
                             [--steps 20] [--rounds 3] [--dtype float32]"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile

parser = argparse.ArgumentParser()
parser.add_argument("pcplay")
parser.add_argument("--mpirun", default="mpirun")
parser.add_argument("--errs", default="strict,fixedpred,exact")
parser.add_argument("--steps", type=int, default=20, help="per run (Exact makes 5x as many)")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--batch", type=int, default=300)
parser.add_argument("--dtype", default="float32")
args = parser.parse_args()

MPI_FLAGS = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
# (name, ranks, threads, batch)
CONFIGS = [("1 rank x 1 thread", 1, 1, args.batch), ("1 rank x 2 threads", 1, 2, args.batch),
           ("2 ranks x 1 thread", 2, 1, args.batch), ("1 x 1, half batch", 1, 1, args.batch // 2)]
TMP = tempfile.mkdtemp(prefix="pcplay-mpi-bench-")


def samples_per_second(err, ranks, threads, batch):
    steps = 2 + args.steps * (5 if err == "exact" else 1)
    metrics = os.path.join(TMP, "m.csv")
    train = [args.pcplay, "train", "--data", "mnist", "--model", "paper-mnist", "--err", err, "--batch", str(batch),
             "--steps", str(steps), "--threads", str(threads), "--dtype", args.dtype, "--quiet", "--metrics", metrics]
    cmd = train if ranks == 1 else [args.mpirun, *MPI_FLAGS, "-np", str(ranks), *train]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"mpi_scaling: {' '.join(cmd)} failed: {r.stderr.strip()[-500:]}")
    with open(metrics) as f:
        seconds = [float(row["seconds"]) for row in csv.DictReader(f)][2:]
    return batch / statistics.median(seconds)


print(f"paper-mnist, batch {args.batch}, {args.dtype}: samples/s (median over steps, then over {args.rounds} "
      "interleaved rounds)")
print(f"{'err':10s}" + "".join(f"{c[0]:>21s}" for c in CONFIGS) +
      f"{'2 ranks / 1':>13s}{'/ 2 threads':>13s}{'/ half':>9s}")
for err in args.errs.split(","):
    rates = {c[0]: [] for c in CONFIGS}
    for _ in range(args.rounds):
        for name, ranks, threads, batch in CONFIGS:
            rates[name].append(samples_per_second(err, ranks, threads, batch))
    one, threads2, ranks2, half = (statistics.median(rates[c[0]]) for c in CONFIGS)
    print(f"{err:10s}" + "".join(f"{statistics.median(rates[c[0]]):21.0f}" for c in CONFIGS) +
          f"{ranks2 / one:12.2f}x{ranks2 / threads2:12.2f}x{ranks2 / half:8.2f}x", flush=True)
