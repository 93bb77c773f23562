"""Torch2PC's PCInfer on pcplay's engine: change one import,

    from pcplay.torch import PCInfer     # was: from TorchSeq2PC import PCInfer
    vhat, Loss, dLdy, v, epsilon = PCInfer(model, nn.CrossEntropyLoss(), X, Y, "Strict", eta=0.1, n=20)
    optimizer.step()

The model is an nn.Sequential of blocks (each an nn.Sequential, a Residual of
this module, or one layer), made of Linear, Conv2d, MaxPool2d, AvgPool2d, ReLU,
Tanh, Sigmoid, Identity, Flatten and this module's Scale; the loss nn.MSELoss or nn.CrossEntropyLoss (mean reduction); float32
or float64 tensors on the CPU. PCInfer runs pcplay's engine on torch's threads
(torch.get_num_threads()), sets every parameter's .grad as Torch2PC does, and
returns Torch2PC's values as tensors without autograd history (None where
Torch2PC has None). ErrType is "Strict", "FixedPred", "Exact" or pcplay's
"ePC" (any case). Unlike Torch2PC's, Strict starts from vinit when it is given.
"""
import json
import weakref

import torch
from torch import nn

from . import _pcplay

__all__ = ["PCInfer", "Residual", "Scale", "model_spec"]


class Residual(nn.Sequential):
    """A residual block, f(z) = z + layers(z) (its layers keep the shape): pcplay's
    {"residual": true} block. A Sequential, so that parameters keep Torch2PC's names."""

    def forward(self, x):
        return x + super().forward(x)


class Scale(nn.Module):
    """y = factor · x: μPC's constant scalings (pcplay's "scale" layer)."""

    def __init__(self, factor):
        super().__init__()
        self.factor = float(factor)

    def forward(self, x):
        return self.factor * x

    def extra_repr(self):
        return f"factor={self.factor}"

_ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Identity: "identity"}
_SUPPORTED = "Linear, Conv2d, MaxPool2d, AvgPool2d, ReLU, Tanh, Sigmoid, Identity, Flatten and pcplay.torch.Scale"
_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


def _square(value, what, where):
    """An int, or a pair of equal ints, as one int (pcplay's kernels, strides and paddings are square)."""
    if isinstance(value, int):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == value[1] and isinstance(value[0], int):
        return value[0]
    raise ValueError(f"{where}: {what} {value!r} is not square; pcplay's are")


def _layer_spec(layer, where):
    """One layer as pcplay's model file states it, and its parameters in pcplay's order."""
    kind = type(layer)
    if kind is nn.Linear:
        return ({"type": "linear", "in": layer.in_features, "out": layer.out_features,
                 "bias": layer.bias is not None}, [layer.weight] + ([layer.bias] if layer.bias is not None else []))
    if kind is nn.Conv2d:
        if layer.groups != 1 or _square(layer.dilation, "dilation", where) != 1:
            raise ValueError(f"{where}: Conv2d with groups or dilation is not supported")
        if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            raise ValueError(f"{where}: Conv2d padding must be numbers of zeros, not {layer.padding!r} "
                             f"({layer.padding_mode})")
        return ({"type": "conv2d", "in": layer.in_channels, "out": layer.out_channels,
                 "kernel": _square(layer.kernel_size, "kernel", where), "stride": _square(layer.stride, "stride", where),
                 "padding": _square(layer.padding, "padding", where), "bias": layer.bias is not None},
                [layer.weight] + ([layer.bias] if layer.bias is not None else []))
    if kind in (nn.MaxPool2d, nn.AvgPool2d):
        name = kind.__name__
        if _square(layer.padding, "padding", where) != 0 or layer.ceil_mode:
            raise ValueError(f"{where}: {name} with padding or ceil_mode is not supported")
        if kind is nn.MaxPool2d and (_square(layer.dilation, "dilation", where) != 1 or layer.return_indices):
            raise ValueError(f"{where}: MaxPool2d with dilation or return_indices is not supported")
        if kind is nn.AvgPool2d and layer.divisor_override is not None:
            raise ValueError(f"{where}: AvgPool2d with divisor_override is not supported")
        kernel = _square(layer.kernel_size, "kernel", where)
        stride = _square(layer.stride if layer.stride is not None else kernel, "stride", where)
        return {"type": name.lower(), "kernel": kernel, "stride": stride}, []
    if kind is nn.Flatten:
        if layer.start_dim != 1 or layer.end_dim != -1:
            raise ValueError(f"{where}: Flatten must keep the batch (start_dim=1, end_dim=-1)")
        return {"type": "flatten"}, []
    if kind in _ACTIVATIONS:
        return {"type": _ACTIVATIONS[kind]}, []
    if kind is Scale:
        return {"type": "scale", "factor": layer.factor}, []
    raise ValueError(f"{where}: {kind.__name__} is not supported (pcplay runs {_SUPPORTED})")


def _loss_name(LossFun):
    if type(LossFun) is nn.MSELoss:
        kind = "mse"
    elif type(LossFun) is nn.CrossEntropyLoss:
        if LossFun.weight is not None or LossFun.label_smoothing != 0:
            raise ValueError("CrossEntropyLoss with class weights or label smoothing is not supported")
        kind = "cross_entropy"
    else:
        raise ValueError(f"LossFun {type(LossFun).__name__} is not supported (pcplay has nn.MSELoss and "
                         "nn.CrossEntropyLoss)")
    if LossFun.reduction != "mean":
        raise ValueError(f"LossFun's reduction must be 'mean' (Torch2PC's), not {LossFun.reduction!r}")
    return kind


def model_spec(model, LossFun, input_shape):
    """pcplay's model file (a dict) for a torch model, and its parameters in pcplay's order.
    Raises ValueError naming the block and layer it cannot run."""
    if not isinstance(model, nn.Sequential) or len(model) == 0:
        raise ValueError("the model must be a non-empty nn.Sequential of blocks, as Torch2PC's")
    blocks, params = [], []
    for b, block in enumerate(model):
        sequential = type(block) in (nn.Sequential, Residual)
        layers = list(block) if sequential else [block]
        if not layers:
            raise ValueError(f"block {b} is empty")
        specs = []
        for i, layer in enumerate(layers):
            spec, p = _layer_spec(layer, f"block {b}, layer {i}" if sequential else f"block {b}")
            specs.append(spec)
            params += p
        blocks.append({"residual": True, "layers": specs} if type(block) is Residual else specs)
    if len(params) != len(list(model.parameters())):
        raise ValueError("the model has parameters outside its layers, which pcplay would not train")
    return {"input_shape": list(input_shape), "loss": _loss_name(LossFun), "blocks": blocks}, params


# One engine per torch model, remade when its structure, the data's shape, the
# dtype or torch's thread count changes. The model's parameters then live in
# the engine's memory (their .data its storage, which the optimizer updates
# in place), so that the engine reads them without a copy; a parameter whose
# storage was replaced since (model.to(...), a new tensor) is copied once.
_engines = weakref.WeakKeyDictionary()


def _engine(model, LossFun, X):
    spec, params = model_spec(model, LossFun, X.shape[1:])
    key = (json.dumps(spec), _DTYPES[X.dtype], torch.get_num_threads())
    cached = _engines.get(model)
    if cached is None or cached[0] != key:
        # (shapes that do not fit raise pcplay.Error, a ValueError naming the block and layer)
        engine = _pcplay.Model(key[0], dtype=key[1], threads=key[2])
        names = engine.parameter_names()
        views = engine._parameter_views()
        cached = (key, engine, names, [torch.from_numpy(views[name]) for name in names])
        _engines[model] = cached
    _, engine, names, views = cached
    with torch.no_grad():
        for p, view in zip(params, views):
            if p.data_ptr() != view.data_ptr():
                view.copy_(p)
                p.data = view
    return engine, names, params


def _check_tensor(t, name, dtype=None):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, not {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{name} is on {t.device}; pcplay computes on the CPU (move it with .cpu())")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"{name} has dtype {t.dtype} but X {dtype}: the model and its data share one dtype")


def _numpy(t):
    return t.detach().contiguous().numpy()


def _tensors(arrays):
    return [None if a is None else torch.from_numpy(a) for a in arrays]


def PCInfer(model, LossFun, X, Y, ErrType, eta=0.1, n=20, vinit=None):
    """Torch2PC's PCInfer: returns (vhat, Loss, dLdy, v, epsilon) and sets every parameter's .grad."""
    _check_tensor(X, "X")
    if X.dtype not in _DTYPES:
        raise TypeError(f"X has dtype {X.dtype}; pcplay computes in float32 or float64")
    if isinstance(model, nn.Module):
        for name, p in model.named_parameters():
            _check_tensor(p, f"parameter {name}", X.dtype)
    _check_tensor(Y, "Y")
    if not isinstance(ErrType, str):
        raise TypeError(f"ErrType must be a string, not {type(ErrType).__name__}")
    err = ErrType.lower()
    if err == "ipc":
        raise ValueError("iPC updates the weights at every inference iteration, which PCInfer does not do: "
                         "train it with `pcplay train --err ipc`")
    if err not in ("strict", "fixedpred", "exact", "epc"):
        raise ValueError(f"ErrType must be 'Strict', 'FixedPred', 'Exact' or 'ePC', not {ErrType!r}")
    engine, names, params = _engine(model, LossFun, X)
    beliefs = None
    if vinit is not None:
        beliefs = []
        for i, t in enumerate(vinit):
            if t is not None:
                _check_tensor(t, f"vinit[{i}]", X.dtype)
            beliefs.append(None if t is None else _numpy(t))
    out = engine.pc_infer(_numpy(X), _numpy(Y), err, float(eta), int(n), beliefs)
    for name, p in zip(names, params):
        p.grad = torch.from_numpy(out["grads"][name])
    vhat = _tensors(out["vhat"])
    vhat[0] = X
    return (vhat, torch.tensor(out["loss"], dtype=X.dtype), torch.from_numpy(out["dLdy"]), _tensors(out["v"]),
            _tensors(out["eps"]))
