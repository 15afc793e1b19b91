"""Optimisers and learning-rate schedules, apart from the model (as scikit-learn's ``_stochastic_optimizers``).

An optimiser turns a gradient into an in-place parameter update. Its rule is
written once, in ``apply(param, grad, state, factors, scratch)``, for one array
of any shape with η given per step as ``factors`` — a number for the readable
loop, or an array that broadcasts against ``param`` when the fused engine packs
many networks into one array (η per network). Both the reference loop
(``update(params, grads)``, one network) and ``scratchnet.engine`` call it.

Plain SGD is the article's; the others are its "better optimisers for deep
nets". L2 weight decay λ adds ``λ/2 · Σₖ ‖W⁽ᵏ⁾‖²`` to the loss, i.e. ``λ·W⁽ᵏ⁾``
to the gradient of every weight matrix before the step; never to the biases (a
bias scales nothing, and shrinking it does not smooth the function).

State (velocities, moments, Adam's step count t) outlives one training call:
``get_state()`` returns a copy that training keeps on the network
(``net.optimizer_state``) and ``set_state`` resumes it, so 10 + 5 epochs equal
15 with every optimiser. State whose ``state_key()`` (optimiser and its
constants) differs is ignored: the optimiser starts afresh.

A new optimiser is one subclass of ``Optimizer`` (its ``apply``, its state
names and constants) added to ``OPTIMIZERS``: the command line, the estimator,
the grid search and the engine take it from there.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .validation import check_name, check_positive_float, check_rate

Factors = Any
"""What ``step_factors`` returns: η (a float or an array), or a tuple of such (Adam's)."""


def add_weight_decay(param: np.ndarray, grad: np.ndarray, weight_decay: float, rows, scratch: np.ndarray) -> None:
    """``g ← g + λ·θ`` in place on ``param[:rows]`` (``rows``: None for all, 0 for none)."""
    if weight_decay and rows != 0:
        part = slice(rows)
        grad[part] += np.multiply(param[part], weight_decay, out=scratch[part])


class Optimizer:
    """The base: checked constants, state bookkeeping and the list interface of the reference loop.

    Subclasses set ``name``, ``state_names`` (per-parameter arrays of state),
    ``even_state`` (those that do not change sign when θ and ∂L/∂θ do: squares,
    for the engine's negated first layer), ``counts_steps`` (keeps a step count
    t), ``uses_momentum``, and define ``apply`` (and ``step_factors``,
    ``constants`` where they need them).
    """

    name: ClassVar[str] = ""
    state_names: ClassVar[tuple[str, ...]] = ()
    even_state: ClassVar[frozenset[str]] = frozenset()
    counts_steps: ClassVar[bool] = False
    uses_momentum: ClassVar[bool] = False
    adaptive: ClassVar[bool] = False
    """Are its steps scaled by running gradient statistics (then a usual η is about 0.001)?"""

    learning_rate: float
    momentum: float
    weight_decay: float
    state: dict[str, list[np.ndarray]] | None
    t: int

    def __init__(self, learning_rate: float = 0.1, *, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        self.learning_rate = check_positive_float(learning_rate, "learning_rate")
        self.momentum = check_rate(momentum, "momentum", upper=1)
        self.weight_decay = check_rate(weight_decay, "weight_decay")
        self.state = None
        self.t = 0
        self._scratch: dict = {}

    # ------------------------------------------------------------------ the rule
    def constants(self) -> tuple:
        """The constants the state belongs to (μ, β₁, β₂, ε …)."""
        return ()

    def step_factors(self, eta, t) -> Factors:
        """What ``apply`` needs per step from η (and the step count t): η itself unless a subclass says otherwise."""
        return eta

    def apply(
        self, param: np.ndarray, grad: np.ndarray, state: list[np.ndarray], factors: Factors, scratch: np.ndarray
    ) -> None:
        """One step on ``param`` in place; ``grad`` (weight decay already added) is overwritten."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def state_key(self) -> tuple | None:
        """What the state belongs to: ``(name, *constants)``; ``None`` for a stateless optimiser."""
        return (self.name, *self.constants()) if self.state_names else None

    def get_state(self) -> dict | None:
        """A copy ``{"key", name: [array per parameter] …, ("t")}``, or ``None``."""
        if self.state_key() is None or self.state is None:
            return None
        state: dict[str, Any] = {"key": self.state_key()}
        state.update({name: [a.copy() for a in arrays] for name, arrays in self.state.items()})
        if self.counts_steps:
            state["t"] = self.t
        return state

    def set_state(self, state: dict | None, params: list[np.ndarray]) -> None:
        """Resume from ``get_state()``'s dict if it fits this optimiser and ``params``; else start afresh."""
        self.state, self.t = None, 0
        if state_fits(state, self.state_key(), params):
            self.state = {
                name: [np.array(a, dtype=p.dtype) for a, p in zip(state[name], params)] for name in self.state_names
            }
            self.t = int(state.get("t", 0))

    # ------------------------------------------------------- the reference loop
    def update(self, params: list[np.ndarray], grads: list[np.ndarray], *, overwrite_grads: bool = False) -> None:
        """Update every array of ``params`` in place with its gradient in ``grads``.

        Weight decay applies to the arrays of 2 or more dimensions (dense and
        convolution weights), not to the 1-D ones (biases, batch-norm scales). ``grads`` are left unchanged unless ``overwrite_grads`` (then
        they serve as work space, which saves a copy per array).
        """
        if self.state is None:
            self.state = {name: [np.zeros_like(p) for p in params] for name in self.state_names}
        self.t += 1
        factors = self.step_factors(self.learning_rate, self.t)
        for i, (param, grad) in enumerate(zip(params, grads)):
            work = grad if overwrite_grads and grad.dtype == param.dtype else np.array(grad, dtype=param.dtype)
            scratch = self._scratch_like(param)
            add_weight_decay(param, work, self.weight_decay, None if param.ndim >= 2 else 0, scratch)
            self.apply(param, work, [self.state[name][i] for name in self.state_names], factors, scratch)

    def _scratch_like(self, param: np.ndarray) -> np.ndarray:
        """A work array like ``param``, kept per shape and dtype between steps."""
        key = (param.shape, param.dtype)
        if key not in self._scratch:
            self._scratch[key] = np.empty_like(param)
        return self._scratch[key]


class SGD(Optimizer):
    """Plain gradient descent, the article's: ``θ ← θ − η · ∂L/∂θ`` (section 6)."""

    name = "sgd"

    def apply(self, param, grad, state, factors, scratch):
        grad *= factors  # η·g
        param -= grad


class Momentum(Optimizer):
    """Momentum μ: ``v ← μ·v − η·∂L/∂θ``, ``θ ← θ + v``."""

    name = "momentum"
    state_names = ("velocity",)
    uses_momentum = True

    def constants(self):
        return (self.momentum,)

    def apply(self, param, grad, state, factors, scratch):
        (velocity,) = state
        grad *= factors  # η·g
        velocity *= self.momentum
        velocity -= grad  # v ← μ·v − η·g
        param += velocity


class Nesterov(Momentum):
    """Nesterov momentum: the same ``v``, then ``θ ← θ + μ·v − η·∂L/∂θ`` (a step that looks ahead; scikit-learn's form)."""

    name = "nesterov"

    def apply(self, param, grad, state, factors, scratch):
        (velocity,) = state
        grad *= factors  # η·g
        velocity *= self.momentum
        velocity -= grad  # v ← μ·v − η·g
        np.multiply(velocity, self.momentum, out=scratch)
        scratch -= grad
        param += scratch  # θ ← θ + μ·v − η·g


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): steps scaled by running moments of the gradient.

    With g = ∂L/∂θ at step t = 1, 2, …: ``m ← β₁·m + (1−β₁)·g``,
    ``v ← β₂·v + (1−β₂)·g²``, ``m̂ = m/(1−β₁ᵗ)``, ``v̂ = v/(1−β₂ᵗ)``,
    ``θ ← θ − η · m̂ / (√v̂ + ε)``.
    """

    name = "adam"
    state_names = ("m", "v")
    even_state = frozenset({"v"})
    counts_steps = True
    adaptive = True

    def __init__(self, learning_rate=0.001, *, beta1=0.9, beta2=0.999, epsilon=1e-8, momentum=0.9, weight_decay=0.0):
        super().__init__(learning_rate, momentum=momentum, weight_decay=weight_decay)
        self.beta1 = check_rate(beta1, "beta1", upper=1)
        self.beta2 = check_rate(beta2, "beta2", upper=1)
        self.epsilon = check_positive_float(epsilon, "epsilon")

    def constants(self):
        return (self.beta1, self.beta2, self.epsilon)

    def step_factors(self, eta, t):
        """``(η·√(1−β₂ᵗ)/(1−β₁ᵗ), ε·√(1−β₂ᵗ))``: then η·m̂/(√v̂ + ε) = f₀·m/(√v + f₁), without copies of m̂, v̂."""
        c1 = 1 - self.beta1**t
        c2 = np.sqrt(1 - self.beta2**t) if isinstance(t, np.ndarray) else math.sqrt(1 - self.beta2**t)
        return eta * c2 / c1, self.epsilon * c2

    def apply(self, param, grad, state, factors, scratch):
        m, v = state
        b1, b2 = self.beta1, self.beta2
        v *= b2
        v += np.multiply(np.multiply(grad, 1 - b2, out=scratch), grad, out=scratch)  # v ← β₂·v + (1−β₂)·g²
        m *= b1
        m += np.multiply(grad, 1 - b1, out=grad)  # m ← β₁·m + (1−β₁)·g
        np.sqrt(v, out=scratch)
        scratch += factors[1]
        step = np.multiply(m, factors[0], out=grad)
        step /= scratch
        param -= step  # θ ← θ − η·m̂/(√v̂ + ε)


class RMSprop(Optimizer):
    """RMSprop (Hinton 2012): ``v ← ρ·v + (1−ρ)·g²``, ``θ ← θ − η · g / (√v + ε)``.

    Each parameter's step is scaled by a running root mean square of its
    gradient; ρ = 0.9, ε = 1e-8. A usual η is 0.001.
    """

    name = "rmsprop"
    state_names = ("v",)
    even_state = frozenset({"v"})
    adaptive = True

    def __init__(self, learning_rate=0.001, *, rho=0.9, epsilon=1e-8, momentum=0.9, weight_decay=0.0):
        super().__init__(learning_rate, momentum=momentum, weight_decay=weight_decay)
        self.rho = check_rate(rho, "rho", upper=1)
        self.epsilon = check_positive_float(epsilon, "epsilon")

    def constants(self):
        return (self.rho, self.epsilon)

    def apply(self, param, grad, state, factors, scratch):
        (v,) = state
        v *= self.rho
        v += np.multiply(np.multiply(grad, 1 - self.rho, out=scratch), grad, out=scratch)  # v ← ρ·v + (1−ρ)·g²
        np.sqrt(v, out=scratch)
        scratch += self.epsilon
        grad *= factors  # η·g
        grad /= scratch
        param -= grad  # θ ← θ − η·g/(√v + ε)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adam": Adam,
    "rmsprop": RMSprop,
}
"""name → optimiser class."""


def state_fits(state: dict | None, key: tuple | None, params: list[np.ndarray]) -> bool:
    """Does ``state`` (a ``get_state()`` dict or ``None``) belong to the optimiser ``key`` and fit ``params``?"""
    if not isinstance(state, dict) or key is None or state.get("key") != key or key[0] not in OPTIMIZERS:
        return False
    return all(
        len(state.get(name, ())) == len(params) and all(np.shape(a) == p.shape for a, p in zip(state[name], params))
        for name in OPTIMIZERS[key[0]].state_names
    )


def make_optimizer(
    name: str = "sgd", learning_rate: float = 0.1, *, momentum: float = 0.9, weight_decay: float = 0.0
) -> Optimizer:
    """The optimiser ``name`` of ``OPTIMIZERS`` (``momentum`` μ matters to momentum and nesterov)."""
    return OPTIMIZERS[check_name(name, OPTIMIZERS, "optimizer")](
        learning_rate, momentum=momentum, weight_decay=weight_decay
    )


# ------------------------------------------------------------------ schedules
def constant(eta: float, epoch: int, epochs: int) -> float:
    """``ηₑ = η`` (the article)."""
    return eta


def step(eta: float, epoch: int, epochs: int) -> float:
    """Steps down by 10: ``ηₑ = η`` for e < E/2, ``η/10`` for e < 3E/4, ``η/100`` after.

    ``epoch`` e counts from 0 within the E = ``epochs`` of this training call.
    """
    return eta * (1.0 if epoch < epochs / 2 else 0.1 if epoch < 3 * epochs / 4 else 0.01)


def cosine(eta: float, epoch: int, epochs: int) -> float:
    """``ηₑ = η/2 · (1 + cos(π·e/E))``: from η at e = 0 smoothly down towards 0 at e = E."""
    return 0.5 * eta * (1 + math.cos(math.pi * epoch / epochs))


SCHEDULES = {"constant": constant, "step": step, "cosine": cosine}
"""name → ``(η, e, E) ↦ ηₑ``, the learning rate of epoch e of E."""


def check_schedule(name: str) -> str:
    """A schedule name → its key in ``SCHEDULES``."""
    return check_name(name, SCHEDULES, "schedule")


def check_optimizer(name: str) -> str:
    """An optimiser name → its key in ``OPTIMIZERS``."""
    return check_name(name, OPTIMIZERS, "optimizer")
