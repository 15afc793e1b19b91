"""Optimisers and learning-rate schedules, apart from the model (as scikit-learn's ``_stochastic_optimizers``).

An optimiser turns gradients into in-place parameter updates: ``update(params,
grads)`` with ``params`` the list ``weights + biases`` of a network. Plain SGD
is the article's; the others are its "better optimisers for deep nets".

L2 weight decay λ adds ``λ/2 · Σₖ ‖W⁽ᵏ⁾‖²`` to the loss, i.e. ``λ·W⁽ᵏ⁾`` to the
gradient of every weight matrix before the step. It is applied to the weights
only (2-D arrays), never to the biases (1-D), as is customary: a bias scales
nothing and shrinking it does not smooth the function.

Optimiser state (the velocities of momentum, Adam's moments and step count t)
outlives one training call: ``get_state()`` returns a copy that training keeps
on the network (``net.optimizer_state``) and ``set_state`` resumes it, so 10 + 5
epochs equal 15 with every optimiser. State whose ``key`` (optimiser and its
constants) differs from the optimiser's is ignored: it starts afresh.
"""

from __future__ import annotations

import math

import numpy as np

from .validation import check_positive_float


def _check_rate(value, name, upper=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper})" if upper is not None else "≥ 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def _decayed(param, grad, weight_decay):
    """``∂L/∂W + λ·W`` for a weight matrix; biases (1-D) unchanged."""
    if weight_decay and param.ndim == 2:
        return grad + weight_decay * param
    return grad


class SGD:
    """Gradient descent, plain (the article) or with (Nesterov) momentum.

    Plain, μ = 0: ``θ ← θ − η · ∂L/∂θ`` (article, section 6).
    Momentum μ > 0: ``v ← μ·v − η·∂L/∂θ``, ``θ ← θ + v``.
    Nesterov: the same ``v``, then ``θ ← θ + μ·v − η·∂L/∂θ`` (the step looks ahead
    along the velocity; scikit-learn's formulation).
    """

    def __init__(self, learning_rate=0.1, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.learning_rate = check_positive_float(learning_rate, "learning_rate")
        self.momentum = _check_rate(momentum, "momentum", upper=1)
        self.nesterov = bool(nesterov)
        self.weight_decay = _check_rate(weight_decay, "weight_decay")
        self.velocities = None

    def state_key(self):
        """What the state belongs to: ``("momentum"|"nesterov", μ)``; ``None`` for plain SGD (stateless)."""
        return None if self.momentum == 0 else ("nesterov" if self.nesterov else "momentum", self.momentum)

    def get_state(self):
        """A copy of the velocities ``{"key", "velocity": [v per parameter array]}``, or ``None``."""
        if self.state_key() is None or self.velocities is None:
            return None
        return {"key": self.state_key(), "velocity": [v.copy() for v in self.velocities]}

    def set_state(self, state, params):
        """Resume from ``get_state()``'s dict if it fits this optimiser and ``params``; else start afresh."""
        self.velocities = None
        if state_fits(state, self.state_key(), params):
            self.velocities = [np.array(v, dtype=p.dtype) for v, p in zip(state["velocity"], params)]

    def update(self, params, grads):
        """Update every array of ``params`` in place with its gradient in ``grads``."""
        eta, mu = self.learning_rate, self.momentum
        if mu == 0:
            for param, grad in zip(params, grads):
                param -= eta * _decayed(param, grad, self.weight_decay)
            return
        if self.velocities is None:
            self.velocities = [np.zeros_like(p) for p in params]
        for param, grad, v in zip(params, grads, self.velocities):
            grad = _decayed(param, grad, self.weight_decay)
            v *= mu
            v -= eta * grad  # v ← μ·v − η·∂L/∂θ
            if self.nesterov:
                param += mu * v - eta * grad  # θ ← θ + μ·v − η·∂L/∂θ
            else:
                param += v  # θ ← θ + v


class Adam:
    """Adam (Kingma & Ba 2015): steps scaled by running moments of the gradient.

    With g = ∂L/∂θ at step t = 1, 2, …:
    ``m ← β₁·m + (1−β₁)·g``, ``v ← β₂·v + (1−β₂)·g²``,
    ``m̂ = m/(1−β₁ᵗ)``, ``v̂ = v/(1−β₂ᵗ)``, ``θ ← θ − η · m̂ / (√v̂ + ε)``.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0):
        self.learning_rate = check_positive_float(learning_rate, "learning_rate")
        self.beta1 = _check_rate(beta1, "beta1", upper=1)
        self.beta2 = _check_rate(beta2, "beta2", upper=1)
        self.epsilon = check_positive_float(epsilon, "epsilon")
        self.weight_decay = _check_rate(weight_decay, "weight_decay")
        self.t = 0
        self.m = self.v = None

    def state_key(self):
        """What the state belongs to: ``("adam", β₁, β₂, ε)``."""
        return ("adam", self.beta1, self.beta2, self.epsilon)

    def get_state(self):
        """A copy of the moments ``{"key", "t", "m": [...], "v": [...]}`` (one array per parameter), or ``None``."""
        if self.m is None:
            return None
        return {"key": self.state_key(), "t": self.t, "m": [m.copy() for m in self.m], "v": [v.copy() for v in self.v]}

    def set_state(self, state, params):
        """Resume from ``get_state()``'s dict if it fits this optimiser and ``params``; else start afresh."""
        self.t, self.m, self.v = 0, None, None
        if state_fits(state, self.state_key(), params):
            self.t = int(state["t"])
            self.m = [np.array(m, dtype=p.dtype) for m, p in zip(state["m"], params)]
            self.v = [np.array(v, dtype=p.dtype) for v, p in zip(state["v"], params)]

    def update(self, params, grads):
        """Update every array of ``params`` in place with its gradient in ``grads``."""
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # η·m̂/(√v̂ + ε) = η·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε·√(1−β₂ᵗ)), computed without copies of m̂, v̂
        c1, c2 = 1 - b1**self.t, math.sqrt(1 - b2**self.t)
        for param, grad, m, v in zip(params, grads, self.m, self.v):
            grad = _decayed(param, grad, self.weight_decay)
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad * grad
            param -= (self.learning_rate * c2 / c1) * m / (np.sqrt(v) + self.epsilon * c2)


class _Momentum(SGD):
    uses_momentum = True


class _Nesterov(SGD):
    uses_momentum = True


SGD.uses_momentum = False
Adam.uses_momentum = False
OPTIMIZERS = {"sgd": SGD, "momentum": _Momentum, "nesterov": _Nesterov, "adam": Adam}
"""name → optimiser class (``uses_momentum``: does μ matter to it)."""

STATE_ARRAYS = {"momentum": ("velocity",), "nesterov": ("velocity",), "adam": ("m", "v")}
"""Optimiser name → the per-parameter state arrays it keeps (plain SGD keeps none)."""


def state_fits(state, key, params):
    """Does ``state`` (a ``get_state()`` dict or ``None``) belong to the optimiser ``key`` and fit ``params``?"""
    if not isinstance(state, dict) or key is None or state.get("key") != key:
        return False
    names = STATE_ARRAYS[key[0]]
    return all(
        len(state.get(name, ())) == len(params) and all(np.shape(a) == p.shape for a, p in zip(state[name], params))
        for name in names
    )


def make_optimizer(name="sgd", learning_rate=0.1, *, momentum=0.9, weight_decay=0.0):
    """``"sgd"`` (plain, the article), ``"momentum"``, ``"nesterov"`` (with ``momentum`` μ) or ``"adam"``."""
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    name = name.lower()
    if name == "adam":
        return Adam(learning_rate, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(learning_rate, weight_decay=weight_decay)
    return SGD(learning_rate, momentum=momentum, nesterov=name == "nesterov", weight_decay=weight_decay)


# ------------------------------------------------------------------ schedules
def constant(eta, epoch, epochs):
    """``ηₑ = η`` (the article)."""
    return eta


def step(eta, epoch, epochs):
    """Steps down by 10: ``ηₑ = η`` for e < E/2, ``η/10`` for e < 3E/4, ``η/100`` after.

    ``epoch`` e counts from 0 within the E = ``epochs`` of this training call.
    """
    return eta * (1.0 if epoch < epochs / 2 else 0.1 if epoch < 3 * epochs / 4 else 0.01)


def cosine(eta, epoch, epochs):
    """``ηₑ = η/2 · (1 + cos(π·e/E))``: from η at e = 0 smoothly down towards 0 at e = E."""
    return 0.5 * eta * (1 + math.cos(math.pi * epoch / epochs))


SCHEDULES = {"constant": constant, "step": step, "cosine": cosine}
"""name → ``(η, e, E) ↦ ηₑ``, the learning rate of epoch e of E."""


def check_schedule(name):
    if not isinstance(name, str) or name.lower() not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return name.lower()
