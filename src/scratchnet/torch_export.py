"""The same network in PyTorch: for the tests against autograd, the benchmark, and users who want to
carry a trained ``LayeredNetwork`` over (``docs/model-format.md``).

``to_torch(model)`` returns an ``nn.Sequential`` whose ``state_dict`` keys follow
scratchnet's parameter names: ``layers.{i}.W`` ↔ ``{i}.weight`` (transposed for
dense layers), ``b`` ↔ ``bias``, batchnorm's ``gamma``/``beta`` ↔ ``weight``/``bias``,
``running_mean``/``running_var`` alike, residual blocks ``{i}.body.{j}.…`` and
``{i}.shortcut.…``. Torch is imported only here, and only when called.
"""

from __future__ import annotations

import numpy as np

from .layers import (
    Activation,
    AvgPool,
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    MaxPool,
    Residual,
)

TORCH_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}
"""scratchnet parameter name → PyTorch's (``running_mean``/``running_var`` keep theirs)."""


def _modules():
    import torch
    from torch import nn

    class GlobalAvgPool2d(nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    class ResidualBlock(nn.Module):
        def __init__(self, body, shortcut):
            super().__init__()
            self.body = body
            self.shortcut = shortcut

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    return torch, nn, GlobalAvgPool2d, ResidualBlock


def torch_layer(layer):
    """One scratchnet layer → the PyTorch module computing the same function (parameters copied)."""
    torch, nn, GlobalAvgPool2d, ResidualBlock = _modules()
    if isinstance(layer, Dense):
        m = nn.Linear(layer.input_shape[0], layer.n_out)
    elif isinstance(layer, Conv):
        m = nn.Conv2d(layer.input_shape[0], layer.out_channels, layer.kernel, layer.stride, layer.padding)
    elif isinstance(layer, MaxPool):
        m = nn.MaxPool2d(layer.kernel, layer.stride)
    elif isinstance(layer, AvgPool):
        m = nn.AvgPool2d(layer.kernel, layer.stride)
    elif isinstance(layer, GlobalAvgPool):
        m = GlobalAvgPool2d()
    elif isinstance(layer, Flatten):
        m = nn.Flatten()
    elif isinstance(layer, Dropout):
        m = nn.Dropout(layer.p)
    elif isinstance(layer, BatchNorm):
        cls = nn.BatchNorm1d if len(layer.input_shape) == 1 else nn.BatchNorm2d
        m = cls(layer.input_shape[0], eps=layer.eps, momentum=layer.momentum)
    elif isinstance(layer, Activation):
        m = {
            "sigmoid": nn.Sigmoid,
            "tanh": nn.Tanh,
            "relu": nn.ReLU,
            "leaky_relu": lambda: nn.LeakyReLU(0.01),
            "identity": nn.Identity,
        }[layer.kind]()
    elif isinstance(layer, Residual):
        body = nn.Sequential(*[torch_layer(sub) for sub in layer.body])
        m = ResidualBlock(body, None if layer.shortcut is None else torch_layer(layer.shortcut))
        return m.to(torch.float64 if layer.dtype == np.float64 else torch.float32)
    else:
        raise TypeError(f"no PyTorch counterpart for {layer.spec()}")
    m = m.to(torch.float64 if layer.dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for name, value in list(layer.params.items()) + list(layer.buffers.items()):
            value = value.T if isinstance(layer, Dense) and name == "W" else value
            getattr(m, TORCH_NAMES.get(name, name)).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return m


def to_torch(model):
    """A ``LayeredNetwork`` → ``torch.nn.Sequential`` with the same weights (logits out; apply the
    softmax or sigmoid of ``model.output`` yourself)."""
    _, nn, _, _ = _modules()
    return nn.Sequential(*[torch_layer(layer) for layer in model.layers])


def torch_grad_names(model):
    """scratchnet parameter name → the matching key of ``to_torch(model).named_parameters()``."""
    out = {}
    for name, _ in model.named_params():
        parts = name.split(".")[1:]  # drop "layers"
        parts[-1] = TORCH_NAMES[parts[-1]]
        out[name] = ".".join(parts)
    return out
