"""Gradient check: backpropagation against central differences, layer by layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import int_to_onehot

RTOL = 1e-5
ATOL = 1e-10


@dataclass
class LayerCheck:
    """How many of one layer's analytic gradients match their numerical estimate."""

    layer: int
    weight_equal: int
    weight_total: int
    bias_equal: int
    bias_total: int
    worst: list  # [(kind, index, analytic, numerical)], largest mismatch first

    @property
    def ok(self):
        return self.weight_equal == self.weight_total and self.bias_equal == self.bias_total


def check_gradients(net, x, y_onehot, rtol=RTOL, atol=ATOL, eps=1e-5, n_worst=5):
    """Compare ``backward`` with ``backward_numerical`` for every layer, output layer first."""
    weight_grads, bias_grads = net.backward(x, y_onehot, net.forward(x))
    results = []
    for layer in range(net.n_layers, 0, -1):
        num_w, num_b = net.backward_numerical(x, y_onehot, layer, eps=eps)
        ana_w, ana_b = weight_grads[layer - 1], bias_grads[layer - 1]
        eq_w = np.isclose(ana_w, num_w, rtol=rtol, atol=atol)
        eq_b = np.isclose(ana_b, num_b, rtol=rtol, atol=atol)
        worst = []
        for kind, ana, num, eq in (("weight", ana_w, num_w, eq_w), ("bias", ana_b, num_b, eq_b)):
            for flat in np.argsort(-np.abs(ana - num).ravel()):
                idx = np.unravel_index(flat, ana.shape)
                if not eq[idx]:
                    worst.append((kind, tuple(int(i) for i in idx), float(ana[idx]), float(num[idx])))
        worst.sort(key=lambda w: -abs(w[2] - w[3]))
        results.append(LayerCheck(layer, int(eq_w.sum()), eq_w.size, int(eq_b.sum()), eq_b.size, worst[:n_worst]))
    return results


def format_report(results):
    """The article's lines, then the verdict or the worst mismatches."""
    lines = []
    for r in results:
        lines.append(
            f"layer {r.layer}: {r.weight_equal} out of {r.weight_total} weight gradients are numerically equal"
        )
        lines.append(f"layer {r.layer}: {r.bias_equal} out of {r.bias_total} bias term gradients are numerically equal")
    if all(r.ok for r in results):
        lines.append("Gradients look in order!")
    else:
        lines.append("Gradients do NOT match. Worst mismatches (layer, parameter, index, analytic, numerical):")
        for r in results:
            for kind, idx, ana, num in r.worst:
                lines.append(f"  layer {r.layer} {kind} {idx}: analytic={ana:.6e} numerical={num:.6e}")
    return lines


def kink_distance(net, x):
    """The smallest ``|Z⁽ᵏ⁾|`` over the hidden layers of a ReLU-type network on ``x`` (``inf`` otherwise).

    ReLU and leaky ReLU have a kink at Z = 0: a central difference that
    straddles it (``|Z|`` within about ε·‖input‖ of 0) measures an average of
    the two slopes, so a mismatch there is not a bug in ``backward``.
    """
    if net.activation not in ("relu", "leaky_relu") or net.n_layers < 2:
        return float("inf")
    a = net._as_batch(x)
    activations = net.forward(a)
    smallest = float("inf")
    for k in range(net.n_layers - 1):
        a_prev = a if k == 0 else activations[k - 1]
        z = a_prev @ net.weights[k] + net.biases[k]
        smallest = min(smallest, float(np.abs(z).min()))
    return smallest


def random_problem(net, n_samples, seed):
    """A few random samples in [−1, 1] and random one-hot targets for ``net``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n_samples, net.layers[0]))
    y = rng.integers(0, net.n_classes, size=n_samples)
    return x, int_to_onehot(y, net.n_classes)
