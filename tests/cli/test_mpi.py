#!/usr/bin/env python3
"""`mpirun -np R pcplay train` against one process: the same run, faster.
Loopback only (Open MPI over shared memory); standard library only.
Usage: test_mpi.py PCPLAY MPIRUN"""
import array
import csv
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

PCPLAY = os.path.abspath(sys.argv[1])
MPIRUN = sys.argv[2]
TMP = tempfile.mkdtemp(prefix="pcplay-mpi-")
# As root on a 2-core machine: allowed, more ranks than cores, no binding (a
# rank's threads would otherwise share one core).
MPI_FLAGS = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok     " if ok else "FAILED ") + name + ("" if ok else f": {detail}"), flush=True)


def path(name):
    return os.path.join(TMP, name)


def command(ranks, args):
    return [PCPLAY, *args] if ranks == 0 else [MPIRUN, *MPI_FLAGS, "-np", str(ranks), PCPLAY, *args]


def run(ranks, *args):
    """ranks 0: pcplay on its own, not under mpirun."""
    return subprocess.run(command(ranks, args), capture_output=True, text=True, cwd=TMP, timeout=600)


def read_tensors(file):
    """name -> list of floats (F32/F64), from a safetensors file."""
    with open(file, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a = array.array({"F32": "f", "F64": "d"}[t["dtype"]])
        a.frombytes(blob[t["data_offsets"][0]:t["data_offsets"][1]])
        out[name] = a
    return out


def weight_difference(file, reference):
    """The largest |a - b| / max|b| over the tensors (inf when they differ in names or sizes)."""
    a, b = read_tensors(file), read_tensors(reference)
    if a.keys() != b.keys() or any(len(a[k]) != len(b[k]) for k in a):
        return float("inf")
    worst = 0.0
    for k in a:
        scale = max(abs(x) for x in b[k]) or 1.0
        worst = max(worst, max(abs(x - y) for x, y in zip(a[k], b[k])) / scale)
    return worst


def losses(file):
    with open(file) as f:
        rows = list(csv.DictReader(f))
    return [(float(r["train_loss"]), float(r["test_loss"])) for r in rows]


def summary(r):
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


# The runs: paper-mnist with FixedPred (the paper's CNN; batch 100 splits
# 34/33/33 on 3 ranks), and a dense net with Strict on circle data whose 201
# training samples in batches of 100 end each epoch with a batch of 1: shares
# of no samples on the other ranks.
mnist_fixedpred = ["train", "--data", "mnist", "--model", "paper-mnist", "--err", "fixedpred", "--batch", "100",
                   "--steps", "50", "--threads", "1", "--json"]
dense_strict = ["train", "--data", "circle", "--samples", "402", "--model", "dense:16,16:tanh", "--err", "strict",
                "--eta", "0.1", "--n", "20", "--batch", "100", "--steps", "50", "--lr", "0.01", "--threads", "1",
                "--compare-bp", "--json"]

for name, args in (("paper-mnist FixedPred", mnist_fixedpred), ("dense Strict (shares of no samples)", dense_strict)):
    tag = name.split()[0]
    one = run(0, *args, "--dtype", "float64", "--save", f"{tag}-1.safetensors", "--metrics", f"{tag}-1.csv")
    if one.returncode != 0:
        check(f"{name}: one process trains", False, one.stderr.strip())
        continue
    for ranks in (2, 3):
        r = run(ranks, *args, "--dtype", "float64", "--save", f"{tag}-{ranks}.safetensors", "--metrics",
                f"{tag}-{ranks}.csv")
        if r.returncode != 0:
            check(f"{name}: {ranks} ranks train", False, f"exit {r.returncode}: {r.stderr.strip()[-400:]}")
            continue
        d = weight_difference(path(f"{tag}-{ranks}.safetensors"), path(f"{tag}-1.safetensors"))
        check(f"{name}, float64, 50 steps: {ranks} ranks' final weights equal one process's to 1e-12 (got {d:.1e})",
              d <= 1e-12, f"{d:.3e}")
        a, b = losses(path(f"{tag}-{ranks}.csv")), losses(path(f"{tag}-1.csv"))
        worst = max(abs(x - y) / abs(y) for p, q in zip(a, b) for x, y in zip(p, q)) if len(a) == len(b) == 50 else 1
        check(f"{name}: {ranks} ranks report the global losses (within 1e-12, got {worst:.1e})", worst <= 1e-12)
        s = summary(r)
        check(f"{name}: {ranks} ranks print one summary, with the ranks",
              s is not None and s.get("ranks") == ranks and r.stdout.count("\n") == 1, r.stdout[:300])

# The other algorithms on 3 ranks: ePC, iPC (its weights change, and its
# gradients are summed, at every inference iteration) and Exact; with
# --compare-bp, every metric (the twin's, the relative errors and angles
# against backprop's gradient) is the whole batch's: to 1e-12 relative, or
# absolute below 1 (Exact's relative error to backprop is itself 1e-16); the
# angles to 1e-5 degrees (an angle near 0 is acos near 1: a cosine one
# rounding away from 1 is 1.2e-6 degrees, Exact's angle to backprop).
# iPC makes 20 Adam updates a step, 1,000 in the run: to 1e-10. Strict with
# the stopping rule: each step's iterations are decided on the whole batch's
# step size, so every rank stops together, where one process would.
for err, extra in (("epc", []), ("ipc", []), ("exact", []), ("strict", ["--tol", "0.3"])):
    args = [a if a != "strict" else err for a in dense_strict] + extra
    tag, err = (f"{err}-tol", f"{err} --tol 0.3") if extra else (err, err)
    one = run(0, *args, "--dtype", "float64", "--save", f"{tag}-1.safetensors", "--metrics", f"{tag}-1.csv")
    three = run(3, *args, "--dtype", "float64", "--save", f"{tag}-3.safetensors", "--metrics", f"{tag}-3.csv")
    if one.returncode != 0 or three.returncode != 0:
        check(f"{err}: 1 and 3 ranks train", False, one.stderr.strip()[-300:] + three.stderr.strip()[-300:])
        continue
    d = weight_difference(path(f"{tag}-3.safetensors"), path(f"{tag}-1.safetensors"))
    with open(path(f"{tag}-1.csv")) as f1, open(path(f"{tag}-3.csv")) as f3:
        a, b = list(csv.DictReader(f3)), list(csv.DictReader(f1))
    columns = [k for k in b[0] if k not in ("seconds",)]
    worst = max(abs(float(x[k]) - float(y[k])) / max(abs(float(y[k])), 1) for x, y in zip(a, b) for k in columns
                if not k.startswith("angle"))
    angle = max(abs(float(x[k]) - float(y[k])) for x, y in zip(a, b) for k in columns if k.startswith("angle"))
    bound = 1e-10 if err == "ipc" else 1e-12
    check(f"{err}, float64: 3 ranks' weights (got {d:.1e}) and metrics ({len(columns)} columns, got {worst:.1e}; "
          f"angles {angle:.1e} degrees) are one process's to {bound:.0e}",
          d <= bound and worst <= bound and angle <= 1e-5 and len(a) == len(b) == 50, f"{d:.3e} {worst:.3e} {angle:.3e}")

# float32: the loss curves of 1 and 2 ranks agree to 1e-5 over the first 25
# steps, and to 1e-2 over all 50. The sums' order differs with the ranks, and
# training amplifies rounding: the SSE2 build's curves stay within 5e-7 to
# step 31 and part by 3e-3 at step 48, the AVX-512 build's by 3e-6 (another
# packet width, other roundings). A wrong normalisation of the sums shows by
# the second step. With SGD: Adam divides each gradient by its own running
# size, so that a float32 rounding difference in a near-zero gradient moves
# its weight by up to 2 lr (docs/distributed.md).
sgd = ["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05"]
one = run(0, *mnist_fixedpred, *sgd, "--metrics", "f32-1.csv")
two = run(2, *mnist_fixedpred, *sgd, "--metrics", "f32-2.csv")
if one.returncode == 0 and two.returncode == 0:
    a, b = losses(path("f32-2.csv")), losses(path("f32-1.csv"))
    parted = [max(abs(x - y) / abs(y) for x, y in zip(p, q)) for p, q in zip(a, b)]
    early, worst = max(parted[:25]), max(parted)
    check(f"float32: 2 ranks' loss curve agrees with one process's to 1e-5 over 25 steps (got {early:.1e}), "
          f"to 1e-2 over 50 (got {worst:.1e})",
          len(a) == len(b) == 50 and early <= 1e-5 and worst <= 1e-2, f"{early:.3e} {worst:.3e}")
else:
    check("float32 runs", False, one.stderr + two.stderr)

# One rank is the program as it is without mpirun, bit for bit.
r = run(1, *dense_strict, "--dtype", "float64", "--save", "one-rank.safetensors")
check("mpirun -np 1 gives the same weights as pcplay alone, bit for bit",
      r.returncode == 0 and weight_difference(path("one-rank.safetensors"), path("dense-1.safetensors")) == 0,
      r.stderr.strip())

# A failure every rank meets is told once, and the job ends with its code.
r = run(2, "train", "--data", "no-such-data", "--threads", "1")
check("a bad option under mpirun: one error line from rank 0, exit 2",
      r.stderr.count("no-such-data") == 1 and "pcplay train: error:" in r.stderr and r.returncode == 2,
      f"exit {r.returncode}: {r.stderr.strip()[:600]}")

# A failure one rank meets alone (its own arguments, in mpirun's MPMD form)
# is told once too: by rank 0 at once, or by the other rank, named, after it
# has waited for rank 0's notice in vain.
good = [PCPLAY, "train", "--data", "circle", "--steps", "50", "--threads", "1"]
bad = [PCPLAY, "train", "--data", "no-such-data", "--threads", "1"]
for failing, (first, second), line in ((0, (bad, good), "pcplay train: error:"),
                                       (1, (good, bad), "pcplay train (rank 1): error:")):
    r = subprocess.run([MPIRUN, *MPI_FLAGS, "-np", "1", *first, ":", "-np", "1", *second],
                       capture_output=True, text=True, cwd=TMP, timeout=600)
    check(f"a bad option on rank {failing} alone: one error line, {line!r}, exit 2",
          r.stderr.count("no-such-data") == 1 and line in r.stderr and r.returncode == 2,
          f"exit {r.returncode}: {r.stderr.strip()[:600]}")

r = run(2, "init", "--model", "mlp-2d", "--out", "x.safetensors")
check("init under mpirun -np 2 is refused (two ranks would write one file), exit 2",
      r.returncode == 2 and "only train and reproduce share their work" in r.stderr and
      not os.path.exists(path("x.safetensors")), r.stderr.strip()[-300:])


def checkpoint_step(folder):
    try:
        with open(os.path.join(folder, "checkpoint.safetensors"), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            return json.loads(json.loads(f.read(n))["__metadata__"]["pcplay.trainer"])["step"]
    except (OSError, ValueError, KeyError, struct.error):
        return -1


def ranks_of(job):
    """The pids of the pcplay processes mpirun started."""
    out = subprocess.run(["pgrep", "-P", str(job.pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def wait_for_checkpoint(job, folder, step):
    """Waits (at most 120 s) until the running job has checkpointed step `step` in `folder`."""
    deadline = time.time() + 120
    while job.poll() is None and checkpoint_step(path(folder)) < step and time.time() < deadline:
        time.sleep(0.05)


def start_job(ranks, args):
    return subprocess.Popen(command(ranks, args), cwd=TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def signal_and_wait(job, pid, sig):
    """Sends sig to one rank; returns the seconds until the job ended (None: not in 30 s) and its stderr."""
    os.kill(pid, sig)
    t0 = time.time()
    try:
        _, err = job.communicate(timeout=30)
        return time.time() - t0, err
    except subprocess.TimeoutExpired:
        job.kill()
        return None, job.communicate()[1]


# A rank killed mid-run ends the job within 30 s; the run resumes from its last
# checkpoint with another number of ranks and ends as an uninterrupted run does.
# (150 steps with SGD: rounding differences of 1e-16 grow along a run, fastest
# under Adam; after 2,000 Adam steps two runs that differ only in the order of
# their sums are different runs.)
long_run = ["train", "--data", "mnist", "--model", "paper-mnist", "--err", "fixedpred", "--batch", "100", *sgd,
            "--steps", "150", "--dtype", "float64", "--threads", "1", "--quiet"]
whole = run(0, *long_run, "--save", "whole.safetensors")
job = start_job(3, [*long_run, "--checkpoint", "ck", "--every", "10", "--save", "killed.safetensors"])
wait_for_checkpoint(job, "ck", 30)
victims = ranks_of(job)
killed = job.poll() is None and len(victims) == 3
if killed:
    ended, err = signal_and_wait(job, victims[1], signal.SIGKILL)
    check(f"a rank killed mid-run ends the job within 30 s, saying so (ended in {ended or 0:.1f} s)",
          ended is not None and job.returncode != 0 and "signal 9" in err and
          not os.path.exists(path("killed.safetensors")), f"exit {job.returncode}: {err.strip()[-600:]}")
    at = checkpoint_step(path("ck"))
    r = run(2, "train", "--resume", "ck", "--save", "resumed.safetensors", "--quiet")
    d = weight_difference(path("resumed.safetensors"), path("whole.safetensors")) if r.returncode == 0 else 1
    check(f"resumed on 2 ranks from step {at} of 3 ranks' run: the uninterrupted run's weights to 1e-12 (got {d:.1e})",
          whole.returncode == 0 and r.returncode == 0 and at >= 30 and d <= 1e-12, r.stderr.strip()[-400:])
else:
    check("the run to kill a rank of started", False, job.communicate()[1][-400:] if job.poll() is not None else "")
    job.kill()

# A rank that hangs (stopped) ends the job after --mpi-timeout, named. It is
# stopped once the job trains (its first checkpoint), not after a fixed wait:
# a rank stopped inside MPI_Init, on a loaded machine, hangs the launch itself.
job = start_job(2, [*long_run, "--mpi-timeout", "3", "--checkpoint", "hung", "--every", "10"])
wait_for_checkpoint(job, "hung", 10)
victims = ranks_of(job)
if job.poll() is None and len(victims) == 2:
    ended, err = signal_and_wait(job, victims[1], signal.SIGSTOP)
    for pid in victims:  # (a stopped process ignores all but SIGKILL)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    check(f"a hung rank ends the job after --mpi-timeout 3, named (ended in {ended or 0:.1f} s)",
          ended is not None and ended < 30 and job.returncode != 0 and "rank 1 of 2 did not reach" in err,
          f"exit {job.returncode}: {err.strip()[-600:]}")
else:
    check("the run to hang a rank of started", False)
    job.kill()

print(f"{sum(results)}/{len(results)} checks passed")
sys.exit(0 if all(results) else 1)
