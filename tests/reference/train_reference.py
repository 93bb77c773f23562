"""`pcplay train` end to end against an independent PyTorch training loop.

The same data (IDX files written here), the same initial weights (`pcplay
init`), the same batch order (`pcplay train --batches`), for every error
type (ePC's and iPC's too; iPC's PyTorch loop is written from its energy
with autograd, an optimizer step per inference iteration), Adam and SGD with momentum, a dense and a convolutional model, over
several epochs whose last batch is short. The PyTorch side is the algorithms
of tests/reference/torch2pc_reference.py and torch.optim. In float64 every
step's batch loss (the metrics' train_loss) and every final weight must agree
to 1e-9 relative.

Usage: train_reference.py PATH/TO/pcplay   (Debian's python3, with torch)
"""
import csv
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch2pc_reference import build_torch, ipc_step, load_safetensors, pc_infer  # noqa: E402

PCPLAY = sys.argv[1]
TOL = 1e-9
ETA, N, LR, BATCH, STEPS = 0.1, 5, 0.01, 16, 10
ERR_TYPES = ("strict", "fixedpred", "exact", "epc", "ipc")

DENSE = {"input_shape": [6], "loss": "cross_entropy", "blocks": [
    [{"type": "linear", "out": 5}, {"type": "tanh"}],
    [{"type": "linear", "out": 4}, {"type": "relu"}],
    [{"type": "linear", "out": 3}]]}
CONV = {"input_shape": [1, 6, 6], "loss": "mse", "blocks": [
    [{"type": "conv2d", "out": 2, "kernel": 3}, {"type": "tanh"}, {"type": "maxpool2d", "kernel": 2}],
    [{"type": "flatten"}, {"type": "linear", "out": 3}]]}


def write_idx(path, a):
    """IDX as MNIST's: float32 (0x0D) samples or unsigned-byte (0x08) labels, big-endian."""
    a = np.asarray(a)
    code, data = (0x08, a.astype(np.uint8)) if a.dtype == np.uint8 else (0x0D, a.astype(">f4"))
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, code, a.ndim) + struct.pack(">" + "I" * a.ndim, *a.shape) + data.tobytes())


def make_data(folder, sample_shape, n_train, n_test, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    train_x = rng.uniform(-1, 1, (n_train, *sample_shape)).astype(np.float32)
    train_y = rng.integers(0, 3, n_train).astype(np.uint8)
    write_idx(f"{folder}/train-images", train_x)
    write_idx(f"{folder}/train-labels", train_y)
    write_idx(f"{folder}/test-images", rng.uniform(-1, 1, (n_test, *sample_shape)).astype(np.float32))
    write_idx(f"{folder}/test-labels", rng.integers(0, 3, n_test).astype(np.uint8))
    return train_x.astype(np.float64), train_y


def run(*args):
    r = subprocess.run([PCPLAY, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"pcplay {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def torch_run(spec, w0, train_x, train_y, batches, err, optimizer):
    """The PyTorch side: every step on pcplay's batches; returns the batch losses and final weights."""
    model, classes = build_torch(spec)
    model = model.double()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in w0.items()})
    opt = (torch.optim.Adam(model.parameters(), lr=LR) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9))
    kind = spec["loss"]
    losses = []
    for idx in batches:
        X = torch.from_numpy(train_x[idx])
        labels = torch.from_numpy(train_y[idx].astype(np.int64))
        Y = labels if kind == "cross_entropy" else torch.nn.functional.one_hot(labels, classes).double()
        if err == "ipc":
            losses.append(float(ipc_step(model, kind, X, Y, opt, ETA, N)))
            continue
        _, loss, _, _, _ = pc_infer(model, kind, X, Y, err, ETA, N)
        losses.append(float(loss))
        opt.step()
    return losses, {k: v.detach().numpy() for k, v in model.state_dict().items()}


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def main():
    failures, worst = 0, {}
    with tempfile.TemporaryDirectory() as tmp:
        # Dense: 50 samples, batches of 16, 16, 16, 2; conv: 38 samples, 16, 16, 6.
        for name, spec, shape, n_train in (("dense", DENSE, [6], 50), ("conv", CONV, [6, 6], 38)):
            folder = f"{tmp}/{name}"
            train_x, train_y = make_data(folder, shape, n_train, 10, seed=len(name))
            if name == "conv":
                train_x = train_x[:, None]  # the channel pcplay adds to [N, H, W] images
            model_file = f"{tmp}/{name}.json"
            with open(model_file, "w") as f:
                json.dump(spec, f)
            run("init", "--model", model_file, "--seed", "3", "--dtype", "float64", "--out", f"{tmp}/w0.safetensors")
            w0, _ = load_safetensors(f"{tmp}/w0.safetensors")
            for err in ERR_TYPES:
                for optimizer in ("adam", "sgd"):
                    tag = f"{name} {err} {optimizer}"
                    extra = ["--momentum", "0.9"] if optimizer == "sgd" else []
                    run("train", "--data", folder, "--model", model_file, "--init", f"{tmp}/w0.safetensors",
                        "--dtype", "float64", "--err", err, "--eta", str(ETA), "--n", str(N), "--optimizer", optimizer,
                        "--lr", str(LR), *extra, "--batch", str(BATCH), "--steps", str(STEPS), "--threads", "1",
                        "--metrics", f"{tmp}/m.csv", "--batches", f"{tmp}/b.csv", "--save", f"{tmp}/w.safetensors",
                        "--quiet")
                    with open(f"{tmp}/b.csv") as f:
                        rows = [list(map(int, r)) for r in csv.reader(f)]
                    batches = [r[1:] for r in rows]
                    with open(f"{tmp}/m.csv") as f:
                        pcplay_losses = [float(r["train_loss"]) for r in csv.DictReader(f)]
                    sizes = sorted({len(b) for b in batches})
                    shuffled = batches[0] != list(range(len(batches[0])))
                    torch_losses, torch_weights = torch_run(spec, w0, train_x, train_y, batches, err, optimizer)
                    weights, _ = load_safetensors(f"{tmp}/w.safetensors")
                    loss_err = rel(pcplay_losses, torch_losses)
                    weight_err = max(rel(weights[k], torch_weights[k]) for k in torch_weights)
                    ok = (len(rows) == STEPS and [r[0] for r in rows] == list(range(1, STEPS + 1)) and len(sizes) == 2
                          and shuffled and len(pcplay_losses) == STEPS and sorted(weights) == sorted(torch_weights)
                          and loss_err <= TOL and weight_err <= TOL)
                    worst[err] = max(worst.get(err, 0), loss_err, weight_err)
                    print(f"{'ok' if ok else 'FAIL'}: {tag}: {STEPS} steps (batch sizes {sizes}), loss curve "
                          f"{loss_err:.1e}, final weights {weight_err:.1e}")
                    failures += not ok
    print("worst relative difference: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    print(f"{4 * len(ERR_TYPES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
