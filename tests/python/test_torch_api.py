#!/usr/bin/env python3
"""pcplay's Python package against the repository's PyTorch reference
(tests/reference/torch2pc_reference.py, float64):
  * pcplay.torch.PCInfer returns the reference's vhat, Loss, dLdy, v and
    epsilon and sets the same .grad, to 1e-9 relative, for random dense
    models, the paper's CNN, a strided conv net and two residual nets (μPC's
    MLP, a conv block), every error type, MSE and cross-entropy, with and
    without vinit;
  * a training loop of 100 Adam steps with the one-line swap gives the
    reference loop's loss curve (1e-9) and final weights;
  * pcplay.Model (numpy only) agrees with the torch layer, and saves and loads
    safetensors;
  * a bad model, shape, dtype, device, loss or ErrType each raises one clear
    exception before anything is computed.
Run: PYTHONPATH=<build>/python /usr/bin/python3 test_torch_api.py
"""
import copy
import os
import random
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import torch  # noqa: E402
from torch import nn  # noqa: E402

import torch2pc_reference as ref  # noqa: E402  (sets float64 as torch's default)
import pcplay  # noqa: E402
import pcplay.torch  # noqa: E402
from pcplay.torch import PCInfer  # noqa: E402

TOL = 1e-9
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def loss_module(kind):
    return nn.CrossEntropyLoss() if kind == "cross_entropy" else nn.MSELoss()


def rel(a, b):
    return ref.rel_diff(a.detach().numpy(), b.detach().numpy())


def compare_one(model, kind, X, Yref, err, eta, n, vinit, what):
    """PCInfer against the reference on a copy of the same model: the worst relative difference."""
    twin = copy.deepcopy(model)
    theirs = ref.pc_infer(twin, kind, X, Yref, err, eta, n, vinit)
    ours = PCInfer(model, loss_module(kind), X, Yref, {"strict": "Strict", "fixedpred": "FixedPred",
                                                       "exact": "Exact", "epc": "ePC"}[err], eta=eta, n=n, vinit=vinit)
    worst = 0.0
    for name, a, b in (("vhat", ours[0], theirs[0]), ("v", ours[3], theirs[3]), ("eps", ours[4], theirs[4])):
        if len(a) != len(b):
            check(False, f"{what}: {name} has {len(a)} entries, the reference {len(b)}")
            return float("inf")
        for l, (x, y) in enumerate(zip(a, b)):
            if (x is None) != (y is None):
                check(False, f"{what}: {name}[{l}] is {'None' if x is None else 'a tensor'} where the reference's "
                             f"is {'None' if y is None else 'a tensor'}")
                return float("inf")
            if x is not None:
                worst = max(worst, rel(x, y))
    worst = max(worst, rel(ours[1], theirs[1]), rel(ours[2], theirs[2]))
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        if p.grad is None or p.grad.shape != q.grad.shape:
            check(False, f"{what}: {name}.grad was not set as the reference's")
            return float("inf")
        worst = max(worst, rel(p.grad, q.grad))
    return worst


def as_pcplay_modules(model):
    """The reference's residual blocks and scalings as pcplay.torch's (the same layers, shared)."""
    blocks = []
    for block in model:
        layers = [pcplay.torch.Scale(m.factor) if type(m) is ref.Scale else m for m in block]
        blocks.append(pcplay.torch.Residual(*layers) if type(block) is ref.Residual else nn.Sequential(*layers))
    return nn.Sequential(*blocks)


def test_against_reference():
    rng = random.Random(18)
    torch.manual_seed(18)
    dense_cases = 12
    worst, models = {}, 0
    # + the paper's CNN, a strided conv net, μPC's residual MLP and a residual conv block
    for case in list(range(dense_cases)) + [dense_cases + i for i in (0, 1, 4, 5)]:
        model, spec, kind, X, Y, Yref = ref.make_problem(rng, case, dense_cases)
        L = len(model)
        model = as_pcplay_modules(model)
        models += 1
        for err in ("strict", "fixedpred", "exact", "epc"):
            eta, n = (rng.choice([0.05, 0.1, 0.2]), rng.choice([1, 5, 20])) if case < dense_cases else (0.1, 20)
            vinit = None
            if err == "strict" and case % 3 == 1 and L > 1:
                with torch.no_grad():
                    vh = ref.forward(model, X)
                vinit = [None] + [vh[l] + 0.01 * torch.randn_like(vh[l]) for l in range(1, L)] + [None]
            d = compare_one(model, kind, X, Yref, err, eta, n, vinit,
                            f"case {case} {err} ({kind}, L={L}{', vinit' if vinit else ''})")
            worst[err] = max(worst.get(err, 0.0), d)
    for err, d in worst.items():
        check(d <= TOL, f"PCInfer {err}: every returned tensor and .grad within {TOL:g} of the reference "
                        f"over {models} models (worst {d:.2e})")


def test_training_loop():
    """100 steps of the paper's training loop, reference against the swap, same weights and batches."""
    spec = dict(ref.random_dense_spec(random.Random(3), 4), loss="cross_entropy")
    torch.manual_seed(5)
    model, K = ref.build_torch(spec)
    twin, _ = ref.build_torch(spec)
    twin.load_state_dict(model.state_dict())
    X = torch.rand(100, *spec["input_shape"]) * 2 - 1
    Y = torch.randint(0, K, (100,))
    curves = []
    for m, infer in ((twin, lambda m, X, Y: ref.pc_infer(m, "cross_entropy", X, Y, "strict", 0.1, 20)[1]),
                     (model, lambda m, X, Y: PCInfer(m, nn.CrossEntropyLoss(), X, Y, "Strict", eta=0.1, n=20)[1])):
        optimizer = torch.optim.Adam(m.parameters(), lr=0.01)
        losses = []
        for step in range(100):
            rows = torch.arange(step * 16, step * 16 + 16) % 100
            losses.append(float(infer(m, X[rows], Y[rows])))
            optimizer.step()
        curves.append(np.array(losses))
    views = pcplay.torch._engines[model][3]
    check(all(p.data_ptr() == v.data_ptr() for p, v in zip(model.parameters(), views)),
          "the swapped model's parameters live in the engine's memory (read without a copy, updated in place)")
    d = float(np.abs(curves[0] - curves[1]).max() / np.abs(curves[0]).max())
    w = max(rel(p, q) for p, q in zip(model.parameters(), twin.parameters()))
    check(d <= TOL and w <= TOL and curves[1][-10:].mean() < curves[1][:10].mean(),
          f"100 Adam steps of Strict with the swap: the loss curve ({curves[1][0]:.4f} -> {curves[1][-1]:.4f}) "
          f"within {d:.1e} of the reference's, final weights within {w:.1e}")


def test_numpy_api():
    m = pcplay.Model("paper-mnist", dtype="float64", threads=2)
    check(m.depth == 5 and m.input_shape == [1, 28, 28] and m.output_shape == [10] and m.loss == "cross_entropy",
          "pcplay.Model('paper-mnist') has its preset's shape and loss")
    m.init(seed=3)
    X = np.random.default_rng(1).random((8, 1, 28, 28))
    labels = np.arange(8) % 10
    out = m.pc_infer(X, labels, "fixedpred", eta=0.1, n=5)
    check(isinstance(out["loss"], float) and out["v"][0].shape == X.shape and out["eps"][5].shape == (8, 10) and
          set(out["grads"]) == set(m.parameter_names()),
          "pc_infer returns numpy beliefs, errors and every parameter's gradient")
    # The torch layer on the same weights gives the same numbers.
    torch_model, _ = ref.build_torch(ref.PAPER_MNIST)
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in m.parameters().items()})
    _, loss, _, v, _ = PCInfer(torch_model, nn.CrossEntropyLoss(), torch.from_numpy(X), torch.from_numpy(labels),
                               "FixedPred", eta=0.1, n=5)
    check(abs(float(loss) - out["loss"]) <= 1e-12 and np.array_equal(v[1].numpy(), out["v"][1]),
          "pcplay.Model and pcplay.torch agree on the same weights")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.safetensors")
        m.save(path)
        other = pcplay.Model("paper-mnist", dtype="float64")
        other.load(path)
        check(all(np.array_equal(a, other.parameters()[k]) for k, a in m.parameters().items()),
              "save and load round-trip the weights through safetensors")
    data = pcplay.load_data("xor", samples=200, seed=4)
    check(data["train_x"].shape == (100, 2) and data["train_x"].dtype == np.float32 and
          data["test_y"].dtype == np.int64 and data["classes"] == 2, "load_data gives the CLI's data as numpy arrays")
    run = pcplay.train(data="circle", err="strict", steps=200, lr=0.01, compare_bp=True, threads=1)
    rows = run["metrics"]
    check(len(rows) == 200 and rows[-1]["step"] == 200 and "rel_error_1" in rows[-1] and
          run["test_accuracy"] >= 0.9 and run["diverged"] is None,
          f"train: 200 steps of circle with the CLI's metrics columns, test accuracy {run['test_accuracy']:.3f}")
    x = data["test_x"][:5].astype(np.float32)
    again = pcplay.train(data="circle", err="strict", steps=200, lr=0.01, compare_bp=True, threads=2)
    check(np.array_equal(run["model"].predict(x), again["model"].predict(x)) and
          [r["train_loss"] for r in rows] == [r["train_loss"] for r in again["metrics"]],
          "train on 1 and 2 threads: the same run, bit for bit")
    bad = pcplay.train(data="xor", err="strict", eta=5, n=50, steps=50)
    check(bad["diverged"] is not None and bad["diverged"].startswith("diverged at step 1:") and bad["steps"] == 0,
          f"a diverging train run stops and says where: {bad['diverged']}")
    small = pcplay.Model("dense:4:tanh", dtype="float32", input_shape=[2], classes=3)
    check(small.to_json().count('"linear"') == 2 and small.input_shape == [2],
          "a dense:... name is built for the given input shape and classes")


def raises(fn, exc, words, what):
    try:
        fn()
    except exc as e:
        check(all(w in str(e) for w in words), f"{what}: {type(e).__name__}: {e}")
        return
    except Exception as e:  # noqa: BLE001
        check(False, f"{what}: raised {type(e).__name__} ({e}), not {exc.__name__}")
        return
    check(False, f"{what}: no exception")


def test_bad_input():
    torch.manual_seed(1)
    good = nn.Sequential(nn.Sequential(nn.Linear(4, 6), nn.Tanh()), nn.Sequential(nn.Linear(6, 3)))
    X, Y = torch.rand(5, 4), torch.randint(0, 3, (5,))
    ce = nn.CrossEntropyLoss()
    grads_before = [p.grad for p in good.parameters()]
    raises(lambda: PCInfer(nn.Sequential(nn.Sequential(nn.Linear(4, 6), nn.Dropout()), nn.Linear(6, 3)), ce, X, Y,
                           "Strict"), ValueError, ["block 0, layer 1", "Dropout"], "a layer pcplay lacks")
    raises(lambda: PCInfer(nn.Sequential(nn.Linear(4, 6), nn.Linear(5, 3)), ce, X, Y, "Strict"), ValueError,
           ["block 1"], "blocks whose shapes do not fit")
    raises(lambda: PCInfer(good, ce, torch.rand(5, 7), Y, "Strict"), ValueError, ["7"], "X of the wrong shape")
    raises(lambda: PCInfer(good, ce, X.float(), Y, "Strict"), TypeError, ["0.0.weight", "float32"],
           "X in float32, weights float64")
    raises(lambda: PCInfer(good, ce, X.to(torch.int64), Y, "Strict"), TypeError, ["int64"], "integer X")
    raises(lambda: PCInfer(good, ce, X.to("meta"), Y, "Strict"), ValueError, ["meta", "CPU"],
           "X on another device (a CUDA tensor is refused the same way)")
    raises(lambda: PCInfer(good, ce, X, torch.tensor([0, 1, 2, 3, 0]), "Strict"), ValueError, ["label"],
           "a label out of range")
    raises(lambda: PCInfer(good, ce, X, torch.rand(5, 3), "Strict"), TypeError, ["class labels"],
           "cross-entropy with real-valued Y")
    raises(lambda: PCInfer(good, nn.L1Loss(), X, Y, "Strict"), ValueError, ["L1Loss"], "an unsupported loss")
    raises(lambda: PCInfer(good, nn.CrossEntropyLoss(reduction="sum"), X, Y, "Strict"), ValueError, ["reduction"],
           "a summed loss")
    raises(lambda: PCInfer(good, ce, X, Y, "Bogus"), ValueError, ["Bogus"], "an unknown ErrType")
    raises(lambda: PCInfer(good, ce, X, Y, "Strict", eta=-1), ValueError, ["eta"], "a negative eta")
    raises(lambda: pcplay.train(data="circle", noise=3), ValueError, ["noise"], "train with noise out of range")
    raises(lambda: pcplay.Model("no-such-model"), ValueError, ["no-such-model"], "an unknown model")
    raises(lambda: PCInfer(good, ce, X, Y, "iPC"), ValueError, ["iPC", "pcplay train"], "iPC, which needs an optimizer")
    check(all(p.grad is g for p, g in zip(good.parameters(), grads_before)), "no refusal touched .grad")


def main():
    torch.set_num_threads(2)
    test_against_reference()
    test_training_loop()
    test_numpy_api()
    test_bad_input()
    for f in failures:
        print("FAIL " + f)
    print(f"{len(failures)} check(s) failed" if failures else "all Python checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
