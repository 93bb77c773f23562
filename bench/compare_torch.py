#!/usr/bin/env python3
"""pcplay against PyTorch, one training step at a time, side by side in one run.

For each error type and thread count it times, on the same random batch shape:
  * pcplay:      `pcplay bench --json` (PCInfer, then Adam's update);
  * torch-vjp:   an independent PyTorch implementation of the same algorithm in
                 Torch2PC's style, one torch.autograd.functional.vjp per block
                 (tests/reference/torch2pc_reference.py's pc_infer), then
                 torch.optim.Adam's update; for ipc, that module's ipc_step
                 (autograd of iPC's energy and an Adam step per iteration);
  * torch-autograd (for exact only): plain PyTorch backprop, loss.backward()
                 and Adam's update.
Every figure is the median of --steps timed steps after --warmup untimed ones
(and more, until --warmup-seconds have passed)
(with --rounds R, the fastest of R such medians, the sides interleaved).
Prints a table of ms per step and the ratios, and, with --json FILE, writes the
rows too.

Several pcplay binaries may be given (the portable build, and one built with
-DPCPLAY_NATIVE_ARCH=ON, say): each gets its own columns.

--swap DIR also times Torch2PC's training loop with its one-line swap to
pcplay's Python package (from pcplay.torch import PCInfer; DIR is a build's
python folder, build/native/python): "swap ms", and "swap/bench", the first
pcplay binary's time over the swap's (1.00: the binding costs nothing).

--torch2pc FILE also times Torch2PC itself (its TorchSeq2PC.py, from a
checkout of RobertRosenbaum/Torch2PC; not part of this repository) on the same
model, batch and threads: the check that torch-vjp, the yardstick, is as fast
as the code it stands for ("vjp/t2pc" at or under 1.00), and pcplay's ratio
to Torch2PC's own time.

The PyTorch sides run on tcmalloc (LD_PRELOAD; Debian's libtcmalloc-minimal4,
which scripts/setup.sh installs), as PyTorch's CPU performance guides advise:
under glibc's malloc every step maps and unmaps its large tensors afresh, and
page faults then dominate FixedPred's step (docs/performance.md, "PyTorch's
malloc"). --allocator glibc times them on glibc's malloc instead. pcplay's
own processes run without the preload.

Run with Debian's python3 (it has torch):
  /usr/bin/python3 bench/compare_torch.py build/native/pcplay [build/native-arch/pcplay] [--threads 1,2]
"""
import argparse
import collections
import ctypes.util
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch2pc_reference as ref  # noqa: E402

MODELS = {"paper-mnist": ref.PAPER_MNIST}


# Untimed steps first: `steps` of them, and more until `seconds` have passed,
# as `pcplay bench --warmup --warmup-seconds` does (cores take a few hundred
# milliseconds of load to reach their full clock: docs/performance.md, "Warm-up").
Warmup = collections.namedtuple("Warmup", "steps seconds")


def median_seconds(step, steps, warmup):
    start = time.perf_counter()
    i = 0
    while i < warmup.steps or time.perf_counter() - start < warmup.seconds:
        step()
        i += 1
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_problem(spec, batch):
    """The model (seeded), a random batch and Adam: the same for every PyTorch side."""
    torch.manual_seed(1)
    model, classes = ref.build_torch(spec)
    model = model.float()
    X = torch.rand([batch] + spec["input_shape"], dtype=torch.float32)
    Y = torch.randint(0, classes, (batch,))
    return model, X, Y, torch.optim.Adam(model.parameters(), lr=1e-3)


def torch_step_time(spec, err, eta, n, batch, steps, warmup, autograd):
    model, X, Y, optimizer = torch_problem(spec, batch)

    def vjp_step():
        if err == "ipc":  # iPC steps the optimizer at every iteration
            ref.ipc_step(model, "cross_entropy", X, Y, optimizer, eta, n)
            return
        ref.pc_infer(model, "cross_entropy", X, Y, err, eta, n)
        optimizer.step()

    def autograd_step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(X), Y).backward()
        optimizer.step()

    return median_seconds(autograd_step if autograd else vjp_step, steps, warmup)


def pcinfer_step_time(pcinfer, spec, err, eta, n, batch, steps, warmup):
    """Torch2PC's training loop around a PCInfer (Torch2PC's own, or pcplay.torch's: the swap),
    on the same model, batch and Adam as the other PyTorch sides."""
    model, X, Y, optimizer = torch_problem(spec, batch)
    name = {"strict": "Strict", "fixedpred": "FixedPred", "exact": "Exact", "epc": "ePC"}[err]
    loss = torch.nn.CrossEntropyLoss()

    def step():
        pcinfer(model, loss, X, Y, name, eta=eta, n=n)
        optimizer.step()

    return median_seconds(step, steps, warmup)


def load_torch2pc(path):
    spec = importlib.util.spec_from_file_location("TorchSeq2PC", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The preload this script added for PyTorch's sides, and the environment
# pcplay's processes get: the one this script was started with.
PRELOAD_MARK = "PCPLAY_BENCH_PRELOADED"


def own_environment():
    env = dict(os.environ)
    if PRELOAD_MARK in env:
        original = env.pop(PRELOAD_MARK)
        if original:
            env["LD_PRELOAD"] = original
        else:
            env.pop("LD_PRELOAD", None)
    return env


def run_on_tcmalloc():
    """Re-runs this script with tcmalloc preloaded (once); exits with an error if it is missing."""
    if PRELOAD_MARK in os.environ:
        return
    library = ctypes.util.find_library("tcmalloc_minimal")  # its soname, which ld.so finds as it found it
    if library is None:
        sys.exit("compare_torch.py: error: tcmalloc not found (install libtcmalloc-minimal4, "
                 "as scripts/setup.sh does, or pass --allocator glibc)")
    env = dict(os.environ)
    env[PRELOAD_MARK] = env.get("LD_PRELOAD", "")
    env["LD_PRELOAD"] = " ".join(filter(None, [library, env[PRELOAD_MARK]]))
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def pcplay_step_time(pcplay, model, err, eta, n, batch, steps, warmup, threads):
    out = subprocess.run([pcplay, "bench", "--model", model, "--err", err, "--eta", str(eta), "--n", str(n),
                          "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup.steps),
                          "--warmup-seconds", str(warmup.seconds),
                          "--threads", str(threads), "--json"], check=True, capture_output=True, text=True,
                         env=own_environment())
    return json.loads(out.stdout)["seconds_per_step"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pcplay", nargs="+", help="pcplay binaries (each is timed)")
    parser.add_argument("--model", default="paper-mnist", choices=sorted(MODELS))
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--eta", type=float, default=0.1)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--errs", default="strict,fixedpred,exact")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before each side's timed ones")
    parser.add_argument("--warmup-seconds", type=float, default=0.5, help="... and more until this long has passed")
    parser.add_argument("--rounds", type=int, default=1,
                        help="time every side this many times, interleaved, and keep each one's fastest "
                             "(for a machine shared with noisy neighbours)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--torch2pc", metavar="FILE", help="Torch2PC's TorchSeq2PC.py, timed too")
    parser.add_argument("--swap", metavar="DIR", help="a build's python folder: pcplay.torch.PCInfer timed too")
    parser.add_argument("--allocator", choices=["tcmalloc", "glibc"], default="tcmalloc",
                        help="the PyTorch sides' malloc (see above)")
    args = parser.parse_args()
    args.warmup = Warmup(args.warmup, args.warmup_seconds)
    if args.allocator == "tcmalloc":
        run_on_tcmalloc()
    torch2pc = load_torch2pc(args.torch2pc) if args.torch2pc else None
    swap = None
    if args.swap:
        sys.path.insert(0, os.path.abspath(args.swap))
        from pcplay.torch import PCInfer as swap

    spec = MODELS[args.model]
    builds = [os.path.basename(os.path.dirname(os.path.abspath(p))) for p in args.pcplay]
    rows = []
    print(f"{args.model}, batch {args.batch}, float32, eta {args.eta}, n {args.n}; "
          f"PyTorch {torch.__version__} on {args.allocator}'s malloc; median of {args.steps} steps"
          f"{f', fastest of {args.rounds} rounds' if args.rounds > 1 else ''}; ratio = PyTorch's time / pcplay's")
    header = f"{'err':10} {'threads':>7} {'torch-vjp ms':>13} {'torch-autograd ms':>18}"
    if torch2pc:
        header += f" {'torch2pc ms':>12} {'vjp/t2pc':>8}"
    for build in builds:
        header += f" {build + ' ms':>18} {'vs vjp':>7} {'vs autograd':>11}"
        header += f" {'vs t2pc':>7}" if torch2pc else ""
    if swap:
        header += f" {'swap ms':>9} {'swap/bench':>10}"
    print(header)
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for err in args.errs.split(","):
            n = 0 if err == "exact" else args.n
            # Every side once per round, interleaved; each keeps its fastest round.
            timers = {"vjp": lambda: torch_step_time(spec, err, args.eta, n, args.batch, args.steps, args.warmup, False)}
            if err == "exact":
                timers["autograd"] = lambda: torch_step_time(spec, err, args.eta, n, args.batch, args.steps,
                                                             args.warmup, True)
            if torch2pc and err in ("strict", "fixedpred", "exact"):  # Torch2PC's three
                timers["t2pc"] = lambda: pcinfer_step_time(torch2pc.PCInfer, spec, err, args.eta, n, args.batch,
                                                           args.steps, args.warmup)
            if swap and err != "ipc":  # (PCInfer does not run iPC)
                timers["swap"] = lambda: pcinfer_step_time(swap, spec, err, args.eta, n, args.batch, args.steps,
                                                           args.warmup)
            for build, binary in zip(builds, args.pcplay):
                timers[build] = lambda binary=binary: pcplay_step_time(binary, args.model, err, args.eta, max(n, 1),
                                                                       args.batch, args.steps, args.warmup, threads)
            best = {}
            for _ in range(args.rounds):
                for name, timer in timers.items():
                    best[name] = min(best.get(name, float("inf")), timer())
            vjp, autograd, t2pc = best["vjp"], best.get("autograd"), best.get("t2pc")
            row = {"model": args.model, "batch": args.batch, "n": n, "err": err, "threads": threads,
                   "torch_vjp_ms": vjp * 1e3, "torch_autograd_ms": autograd * 1e3 if autograd else None}
            line = f"{err:10} {threads:7d} {vjp * 1e3:13.1f} {autograd * 1e3 if autograd else float('nan'):18.1f}"
            if t2pc:
                row["torch2pc_ms"] = t2pc * 1e3
            if torch2pc:
                line += f" {t2pc * 1e3:12.1f} {vjp / t2pc:8.2f}" if t2pc else f" {'':>12} {'':>8}"
            for build in builds:
                ours = best[build]
                row[build] = {"ms": ours * 1e3, "vs_vjp": vjp / ours,
                              "vs_autograd": autograd / ours if autograd else None}
                line += f" {ours * 1e3:18.1f} {vjp / ours:6.2f}x"
                line += f" {autograd / ours:10.2f}x" if autograd else f" {'':>11}"
                if t2pc:
                    row[build]["vs_torch2pc"] = t2pc / ours
                    line += f" {t2pc / ours:6.2f}x"
            if "swap" in best:
                row["swap_ms"] = best["swap"] * 1e3
                row["swap_vs_bench"] = best[builds[0]] / best["swap"]
                line += f" {best['swap'] * 1e3:9.1f} {best[builds[0]] / best['swap']:10.2f}"
            rows.append(row)
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
