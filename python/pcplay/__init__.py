"""pcplay: predictive coding (Torch2PC's Strict, FixedPred and Exact, and ePC)
on pcplay's C++ engine, from Python.

On numpy arrays:

    import numpy as np, pcplay
    model = pcplay.Model("paper-mnist", dtype="float32")   # a preset, a model file or its JSON
    model.init(seed=1)
    out = model.pc_infer(X, labels, "strict", eta=0.1, n=20)
    out["loss"], out["v"], out["eps"], out["grads"]["0.0.weight"]

    run = pcplay.train(data="mnist", model="paper-mnist", err="strict", batch=300, steps=100)
    run["metrics"][-1]["test_accuracy"], run["model"].save("mnist.safetensors")

For Torch2PC users, pcplay.torch.PCInfer takes Torch2PC's arguments:

    from pcplay.torch import PCInfer      # was: from TorchSeq2PC import PCInfer
"""
from ._pcplay import Error, Model, err_types, load_data, presets, train

__all__ = ["Error", "Model", "err_types", "load_data", "presets", "train"]
