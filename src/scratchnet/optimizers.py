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

Adam, the usual optimiser of big networks, runs its rule as one compiled sweep over the
arrays (``_adam_kernel``, Numba) instead of ten whole-array NumPy passes; ``Adam.apply_numpy``
keeps the rule as written, and the sweep rounds exactly as it does (bit-identical, tested).

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
        if not _adam_fused(param, grad, m, v, factors, self.beta1, self.beta2):
            self.apply_numpy(param, grad, state, factors, scratch)

    def apply_numpy(self, param, grad, state, factors, scratch):
        """``apply`` as whole-array NumPy operations (the rule as written; the fused kernel gives the same bits)."""
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


def _adam_kernel(p, g, m, v, f0, f1, b1, b2, c1, c2):  # pragma: no cover - compiled
    """Adam's step on 2-D arrays in one sweep, rounding exactly as ``Adam.apply_numpy``'s whole-array operations.

    Every product and sum is rounded to the arrays' dtype in the same order (no fused
    multiply-add: Numba without fastmath does not contract), so the results are bit-identical.
    ``f0``, ``f1`` are (1 or rows, 1 or cols): per row, per column or one number; the inner
    loop runs over a contiguous row and vectorises.
    """
    rows, cols = p.shape
    for i in range(rows):
        k = i if f0.shape[0] > 1 else 0
        pi, gi, mi, vi = p[i], g[i], m[i], v[i]
        if f0.shape[1] == cols:
            r0, r1 = f0[k], f1[k]
            for j in range(cols):
                gj = gi[j]
                vj = vi[j] * b2 + (gj * c2) * gj  # v ← β₂·v + (1−β₂)·g·g
                vi[j] = vj
                mj = mi[j] * b1 + gj * c1  # m ← β₁·m + (1−β₁)·g
                mi[j] = mj
                pi[j] -= (mj * r0[j]) / (np.sqrt(vj) + r1[j])  # θ ← θ − f₀·m/(√v + f₁)
        else:
            s0, s1 = f0[k, 0], f1[k, 0]
            for j in range(cols):
                gj = gi[j]
                vj = vi[j] * b2 + (gj * c2) * gj
                vi[j] = vj
                mj = mi[j] * b1 + gj * c1
                mi[j] = mj
                pi[j] -= (mj * s0) / (np.sqrt(vj) + s1)


def _adam_kernel_f32(p, g, m, v, f0, f1, b1, b2, c1, c2, one):  # pragma: no cover - compiled
    """``_adam_kernel`` for float32 arrays, each operation done in float64 and rounded to float32.

    The same bits as float32 arithmetic (a float64 product of two float32 numbers is
    exact, and double rounding is harmless for +, −, ×, ÷ and √ of float32 operands:
    53 ≥ 2·24 + 2 bits), but without the CPU's slow path for subnormal float32 operands:
    Adam's first moment m of a unit that stopped learning decays by β₁ every step through
    the subnormal range (a quarter of m after two epochs of the ``best`` recipe), where
    float32 multiplies take ~20 times longer. The constants come as float64 holding
    float32 values.

    ``one`` is 1.0, passed at run time so that the compiler cannot see through it: LLVM
    rewrites ``f32(f64(a) ⊙ f64(b))`` of two widened float32 numbers back into the float32
    operation ``a ⊙ b`` (the same result, by the argument above) — and with it the slow
    path. A factor ``one`` on one side of every operation that may meet a subnormal (the
    m-chain, g², the sums, the step and θ − step) keeps it in float64; √v and its sum with
    f₁ (v decays by β₂ = 0.999 per step: it stays normal) may stay float32.
    """
    f4, f8 = np.float32, np.float64
    rows, cols = p.shape
    for i in range(rows):
        k = i if f0.shape[0] > 1 else 0
        pi, gi, mi, vi = p[i], g[i], m[i], v[i]
        if f0.shape[1] == cols:  # two copies of the loop, so that neither tests the layout per element
            r0, r1 = f0[k], f1[k]
            for j in range(cols):
                gj = f8(gi[j])
                vj = f8(f4(f8(f4(f8(vi[j]) * b2)) * one + f8(f4(f8(f4(gj * c2)) * one * gj))))  # v ← β₂·v + (1−β₂)·g·g
                vi[j] = vj
                mj = f8(f4(f8(f4(f8(mi[j]) * b1)) * one + f8(f4(gj * c1))))  # m ← β₁·m + (1−β₁)·g
                mi[j] = mj
                den = f8(f4(f8(f4(np.sqrt(vj))) + f8(r1[j])))  # √v + f₁
                step = f8(f4(f8(f4(mj * one * f8(r0[j]))) * one / den))  # f₀·m/(√v + f₁)
                pi[j] = f4(f8(pi[j]) * one - step)  # θ ← θ − step
        else:
            s0, s1 = f8(f0[k, 0]), f8(f1[k, 0])
            for j in range(cols):
                gj = f8(gi[j])
                vj = f8(f4(f8(f4(f8(vi[j]) * b2)) * one + f8(f4(f8(f4(gj * c2)) * one * gj))))
                vi[j] = vj
                mj = f8(f4(f8(f4(f8(mi[j]) * b1)) * one + f8(f4(gj * c1))))
                mi[j] = mj
                den = f8(f4(f8(f4(np.sqrt(vj))) + s1))
                step = f8(f4(f8(f4(mj * one * s0)) * one / den))
                pi[j] = f4(f8(pi[j]) * one - step)


_FUSED: dict = {}


def _as_rows(a: np.ndarray) -> np.ndarray:
    """A view of ``a`` as 2-D: (1, n) for 1-D, (first axis, the rest) for 3-D and more."""
    return a.reshape(1, -1) if a.ndim < 2 else a.reshape(a.shape[0], -1)


def _factor_rows(f, dtype, shape) -> np.ndarray | None:
    """A step factor as the kernel takes it: (1 or rows, 1 or cols), C-contiguous, in ``dtype`` (cast as the
    NumPy path casts it: a Python float is a weak scalar there); None if it varies in another pattern."""
    f = np.asarray(f, dtype=dtype)
    rows, cols = (1, math.prod(shape)) if len(shape) < 2 else (shape[0], math.prod(shape[1:]))
    if f.size == 1:
        return f.reshape(1, 1)
    if f.ndim == len(shape) and all(n == 1 for n in f.shape[1:]) and f.shape[0] == rows:
        return np.ascontiguousarray(f.reshape(rows, 1))
    if f.ndim >= 1 and all(n == 1 for n in f.shape[:-1]) and len(shape) == 2 and f.shape[-1] == cols:
        return np.ascontiguousarray(f.reshape(1, cols))
    return None


def _adam_fused(param, grad, m, v, factors, beta1, beta2) -> bool:
    """Adam's step by the compiled kernel (one pass over memory instead of ten); False if it does not apply here
    (another dtype, non-contiguous arrays, no Numba), and the caller takes the NumPy path."""
    dt = param.dtype
    if dt.kind != "f" or param.size == 0 or not all(
        isinstance(a, np.ndarray) and a.dtype == dt and a.shape == param.shape and a.flags.c_contiguous
        for a in (param, grad, m, v)
    ):  # fmt: skip
        return False
    f0, f1 = (_factor_rows(f, dt, param.shape) for f in factors)
    if f0 is None or f1 is None or f0.shape != f1.shape:
        return False
    wide = dt == np.float32  # float32 storage, float64 arithmetic (see _adam_kernel_f32)
    kernel = _FUSED.get(wide)
    if kernel is None:
        try:
            from numba import njit
        except ImportError:  # pragma: no cover - numba is a dependency
            return False
        function = _adam_kernel_f32 if wide else _adam_kernel
        kernel = _FUSED[wide] = njit(fastmath=False, cache=True, nogil=True, error_model="numpy")(function)
    # the constants rounded to the arrays' dtype, as NumPy rounds Python floats against a float32 array
    t = (lambda x: float(np.float32(x))) if wide else dt.type
    extra = (1.0,) if wide else ()  # the float32 kernel's run-time 1.0 (see _adam_kernel_f32)
    kernel(_as_rows(param), _as_rows(grad), _as_rows(m), _as_rows(v), f0, f1, t(beta1), t(beta2), t(1 - beta1),
           t(1 - beta2), *extra)  # fmt: skip
    return True


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
