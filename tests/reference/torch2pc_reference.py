#!/usr/bin/env python3
"""An independent PyTorch implementation of Torch2PC's three error types and ePC,
written from docs/algorithms.md in Torch2PC's own style (one
torch.autograd.functional.vjp per block), checked against `pcplay infer`.

It builds random dense models (tanh, relu, sigmoid; MSE and cross-entropy;
1 to 5 PC layers; a flatten over a 3-D input in some), conv nets (the
paper's MNIST CNN on mostly-zero images, so that max-pool ties occur; a net
with stride, padding, average and overlapping max pooling) and residual nets
(μPC's scaled residual MLP, a residual conv block), runs every error type
(ePC's reference is written from its energy with autograd) in all, and requires each output tensor -- loss, dLdy, vhat.l, v.l, eps.l,
grad.<name> -- to agree to 1e-9 relative (float64), with exactly the set of
names the contract promises. A float32 pass checks that the dtype is honoured.

A note on precision: eps is computed as v̂ − v or f(v) − v (as Torch2PC
does), which cancels digits when |eps| << |v̂|. Two correct implementations
whose sums round differently (Eigen's and PyTorch's conv, say) then differ by
about 1e-15·|v̂|/|eps|: on the paper's CNN after 5 Strict steps of η = 0.05,
|eps|/|v̂| ≈ 1e-6 and they differ by 2e-9. The conv nets therefore run at the
paper's settings (η = 0.1, n = 20), where |eps|/|v̂| ≈ 1e-4..1e-3.

Run with Debian's python3 (it has torch):  /usr/bin/python3 torch2pc_reference.py PCPLAY
"""
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

# --- safetensors, as little as the test needs --------------------------------
NP_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().numpy()
        code = {np.dtype(v): k for k, v in NP_DTYPES.items()}[a.dtype]
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + end], dtype=NP_DTYPES[e["dtype"]]).reshape(e["shape"])
    return out, meta


# --- the three algorithms, from the spec ----------------------------------------
def loss_fn(kind, yhat, Y):
    return ((yhat - Y) ** 2).mean() if kind == "mse" else F.cross_entropy(yhat, Y)


def loss_and_grad(kind, yhat, Y):
    yhat = yhat.detach().requires_grad_(True)
    L = loss_fn(kind, yhat, Y)
    (g,) = torch.autograd.grad(L, yhat)
    return L.detach(), g


def vjp_input(block, x, g):  # J(x)^T g
    return torch.autograd.functional.vjp(block, x.detach(), g)[1]


def set_param_grads(block, x, g):  # p.grad = Jθ(x)^T g, overwritten
    params = list(block.parameters())
    if not params:
        return
    y = block(x.detach())
    grads = torch.autograd.grad(y, params, grad_outputs=g, allow_unused=True)
    for p, gp in zip(params, grads):
        p.grad = torch.zeros_like(p) if gp is None else gp.detach().clone()


def forward(model, X):
    vhat = [X]
    for f in model:
        vhat.append(f(vhat[-1]).detach())
    return vhat


def pc_infer(model, kind, X, Y, err, eta, n, vinit=None):
    L = len(model)  # model[l - 1] is f_l
    vhat = forward(model, X)
    Loss, dLdy = loss_and_grad(kind, vhat[L], Y)
    eps = [None] * (L + 1)
    if err == "exact":
        eps[L] = dLdy
        for l in range(L - 1, 0, -1):
            eps[l] = vjp_input(model[l], vhat[l], eps[l + 1])
        v = [None] + [vhat[l] - eps[l] for l in range(1, L + 1)]
        for l in range(1, L + 1):
            set_param_grads(model[l - 1], vhat[l - 1], eps[l])
        return vhat, Loss, dLdy, v, eps
    v = [t.clone() for t in vhat]
    if vinit is not None:
        for l in range(1, L):
            if vinit[l] is not None:
                v[l] = vinit[l].clone()
    if err == "fixedpred":
        eps[L] = dLdy
        for _ in range(n):
            for k in range(L - 1, -1, -1):
                eps[k] = vhat[k] - v[k]
                v[k] = v[k] + eta * (eps[k] - vjp_input(model[k], vhat[k], eps[k + 1]))
        for l in range(1, L + 1):
            set_param_grads(model[l - 1], vhat[l - 1], eps[l])
    elif err == "strict":
        for _ in range(n):
            _, eps[L] = loss_and_grad(kind, model[L - 1](v[L - 1]).detach(), Y)
            for l in range(L - 1, 0, -1):
                eps[l] = model[l - 1](v[l - 1]).detach() - v[l]
                v[l] = v[l] + eta * (eps[l] - vjp_input(model[l], v[l], eps[l + 1]))
        for l in range(1, L + 1):
            set_param_grads(model[l - 1], v[l - 1], eps[l])
    elif err == "epc":
        v, eps = epc_infer(model, kind, X, Y, eta, n, vhat)
    else:
        raise ValueError(err)
    return vhat, Loss, dLdy, v, eps


# --- ePC, from its energy with autograd (not from pcplay's sweeps) -----------------
def beliefs_from_errors(model, X, e):
    """v_0 = X, v_l = f_l(v_{l-1}) - e_l (l < L); and f_L(v_{L-1})."""
    v = [X]
    for l in range(1, len(model)):
        v.append(model[l - 1](v[-1]) - e[l - 1])
    return v, model[-1](v[-1])


def local_energy_backward(model, kind, v, Y):
    """grad θ from the energy at beliefs held fixed (ePC's E_local): each block sees its own error only."""
    L = len(model)
    model.zero_grad(set_to_none=True)
    E = loss_fn(kind, model[L - 1](v[L - 1].detach()), Y)
    for l in range(1, L):
        E = E + 0.5 * ((model[l - 1](v[l - 1].detach()) - v[l].detach()) ** 2).sum()
    E.backward()
    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)


def epc_infer(model, kind, X, Y, eta, n, vhat):
    """F(e) = ½ Σ‖e_l‖² + Loss(f_L(v_{L-1}(e)), Y), descended over the errors e_1..e_{L-1} from e = 0."""
    L = len(model)
    e = [torch.zeros_like(vhat[l]) for l in range(1, L)]
    for _ in range(n if L > 1 else 0):
        e = [t.detach().requires_grad_(True) for t in e]
        v, ytilde = beliefs_from_errors(model, X, e)
        F = loss_fn(kind, ytilde, Y) + sum(0.5 * (t ** 2).sum() for t in e)
        grads = torch.autograd.grad(F, e)
        e = [(t - eta * g).detach() for t, g in zip(e, grads)]
    with torch.no_grad():
        v, ytilde = beliefs_from_errors(model, X, e)
    v = [t.detach() for t in v] + [vhat[L]]
    _, dL = loss_and_grad(kind, ytilde.detach(), Y)
    local_energy_backward(model, kind, v, Y)
    return v, [None] + e + [dL]


# --- iPC, from its energy with autograd --------------------------------------------
def ipc_step(model, kind, X, Y, opt, eta, n):
    """One iPC training step: each of n iterations takes the gradient of
    F(v, θ) = ½ Σ_{l<L} ‖f_l(v_{l-1}) − v_l‖² + Loss(f_L(v_{L-1}), Y) with respect to the
    beliefs and the weights at once, moves the beliefs by −η ∂F/∂v and steps the optimizer.
    Returns the loss at the feedforward pass."""
    L = len(model)
    vhat = forward(model, X)
    loss = loss_fn(kind, vhat[L], Y).detach()
    v = [t.clone() for t in vhat[1:L]]
    params = list(model.parameters())
    for _ in range(n):
        v = [t.detach().requires_grad_(True) for t in v]
        beliefs = [X] + v
        F = loss_fn(kind, model[L - 1](beliefs[L - 1]), Y)
        for l in range(1, L):
            F = F + 0.5 * ((model[l - 1](beliefs[l - 1]) - beliefs[l]) ** 2).sum()
        grads = torch.autograd.grad(F, v + params)
        v = [(t - eta * g).detach() for t, g in zip(v, grads[:len(v)])]
        for p, g in zip(params, grads[len(v):]):
            p.grad = g
        opt.step()
    return loss


# --- problems ----------------------------------------------------------------------
ACTS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "identity": nn.Identity}


class Residual(nn.Sequential):
    """f(z) = z + layers(z); a Sequential still, so that the names stay block.layer.weight."""

    def forward(self, x):
        return x + super().forward(x)


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


def build_torch(spec):
    """The PyTorch twin of a pcplay model file: nn.Sequential of nn.Sequential blocks."""
    shape = list(spec["input_shape"])
    blocks = []
    for entry in spec["blocks"]:
        residual = isinstance(entry, dict) and entry["residual"]
        block = entry["layers"] if isinstance(entry, dict) else entry
        layers = []
        for layer in block:
            t = layer["type"]
            if t == "linear":
                layers.append(nn.Linear(shape[0], layer["out"], bias=layer.get("bias", True)))
                shape = [layer["out"]]
            elif t == "conv2d":
                k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("padding", 0)
                layers.append(nn.Conv2d(shape[0], layer["out"], k, s, p, bias=layer.get("bias", True)))
                shape = [layer["out"], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1]
            elif t in ("maxpool2d", "avgpool2d"):
                k, s = layer["kernel"], layer.get("stride", layer["kernel"])
                layers.append((nn.MaxPool2d if t == "maxpool2d" else nn.AvgPool2d)(k, s))
                shape = [shape[0], (shape[1] - k) // s + 1, (shape[2] - k) // s + 1]
            elif t == "flatten":
                layers.append(nn.Flatten())
                shape = [int(np.prod(shape))]
            elif t == "scale":
                layers.append(Scale(layer["factor"]))
            else:
                layers.append(ACTS[t]())
        blocks.append((Residual if residual else nn.Sequential)(*layers))
    return nn.Sequential(*blocks), shape[0]


PAPER_MNIST = {"input_shape": [1, 28, 28], "blocks": [
    [{"type": "conv2d", "out": 10, "kernel": 3}, {"type": "relu"}, {"type": "maxpool2d", "kernel": 2}],
    [{"type": "conv2d", "out": 5, "kernel": 3}, {"type": "relu"}, {"type": "flatten"}],
    [{"type": "linear", "out": 50}, {"type": "relu"}],
    [{"type": "linear", "out": 30}, {"type": "relu"}],
    [{"type": "linear", "out": 10}]]}

CONV_STRIDED = {"input_shape": [3, 9, 8], "blocks": [
    [{"type": "conv2d", "out": 4, "kernel": 3, "stride": 2, "padding": 1}, {"type": "tanh"}],
    [{"type": "conv2d", "out": 6, "kernel": 2, "padding": 1, "bias": False}, {"type": "sigmoid"},
     {"type": "avgpool2d", "kernel": 2, "stride": 1}],
    [{"type": "maxpool2d", "kernel": 3, "stride": 2}, {"type": "flatten"}, {"type": "linear", "out": 5}]]}


# μPC's residual MLP (as `mupc:6,4:tanh` builds it for 5 inputs and 3 classes), and
# a residual conv block.
RESIDUAL_MLP = {"input_shape": [5], "blocks": [
    [{"type": "linear", "out": 6, "bias": False, "init": "normal"}, {"type": "scale", "factor": 5 ** -0.5}],
    {"residual": True, "layers": [{"type": "tanh"}, {"type": "linear", "out": 6, "bias": False, "init": "normal"},
                                  {"type": "scale", "factor": 24 ** -0.5}]},
    {"residual": True, "layers": [{"type": "tanh"}, {"type": "linear", "out": 6, "bias": False, "init": "normal"},
                                  {"type": "scale", "factor": 24 ** -0.5}]},
    [{"type": "tanh"}, {"type": "linear", "out": 3, "bias": False, "init": "normal"}, {"type": "scale", "factor": 1 / 6}]]}

RESIDUAL_CONV = {"input_shape": [2, 6, 6], "blocks": [
    [{"type": "conv2d", "out": 3, "kernel": 3, "padding": 1}, {"type": "tanh"}],
    {"residual": True, "layers": [{"type": "conv2d", "out": 3, "kernel": 3, "padding": 1}, {"type": "relu"},
                                  {"type": "scale", "factor": 0.5}]},
    [{"type": "maxpool2d", "kernel": 2}, {"type": "flatten"}, {"type": "linear", "out": 4}]]}

EXTRA_NETS = [PAPER_MNIST, CONV_STRIDED, PAPER_MNIST, CONV_STRIDED, RESIDUAL_MLP, RESIDUAL_CONV]


def random_dense_spec(rng, case):
    act = ["tanh", "relu", "sigmoid"][case % 3]
    L = 1 + case % 5
    image = case % 4 == 3  # a 3-D input with a flatten in the first block
    spec = {"input_shape": [2, 3, 4] if image else [rng.randint(3, 12)], "blocks": []}
    widths = [rng.randint(3, 16) for _ in range(L - 1)] + [rng.randint(2, 6)]
    for l, w in enumerate(widths):
        block = [{"type": "flatten"}] if l == 0 and image else []
        block.append({"type": "linear", "out": w, **({} if rng.random() > 0.2 else {"bias": False})})
        if l < L - 1:
            block.append({"type": act})
        spec["blocks"].append(block)
    return spec


def make_problem(rng, case, dense_cases):
    kind = ["mse", "cross_entropy"][(case // 3) % 2]
    if case < dense_cases:
        spec = random_dense_spec(rng, case)
        X = torch.rand(rng.randint(1, 12), *spec["input_shape"]) * 2 - 1
    else:  # the paper's MNIST CNN on sparse, MNIST-like images, a strided net, residual nets
        spec = dict(EXTRA_NETS[case - dense_cases])
        paper = spec["blocks"] is PAPER_MNIST["blocks"]
        X = torch.rand(4, *spec["input_shape"])
        if paper:
            X = X * (torch.rand_like(X) < 0.3)  # mostly zero background: max-pool ties
    spec["loss"] = kind
    model, K = build_torch(spec)
    B = X.shape[0]
    if kind == "cross_entropy":
        Y = Yref = torch.randint(0, K, (B,))
    elif case % 2:
        Y = Yref = torch.rand(B, K)  # real targets
    else:
        Y = torch.randint(0, K, (B,))  # labels in the file; pcplay makes them one-hot for MSE
        Yref = F.one_hot(Y, K).double()
    return model, spec, kind, X, Y, Yref


def expected_names(model, err, L):
    names = {"loss", "dLdy"} | {f"vhat.{l}" for l in range(L + 1)}
    first = {"fixedpred": 0, "strict": 0, "epc": 0, "exact": 1}[err]
    names |= {f"v.{l}" for l in range(first, L + 1)}
    names |= {f"eps.{l}" for l in range({"fixedpred": 0, "strict": 1, "epc": 1, "exact": 1}[err], L + 1)}
    names |= {"grad." + k for k, _ in model.named_parameters()}
    return names


def rel_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return math.inf
    nb = np.linalg.norm(b)
    d = np.linalg.norm(a - b)
    return 0.0 if d == 0 else (d / nb if nb > 0 else math.inf)


def main():
    pcplay = sys.argv[1]
    dense_cases = int(os.environ.get("PCPLAY_REFERENCE_CASES", "30"))
    cases = dense_cases + len(EXTRA_NETS)
    rng = random.Random(2022)
    torch.manual_seed(2022)
    worst = {"strict": 0.0, "fixedpred": 0.0, "exact": 0.0, "epc": 0.0}
    failures, compared = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in range(cases):
            model, spec, kind, X, Y, Yref = make_problem(rng, case, dense_cases)
            L = len(model)
            paths = {k: os.path.join(tmp, f"{case}.{k}") for k in ("json", "w", "b", "vinit", "out")}
            with open(paths["json"], "w") as f:
                json.dump(spec, f)
            save_safetensors(paths["w"], dict(model.state_dict()))
            save_safetensors(paths["b"], {"x": X, "y": Y})
            for err in ("strict", "fixedpred", "exact", "epc"):
                eta = rng.choice([0.05, 0.1, 0.3, 1.0] if err in ("fixedpred", "epc") else [0.05, 0.1, 0.2])
                n = rng.choice([1, 2, 5, 20])
                if case >= dense_cases:  # the conv nets at the paper's settings (see the note above)
                    eta, n = 0.1, 20
                vinit = None
                cmd = [pcplay, "infer", "--model", paths["json"], "--weights", paths["w"], "--batch", paths["b"],
                       "--err", err, "--eta", repr(eta), "--n", str(n), "--dtype", "float64", "--out", paths["out"]]
                if err == "strict" and case % 3 == 1 and L > 1:  # a given initial belief
                    with torch.no_grad():
                        vh = forward(model, X)
                    vinit = [None] + [vh[l] + 0.01 * torch.randn_like(vh[l]) for l in range(1, L)] + [None]
                    save_safetensors(paths["vinit"], {f"v.{l}": vinit[l] for l in range(1, L)})
                    cmd += ["--vinit", paths["vinit"]]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode not in (0, 3):  # 3: a diverged relaxation, results still written
                    failures.append(f"case {case} {err}: exit {proc.returncode}: {proc.stderr.strip()}")
                    continue
                out, meta = load_safetensors(paths["out"])
                vhat, Loss, dLdy, v, eps = pc_infer(model, kind, X, Yref, err, eta, n, vinit)
                ref = {"loss": Loss, "dLdy": dLdy}
                for l in range(L + 1):
                    ref[f"vhat.{l}"] = vhat[l]
                    if v[l] is not None:
                        ref[f"v.{l}"] = v[l]
                    if eps[l] is not None:
                        ref[f"eps.{l}"] = eps[l]
                for k, p in model.named_parameters():
                    ref["grad." + k] = p.grad
                names = expected_names(model, err, L)
                if set(out) != names or set(ref) != names:
                    failures.append(f"case {case} {err}: names differ: pcplay has {sorted(set(out) ^ names)} "
                                    f"off the contract; reference {sorted(set(ref) ^ names)}")
                    continue
                for name in sorted(names):
                    if out[name].dtype != np.float64:
                        failures.append(f"case {case} {err}: {name} is {out[name].dtype}, not float64")
                    d = rel_diff(out[name], ref[name].detach().numpy())
                    compared += 1
                    worst[err] = max(worst[err], d)
                    if not d <= 1e-9:
                        failures.append(f"case {case} {err} eta={eta} n={n} L={L} {kind}: {name} differs by {d:.3g}")

            # float32: the dtype is honoured and agrees to float32 precision for Exact.
            cmd = [pcplay, "infer", "--model", paths["json"], "--weights", paths["w"], "--batch", paths["b"],
                   "--err", "exact", "--dtype", "float32", "--out", paths["out"]]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            out, _ = load_safetensors(paths["out"])
            vhat, Loss, dLdy, v, eps = pc_infer(model, kind, X, Yref, "exact", 0, 0)
            for k, p in model.named_parameters():
                a = out["grad." + k]
                if proc.returncode != 0 or a.dtype != np.float32 or rel_diff(a, p.grad.numpy()) > 1e-4:
                    failures.append(f"case {case} float32: grad.{k} off ({a.dtype}, exit {proc.returncode})")

    for err, w in worst.items():
        print(f"reference: {err:9s} worst relative difference {w:.3g}")
    for f in failures[:20]:
        print("FAILED:", f)
    failed_cases = {f.split(" ")[1] for f in failures}
    print(f"reference: {compared} tensors compared over {dense_cases} random dense models, 4 conv nets and 2 "
          "residual nets (μPC's MLP, a conv block)")
    print(f"{cases - len(failed_cases)} passed, {len(failed_cases)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
